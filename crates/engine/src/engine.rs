//! The `Engine` / `Runnable` traits and the choice of backend by name.

use std::sync::Arc;

use coinfer_graph::pb::ModelProto;

use crate::error::{EngineError, Result};

/// A float32 tensor, row-major, shape `(batch, ...)`.
pub type Tensor = ndarray::ArrayD<f32>;

/// An inference backend: turns an ONNX model into something runnable.
pub trait Engine: Send + Sync {
    /// Short backend name (`tract`, `ort`).
    fn name(&self) -> &'static str;
    /// Loads and optimises a model once; the result is run many times.
    fn prepare(&self, model: &ModelProto) -> Result<Arc<dyn Runnable>>;
}

/// A prepared model. Any batch size works; inputs are checked against the declared shapes.
pub trait Runnable: Send + Sync {
    /// Runs the model on `inputs` (one per model input, in declaration order).
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>>;
    /// Declared input shapes (`None` = symbolic dimension).
    fn input_shapes(&self) -> &[(String, Vec<Option<usize>>)];
}

/// Names of the engines compiled into this build (`auto` picks one of them).
pub fn available_engines() -> Vec<&'static str> {
    let mut v = vec!["tract"];
    if cfg!(feature = "ort") {
        v.push("ort");
    }
    v
}

/// The engine called `name`: `tract`, `ort` (when built with the `ort` feature), or `auto` —
/// ONNX Runtime when this build has it and its library loads (5.9–8.5× tract's throughput on
/// the bundled models, docs/results.md § Engines), else tract. `auto` logs which one runs.
pub fn engine_for_name(name: &str) -> Result<Arc<dyn Engine>> {
    match name {
        "auto" => Ok(auto_engine()),
        "tract" => Ok(Arc::new(crate::tract_engine::TractEngine::default())),
        "ort" => crate::ort_engine::ort_engine(),
        other => Err(EngineError::Unavailable {
            name: other.into(),
            reason: format!("unknown engine; available: auto, {}", available_engines().join(", ")),
        }),
    }
}

/// `name` with `auto` replaced by the engine it chooses (`ort` or `tract`); other names as given.
pub fn resolve_engine_name(name: &str) -> String {
    match name {
        "auto" => auto_engine().name().to_string(),
        other => other.to_string(),
    }
}

/// The fastest engine available: ONNX Runtime if it loads, tract otherwise. The choice is made
/// once per process (the ONNX Runtime library is loaded once) and logged once, at `info`.
fn auto_engine() -> Arc<dyn Engine> {
    static LOGGED: std::sync::Once = std::sync::Once::new();
    match crate::ort_engine::ort_engine() {
        Ok(engine) => {
            LOGGED.call_once(|| {
                let lib = crate::ort_engine::find_ort_library().unwrap_or_default();
                tracing::info!("engine: ort (ONNX Runtime from {})", lib.display());
            });
            engine
        }
        Err(e) => {
            LOGGED.call_once(|| tracing::info!("engine: tract (ONNX Runtime unavailable: {e})"));
            Arc::new(crate::tract_engine::TractEngine::default())
        }
    }
}

/// Declared input shapes of a model (`None` for symbolic or missing dimensions).
pub(crate) fn declared_inputs(model: &ModelProto) -> Vec<(String, Vec<Option<usize>>)> {
    use coinfer_graph::pb::{tensor_shape_proto::dimension::Value, type_proto::Value as TV};
    let Some(g) = model.graph.as_ref() else { return vec![] };
    let inits: std::collections::HashSet<&str> =
        g.initializer.iter().map(|t| t.name.as_str()).collect();
    g.input
        .iter()
        .filter(|vi| !inits.contains(vi.name.as_str()))
        .map(|vi| {
            let dims = match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
                Some(TV::TensorType(t)) => t
                    .shape
                    .as_ref()
                    .map(|s| {
                        s.dim
                            .iter()
                            .map(|d| match d.value {
                                Some(Value::DimValue(v)) if v > 0 => Some(v as usize),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                None => vec![],
            };
            (vi.name.clone(), dims)
        })
        .collect()
}

/// Checks `inputs` against the declared shapes; returns a clear error on any mismatch.
pub(crate) fn check_inputs(
    declared: &[(String, Vec<Option<usize>>)],
    inputs: &[Tensor],
) -> Result<()> {
    if declared.len() != inputs.len() {
        return Err(EngineError::InputCount { expected: declared.len(), got: inputs.len() });
    }
    for ((name, dims), x) in declared.iter().zip(inputs) {
        let fits = dims.len() == x.ndim()
            && dims.iter().zip(x.shape()).all(|(d, &s)| d.is_none_or(|d| d == s));
        if !fits && !dims.is_empty() {
            let expected = format!(
                "[{}]",
                dims.iter()
                    .map(|d| d.map_or("?".to_string(), |d| d.to_string()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Err(EngineError::ShapeMismatch {
                input: name.clone(),
                expected,
                got: x.shape().to_vec(),
            });
        }
    }
    Ok(())
}
