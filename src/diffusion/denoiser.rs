//! The model the diffusion recipes train and checkpoint: the UNet being optimised and the
//! moving average of its weights that sampling uses. The average lives in the model (without
//! gradients, so the optimizer leaves it alone) so that checkpoints hold it and a resumed
//! run continues it exactly.

use crate::ema::ema_update;
use crate::models::unet::{UNet, UNetConfig};
use burn::prelude::*;

#[derive(Module, Debug)]
pub struct Denoiser {
    /// The trained network.
    pub net: UNet,
    /// The exponential moving average of `net`'s weights.
    pub ema: UNet,
}

impl Denoiser {
    /// A fresh network and an average equal to it.
    pub fn new(config: &UNetConfig, device: &Device) -> anyhow::Result<Self> {
        let net = UNet::new(config, device)?;
        // Its own parameters (ids), so gradients and optimizer state never mix the two.
        let ema = ema_update(UNet::new(config, device)?.no_grad(), &net, 0.0);
        Ok(Self { net, ema })
    }

    /// Folds the current weights into the average.
    pub fn fold_into_average(self, decay: f64) -> Self {
        let ema = ema_update(self.ema, &self.net, decay);
        Self { net: self.net, ema }
    }

    /// The network sampling and evaluation use: the average, or the raw weights.
    pub fn network(&self, use_ema: bool) -> &UNet {
        if use_ema { &self.ema } else { &self.net }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::flat_params::flat_floats;
    use crate::models::trainable_params;

    fn config() -> UNetConfig {
        UNetConfig {
            ch: 8,
            ch_mult: vec![1, 2],
            res_blocks: 1,
            attn_resolutions: vec![],
            dropout: 0.0,
            in_channels: 1,
            out_channels: 1,
            resolution: 8,
            num_classes: None,
            aug_dim: None,
        }
    }

    fn max_gap(a: &UNet, b: &UNet) -> f64 {
        flat_floats(a, false)
            .into_iter()
            .zip(flat_floats(b, false))
            .map(|(x, y)| (x - y).abs().max().into_scalar::<f64>())
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_average_starts_equal_and_only_the_network_trains() {
        let device = Device::flex().autodiff();
        let model = Denoiser::new(&config(), &device).unwrap();
        assert_eq!(max_gap(&model.net, &model.ema), 0.0);
        // The average adds no trainable parameters.
        assert_eq!(trainable_params(&model), trainable_params(&model.net));
    }
}
