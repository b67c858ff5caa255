//! Starting every rank from rank 0's weights, optimizer state and engine state, so the ranks
//! agree exactly whether the run is new or resumed (only rank 0 needs the checkpoint files).

use super::checkpoint::{TrainState, decode_model, decode_optim, encode_model, encode_optim};
use crate::distributed::World;
use burn::module::Module;
use burn::optim::ModuleOptimizer;

/// Replaces the model, optimizer and state of every rank by rank 0's.
pub fn broadcast_training<M: Module>(
    world: &World,
    model: M,
    optim: ModuleOptimizer,
    state: TrainState,
) -> anyhow::Result<(M, ModuleOptimizer, TrainState)> {
    if world.size() == 1 {
        return Ok((model, optim, state));
    }
    let leader = world.is_leader();
    let mut model_bytes = if leader {
        encode_model(&model)?
    } else {
        Vec::new()
    };
    world.broadcast(&mut model_bytes, "broadcasting the weights of rank 0");
    let mut optim_bytes = if leader {
        encode_optim(&optim)?
    } else {
        Vec::new()
    };
    world.broadcast(
        &mut optim_bytes,
        "broadcasting the optimizer state of rank 0",
    );
    let mut state_bytes = if leader {
        serde_json::to_vec(&state)?
    } else {
        Vec::new()
    };
    world.broadcast(
        &mut state_bytes,
        "broadcasting the training state of rank 0",
    );
    if leader {
        return Ok((model, optim, state));
    }
    let model = decode_model(model_bytes, model, "the weights from rank 0")?;
    let optim = decode_optim(optim_bytes, optim, "the optimizer state from rank 0")?;
    let state = serde_json::from_slice(&state_bytes)?;
    Ok((model, optim, state))
}
