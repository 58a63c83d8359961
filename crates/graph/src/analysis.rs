//! Graph analysis: topological order, tensor shapes (via tract's shape inference), per-node cost.

use std::collections::{HashMap, HashSet};

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, InferenceModelExt};

use crate::cost::node_macs;
use crate::error::{GraphError, Result};
use crate::pb::{self, ModelProto};
use crate::shapes::{self, InputShapes, ResolvedInput};

/// Element type of a tensor, as far as cost accounting needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ElemType {
    /// ONNX `TensorProto.DataType` code (1 = float32, 7 = int64, ...).
    pub onnx_code: i32,
    /// Size of one element in bytes (0 if unknown).
    pub bytes: usize,
}

impl ElemType {
    /// The element type for an ONNX data type code.
    pub fn from_onnx(code: i32) -> ElemType {
        let bytes = match code {
            1 | 6 | 12 => 4,      // float, int32, uint32
            7 | 11 | 13 => 8,     // int64, double, uint64
            2 | 3 | 9 => 1,       // uint8, int8, bool
            4 | 5 | 10 | 16 => 2, // uint16, int16, float16, bfloat16
            _ => 0,
        };
        ElemType { onnx_code: code, bytes }
    }
}

/// Where a tensor's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum TensorKind {
    /// A graph input fed at run time.
    Input,
    /// A stored weight (initializer).
    Initializer,
    /// Computed from constants only (`Constant` nodes and what folds from them).
    Constant,
    /// Computed from the graph inputs: an activation.
    Activation,
}

/// One tensor of the graph, with its inferred shape at batch size 1.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TensorInfo {
    /// ONNX tensor name.
    pub name: String,
    /// Inferred shape with the batch dimension set to 1; `None` if inference could not tell.
    pub shape: Option<Vec<usize>>,
    /// Element type.
    pub elem: ElemType,
    /// Where its value comes from.
    pub kind: TensorKind,
    /// Index (in [`Graph::nodes`]) of the node producing it.
    pub producer: Option<usize>,
    /// Indices of the nodes reading it.
    pub consumers: Vec<usize>,
}

impl TensorInfo {
    /// Number of elements per sample (batch 1), if the shape is known. Analysis refuses a
    /// tensor above [`MAX_TENSOR_BYTES`], so on an analysed graph this never overflows.
    pub fn elements(&self) -> Option<u64> {
        self.shape.as_ref()?.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
    }
    /// Size in bytes per sample (batch 1), if the shape is known.
    pub fn bytes(&self) -> Option<u64> {
        self.elements()?.checked_mul(self.elem.bytes as u64)
    }
}

/// Largest tensor analysis accepts, in bytes per sample (1 TiB): far above any real layer,
/// low enough that every size and cost sum fits in u64.
pub const MAX_TENSOR_BYTES: u64 = 1 << 40;

/// One node, with its cost at batch size 1.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeInfo {
    /// Position in topological order (= index in [`Graph::nodes`]).
    pub index: usize,
    /// Index of the node in the original ONNX `graph.node` list.
    pub proto_index: usize,
    /// Node name (generated as `<op>_<index>` when the file leaves it empty).
    pub name: String,
    /// ONNX op type.
    pub op_type: String,
    /// Tensor names read (empty strings = omitted optional inputs are dropped).
    pub inputs: Vec<String>,
    /// Tensor names written.
    pub outputs: Vec<String>,
    /// Whether the node only depends on constants (folds away, duplicable across a cut).
    pub is_constant: bool,
    /// Multiply–accumulate operations per sample (Conv, Gemm, MatMul; 0 for other ops).
    pub macs: u64,
    /// Bytes of the initializers this node is the first reader of.
    pub param_bytes: u64,
    /// Bytes of its outputs per sample.
    pub output_bytes: u64,
}

/// An analysed ONNX model: nodes in topological order, every tensor with its shape, costs.
#[derive(Debug, Clone)]
pub struct Graph {
    /// The model as loaded.
    pub proto: ModelProto,
    /// Nodes in topological order.
    pub nodes: Vec<NodeInfo>,
    /// Every tensor by name.
    pub tensors: HashMap<String, TensorInfo>,
    /// Names of the run-time inputs (initializers excluded).
    pub inputs: Vec<String>,
    /// Names of the graph outputs.
    pub outputs: Vec<String>,
    /// The concrete shape every run-time input was analysed at (a symbolic batch dim as 1).
    pub input_shapes: InputShapes,
}

/// ONNX ops tract cannot run, checked before anything else so the error names the node.
fn check_supported_ops(graph: &pb::GraphProto) -> Result<()> {
    let onnx = tract_onnx::onnx();
    for (i, node) in graph.node.iter().enumerate() {
        let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
        if !default_domain || !onnx.op_register.0.contains_key(&node.op_type) {
            return Err(GraphError::UnsupportedOp {
                op: node.op_type.clone(),
                domain: node.domain.clone(),
                node: display_name(node, i),
            });
        }
    }
    Ok(())
}

fn display_name(node: &pb::NodeProto, i: usize) -> String {
    if node.name.is_empty() {
        format!("{}_{i}", node.op_type)
    } else {
        node.name.clone()
    }
}

/// The declared element type and dims of a value info (`None` for symbolic dims).
pub(crate) fn declared_type(vi: &pb::ValueInfoProto) -> (i32, Vec<Option<i64>>) {
    use pb::tensor_shape_proto::dimension::Value;
    use pb::type_proto::Value as TV;
    match vi.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TV::TensorType(t)) => {
            let dims = t
                .shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(Value::DimValue(v)) if *v > 0 => Some(*v),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            (t.elem_type, dims)
        }
        _ => (0, vec![]),
    }
}

impl Graph {
    /// Loads and analyses an ONNX file whose inputs need no shape but their declared one.
    /// See [`Graph::analyse`].
    pub fn load(path: &std::path::Path) -> Result<Graph> {
        Graph::load_with(path, &InputShapes::default())
    }

    /// Loads and analyses an ONNX file at the given input shapes. See [`Graph::analyse_with`].
    pub fn load_with(path: &std::path::Path, shapes: &InputShapes) -> Result<Graph> {
        Graph::analyse_with(crate::io::load_model(path)?, shapes)
    }

    /// Analyses a model whose inputs are fully declared except, at most, the batch dim.
    /// See [`Graph::analyse_with`].
    pub fn analyse(proto: ModelProto) -> Result<Graph> {
        Graph::analyse_with(proto, &InputShapes::default())
    }

    /// Analyses a model: turns `Constant` nodes into initializers, checks structure and
    /// operator support, sorts nodes topologically, infers every tensor's shape at batch size 1
    /// with the inputs at `shapes` (needed for every symbolic dim but the batch), and computes
    /// per-node costs.
    ///
    /// The analysed [`Graph::proto`] declares the inputs at the analysed shape, keeping a
    /// symbolic batch dim symbolic; heads, tails and pruned models made from it inherit that.
    pub fn analyse_with(mut proto: ModelProto, shapes: &InputShapes) -> Result<Graph> {
        crate::constants::constants_to_initializers(&mut proto)?;
        let g = proto.graph.as_ref().ok_or_else(|| GraphError::Invalid("no graph".into()))?;
        check_supported_ops(g)?;
        crate::rank_check::check_layout_ranks(g)?;

        let initializers: HashSet<String> = g.initializer.iter().map(|t| t.name.clone()).collect();
        let inputs: Vec<String> = g
            .input
            .iter()
            .filter(|i| !initializers.contains(i.name.as_str()))
            .map(|i| i.name.clone())
            .collect();
        if inputs.is_empty() {
            return Err(GraphError::Invalid("the graph has no run-time input".into()));
        }
        let outputs: Vec<String> = g.output.iter().map(|o| o.name.clone()).collect();

        // Producers of every tensor, rejecting duplicates.
        let mut producer: HashMap<&str, usize> = HashMap::new();
        for (i, node) in g.node.iter().enumerate() {
            for out in node.output.iter().filter(|o| !o.is_empty()) {
                if producer.insert(out.as_str(), i).is_some()
                    || initializers.contains(out.as_str())
                    || inputs.iter().any(|x| x == out)
                {
                    return Err(GraphError::Invalid(format!(
                        "tensor `{out}` is defined more than once (node `{}`)",
                        display_name(node, i)
                    )));
                }
            }
        }
        for (i, node) in g.node.iter().enumerate() {
            for inp in node.input.iter().filter(|x| !x.is_empty()) {
                let known = producer.contains_key(inp.as_str())
                    || initializers.contains(inp.as_str())
                    || inputs.iter().any(|x| x == inp);
                if !known {
                    return Err(GraphError::Invalid(format!(
                        "node `{}` reads `{inp}`, which no node, input or initializer defines",
                        display_name(node, i)
                    )));
                }
            }
        }
        for out in &outputs {
            if !producer.contains_key(out.as_str()) && !inputs.contains(out) {
                return Err(GraphError::Invalid(format!("graph output `{out}` is never computed")));
            }
        }

        let order = topological_order(g, &producer)?;

        let resolved = shapes::resolve(g, &inputs, shapes)?;
        drop(producer);
        if let Some(g) = proto.graph.as_mut() {
            shapes::specialise(g, &resolved);
        }
        let input_shapes =
            InputShapes(resolved.iter().map(|(name, r)| (name.clone(), r.dims.clone())).collect());
        let shapes = infer_shapes(&proto, &resolved, &input_shapes, !shapes.is_empty())?;
        crate::resize_fix::exact_align_corners_scales(&mut proto, &shapes);
        let g = proto.graph.as_ref().ok_or_else(|| GraphError::Invalid("no graph".into()))?;

        // Tensors.
        let mut tensors: HashMap<String, TensorInfo> = HashMap::new();
        for init in &g.initializer {
            tensors.insert(
                init.name.clone(),
                TensorInfo {
                    name: init.name.clone(),
                    shape: Some(init.dims.iter().map(|&d| d.max(0) as usize).collect()),
                    elem: ElemType::from_onnx(init.data_type),
                    kind: TensorKind::Initializer,
                    producer: None,
                    consumers: vec![],
                },
            );
        }
        for vi in g.input.iter().filter(|i| !initializers.contains(i.name.as_str())) {
            let (code, _) = declared_type(vi);
            let (shape, elem) = shapes.get(&vi.name).cloned().unwrap_or((None, code));
            tensors.insert(
                vi.name.clone(),
                TensorInfo {
                    name: vi.name.clone(),
                    shape,
                    elem: ElemType::from_onnx(elem),
                    kind: TensorKind::Input,
                    producer: None,
                    consumers: vec![],
                },
            );
        }
        let mut nodes = Vec::with_capacity(order.len());
        for (pos, &pi) in order.iter().enumerate() {
            let node = &g.node[pi];
            let ins: Vec<String> = node.input.iter().filter(|x| !x.is_empty()).cloned().collect();
            let is_constant = ins.iter().all(|x| {
                tensors.get(x).is_some_and(|t| {
                    matches!(t.kind, TensorKind::Initializer | TensorKind::Constant)
                })
            });
            for x in &ins {
                if let Some(t) = tensors.get_mut(x) {
                    t.consumers.push(pos);
                }
            }
            let outs: Vec<String> = node.output.iter().filter(|x| !x.is_empty()).cloned().collect();
            for o in &outs {
                let (shape, elem) = shapes.get(o).cloned().unwrap_or((None, 0));
                tensors.insert(
                    o.clone(),
                    TensorInfo {
                        name: o.clone(),
                        shape,
                        elem: ElemType::from_onnx(elem),
                        kind: if is_constant {
                            TensorKind::Constant
                        } else {
                            TensorKind::Activation
                        },
                        producer: Some(pos),
                        consumers: vec![],
                    },
                );
            }
            nodes.push(NodeInfo {
                index: pos,
                proto_index: pi,
                name: display_name(node, pi),
                op_type: node.op_type.clone(),
                inputs: ins,
                outputs: outs,
                is_constant,
                macs: 0,
                param_bytes: 0,
                output_bytes: 0,
            });
        }

        // Sizes: a malformed shape must not overflow the sums below.
        for (name, t) in &tensors {
            if t.shape.is_some() && t.bytes().is_none_or(|b| b > MAX_TENSOR_BYTES) {
                return Err(GraphError::Invalid(format!(
                    "tensor `{name}` of shape {:?} would hold more than {MAX_TENSOR_BYTES} \
                     bytes per sample: a malformed shape",
                    t.shape.as_deref().unwrap_or_default()
                )));
            }
        }

        // Costs.
        let mut counted: HashSet<String> = HashSet::new();
        let mut total_macs = 0u64;
        for node in nodes.iter_mut() {
            let proto_node = &g.node[node.proto_index];
            let macs = if node.is_constant { Some(0) } else { node_macs(proto_node, &tensors) };
            node.macs = macs.and_then(|m| total_macs.checked_add(m).map(|t| (t, m))).map_or_else(
                || {
                    Err(GraphError::Invalid(format!(
                        "node `{}`: its multiply–accumulate count overflows u64 (a malformed \
                         shape)",
                        node.name
                    )))
                },
                |(t, m)| {
                    total_macs = t;
                    Ok(m)
                },
            )?;
            node.param_bytes = node
                .inputs
                .iter()
                .filter(|x| tensors.get(*x).is_some_and(|t| t.kind == TensorKind::Initializer))
                .filter(|x| counted.insert((*x).clone()))
                .filter_map(|x| tensors.get(x).and_then(TensorInfo::bytes))
                .sum();
            node.output_bytes = if node.is_constant {
                0
            } else {
                node.outputs.iter().filter_map(|x| tensors.get(x).and_then(TensorInfo::bytes)).sum()
            };
        }

        Ok(Graph { proto, nodes, tensors, inputs, outputs, input_shapes })
    }

    /// The tensor with this name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    /// The batch dim (dim 0) of input `input` when the model fixes it (e.g. `[1, 1, 28, 28]`);
    /// `None` when it is symbolic (any batch runs) or the input does not exist.
    pub fn fixed_batch(&self, input: &str) -> Option<usize> {
        let g = self.proto.graph.as_ref()?;
        let vi = g.input.iter().find(|v| v.name == input)?;
        declared_type(vi).1.first().copied().flatten().map(|d| d as usize)
    }

    /// Total multiply–accumulates per sample.
    pub fn total_macs(&self) -> u64 {
        self.nodes.iter().map(|n| n.macs).sum()
    }

    /// Total parameter bytes (all initializers).
    pub fn total_param_bytes(&self) -> u64 {
        self.nodes.iter().map(|n| n.param_bytes).sum()
    }

    /// Bytes per sample of the (first) graph input.
    pub fn input_bytes(&self) -> u64 {
        self.inputs.iter().filter_map(|x| self.tensors.get(x).and_then(TensorInfo::bytes)).sum()
    }

    /// Bytes per sample of the graph outputs.
    pub fn output_bytes(&self) -> u64 {
        self.outputs.iter().filter_map(|x| self.tensors.get(x).and_then(TensorInfo::bytes)).sum()
    }
}

/// Kahn's algorithm over the node list; errors on a cycle.
fn topological_order(g: &pb::GraphProto, producer: &HashMap<&str, usize>) -> Result<Vec<usize>> {
    let n = g.node.len();
    let mut indegree = vec![0usize; n];
    let mut readers: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, node) in g.node.iter().enumerate() {
        let mut deps: Vec<usize> =
            node.input.iter().filter_map(|x| producer.get(x.as_str()).copied()).collect();
        deps.sort_unstable();
        deps.dedup();
        indegree[i] = deps.len();
        for d in deps {
            readers[d].push(i);
        }
    }
    // Stable: among ready nodes, keep file order.
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| indegree[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &r in &readers[i] {
            indegree[r] -= 1;
            if indegree[r] == 0 {
                ready.insert(r);
            }
        }
    }
    if order.len() != n {
        return Err(GraphError::Invalid("the graph has a cycle".into()));
    }
    Ok(order)
}

/// Shape and element type of every tensor at batch size 1, by tract's inference.
type ShapeMap = HashMap<String, (Option<Vec<usize>>, i32)>;

/// Infers shapes with every input at its resolved shape. Partial inference is accepted for
/// fully declared models (analyse what can be analysed); when the user gave shapes, or an input
/// had symbolic dims, a failure is an error that names the shapes.
/// Infers every tensor's shape with tract. tract panics on some malformed models (an axis
/// out of range, a dim that underflows); such a panic is caught and becomes an error naming
/// it, so a bad model file never takes the caller down.
fn infer_shapes(
    proto: &ModelProto,
    inputs: &[(String, ResolvedInput)],
    analysed_at: &InputShapes,
    shapes_given: bool,
) -> Result<ShapeMap> {
    let run = || infer_shapes_unguarded(proto, inputs, analysed_at, shapes_given);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(GraphError::ShapeInference(format!(
            "tract failed on this model (a malformed attribute or shape?): {what}"
        )))
    })
}

fn infer_shapes_unguarded(
    proto: &ModelProto,
    inputs: &[(String, ResolvedInput)],
    analysed_at: &InputShapes,
    shapes_given: bool,
) -> Result<ShapeMap> {
    let err = |e: TractError| GraphError::ShapeInference(format!("{e:#}"));
    let onnx = tract_onnx::onnx();
    let parsed = onnx.parse(proto, None).map_err(err)?;
    let mut model = parsed.model;
    for (ix, (name, input)) in inputs.iter().enumerate() {
        let dt = onnx_code_to_datum(input.elem).ok_or_else(|| {
            GraphError::Invalid(format!(
                "input `{name}` has unsupported element type {}",
                input.elem
            ))
        })?;
        model.set_input_fact(ix, InferenceFact::dt_shape(dt, input.dims.clone())).map_err(err)?;
    }
    let analysed = model.analyse(false);
    if let Err(e) = analysed {
        if shapes_given || inputs.iter().any(|(_, r)| r.had_symbolic) {
            return Err(GraphError::InputShape(format!(
                "the model's shapes cannot be resolved with the inputs at {analysed_at}: {e:#}"
            )));
        }
    }
    let mut out = ShapeMap::new();
    for (name, outlet) in &parsed.outlets_by_name {
        if let Ok(fact) = model.outlet_fact(*outlet) {
            let shape = fact.shape.as_concrete_finite().ok().flatten().map(|s| s.to_vec());
            let code = fact.datum_type.concretize().map(datum_to_onnx_code).unwrap_or(0);
            out.insert(name.clone(), (shape, code));
        }
    }
    Ok(out)
}

/// tract datum type of an ONNX element type code.
pub(crate) fn onnx_code_to_datum(code: i32) -> Option<DatumType> {
    Some(match code {
        1 => f32::datum_type(),
        2 => u8::datum_type(),
        3 => i8::datum_type(),
        6 => i32::datum_type(),
        7 => i64::datum_type(),
        9 => bool::datum_type(),
        10 => f16::datum_type(),
        11 => f64::datum_type(),
        _ => return None,
    })
}

fn datum_to_onnx_code(dt: DatumType) -> i32 {
    match dt {
        DatumType::F32 => 1,
        DatumType::U8 => 2,
        DatumType::I8 => 3,
        DatumType::U16 => 4,
        DatumType::I16 => 5,
        DatumType::I32 => 6,
        DatumType::I64 => 7,
        DatumType::Bool => 9,
        DatumType::F16 => 10,
        DatumType::F64 => 11,
        DatumType::U32 => 12,
        DatumType::U64 => 13,
        _ => 0,
    }
}
