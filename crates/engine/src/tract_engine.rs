//! The tract backend (pure Rust, default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coinfer_graph::pb::ModelProto;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::engine::{check_inputs, declared_inputs, Engine, Runnable, Tensor};
use crate::error::{EngineError, Result};

/// tract: plans are optimised per concrete input shape and cached, so any batch size runs at
/// full speed after its first call. Single-threaded per model (tract's multithreaded executor
/// slows small convnets down on small machines).
///
/// Batches: tract's lazy im2col convolution is for batch 1 only, and its eager im2col made
/// batches 35–40 % slower per sample than batch 1 on the default ResNet (measured with
/// `coinfer bench engine --batches 1,2,32`). So the first batched call times the batched plan
/// against one batch-1 call per sample and runs every later batch the faster way; both give
/// the same answers.
///
/// [`BatchMode`] forces one of the two ways (tests cover both on every machine).
#[derive(Debug, Default, Clone)]
pub struct TractEngine {
    /// How batches run.
    pub batch_mode: BatchMode,
}

/// How the tract engine runs a batch of several samples.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum BatchMode {
    /// Timed at the first batched call; the faster way is kept (the default).
    #[default]
    Timed,
    /// Always one batched call.
    Batched,
    /// Always one batch-1 call per sample, outputs stacked.
    PerSample,
}

type Plan = Arc<TypedRunnableModel>;

struct TractRunnable {
    model: InferenceModel,
    declared: Vec<(String, Vec<Option<usize>>)>,
    plans: Mutex<HashMap<Vec<Vec<usize>>, Plan>>,
    /// Whether batches run as batch-1 calls (`true`) or as one batched call; decided at the
    /// first batched call (building a plan per batch size would cost more than it saves).
    split: Mutex<Option<bool>>,
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
        let runnable = TractRunnable {
            model: inference,
            declared,
            plans: Mutex::new(HashMap::new()),
            split: Mutex::new(match self.batch_mode {
                BatchMode::Timed => None,
                BatchMode::Batched => Some(false),
                BatchMode::PerSample => Some(true),
            }),
        };
        // Optimise once for batch size 1 so load errors (unsupported ops) surface here. A model
        // with other symbolic dims (height, width, sequence length) is planned at its first run,
        // for the shape it is given: no dim is guessed.
        let fully_declared =
            runnable.declared.iter().all(|(_, d)| d.iter().skip(1).all(Option::is_some));
        if fully_declared {
            let shapes: Vec<Vec<usize>> = runnable
                .declared
                .iter()
                .map(|(_, d)| d.iter().map(|d| d.unwrap_or(1)).collect())
                .collect();
            runnable.plan(&shapes)?;
        }
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

impl TractRunnable {
    /// One call of the plan for `inputs`' shapes.
    fn run_plan(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
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

    /// A batch of `n` as `n` batch-1 calls, outputs stacked on axis 0; `None` if an output
    /// has no batch axis of 1 (then the model is not sample-separable).
    fn run_split(&self, inputs: &[Tensor], n: usize) -> Result<Option<Vec<Tensor>>> {
        let mut per_output: Vec<Vec<Tensor>> = Vec::new();
        for i in 0..n {
            let one: Vec<Tensor> = inputs
                .iter()
                .map(|x| x.slice_axis(ndarray::Axis(0), (i..i + 1).into()).to_owned())
                .collect();
            let outs = self.run_plan(&one)?;
            if outs.iter().any(|o| o.shape().first() != Some(&1)) {
                return Ok(None);
            }
            per_output.resize_with(outs.len(), Vec::new);
            for (k, o) in outs.into_iter().enumerate() {
                per_output[k].push(o);
            }
        }
        per_output
            .iter()
            .map(|parts| {
                let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
                ndarray::concatenate(ndarray::Axis(0), &views).map_err(|e| EngineError::Run {
                    engine: "tract",
                    reason: format!("stacking batch outputs: {e}"),
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }
}

impl Runnable for TractRunnable {
    fn run(&self, inputs: &[Tensor]) -> Result<Vec<Tensor>> {
        check_inputs(&self.declared, inputs)?;
        let batch = inputs.first().and_then(|x| x.shape().first().copied()).unwrap_or(1);
        let separable = batch > 1
            && inputs.iter().all(|x| x.shape().first() == Some(&batch))
            && self.declared.iter().all(|(_, d)| d.first().is_some_and(|d| d.is_none()));
        if !separable {
            return self.run_plan(inputs);
        }
        let known = *self.split.lock().unwrap_or_else(|p| p.into_inner());
        match known {
            Some(false) => self.run_plan(inputs),
            Some(true) => match self.run_split(inputs, batch)? {
                Some(out) => Ok(out),
                None => self.run_plan(inputs),
            },
            None => {
                // First batched call: build and warm the batched plan, then time batched
                // calls against split calls (best of 3) and remember the faster.
                let mut native = self.run_plan(inputs)?;
                let (mut native_time, mut split_time) = (Duration::MAX, Duration::MAX);
                let mut split = None;
                for _ in 0..3 {
                    let t = Instant::now();
                    native = self.run_plan(inputs)?;
                    native_time = native_time.min(t.elapsed());
                    let t = Instant::now();
                    split = self.run_split(inputs, batch)?;
                    split_time = split_time.min(t.elapsed());
                }
                let use_split = split.is_some() && split_time < native_time;
                *self.split.lock().unwrap_or_else(|p| p.into_inner()) = Some(use_split);
                tracing::debug!(batch, ?native_time, ?split_time, use_split, "tract batch mode");
                Ok(match split {
                    Some(out) if use_split => out,
                    _ => native,
                })
            }
        }
    }

    fn input_shapes(&self) -> &[(String, Vec<Option<usize>>)] {
        &self.declared
    }
}
