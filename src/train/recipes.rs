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
use crate::recipes::trades::Trades;
use crate::recipes::weat::Weat;
use crate::usage_error;

type Builder = fn(&RunConfig) -> anyhow::Result<Box<dyn UnboundRecipe>>;

fn entry<R: Recipe + 'static>(config: &RunConfig) -> anyhow::Result<Box<dyn UnboundRecipe>> {
    Ok(Box::new(Unbound(R::from_config(config)?)))
}

/// (name, one-line description, builder)
pub const RECIPES: &[(&str, &str, Builder)] = &[
    (
        "erm",
        "standard supervised training with cross-entropy (optional label smoothing)",
        entry::<Erm>,
    ),
    (
        "pgd-at",
        "adversarial training on PGD-k examples (Madry et al.)",
        entry::<PgdAt>,
    ),
    (
        "fast-at",
        "adversarial training on FGSM with a random start (Wong et al., Fast-AT)",
        entry::<FastAt>,
    ),
    (
        "trades",
        "TRADES: natural cross-entropy plus beta KL(clean || adversarial) (Zhang et al.)",
        entry::<Trades>,
    ),
    (
        "aaer",
        "FGSM training regularising abnormal adversarial examples against catastrophic overfitting (Lin et al.)",
        entry::<Aaer>,
    ),
    (
        "weat",
        "TRADES with examples weighted by their energy, 1/softplus(|E(x)|) (Mirza et al., WEAT)",
        entry::<Weat>,
    ),
    (
        "done",
        "PGD-AT with the batch reweighted by softmax(adversarial loss / r) (Sow et al., DONE)",
        entry::<Done>,
    ),
    (
        "conadv",
        "adversarial training with the attack on stale weights on a second thread, auxiliary batch norms (Liu et al., ConAdv)",
        entry::<ConAdv>,
    ),
    (
        "ddpm",
        "epsilon-prediction diffusion with a linear or cosine schedule, optional ScoreAug (Ho et al.)",
        entry::<DdpmRecipe>,
    ),
    (
        "edm",
        "preconditioned EDM diffusion with Heun sampling, optional ScoreAug (Karras et al.)",
        entry::<EdmRecipe>,
    ),
];

/// The recipe a config names, built from its options (checked) and type-erased; a
/// [`crate::Trainer`] binds it to data, model and optimizer.
pub fn build(config: &RunConfig) -> anyhow::Result<Box<dyn UnboundRecipe>> {
    let (_, _, builder) = RECIPES
        .iter()
        .find(|(name, _, _)| *name == config.recipe.name)
        .ok_or_else(|| {
            let names: Vec<&str> = RECIPES.iter().map(|r| r.0).collect();
            usage_error!(
                "key `recipe.name`: unknown recipe `{}`; known: {}",
                config.recipe.name,
                names.join(", ")
            )
        })?;
    builder(config)
}
