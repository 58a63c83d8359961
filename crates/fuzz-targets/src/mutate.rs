//! Seeded mutators for the stable smoke run: byte-level edits (what libFuzzer does, without
//! its coverage feedback) and structural edits of ONNX models (so mutated models still decode
//! and reach analysis, which random bytes in a protobuf rarely do). Written by hand: the
//! `arbitrary`-based crates generate inputs from scratch, not edits of a seed corpus.

use coinfer_graph::pb::{self, tensor_shape_proto::dimension::Value, ModelProto};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Values that sit on the edges parsers get wrong.
const INTERESTING_U32: [u32; 9] = [0, 1, 2, 3, 0x7f, 0xff, 0xffff, 0x7fff_ffff, u32::MAX];
const INTERESTING_I64: [i64; 10] = [0, 1, -1, 2, -2, 3, 7, 1 << 20, i64::MAX, i64::MIN];

/// A deterministic source of mutations.
pub struct Mutator {
    rng: ChaCha8Rng,
}

impl Mutator {
    /// A mutator whose edits depend only on `seed`.
    pub fn new(seed: u64) -> Mutator {
        Mutator { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// Picks an index below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.random_range(0..n.max(1))
    }

    /// `input` with one to four byte-level edits: bit flips, interesting bytes and words,
    /// inserted, deleted or duplicated ranges, truncation, or a splice of `other`.
    pub fn bytes(&mut self, input: &[u8], other: &[u8]) -> Vec<u8> {
        let mut out = input.to_vec();
        for _ in 0..self.rng.random_range(1..=4) {
            let len = out.len();
            match self.rng.random_range(0..8) {
                0 if len > 0 => {
                    let i = self.below(len);
                    out[i] ^= 1 << self.rng.random_range(0..8);
                }
                1 if len > 0 => {
                    let i = self.below(len);
                    out[i] = [0u8, 1, 0x7f, 0x80, 0xff][self.below(5)];
                }
                2 if len >= 4 => {
                    let i = self.below(len - 3);
                    let w = INTERESTING_U32[self.below(INTERESTING_U32.len())];
                    out[i..i + 4].copy_from_slice(&w.to_le_bytes());
                }
                3 => {
                    let i = self.below(len + 1);
                    let n = self.rng.random_range(1..=16);
                    let junk: Vec<u8> = (0..n).map(|_| self.rng.random()).collect();
                    out.splice(i..i, junk);
                }
                4 if len > 0 => {
                    let i = self.below(len);
                    let n = self.rng.random_range(1..=16.min(len - i));
                    out.drain(i..i + n);
                }
                5 if len > 0 => {
                    let i = self.below(len);
                    let n = self.rng.random_range(1..=32.min(len - i));
                    let copy = out[i..i + n].to_vec();
                    let at = self.below(len + 1);
                    out.splice(at..at, copy);
                }
                6 if len > 0 => out.truncate(self.below(len)),
                7 if !other.is_empty() => {
                    let cut = self.below(len + 1);
                    let from = self.below(other.len());
                    out.truncate(cut);
                    out.extend_from_slice(&other[from..]);
                }
                _ => {}
            }
        }
        out
    }

    /// `model` with one to three structural edits: an input or initializer dim, an integer
    /// attribute (kernel, stride, pad, axis…), a node's op type or input wiring, a removed node
    /// or initializer, an element type, or a dim made symbolic.
    pub fn model(&mut self, model: &ModelProto) -> ModelProto {
        let mut m = model.clone();
        let Some(g) = m.graph.as_mut() else { return m };
        for _ in 0..self.rng.random_range(1..=3) {
            match self.rng.random_range(0..9) {
                0 => self.edit_input_dim(g),
                1 => self.edit_int_attribute(g),
                2 if !g.node.is_empty() => {
                    let (a, b) = (self.below(g.node.len()), self.below(g.node.len()));
                    g.node[a].op_type = g.node[b].op_type.clone();
                }
                3 if !g.node.is_empty() => {
                    let names = tensor_names(g);
                    let n = self.below(g.node.len());
                    let node = &mut g.node[n];
                    if !node.input.is_empty() && !names.is_empty() {
                        let i = self.below(node.input.len());
                        node.input[i] = names[self.below(names.len())].clone();
                    }
                }
                4 if !g.node.is_empty() => {
                    let n = self.below(g.node.len());
                    g.node.remove(n);
                }
                5 if !g.initializer.is_empty() => {
                    let n = self.below(g.initializer.len());
                    g.initializer.remove(n);
                }
                6 if !g.initializer.is_empty() => {
                    let n = self.below(g.initializer.len());
                    let t = &mut g.initializer[n];
                    if !t.dims.is_empty() {
                        let d = self.below(t.dims.len());
                        t.dims[d] = INTERESTING_I64[self.below(INTERESTING_I64.len())];
                    }
                }
                7 if !g.input.is_empty() => {
                    let n = self.below(g.input.len());
                    let ty = g.input[n].r#type.as_mut().and_then(|t| t.value.as_mut());
                    if let Some(pb::type_proto::Value::TensorType(t)) = ty {
                        t.elem_type = self.rng.random_range(0..17);
                    }
                }
                8 => {
                    if let Some(dim) = self.some_input_dim(g) {
                        dim.value = Some(Value::DimParam("fuzz".into()));
                    }
                }
                _ => {}
            }
        }
        m
    }

    fn some_input_dim<'g>(
        &mut self,
        g: &'g mut pb::GraphProto,
    ) -> Option<&'g mut pb::tensor_shape_proto::Dimension> {
        if g.input.is_empty() {
            return None;
        }
        let n = self.below(g.input.len());
        let pb::type_proto::Value::TensorType(t) = g.input[n].r#type.as_mut()?.value.as_mut()?;
        let dims = &mut t.shape.as_mut()?.dim;
        if dims.is_empty() {
            return None;
        }
        let d = self.below(dims.len());
        dims.get_mut(d)
    }

    fn edit_input_dim(&mut self, g: &mut pb::GraphProto) {
        let value = INTERESTING_I64[self.below(INTERESTING_I64.len())];
        if let Some(dim) = self.some_input_dim(g) {
            dim.value = Some(Value::DimValue(value));
        }
    }

    fn edit_int_attribute(&mut self, g: &mut pb::GraphProto) {
        if g.node.is_empty() {
            return;
        }
        let n = self.below(g.node.len());
        let attrs = &mut g.node[n].attribute;
        if attrs.is_empty() {
            return;
        }
        let a = self.below(attrs.len());
        let value = INTERESTING_I64[self.below(INTERESTING_I64.len())];
        let attr = &mut attrs[a];
        if !attr.ints.is_empty() {
            let i = self.below(attr.ints.len());
            attr.ints[i] = value;
        } else {
            attr.i = value;
        }
    }
}

/// Every tensor name the graph mentions (inputs, initializers, node outputs).
fn tensor_names(g: &pb::GraphProto) -> Vec<String> {
    let inputs = g.input.iter().map(|v| v.name.clone());
    let inits = g.initializer.iter().map(|t| t.name.clone());
    let outs = g.node.iter().flat_map(|n| n.output.iter().cloned());
    inputs.chain(inits).chain(outs).collect()
}
