//! What an architecture provides to the `[model]` registry: its own options type (the
//! section's keys besides `arch`), their checks, and its construction. Adding a classifier: a
//! file with the module, its `Options` and an `impl Architecture`, plus one line in
//! [`super::classifier`]'s list.

use super::Classifier;
use crate::options::typed_section;
use burn::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An image classifier built from its options.
pub trait Architecture: Sized {
    /// The `[model]` keys besides `arch` (`deny_unknown_fields`, defaults filled).
    type Options: DeserializeOwned + Serialize;

    /// Checks the options on their own, naming the key (`model.depth`).
    fn check(_options: &Self::Options) -> anyhow::Result<()> {
        Ok(())
    }

    /// Builds the module for `[channels, height, width]` images and `num_classes` classes,
    /// checking the options against the input.
    fn build(
        options: &Self::Options,
        input: [usize; 3],
        num_classes: usize,
        device: &Device,
    ) -> anyhow::Result<Self>;

    /// Logits `[B, classes]` of normalised images `[B, C, H, W]`.
    fn forward(&self, images: Tensor<4>) -> Tensor<2>;

    /// The penultimate activations `[B, D]` (the input of the final linear layer).
    fn features(&self, images: Tensor<4>) -> Tensor<2>;
}

/// What the `[model]` registry holds of an architecture (named by its `arch` value).
pub struct Arch {
    /// Type-checks and checks the options; returns them with defaults filled.
    pub check: fn(&toml::Table) -> anyhow::Result<toml::Table>,
    /// Builds the classifier (None: not a classifier, e.g. the diffusion UNet).
    pub build: Option<Builder>,
}

pub type Entry = crate::registry::Entry<Arch>;

pub type Builder = fn(&toml::Table, [usize; 3], usize, &Device) -> anyhow::Result<Classifier>;

/// The options of `A`, checked, with defaults filled.
pub fn checked<O: DeserializeOwned + Serialize>(
    options: &toml::Table,
    check: impl Fn(&O) -> anyhow::Result<()>,
) -> anyhow::Result<(O, toml::Table)> {
    let typed: O = typed_section(options, "model")?;
    check(&typed)?;
    let table = toml::Table::try_from(&typed)
        .map_err(|e| anyhow::anyhow!("re-encoding the model options: {e}"))?;
    Ok((typed, table))
}

/// [`Entry::check`] of a classifier.
pub fn check<A: Architecture>(options: &toml::Table) -> anyhow::Result<toml::Table> {
    checked::<A::Options>(options, A::check).map(|(_, table)| table)
}

/// [`Entry::build`] of a classifier.
pub fn build<A: Architecture + Into<Classifier>>(
    options: &toml::Table,
    input: [usize; 3],
    num_classes: usize,
    device: &Device,
) -> anyhow::Result<Classifier> {
    let (typed, _) = checked::<A::Options>(options, A::check)?;
    Ok(A::build(&typed, input, num_classes, device)?.into())
}

/// A probability option in [0, 1).
pub fn check_probability(key: &str, p: f64) -> anyhow::Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(crate::usage_error!(
            "key `model.{key}`: expected a probability in [0, 1), got {p}"
        ))
    }
}
