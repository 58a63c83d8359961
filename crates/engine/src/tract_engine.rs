//! The tract backend (pure Rust, default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use coinfer_graph::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::engine::{check_inputs, declared_inputs, Engine, Runnable, Tensor};
use crate::error::{EngineError, Result};

/// tract: plans are optimised per concrete input shape and cached, so any batch size runs at
/// full speed after its first call. Single-threaded per model (tract's multithreaded executor
/// slows small convnets down on small machines).
#[derive(Debug, Default, Clone)]
pub struct TractEngine;

type Plan = Arc<TypedRunnableModel>;

struct TractRunnable {
    model: InferenceModel,
    declared: Vec<(String, Vec<Option<usize>>)>,
    plans: Mutex<HashMap<Vec<Vec<usize>>, Plan>>,
}

fn prepare_err(e: TractError) -> EngineError {
    EngineError::Prepare { engine: "tract", reason: format!("{e:#}") }
}

impl Engine for TractEngine {
    fn name(&self) -> &'static str {
        "tract"
    }

    fn prepare(&self, model: &ModelProto) -> Result<Arc<dyn Runnable>> {
        let declared = declared_inputs(model);
        let inference = tract_onnx::onnx().model_for_proto_model(model).map_err(prepare_err)?;
        let runnable =
            TractRunnable { model: inference, declared, plans: Mutex::new(HashMap::new()) };
        // Optimise once for batch size 1 so load errors (unsupported ops) surface here.
        let shapes: Vec<Vec<usize>> = runnable
            .declared
            .iter()
            .map(|(_, d)| d.iter().map(|d| d.unwrap_or(1)).collect())
            .collect();
        runnable.plan(&shapes)?;
        Ok(Arc::new(runnable))
    }
}

impl TractRunnable {
    fn plan(&self, shapes: &[Vec<usize>]) -> Result<Plan> {
        let mut plans = self.plans.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = plans.get(shapes) {
            return Ok(p.clone());
        }
        let mut model = self.model.clone();
        for (ix, shape) in shapes.iter().enumerate() {
            let dt = model
                .input_fact(ix)
                .ok()
                .and_then(|f| f.datum_type.concretize())
                .unwrap_or(f32::datum_type());
            model
                .set_input_fact(ix, InferenceFact::dt_shape(dt, shape.clone()))
                .map_err(prepare_err)?;
        }
        let plan = model.into_optimized().and_then(|m| m.into_runnable()).map_err(prepare_err)?;
        plans.insert(shapes.to_vec(), plan.clone());
        Ok(plan)
    }
}

impl Runnable for TractRunnable {
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        check_inputs(&self.declared, inputs)?;
        let shapes: Vec<Vec<usize>> = inputs.iter().map(|x| x.shape().to_vec()).collect();
        let plan = self.plan(&shapes)?;
        let values: TVec<TValue> =
            inputs.iter().map(|x| tract_onnx::prelude::Tensor::from(x.clone()).into()).collect();
        let outputs = plan
            .run(values)
            .map_err(|e| EngineError::Run { engine: "tract", reason: format!("{e:#}") })?;
        outputs
            .into_iter()
            .enumerate()
            .map(|(index, v)| {
                v.into_tensor()
                    .into_plain_array::<f32>()
                    .map_err(|_| EngineError::OutputType { index })
            })
            .collect()
    }

    fn input_shapes(&self) -> &[(String, Vec<Option<usize>>)] {
        &self.declared
    }
}
