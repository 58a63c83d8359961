//! Valid cut points: tensors that every input→output path of the DAG crosses.
//!
//! A tensor `t` produced by node `p` is a valid cut when the *head* (every non-constant node that
//! `p` depends on, and `p` itself) exchanges nothing with the *tail* (all other nodes) but `t`:
//! no other activation computed in the head is read by the tail or is a graph output, and no
//! tail node reads a graph input. Constants and initializers are free: each side gets a copy.
//! Residual `Add`s, `Concat`s and squeeze-excite `Mul`s therefore only admit cuts at their outputs
//! or outside their blocks, never across a skip connection.

use crate::analysis::{Graph, TensorKind};
use crate::error::{GraphError, Result};

/// A valid split point of a graph, with the cost of each side at batch size 1.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CutPoint {
    /// Position in the cut list (0 = nearest the input).
    pub index: usize,
    /// Name of the tensor sent from head to tail.
    pub tensor: String,
    /// Name of the node producing it.
    pub node: String,
    /// Op type of that node.
    pub op_type: String,
    /// Position of that node in topological order.
    pub position: usize,
    /// Shape of the feature at batch size 1 (empty if unknown).
    pub shape: Vec<usize>,
    /// Feature bytes per sample at its own element type (fp32 features: 4 bytes per element).
    pub feature_bytes: u64,
    /// Multiply–accumulates per sample in the head.
    pub head_macs: u64,
    /// Multiply–accumulates per sample in the tail.
    pub tail_macs: u64,
    /// Parameter bytes in the head.
    pub head_param_bytes: u64,
    /// Parameter bytes in the tail.
    pub tail_param_bytes: u64,
}

impl Graph {
    /// Head membership of the cut at `tensor`: for each node (topological index), whether it
    /// belongs to the head (non-constant ancestors of the producer, producer included).
    pub(crate) fn head_set(&self, producer: usize) -> Vec<bool> {
        let mut head = vec![false; self.nodes.len()];
        let mut stack = vec![producer];
        while let Some(i) = stack.pop() {
            if head[i] || self.nodes[i].is_constant {
                continue;
            }
            head[i] = true;
            for x in &self.nodes[i].inputs {
                if let Some(p) = self.tensors.get(x).and_then(|t| t.producer) {
                    stack.push(p);
                }
            }
        }
        head
    }

    /// Checks whether `tensor` is a valid cut: `Ok((producer, head set))`, or `Err(reason)`.
    fn check_cut(&self, tensor: &str) -> std::result::Result<(usize, Vec<bool>), String> {
        let t = self.tensors.get(tensor).ok_or_else(|| "no tensor has this name".to_string())?;
        match t.kind {
            TensorKind::Input => {
                return Err("it is a graph input (offload the input instead)".into())
            }
            TensorKind::Initializer | TensorKind::Constant => {
                return Err("it is a constant, not an activation".into())
            }
            TensorKind::Activation => {}
        }
        if self.outputs.iter().any(|o| o == tensor) {
            return Err("it is a graph output (run on the device only instead)".into());
        }
        let p = t.producer.ok_or_else(|| "it has no producer".to_string())?;
        if t.consumers.is_empty() {
            return Err("nothing reads it".into());
        }
        // Its size is what a cut costs on the link: a cut of unknown size cannot be planned.
        if t.shape.is_none() {
            return Err(
                "its shape could not be inferred, so its size on the link is unknown".into()
            );
        }
        let head = self.head_set(p);
        for input in &self.inputs {
            let tin = &self.tensors[input];
            if let Some(&c) = tin.consumers.iter().find(|&&c| !head[c]) {
                return Err(format!(
                    "node `{}` after the cut also reads the graph input `{input}`",
                    self.nodes[c].name
                ));
            }
        }
        for (i, node) in self.nodes.iter().enumerate().filter(|(i, _)| head[*i]) {
            for out in node.outputs.iter().filter(|o| o.as_str() != tensor) {
                if self.outputs.contains(out) {
                    return Err(format!("`{out}`, computed before the cut, is a graph output"));
                }
                let info = &self.tensors[out];
                if let Some(&c) = info.consumers.iter().find(|&&c| !head[c]) {
                    return Err(format!(
                        "node `{}` after the cut reads `{out}` (from node `{}`), computed before \
                         the cut: a skip or branch connection bypasses it",
                        self.nodes[c].name, self.nodes[i].name
                    ));
                }
            }
        }
        Ok((p, head))
    }

    /// All valid cut points, ordered by the position of their producer in topological order.
    pub fn cut_points(&self) -> Vec<CutPoint> {
        let total_macs = self.total_macs();
        let total_params = self.total_param_bytes();
        let mut cuts = Vec::new();
        for node in self.nodes.iter().filter(|n| !n.is_constant) {
            for out in &node.outputs {
                if let Ok((p, head)) = self.check_cut(out) {
                    let (mut head_macs, mut head_params) = (0, 0);
                    for (i, n) in self.nodes.iter().enumerate() {
                        if head[i] {
                            head_macs += n.macs;
                            head_params += n.param_bytes;
                        }
                    }
                    let info = &self.tensors[out];
                    cuts.push(CutPoint {
                        index: cuts.len(),
                        tensor: out.clone(),
                        node: node.name.clone(),
                        op_type: node.op_type.clone(),
                        position: p,
                        shape: info.shape.clone().unwrap_or_default(),
                        feature_bytes: info.bytes().unwrap_or(0),
                        head_macs,
                        tail_macs: total_macs - head_macs,
                        head_param_bytes: head_params,
                        tail_param_bytes: total_params - head_params,
                    });
                }
            }
        }
        cuts
    }

    /// Resolves a user's cut designation: a tensor name, or an index into [`Graph::cut_points`].
    ///
    /// An invalid tensor gives [`GraphError::NotACutPoint`] with the reason and the nearest valid cuts.
    pub fn find_cut(&self, designation: &str) -> Result<CutPoint> {
        let cuts = self.cut_points();
        if let Some(c) = cuts.iter().find(|c| c.tensor == designation) {
            return Ok(c.clone());
        }
        if !self.tensors.contains_key(designation) {
            if let Ok(index) = designation.parse::<usize>() {
                return cuts
                    .get(index)
                    .cloned()
                    .ok_or(GraphError::CutIndexOutOfRange { index, count: cuts.len() });
            }
        }
        let reason = match self.check_cut(designation) {
            Err(reason) => reason,
            Ok(_) => "its shape could not be inferred".into(),
        };
        let mut nearest: Vec<&CutPoint> = cuts.iter().collect();
        match self.tensors.get(designation).and_then(|t| t.producer) {
            // A tensor of the model that is not a cut: the cuts nearest it in the graph.
            Some(pos) => nearest.sort_by_key(|c| c.position.abs_diff(pos)),
            // No such tensor (a typo): the cut names nearest the text, by edit distance.
            None => nearest.sort_by_key(|c| (strsim::levenshtein(&c.tensor, designation), c.index)),
        }
        Err(GraphError::NotACutPoint {
            tensor: designation.to_string(),
            reason,
            nearest: nearest.iter().take(3).map(|c| c.tensor.clone()).collect(),
        })
    }
}
