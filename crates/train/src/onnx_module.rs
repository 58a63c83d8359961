//! An ONNX graph as a trainable candle module: every float weight of a Conv, Gemm/MatMul,
//! BatchNormalization (scale, shift) or PRelu becomes a candle `Var`; BatchNorm running
//! statistics are buffers updated in training mode; [`OnnxModule::to_onnx`] writes the trained
//! values back into the same graph. This is how pruned or third-party models are fine-tuned in
//! Rust.
//!
//! Op set: Conv (2-D, any pads/strides/dilations/groups), BatchNormalization, Relu, LeakyRelu,
//! PRelu, Clip, HardSigmoid, HardSwish, Sigmoid, Tanh, Add, Sub, Mul, Div, MaxPool (pads,
//! ceil_mode), AveragePool, GlobalAveragePool, GlobalMaxPool, Gemm, MatMul, Flatten, Reshape,
//! Concat, Softmax, ReduceMean, Identity, Dropout, Constant.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use coinfer_data::Dataset;
use coinfer_graph::initializer::{
    dims, float_attr, int_attr, ints_attr, read_f32, read_i64, write_f32,
};
use coinfer_graph::pb::{self, ModelProto};
use coinfer_graph::Graph;

use crate::error::{Result, TrainError};

/// Ops the interpreter implements.
pub const SUPPORTED_OPS: &[&str] = &[
    "Conv",
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Clip",
    "HardSigmoid",
    "HardSwish",
    "Sigmoid",
    "Tanh",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Gemm",
    "MatMul",
    "Flatten",
    "Reshape",
    "Concat",
    "Softmax",
    "ReduceMean",
    "Identity",
    "Dropout",
    "Constant",
];

/// A trainable module interpreting an ONNX graph (single input, first output).
pub struct OnnxModule {
    proto: ModelProto,
    nodes: Vec<pb::NodeProto>,
    input: String,
    output: String,
    trainable: HashMap<String, Var>,
    constants: HashMap<String, Tensor>,
    ints: HashMap<String, Vec<i64>>,
    /// BatchNorm running mean/var by initializer name, updated in training mode.
    running: Mutex<HashMap<String, Tensor>>,
    /// While set, BatchNorm's running statistics update with this momentum instead of the
    /// node's (recalibration: a cumulative average).
    momentum_override: Mutex<Option<f64>>,
    device: Device,
}

fn poisoned() -> TrainError {
    TrainError::Config("poisoned lock".into())
}

fn unsupported(node: &pb::NodeProto, reason: impl Into<String>) -> TrainError {
    TrainError::Unsupported { node: node.name.clone(), reason: reason.into() }
}

/// Which inputs of an op are trainable weights.
fn trainable_inputs(op: &str) -> &'static [usize] {
    match op {
        "Conv" | "Gemm" => &[1, 2],
        "MatMul" | "PRelu" => &[1],
        "BatchNormalization" => &[1, 2],
        _ => &[],
    }
}

impl OnnxModule {
    /// Builds the module from an analysed graph; fails on the first unsupported op.
    pub fn new(graph: &Graph) -> Result<OnnxModule> {
        let g = graph.proto.graph.as_ref().ok_or_else(|| TrainError::Config("no graph".into()))?;
        let device = Device::Cpu;
        let nodes: Vec<pb::NodeProto> =
            graph.nodes.iter().map(|n| g.node[n.proto_index].clone()).collect();
        for n in &nodes {
            if !SUPPORTED_OPS.contains(&n.op_type.as_str()) {
                return Err(unsupported(n, format!("op {} is not implemented", n.op_type)));
            }
        }
        let mut weight_names = std::collections::HashSet::new();
        let mut running_names = std::collections::HashSet::new();
        for n in &nodes {
            for &i in trainable_inputs(&n.op_type) {
                if let Some(x) = n.input.get(i).filter(|x| !x.is_empty()) {
                    weight_names.insert(x.clone());
                }
            }
            if n.op_type == "BatchNormalization" {
                running_names.extend(n.input.iter().skip(3).take(2).cloned());
            }
        }
        let (mut trainable, mut constants, mut ints, mut running) =
            (HashMap::new(), HashMap::new(), HashMap::new(), HashMap::new());
        for t in &g.initializer {
            match t.data_type {
                coinfer_graph::initializer::FLOAT => {
                    let v = Tensor::from_vec(read_f32(t)?, dims(t)?, &device)?;
                    if weight_names.contains(&t.name) {
                        trainable.insert(t.name.clone(), Var::from_tensor(&v)?);
                    } else if running_names.contains(&t.name) {
                        running.insert(t.name.clone(), v);
                    } else {
                        constants.insert(t.name.clone(), v);
                    }
                }
                coinfer_graph::initializer::INT64 => {
                    ints.insert(t.name.clone(), read_i64(t)?);
                }
                _ => {}
            }
        }
        let output =
            graph.outputs.first().cloned().ok_or_else(|| TrainError::Config("no output".into()))?;
        let input =
            graph.inputs.first().cloned().ok_or_else(|| TrainError::Config("no input".into()))?;
        Ok(OnnxModule {
            proto: graph.proto.clone(),
            nodes,
            input,
            output,
            trainable,
            constants,
            ints,
            running: Mutex::new(running),
            momentum_override: Mutex::new(None),
            device,
        })
    }

    /// Re-estimates every BatchNorm's running mean and variance from the images of `data` in
    /// batches of `batch` (forward only, no weight changes): after the call they are the
    /// average of the per-batch statistics — adaptive BN (Li et al., EagleEye, ECCV 2020),
    /// which makes a pruned model's accuracy meaningful before any fine-tuning.
    pub fn recalibrate_batch_norm(&self, data: &Dataset, batch: usize) -> Result<()> {
        for (k, (x, _)) in data.batches(batch.max(1)).enumerate() {
            let x = crate::trainer::to_tensor(
                x.iter().copied().collect(),
                data.image_shape,
                &self.device,
            )?;
            // Batch k+1 weighs 1/(k+1): the running value becomes the mean so far.
            *self.momentum_override.lock().map_err(|_| poisoned())? =
                Some(k as f64 / (k + 1) as f64);
            let out = candle_nn::ModuleT::forward_t(self, &x, true);
            *self.momentum_override.lock().map_err(|_| poisoned())? = None;
            out?;
        }
        Ok(())
    }

    /// The trainable variables (conv/FC weights and biases, BN scales and shifts), by name order.
    pub fn vars(&self) -> Vec<Var> {
        let mut names: Vec<&String> = self.trainable.keys().collect();
        names.sort();
        names.into_iter().map(|n| self.trainable[n].clone()).collect()
    }

    /// The graph with the current weights and running statistics written back.
    pub fn to_onnx(&self) -> Result<ModelProto> {
        let mut proto = self.proto.clone();
        let running =
            self.running.lock().map_err(|_| TrainError::Config("poisoned lock".into()))?;
        if let Some(g) = proto.graph.as_mut() {
            for t in g.initializer.iter_mut() {
                let value = match (self.trainable.get(&t.name), running.get(&t.name)) {
                    (Some(v), _) => v.as_tensor().clone(),
                    (None, Some(r)) => r.clone(),
                    _ => continue,
                };
                let d = value.dims().to_vec();
                write_f32(t, &d, &value.flatten_all()?.to_vec1::<f32>()?)?;
            }
        }
        Ok(proto)
    }

    fn value(
        &self,
        env: &HashMap<String, Tensor>,
        name: &str,
        node: &pb::NodeProto,
    ) -> Result<Tensor> {
        if let Some(t) = env.get(name) {
            return Ok(t.clone());
        }
        if let Some(v) = self.trainable.get(name) {
            return Ok(v.as_tensor().clone());
        }
        if let Some(t) = self.constants.get(name) {
            return Ok(t.clone());
        }
        if let Ok(r) = self.running.lock() {
            if let Some(t) = r.get(name) {
                return Ok(t.clone());
            }
        }
        if let Some(v) = self.ints.get(name) {
            let f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            return Ok(Tensor::from_vec(f, v.len(), &self.device)?);
        }
        Err(unsupported(node, format!("input `{name}` is not available")))
    }

    fn run_node(
        &self,
        node: &pb::NodeProto,
        env: &HashMap<String, Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let op = node.op_type.as_str();
        let input = |i: usize| -> Result<Tensor> {
            let name =
                node.input.get(i).ok_or_else(|| unsupported(node, format!("missing input {i}")))?;
            self.value(env, name, node)
        };
        let opt_input = |i: usize| -> Result<Option<Tensor>> {
            match node.input.get(i).filter(|x| !x.is_empty()) {
                Some(name) => Ok(Some(self.value(env, name, node)?)),
                None => Ok(None),
            }
        };
        let per_channel = |t: &Tensor, rank: usize| -> Result<Tensor> {
            let c = t.elem_count();
            let mut shape = vec![1usize; rank];
            shape[1] = c;
            Ok(t.reshape(shape)?)
        };
        Ok(match op {
            "Identity" | "Dropout" => input(0)?,
            "Constant" => {
                let attr =
                    node.attribute.iter().find(|a| a.name == "value").and_then(|a| a.t.as_ref());
                let t = attr.ok_or_else(|| unsupported(node, "Constant without a tensor value"))?;
                let values: Vec<f32> = match t.data_type {
                    coinfer_graph::initializer::INT64 => {
                        read_i64(t)?.iter().map(|&v| v as f32).collect()
                    }
                    _ => read_f32(t)?,
                };
                Tensor::from_vec(values, dims(t)?, &self.device)?
            }
            "Relu" => input(0)?.relu()?,
            "Sigmoid" => candle_nn::ops::sigmoid(&input(0)?)?,
            "Tanh" => input(0)?.tanh()?,
            "LeakyRelu" => {
                let x = input(0)?;
                let alpha = float_attr(node, "alpha").unwrap_or(0.01) as f64;
                x.maximum(&x.affine(alpha, 0.0)?)?
            }
            "PRelu" => {
                let x = input(0)?;
                let slope = input(1)?;
                let slope = if slope.rank() == 1 && x.rank() > 1 {
                    per_channel(&slope, x.rank())?
                } else {
                    slope
                };
                (x.relu()? - x.neg()?.relu()?.broadcast_mul(&slope)?)?
            }
            "Clip" => {
                let x = input(0)?;
                let scalar = |i: usize, attr: &str, default: f32| -> Result<f32> {
                    match opt_input(i)? {
                        Some(t) => Ok(t
                            .flatten_all()?
                            .to_vec1::<f32>()?
                            .first()
                            .copied()
                            .unwrap_or(default)),
                        None => Ok(float_attr(node, attr).unwrap_or(default)),
                    }
                };
                x.clamp(scalar(1, "min", f32::MIN)?, scalar(2, "max", f32::MAX)?)?
            }
            "HardSigmoid" => {
                let alpha = float_attr(node, "alpha").unwrap_or(0.2) as f64;
                let beta = float_attr(node, "beta").unwrap_or(0.5) as f64;
                input(0)?.affine(alpha, beta)?.clamp(0f32, 1f32)?
            }
            "HardSwish" => {
                let x = input(0)?;
                (&x * x.affine(1.0 / 6.0, 0.5)?.clamp(0f32, 1f32)?)?
            }
            "Add" => input(0)?.broadcast_add(&input(1)?)?,
            "Sub" => input(0)?.broadcast_sub(&input(1)?)?,
            "Mul" => input(0)?.broadcast_mul(&input(1)?)?,
            "Div" => input(0)?.broadcast_div(&input(1)?)?,
            "Conv" => self.conv(node, &input(0)?, &input(1)?, opt_input(2)?)?,
            "BatchNormalization" => self.batch_norm(node, &input(0)?, train)?,
            "MaxPool" | "AveragePool" => self.pool(node, &input(0)?)?,
            "GlobalAveragePool" => input(0)?.mean_keepdim(3)?.mean_keepdim(2)?,
            "GlobalMaxPool" => input(0)?.max_keepdim(3)?.max_keepdim(2)?,
            "Gemm" => {
                let mut a = input(0)?;
                let mut b = input(1)?;
                if int_attr(node, "transA").unwrap_or(0) != 0 {
                    a = a.t()?;
                }
                if int_attr(node, "transB").unwrap_or(0) != 0 {
                    b = b.t()?;
                }
                let alpha = float_attr(node, "alpha").unwrap_or(1.0) as f64;
                let beta = float_attr(node, "beta").unwrap_or(1.0) as f64;
                let mut y = a.matmul(&b)?;
                if alpha != 1.0 {
                    y = y.affine(alpha, 0.0)?;
                }
                match opt_input(2)? {
                    Some(c) => y.broadcast_add(&c.affine(beta, 0.0)?)?,
                    None => y,
                }
            }
            "MatMul" => input(0)?.broadcast_matmul(&input(1)?)?,
            "Flatten" => {
                let x = input(0)?;
                let axis = int_attr(node, "axis").unwrap_or(1);
                let axis = if axis < 0 { axis + x.rank() as i64 } else { axis } as usize;
                let outer: usize = x.dims()[..axis].iter().product();
                x.reshape((outer, x.elem_count() / outer.max(1)))?
            }
            "Reshape" => {
                let x = input(0)?;
                let name = node.input.get(1).cloned().unwrap_or_default();
                let spec = self
                    .ints
                    .get(&name)
                    .ok_or_else(|| unsupported(node, "Reshape needs a constant int64 shape"))?;
                let mut shape: Vec<usize> = Vec::with_capacity(spec.len());
                let mut infer = None;
                for (i, &d) in spec.iter().enumerate() {
                    match d {
                        0 => shape.push(x.dims().get(i).copied().unwrap_or(1)),
                        -1 => {
                            infer = Some(i);
                            shape.push(1);
                        }
                        d if d > 0 => shape.push(d as usize),
                        _ => return Err(unsupported(node, "negative reshape dim")),
                    }
                }
                if let Some(i) = infer {
                    let known: usize = shape.iter().product();
                    shape[i] = x.elem_count() / known.max(1);
                }
                x.reshape(shape)?
            }
            "Concat" => {
                let xs: Vec<Tensor> = (0..node.input.len()).map(input).collect::<Result<_>>()?;
                let rank = xs.first().map_or(0, Tensor::rank) as i64;
                let axis = int_attr(node, "axis").unwrap_or(0);
                let axis = if axis < 0 { axis + rank } else { axis } as usize;
                Tensor::cat(&xs, axis)?
            }
            "Softmax" => {
                let x = input(0)?;
                let axis = int_attr(node, "axis").unwrap_or(-1);
                let axis = if axis < 0 { axis + x.rank() as i64 } else { axis } as usize;
                candle_nn::ops::softmax(&x, axis)?
            }
            "ReduceMean" => {
                let mut x = input(0)?;
                let rank = x.rank() as i64;
                let mut axes: Vec<usize> = ints_attr(node, "axes")
                    .ok_or_else(|| unsupported(node, "ReduceMean without an axes attribute"))?
                    .iter()
                    .map(|&a| if a < 0 { a + rank } else { a } as usize)
                    .collect();
                axes.sort_unstable();
                for &a in axes.iter().rev() {
                    x = x.mean_keepdim(a)?;
                }
                if int_attr(node, "keepdims").unwrap_or(1) == 0 {
                    for &a in axes.iter().rev() {
                        x = x.squeeze(a)?;
                    }
                }
                x
            }
            other => return Err(unsupported(node, format!("op {other} is not implemented"))),
        })
    }

    fn conv(
        &self,
        node: &pb::NodeProto,
        x: &Tensor,
        w: &Tensor,
        b: Option<Tensor>,
    ) -> Result<Tensor> {
        if x.rank() != 4 {
            return Err(unsupported(node, "only 2-D convolutions are implemented"));
        }
        let pair = |name: &str| -> Result<usize> {
            match ints_attr(node, name) {
                None => Ok(1),
                Some([a, b]) if a == b && *a > 0 => Ok(*a as usize),
                Some(v) => Err(unsupported(node, format!("{name} {v:?} differ per axis"))),
            }
        };
        let (stride, dilation) = (pair("strides")?, pair("dilations")?);
        let groups = int_attr(node, "group").unwrap_or(1).max(1) as usize;
        let pads = self.pads(node, x, w.dims()[2..].to_vec(), stride, dilation)?;
        let x = if pads.iter().all(|&p| p == pads[0]) {
            x.clone()
        } else {
            x.pad_with_zeros(2, pads[0], pads[2])?.pad_with_zeros(3, pads[1], pads[3])?
        };
        let p = if pads.iter().all(|&p| p == pads[0]) { pads[0] } else { 0 };
        let y = x.conv2d(w, p, stride, dilation, groups)?;
        Ok(match b {
            Some(b) => y.broadcast_add(&b.reshape((1, b.elem_count(), 1, 1))?)?,
            None => y,
        })
    }

    /// `[top, left, bottom, right]` padding from `pads` or `auto_pad`.
    fn pads(
        &self,
        node: &pb::NodeProto,
        x: &Tensor,
        kernel: Vec<usize>,
        stride: usize,
        dilation: usize,
    ) -> Result<[usize; 4]> {
        let auto = node
            .attribute
            .iter()
            .find(|a| a.name == "auto_pad")
            .map(|a| String::from_utf8_lossy(&a.s).to_string())
            .unwrap_or_default();
        match auto.as_str() {
            "" | "NOTSET" => match ints_attr(node, "pads") {
                None => Ok([0; 4]),
                Some(p) if p.len() == 4 && p.iter().all(|&v| v >= 0) => {
                    Ok([p[0] as usize, p[1] as usize, p[2] as usize, p[3] as usize])
                }
                Some(p) => Err(unsupported(node, format!("pads {p:?}"))),
            },
            "VALID" => Ok([0; 4]),
            "SAME_UPPER" | "SAME_LOWER" => {
                let mut out = [0usize; 4];
                for (i, k) in kernel.iter().enumerate().take(2) {
                    let n = x.dims()[2 + i];
                    let o = n.div_ceil(stride);
                    let total = ((o - 1) * stride + (k - 1) * dilation + 1).saturating_sub(n);
                    let (small, big) = (total / 2, total - total / 2);
                    let (a, b) = if auto == "SAME_UPPER" { (small, big) } else { (big, small) };
                    out[i] = a;
                    out[i + 2] = b;
                }
                Ok(out)
            }
            other => Err(unsupported(node, format!("auto_pad {other}"))),
        }
    }

    fn pool(&self, node: &pb::NodeProto, x: &Tensor) -> Result<Tensor> {
        let k = match ints_attr(node, "kernel_shape") {
            Some([a, b]) => (*a as usize, *b as usize),
            _ => return Err(unsupported(node, "2-D kernel_shape required")),
        };
        let s = match ints_attr(node, "strides") {
            Some([a, b]) => (*a as usize, *b as usize),
            None => (1, 1),
            Some(v) => return Err(unsupported(node, format!("strides {v:?}"))),
        };
        let mut pads = self.pads(node, x, vec![k.0, k.1], s.0.max(s.1), 1)?;
        let max = node.op_type == "MaxPool";
        if int_attr(node, "ceil_mode").unwrap_or(0) != 0 {
            for (i, (kk, ss)) in [(k.0, s.0), (k.1, s.1)].into_iter().enumerate() {
                let n = x.dims()[2 + i] + pads[i] + pads[i + 2];
                let out = (n.saturating_sub(kk)).div_ceil(ss) + 1;
                let need = (out - 1) * ss + kk;
                pads[i + 2] += need.saturating_sub(n);
            }
        }
        let x = if pads.iter().any(|&p| p > 0) {
            if !max && int_attr(node, "count_include_pad").unwrap_or(0) == 0 {
                return Err(unsupported(node, "padded AveragePool without count_include_pad"));
            }
            let fill = if max { f32::NEG_INFINITY } else { 0.0 };
            pad_const(x, pads, fill)?
        } else {
            x.clone()
        };
        Ok(if max { x.max_pool2d_with_stride(k, s)? } else { x.avg_pool2d_with_stride(k, s)? })
    }

    fn batch_norm(&self, node: &pb::NodeProto, x: &Tensor, train: bool) -> Result<Tensor> {
        let eps = float_attr(node, "epsilon").unwrap_or(1e-5) as f64;
        let node_momentum = float_attr(node, "momentum").unwrap_or(0.9) as f64;
        let momentum =
            self.momentum_override.lock().map_err(|_| poisoned())?.unwrap_or(node_momentum);
        let name = |i: usize| node.input.get(i).cloned().unwrap_or_default();
        let empty = HashMap::new();
        let scale = self.value(&empty, &name(1), node)?;
        let shift = self.value(&empty, &name(2), node)?;
        let rank = x.rank();
        let c = |t: &Tensor| -> Result<Tensor> {
            let mut shape = vec![1usize; rank];
            shape[1] = t.elem_count();
            Ok(t.reshape(shape)?)
        };
        let mut running =
            self.running.lock().map_err(|_| TrainError::Config("poisoned lock".into()))?;
        let (mean_name, var_name) = (name(3), name(4));
        let (mean, var) = match (running.get(&mean_name), running.get(&var_name)) {
            (Some(m), Some(v)) => (m.clone(), v.clone()),
            _ => {
                return Err(unsupported(
                    node,
                    "BatchNormalization needs constant running statistics",
                ))
            }
        };
        let (mean, var) = if train {
            let axes: Vec<usize> = (0..rank).filter(|&a| a != 1).collect();
            let mut bm = x.clone();
            for &a in axes.iter().rev() {
                bm = bm.mean_keepdim(a)?;
            }
            let centered = x.broadcast_sub(&bm)?;
            let mut bv = centered.sqr()?;
            for &a in axes.iter().rev() {
                bv = bv.mean_keepdim(a)?;
            }
            let n = (x.elem_count() / x.dims()[1].max(1)) as f64;
            let unbiased = bv.detach().flatten_all()?.affine(n / (n - 1.0).max(1.0), 0.0)?;
            let new_mean = ((mean * momentum)? + (bm.detach().flatten_all()? * (1.0 - momentum))?)?;
            let new_var = ((var * momentum)? + (unbiased * (1.0 - momentum))?)?;
            running.insert(mean_name, new_mean);
            running.insert(var_name, new_var);
            (bm, bv)
        } else {
            (c(&mean)?, c(&var)?)
        };
        let y = x.broadcast_sub(&mean)?.broadcast_div(&(var + eps)?.sqrt()?)?;
        Ok(y.broadcast_mul(&c(&scale)?)?.broadcast_add(&c(&shift)?)?)
    }
}

/// Pads the two spatial axes of an NCHW tensor with a constant (`[top, left, bottom, right]`).
fn pad_const(x: &Tensor, pads: [usize; 4], fill: f32) -> Result<Tensor> {
    let mut x = x.clone();
    for (axis, before, after) in [(2usize, pads[0], pads[2]), (3, pads[1], pads[3])] {
        let mut parts = Vec::new();
        let mut shape = x.dims().to_vec();
        if before > 0 {
            shape[axis] = before;
            parts.push(Tensor::full(fill, shape.clone(), x.device())?);
        }
        parts.push(x.clone());
        if after > 0 {
            shape[axis] = after;
            parts.push(Tensor::full(fill, shape.clone(), x.device())?);
        }
        if parts.len() > 1 {
            x = Tensor::cat(&parts, axis)?;
        }
    }
    Ok(x)
}

impl ModuleT for OnnxModule {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut env: HashMap<String, Tensor> = HashMap::new();
        env.insert(self.input.clone(), x.to_dtype(DType::F32)?);
        for node in &self.nodes {
            let y = self
                .run_node(node, &env, train)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            if let Some(o) = node.output.first() {
                env.insert(o.clone(), y);
            }
        }
        env.remove(&self.output).ok_or_else(|| {
            candle_core::Error::Msg(format!("output `{}` was not computed", self.output))
        })
    }
}
