//! Recipes by name, bound to the engine. Adding one: a file in src/recipes/ implementing
//! [`Recipe`] and one line in [`RECIPES`]. (The table lives with the engine because binding a
//! recipe to it is what an entry does; src/recipes/ knows nothing of the engine.)

use super::trainer::{Unbound, UnboundRecipe};
use crate::config::RunConfig;
use crate::recipes::Recipe;
use crate::recipes::aaer::Aaer;
use crate::recipes::conadv::ConAdv;
use crate::recipes::ddpm::DdpmRecipe;
use crate::recipes::done::Done;
use crate::recipes::edm::EdmRecipe;
use crate::recipes::erm::Erm;
use crate::recipes::fast_at::FastAt;
use crate::recipes::pgd_at::PgdAt;
use crate::recipes::supernet::Supernet;
use crate::recipes::trades::Trades;
use crate::recipes::weat::Weat;
use crate::registry::{Entry, find};

type Builder = fn(&RunConfig) -> anyhow::Result<Box<dyn UnboundRecipe>>;

fn entry<R: Recipe + 'static>(config: &RunConfig) -> anyhow::Result<Box<dyn UnboundRecipe>> {
    Ok(Box::new(Unbound(R::from_config(config)?)))
}

pub const RECIPES: &[Entry<Builder>] = &[
    Entry {
        name: "erm",
        description: "standard supervised training with cross-entropy (optional label smoothing)",
        item: entry::<Erm>,
    },
    Entry {
        name: "pgd-at",
        description: "adversarial training on PGD-k examples (Madry et al.)",
        item: entry::<PgdAt>,
    },
    Entry {
        name: "fast-at",
        description: "adversarial training on FGSM with a random start (Wong et al., Fast-AT)",
        item: entry::<FastAt>,
    },
    Entry {
        name: "trades",
        description: "TRADES: natural cross-entropy plus beta KL(clean || adversarial) (Zhang et al.)",
        item: entry::<Trades>,
    },
    Entry {
        name: "aaer",
        description: "FGSM training regularising abnormal adversarial examples against catastrophic overfitting (Lin et al.)",
        item: entry::<Aaer>,
    },
    Entry {
        name: "weat",
        description: "TRADES with examples weighted by their energy, 1/softplus(|E(x)|) (Mirza et al., WEAT)",
        item: entry::<Weat>,
    },
    Entry {
        name: "done",
        description: "PGD-AT with the batch reweighted by softmax(adversarial loss / r) (Sow et al., DONE)",
        item: entry::<Done>,
    },
    Entry {
        name: "conadv",
        description: "adversarial training with the attack on stale weights on a second thread, auxiliary batch norms (Liu et al., ConAdv)",
        item: entry::<ConAdv>,
    },
    Entry {
        name: "supernet",
        description: "one-shot NAS: a cell supernet trained on uniformly drawn architectures (SPOS) or by PA&DA importance sampling, or one architecture alone",
        item: entry::<Supernet>,
    },
    Entry {
        name: "ddpm",
        description: "epsilon-prediction diffusion with a linear or cosine schedule, optional ScoreAug (Ho et al.)",
        item: entry::<DdpmRecipe>,
    },
    Entry {
        name: "edm",
        description: "preconditioned EDM diffusion with Heun sampling, optional ScoreAug (Karras et al.)",
        item: entry::<EdmRecipe>,
    },
];

/// The recipe a config names, built from its options (checked) and type-erased; a
/// [`crate::Trainer`] binds it to data, model and optimizer.
pub fn build(config: &RunConfig) -> anyhow::Result<Box<dyn UnboundRecipe>> {
    let entry = find(RECIPES, &config.recipe.name, "recipe.name", "recipe")?;
    (entry.item)(config)
}
