//! Channel groups derived from the DAG.
//!
//! Every activation's channel axis (axis 1) is described by a *layout*: a list of segments, each
//! a run of channels of one *atom*. A `Conv`/`Gemm`/`MatMul` output starts a new atom; ops that
//! keep channels (BN, activations, pools, depthwise convs) pass the layout through; a residual
//! `Add`/`Mul` unites the atoms of its operands (a squeeze–excite `Mul` so ties the expand conv
//! to the block it scales); `Concat` on axis 1 concatenates layouts; `Flatten` widens each
//! channel into `H·W` features. Atoms joined by union form a [`ChannelGroup`]: every parameter
//! slice indexed by one of its channels is listed, so a group is pruned together. Whatever the
//! analysis cannot follow (graph inputs and outputs, grouped convs, reshapes, unknown ops) marks
//! the groups it touches unprunable, with the reason.

use std::collections::HashMap;

use coinfer_graph::initializer::{int_attr, ints_attr, read_i64};
use coinfer_graph::{pb, Graph, TensorKind};

use crate::error::{PruneError, Result};

/// What a parameter slice is to the layer that reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Role {
    /// Output filters of the conv / FC layer producing the channels.
    ProducerWeight,
    /// Bias of the producing layer.
    ProducerBias,
    /// BatchNormalization scale (γ).
    BnScale,
    /// BatchNormalization shift, mean or variance.
    BnOther,
    /// Input columns of a layer reading the channels.
    ConsumerWeight,
    /// Per-channel filter of a depthwise conv.
    Depthwise,
    /// A per-channel constant of an elementwise op (PRelu slope, broadcast Add/Mul operand).
    Elementwise,
}

/// Where the channels of a group sit inside one initializer: channel `c` occupies indices
/// `offset + c·block .. offset + (c+1)·block` along `axis`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParamSlice {
    /// Initializer name.
    pub tensor: String,
    /// Axis of the initializer that the channels index.
    pub axis: usize,
    /// Index of channel 0 along the axis.
    pub offset: usize,
    /// Consecutive indices per channel (`H·W` after a flatten, else 1).
    pub block: usize,
    /// What the slice is.
    pub role: Role,
}

/// A set of channels that must be pruned together.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelGroup {
    /// Name: the first producing node's name (or the tensor that starts it).
    pub name: String,
    /// Number of channels.
    pub channels: usize,
    /// Names of the nodes whose outputs are these channels (several for residual adds).
    pub producers: Vec<String>,
    /// Topological index of the last producing node (for "prune only up to a cut").
    pub last_producer: usize,
    /// Every parameter slice indexed by the group's channels.
    pub slices: Vec<ParamSlice>,
    /// Why the group cannot be pruned, if it cannot.
    pub unprunable: Option<String>,
}

impl ChannelGroup {
    /// Whether the group can be pruned.
    pub fn is_prunable(&self) -> bool {
        self.unprunable.is_none()
    }
}

/// The channel groups of a model, and the depthwise convs whose `group` attribute follows them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChannelGroups {
    /// Groups in order of their first producer.
    pub groups: Vec<ChannelGroup>,
    /// Proto indices of depthwise `Conv` nodes (their `group` equals their channel count).
    pub depthwise_nodes: Vec<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    atom: usize,
    block: usize,
}

type Layout = Vec<Segment>;

#[derive(Debug, Default)]
struct Atom {
    channels: usize,
    name: String,
    first_node: usize,
    producers: Vec<String>,
    last_producer: usize,
    slices: Vec<ParamSlice>,
    reasons: Vec<String>,
}

/// Ops that keep the channel axis as it is, elementwise or per channel.
const CHANNEL_PRESERVING: &[&str] = &[
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Clip",
    "HardSigmoid",
    "HardSwish",
    "Sigmoid",
    "Tanh",
    "Elu",
    "Selu",
    "Softplus",
    "Softsign",
    "Gelu",
    "Erf",
    "Identity",
    "Dropout",
    "Neg",
    "Abs",
    "Exp",
    "Sqrt",
    "Reciprocal",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "LpPool",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Max",
    "Min",
    "Sum",
    "Mean",
    "Pow",
];

struct Analysis<'g> {
    graph: &'g Graph,
    atoms: Vec<Atom>,
    parent: Vec<usize>,
    layouts: HashMap<String, Layout>,
    depthwise: Vec<usize>,
}

impl<'g> Analysis<'g> {
    fn find(&mut self, a: usize) -> usize {
        let mut r = a;
        while self.parent[r] != r {
            r = self.parent[r];
        }
        let mut x = a;
        while self.parent[x] != r {
            let next = self.parent[x];
            self.parent[x] = r;
            x = next;
        }
        r
    }

    fn fresh(&mut self, channels: usize, name: &str, node: usize, reason: Option<String>) -> usize {
        let id = self.atoms.len();
        self.atoms.push(Atom {
            channels,
            name: name.to_string(),
            first_node: node,
            reasons: reason.into_iter().collect(),
            ..Default::default()
        });
        self.parent.push(id);
        id
    }

    fn poison(&mut self, layout: &Layout, reason: &str) {
        for s in layout {
            self.atoms[s.atom].reasons.push(reason.to_string());
        }
    }

    fn shape(&self, name: &str) -> Option<&'g [usize]> {
        self.graph.tensor(name).and_then(|t| t.shape.as_deref())
    }

    fn is_initializer(&self, name: &str) -> bool {
        self.graph.tensor(name).is_some_and(|t| t.kind == TensorKind::Initializer)
    }

    fn is_activation(&self, name: &str) -> bool {
        self.graph
            .tensor(name)
            .is_some_and(|t| matches!(t.kind, TensorKind::Activation | TensorKind::Input))
    }

    /// The layout of an activation (graph inputs get an unprunable atom on first use).
    fn layout(&mut self, name: &str) -> Option<Layout> {
        if let Some(l) = self.layouts.get(name) {
            return Some(l.clone());
        }
        let t = self.graph.tensor(name)?;
        if t.kind != TensorKind::Input {
            return None;
        }
        let channels = *t.shape.as_ref()?.get(1)?;
        let atom = self.fresh(channels, name, 0, Some(format!("`{name}` is a graph input")));
        let l = vec![Segment { atom, block: 1 }];
        self.layouts.insert(name.to_string(), l.clone());
        Some(l)
    }

    fn width(&self, layout: &Layout) -> usize {
        layout.iter().map(|s| self.atoms[s.atom].channels * s.block).sum()
    }

    /// Adds one slice per segment of `layout` (channels along `axis` of `tensor`).
    fn add_slices(&mut self, layout: &Layout, tensor: &str, axis: usize, role: Role) {
        let mut offset = 0;
        for s in layout {
            self.atoms[s.atom].slices.push(ParamSlice {
                tensor: tensor.to_string(),
                axis,
                offset,
                block: s.block,
                role,
            });
            offset += self.atoms[s.atom].channels * s.block;
        }
    }

    fn unify(&mut self, a: &Layout, b: &Layout, node: &str) -> bool {
        let same = a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.block == y.block && self.atoms[x.atom].channels == self.atoms[y.atom].channels
            });
        if !same {
            let reason = format!("node `{node}` combines channel layouts that do not line up");
            self.poison(a, &reason);
            self.poison(b, &reason);
            return false;
        }
        for (x, y) in a.iter().zip(b) {
            let (rx, ry) = (self.find(x.atom), self.find(y.atom));
            if rx != ry {
                let (keep, drop) = if rx < ry { (rx, ry) } else { (ry, rx) };
                self.parent[drop] = keep;
            }
        }
        true
    }

    /// Fallback for an op the analysis cannot see through.
    fn opaque(&mut self, pos: usize, node: &pb::NodeProto, why: &str) -> Result<()> {
        let name = &self.graph.nodes[pos].name;
        let reason = format!("node `{name}` ({}) {why}", node.op_type);
        for x in node.input.iter().filter(|x| !x.is_empty()) {
            if let Some(l) = self.layout(x) {
                self.poison(&l, &reason);
            }
        }
        for o in node.output.iter().filter(|o| !o.is_empty()) {
            if let Some(&c) = self.shape(o).and_then(|s| s.get(1)) {
                let atom = self.fresh(c, o, pos, Some(format!("produced by {reason}")));
                self.layouts.insert(o.clone(), vec![Segment { atom, block: 1 }]);
            }
        }
        Ok(())
    }

    fn producer(&mut self, pos: usize, out: &str, channels: usize) -> Layout {
        let name = self.graph.nodes[pos].name.clone();
        let atom = self.fresh(channels, &name, pos, None);
        self.atoms[atom].producers.push(name);
        self.atoms[atom].last_producer = pos;
        let l = vec![Segment { atom, block: 1 }];
        self.layouts.insert(out.to_string(), l.clone());
        l
    }

    fn node(&mut self, pos: usize) -> Result<()> {
        let info = &self.graph.nodes[pos];
        let g = self
            .graph
            .proto
            .graph
            .as_ref()
            .ok_or_else(|| PruneError::Analysis("no graph".into()))?;
        let node = &g.node[info.proto_index];
        if info.is_constant {
            return Ok(());
        }
        let input = |i: usize| node.input.get(i).filter(|x| !x.is_empty()).map(String::as_str);
        let out = node.output.first().map(String::as_str).unwrap_or_default();
        match node.op_type.as_str() {
            "Conv" | "ConvTranspose" => self.conv(pos, node),
            "Gemm" | "MatMul" => self.dense(pos, node),
            "BatchNormalization" => {
                let Some(l) = input(0).and_then(|x| self.layout(x)) else {
                    return self.opaque(pos, node, "normalises a tensor without channels");
                };
                let params: Vec<&str> = (1..5).filter_map(input).collect();
                if params.len() != 4 || !params.iter().all(|p| self.is_initializer(p)) {
                    return self.opaque(pos, node, "has non-constant parameters");
                }
                for (i, p) in params.iter().enumerate() {
                    let role = if i == 0 { Role::BnScale } else { Role::BnOther };
                    self.add_slices(&l, p, 0, role);
                }
                self.layouts.insert(out.to_string(), l);
                Ok(())
            }
            "Flatten" | "Reshape" => {
                let Some(l) = input(0).and_then(|x| self.layout(x)) else {
                    return self.opaque(pos, node, "reshapes a tensor without channels");
                };
                let in_shape = input(0).and_then(|x| self.shape(x)).unwrap_or_default();
                let flatten_like = if node.op_type == "Flatten" {
                    int_attr(node, "axis").unwrap_or(1) == 1
                } else {
                    self.reshape_is_flatten(input(1))
                };
                if !flatten_like || in_shape.len() < 2 {
                    return self.opaque(pos, node, "reshapes the channel axis");
                }
                let m: usize = in_shape[2..].iter().product();
                let l = l.iter().map(|s| Segment { atom: s.atom, block: s.block * m }).collect();
                self.layouts.insert(out.to_string(), l);
                Ok(())
            }
            "Concat" => {
                let rank = self.shape(out).map_or(0, <[usize]>::len) as i64;
                let axis = int_attr(node, "axis").unwrap_or(0);
                let axis = if axis < 0 { axis + rank } else { axis };
                let inputs: Vec<&str> = (0..node.input.len()).filter_map(input).collect();
                if axis != 1 || !inputs.iter().all(|x| self.is_activation(x)) {
                    return self.opaque(pos, node, "concatenates along another axis");
                }
                let mut l = Vec::new();
                for x in inputs {
                    match self.layout(x) {
                        Some(li) => l.extend(li),
                        None => return self.opaque(pos, node, "concatenates unknown layouts"),
                    }
                }
                self.layouts.insert(out.to_string(), l);
                Ok(())
            }
            "ReduceMean" | "ReduceMax" | "ReduceSum" => {
                let rank = input(0).and_then(|x| self.shape(x)).map_or(0, <[usize]>::len) as i64;
                let axes = ints_attr(node, "axes").map(|a| {
                    a.iter().map(|&x| if x < 0 { x + rank } else { x }).collect::<Vec<_>>()
                });
                match (axes, input(0).and_then(|x| self.layout(x))) {
                    (Some(axes), Some(l)) if !axes.contains(&0) && !axes.contains(&1) => {
                        self.layouts.insert(out.to_string(), l);
                        Ok(())
                    }
                    _ => self.opaque(pos, node, "reduces over the channel axis"),
                }
            }
            "Resize" | "Upsample" => {
                // Spatial resampling: channels pass through when their count is unchanged and
                // no `sizes` input spells it out (it would go stale).
                let graph = self.graph;
                let channels = |x: &str| graph.tensor(x)?.shape.as_ref()?.get(1).copied();
                let by_sizes = node.op_type == "Resize" && input(3).is_some();
                let same = input(0).and_then(channels).is_some_and(|c| channels(out) == Some(c));
                match input(0).and_then(|x| self.layout(x)) {
                    Some(l) if same && !by_sizes => {
                        self.layouts.insert(out.to_string(), l);
                        Ok(())
                    }
                    _ => self.opaque(pos, node, "resizes the channel axis"),
                }
            }
            op if CHANNEL_PRESERVING.contains(&op) => self.elementwise(pos, node),
            _ => self.opaque(pos, node, "is not an op channel pruning can see through"),
        }
    }

    fn reshape_is_flatten(&self, shape_input: Option<&str>) -> bool {
        let g = self.graph.proto.graph.as_ref();
        let Some(t) = shape_input
            .and_then(|name| g.and_then(|g| g.initializer.iter().find(|t| t.name == name)))
        else {
            return false;
        };
        matches!(read_i64(t).as_deref(), Ok([-1..=1, -1]))
    }

    fn elementwise(&mut self, pos: usize, node: &pb::NodeProto) -> Result<()> {
        let out = node.output.first().cloned().unwrap_or_default();
        let out_rank = self.shape(&out).map_or(0, <[usize]>::len);
        let name = self.graph.nodes[pos].name.clone();
        let mut result: Option<Layout> = None;
        let mut constants = Vec::new();
        for x in node.input.iter().filter(|x| !x.is_empty()) {
            if self.is_activation(x) {
                let shape = self.shape(x).unwrap_or_default();
                if shape.len() != out_rank {
                    return self.opaque(pos, node, "broadcasts activations of other ranks");
                }
                if shape.get(1) == Some(&1) && self.shape(&out).and_then(|s| s.get(1)) != Some(&1) {
                    continue; // broadcast along channels: no channel structure
                }
                let Some(l) = self.layout(x) else {
                    return self.opaque(pos, node, "reads an activation without channels");
                };
                match &result {
                    None => result = Some(l),
                    Some(r) => {
                        let r = r.clone();
                        if !self.unify(&r, &l, &name) {
                            return self.opaque(pos, node, "has misaligned operands");
                        }
                    }
                }
            } else {
                constants.push(x.clone());
            }
        }
        let Some(layout) = result else {
            return self.opaque(pos, node, "has no channel-carrying operand");
        };
        let width = self.width(&layout);
        for c in constants {
            let shape = self.shape(&c).unwrap_or_default().to_vec();
            // Right-aligned broadcasting: output axis 1 is constant axis `1 - (out_rank - rank)`.
            let Some(axis) = (1 + shape.len()).checked_sub(out_rank) else {
                continue; // the constant has no channel axis
            };
            match shape.get(axis) {
                None | Some(1) => {}
                Some(&d) if d == width && self.is_initializer(&c) => {
                    self.add_slices(&layout, &c, axis, Role::Elementwise)
                }
                Some(_) => {
                    return self.opaque(
                        pos,
                        node,
                        "has a per-channel constant that is not an initializer",
                    )
                }
            }
        }
        for o in node.output.iter().take(1) {
            self.layouts.insert(o.clone(), layout.clone());
        }
        Ok(())
    }

    fn conv(&mut self, pos: usize, node: &pb::NodeProto) -> Result<()> {
        let x = node.input.first().cloned().unwrap_or_default();
        let w = node.input.get(1).cloned().unwrap_or_default();
        let b = node.input.get(2).filter(|b| !b.is_empty()).cloned();
        let out = node.output.first().cloned().unwrap_or_default();
        if !self.is_initializer(&w) || b.as_ref().is_some_and(|b| !self.is_initializer(b)) {
            return self.opaque(pos, node, "has non-constant weights");
        }
        let Some(lx) = self.layout(&x) else {
            return self.opaque(pos, node, "reads a tensor without channels");
        };
        let wshape = self.shape(&w).unwrap_or_default().to_vec();
        let groups = int_attr(node, "group").unwrap_or(1).max(1) as usize;
        let cin = self.width(&lx);
        let transpose = node.op_type == "ConvTranspose";
        if wshape.len() < 3 || lx.iter().any(|s| s.block != 1) {
            return self.opaque(pos, node, "has an unexpected weight shape");
        }
        if groups == 1 {
            let (in_axis, out_axis) = if transpose { (0, 1) } else { (1, 0) };
            self.add_slices(&lx, &w, in_axis, Role::ConsumerWeight);
            let l = self.producer(pos, &out, wshape[out_axis]);
            self.add_slices(&l, &w, out_axis, Role::ProducerWeight);
            if let Some(b) = b {
                self.add_slices(&l, &b, 0, Role::ProducerBias);
            }
            Ok(())
        } else if !transpose && groups == cin && wshape[0] == cin && wshape[1] == 1 {
            self.add_slices(&lx, &w, 0, Role::Depthwise);
            if let Some(b) = b {
                self.add_slices(&lx, &b, 0, Role::Depthwise);
            }
            self.depthwise.push(self.graph.nodes[pos].proto_index);
            self.layouts.insert(out, lx);
            Ok(())
        } else {
            self.opaque(pos, node, "is a grouped convolution")
        }
    }

    fn dense(&mut self, pos: usize, node: &pb::NodeProto) -> Result<()> {
        let a = node.input.first().cloned().unwrap_or_default();
        let w = node.input.get(1).cloned().unwrap_or_default();
        let c = node.input.get(2).filter(|c| !c.is_empty()).cloned();
        let out = node.output.first().cloned().unwrap_or_default();
        let gemm = node.op_type == "Gemm";
        let a_rank = self.shape(&a).map_or(0, <[usize]>::len);
        let wshape = self.shape(&w).unwrap_or_default().to_vec();
        let trans_a = gemm && int_attr(node, "transA").unwrap_or(0) != 0;
        if !self.is_initializer(&w) || wshape.len() != 2 || a_rank != 2 || trans_a {
            return self.opaque(pos, node, "is not an activation × weight product");
        }
        let Some(la) = self.layout(&a) else {
            return self.opaque(pos, node, "reads a tensor without channels");
        };
        let trans_b = gemm && int_attr(node, "transB").unwrap_or(0) != 0;
        let (k_axis, n_axis) = if trans_b { (1, 0) } else { (0, 1) };
        self.add_slices(&la, &w, k_axis, Role::ConsumerWeight);
        let l = self.producer(pos, &out, wshape[n_axis]);
        self.add_slices(&l, &w, n_axis, Role::ProducerWeight);
        if let Some(c) = c {
            let cshape = self.shape(&c).unwrap_or_default().to_vec();
            match cshape.as_slice() {
                [n] if *n == wshape[n_axis] && self.is_initializer(&c) => {
                    self.add_slices(&l, &c, 0, Role::ProducerBias)
                }
                [1, n] if *n == wshape[n_axis] && self.is_initializer(&c) => {
                    self.add_slices(&l, &c, 1, Role::ProducerBias)
                }
                [] | [1] | [1, 1] => {}
                _ => self.poison(&l, "its bias is not a per-unit vector"),
            }
        }
        Ok(())
    }
}

impl ChannelGroups {
    /// Derives the channel groups of an analysed model.
    pub fn analyse(graph: &Graph) -> Result<ChannelGroups> {
        let mut a = Analysis {
            graph,
            atoms: Vec::new(),
            parent: Vec::new(),
            layouts: HashMap::new(),
            depthwise: Vec::new(),
        };
        for pos in 0..graph.nodes.len() {
            a.node(pos)?;
        }
        for out in &graph.outputs {
            if let Some(l) = a.layouts.get(out).cloned() {
                a.poison(&l, &format!("`{out}` is a graph output (its shape is fixed)"));
            }
        }
        // A weight read by several nodes (PyTorch de-duplicates equal tensors, sometimes through
        // `Identity`) cannot lose channels for one reader only.
        let shared: Vec<String> = graph
            .tensors
            .values()
            .filter(|t| t.kind == TensorKind::Initializer && t.consumers.len() > 1)
            .map(|t| t.name.clone())
            .collect();
        for atom in &mut a.atoms {
            if let Some(t) = atom.slices.iter().find(|s| shared.contains(&s.tensor)) {
                atom.reasons.push(format!("weight `{}` is shared by several nodes", t.tensor));
            }
        }
        // Merge atoms by their union-find root.
        let mut by_root: Vec<(usize, ChannelGroup, usize)> = Vec::new();
        let mut index: HashMap<usize, usize> = HashMap::new();
        for id in 0..a.atoms.len() {
            let root = a.find(id);
            let atom = std::mem::take(&mut a.atoms[id]);
            let i = *index.entry(root).or_insert_with(|| {
                by_root.push((
                    root,
                    ChannelGroup {
                        name: String::new(),
                        channels: atom.channels,
                        producers: vec![],
                        last_producer: 0,
                        slices: vec![],
                        unprunable: None,
                    },
                    usize::MAX,
                ));
                by_root.len() - 1
            });
            let (_, group, first) = &mut by_root[i];
            // Named after the atom that starts earliest (ties: the first seen).
            if atom.first_node < *first || group.name.is_empty() {
                *first = atom.first_node;
                group.name = atom.name.clone();
            }
            group.producers.extend(atom.producers);
            group.last_producer = group.last_producer.max(atom.last_producer);
            group.slices.extend(atom.slices);
            if let Some(r) = atom.reasons.into_iter().next() {
                group.unprunable.get_or_insert(r);
            }
        }
        let mut groups: Vec<(usize, ChannelGroup)> =
            by_root.into_iter().map(|(_, g, first)| (first, g)).collect();
        groups.sort_by_key(|(first, _)| *first);
        let mut groups: Vec<ChannelGroup> = groups.into_iter().map(|(_, g)| g).collect();
        for g in &mut groups {
            if g.producers.is_empty() && g.unprunable.is_none() {
                g.unprunable = Some("no layer with weights produces these channels".into());
            }
            if g.channels < 2 && g.unprunable.is_none() {
                g.unprunable = Some("a single channel cannot be pruned".into());
            }
        }
        // Only groups that own parameters are interesting to a user.
        groups.retain(|g| !g.slices.is_empty());
        Ok(ChannelGroups { groups, depthwise_nodes: a.depthwise })
    }

    /// The group with this name, or the group one of whose producers has this node name.
    pub fn find(&self, name: &str) -> Option<&ChannelGroup> {
        self.groups
            .iter()
            .find(|g| g.name == name)
            .or_else(|| self.groups.iter().find(|g| g.producers.iter().any(|p| p == name)))
    }

    /// Names of all groups, comma-separated (for error messages).
    pub fn names(&self) -> String {
        self.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}
