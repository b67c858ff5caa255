//! The `[model]` section: `arch` and that architecture's own options, checked by the
//! architecture's own type when the config is read. Presets in the top-level models/ folder
//! are instances of it. The registry: [`super::classifier::CLASSIFIERS`] and the diffusion
//! UNet.

use super::Classifier;
use super::architecture::{Arch, Entry};
use super::classifier::CLASSIFIERS;
use super::unet::{self, UNetConfig};
use crate::usage_error;
use burn::prelude::*;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Architectures that are not classifiers.
const OTHERS: &[Entry] = &[
    Entry {
        name: "unet",
        description: "the DDPM UNet, the denoiser of the ddpm and edm recipes (not a classifier)",
        item: Arch {
            check: unet::check_options,
            build: None,
        },
    },
    Entry {
        name: "cell_supernet",
        description: "the weight-sharing supernet of 27 cell architectures, the supernet recipe's model",
        item: Arch {
            check: super::cell_supernet::check_options,
            build: None,
        },
    },
];

/// Every architecture, by `arch` name.
pub fn architectures() -> impl Iterator<Item = &'static Entry> {
    CLASSIFIERS.iter().chain(OTHERS)
}

/// An architecture and its checked options (defaults filled in).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    arch: String,
    options: toml::Table,
    /// `init`: weights to start from (a run directory, a checkpoint directory or a
    /// safetensors file), as `train.init_from`.
    init: Option<String>,
}

impl ModelSpec {
    /// `arch` with `options` (the section's other keys), checked by the architecture.
    pub fn new(arch: &str, options: &toml::Table) -> anyhow::Result<Self> {
        let entry = architectures().find(|e| e.name == arch).ok_or_else(|| {
            let names: Vec<&str> = architectures().map(|e| e.name).collect();
            usage_error!(
                "key `model.arch`: unknown architecture `{arch}`; known: {}",
                names.join(", ")
            )
        })?;
        Ok(Self {
            arch: arch.to_string(),
            options: (entry.item.check)(options)?,
            init: None,
        })
    }

    /// The weights the model starts from (`model.init`), if given.
    pub fn init(&self) -> Option<&str> {
        self.init.as_deref()
    }

    pub fn arch(&self) -> &str {
        &self.arch
    }

    /// The options, defaults filled in.
    pub fn options(&self) -> &toml::Table {
        &self.options
    }

    /// The same architecture with option `key` set to `value` (checked).
    pub fn with(&self, key: &str, value: impl Into<toml::Value>) -> anyhow::Result<Self> {
        let mut options = self.options.clone();
        options.insert(key.to_string(), value.into());
        Ok(Self {
            init: self.init.clone(),
            ..Self::new(&self.arch, &options)?
        })
    }

    /// Builds the classifier for `[channels, height, width]` images and `num_classes` classes.
    pub fn build(
        &self,
        input: [usize; 3],
        num_classes: usize,
        device: &Device,
    ) -> anyhow::Result<Classifier> {
        let entry = architectures()
            .find(|e| e.name == self.arch)
            .expect("checked when made");
        let build = entry.item.build.ok_or_else(|| {
            usage_error!("key `model.arch`: `{}` is {}", self.arch, entry.description)
        })?;
        if num_classes < 2 {
            return Err(usage_error!(
                "the data has {num_classes} class(es): a classifier needs at least 2"
            ));
        }
        build(&self.options, input, num_classes, device)
    }

    /// The UNet configuration for `[channels, side, side]` images, with optional class and
    /// augmentation-label conditioning; an error for any other architecture or image shape.
    pub fn unet_config(
        &self,
        input: [usize; 3],
        num_classes: Option<usize>,
        aug_dim: Option<usize>,
    ) -> anyhow::Result<UNetConfig> {
        if self.arch != "unet" {
            return Err(usage_error!(
                "key `model.arch`: diffusion recipes need arch = \"unet\" (e.g. model.name = \"unet_small\")"
            ));
        }
        UNetConfig::from_options(&self.options, input, num_classes, aug_dim)
    }
}

impl Serialize for ModelSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = toml::Table::new();
        table.insert("arch".into(), self.arch.clone().into());
        table.extend(self.options.clone());
        if let Some(init) = &self.init {
            table.insert("init".into(), init.clone().into());
        }
        table.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for ModelSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = toml::Table::deserialize(deserializer)?;
        let arch = match table.remove("arch") {
            Some(toml::Value::String(arch)) => arch,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`arch` must be a string, got {other}"
                )));
            }
            None => return Err(D::Error::missing_field("arch")),
        };
        let init = match table.remove("init") {
            Some(toml::Value::String(init)) => Some(init),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "key `model.init`: expected the path of a run, checkpoint or safetensors \
                     file, got {other}"
                )));
            }
            None => None,
        };
        let spec = ModelSpec::new(&arch, &table).map_err(|e| D::Error::custom(format!("{e:#}")))?;
        Ok(ModelSpec { init, ..spec })
    }
}
