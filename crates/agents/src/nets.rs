//! Helpers every agent's networks share: seeded initialisation and variable selection.

use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use rand::Rng;

use crate::error::{AgentError, Result};

/// The variables whose names start with `prefix.`, in name order.
pub(crate) fn prefixed(vars: &VarMap, prefix: &str) -> Result<Vec<Var>> {
    let data = vars.data().lock().map_err(|_| AgentError::Config("poisoned lock".into()))?;
    let mut named: Vec<(&String, &Var)> =
        data.iter().filter(|(k, _)| k.starts_with(&format!("{prefix}."))).collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    Ok(named.into_iter().map(|(_, v)| v.clone()).collect())
}

/// PyTorch's default for linear layers from a seeded generator: weights
/// `U(−1/√fan_in, 1/√fan_in)`, biases zero; variables in name order, so the same seed gives
/// the same networks.
pub(crate) fn seeded_init(vars: &VarMap, rng: &mut impl Rng) -> Result<()> {
    let data = vars.data().lock().map_err(|_| AgentError::Config("poisoned lock".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let values: Vec<f32> = if dims.len() >= 2 {
            let bound = 1.0 / (dims[1] as f32).sqrt();
            (0..var.elem_count()).map(|_| rng.random_range(-bound..bound)).collect()
        } else {
            vec![0.0; var.elem_count()]
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}
