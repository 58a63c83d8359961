//! Concrete input shapes: what the user says a model's symbolic input dims are.
//!
//! Models from other toolchains declare inputs such as `[batch, 3, height, width]` or
//! `[-1, 3, 48, -1]`. Costs, feature sizes and channel groups depend on those dims, so coinfer
//! never guesses them: the batch dim (dim 0) alone may stay symbolic (analysis is per sample, at
//! batch 1); every other symbolic dim needs a shape from the user (`--input-shape
//! NAME:D0,D1,…`, or `input_shape` in a config), and a missing one is an error that says so.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use crate::analysis::declared_type;
use crate::error::{GraphError, Result};
use crate::pb;

/// One input's concrete shape, as written on the command line: `NAME:D0,D1,…`.
///
/// The name is everything before the last `:` (ONNX names such as `input:0` work); every dim is
/// a positive integer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape {
    /// Graph input name.
    pub name: String,
    /// Dims, batch first.
    pub dims: Vec<usize>,
}

impl FromStr for InputShape {
    type Err = GraphError;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            GraphError::InputShape(format!(
                "`{s}`: {why}; expected NAME:D0,D1,… (e.g. image:1,3,224,224)"
            ))
        };
        let (name, dims) = s.rsplit_once(':').ok_or_else(|| bad("no `:` after the input name"))?;
        if name.is_empty() {
            return Err(bad("the input name is empty"));
        }
        let dims = dims
            .split(',')
            .map(|d| match d.trim().parse::<usize>() {
                Ok(0) => Err(bad("dims must be positive, got 0")),
                Ok(v) => Ok(v),
                Err(_) => Err(bad(&format!("`{}` is not a positive integer", d.trim()))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(InputShape { name: name.to_string(), dims })
    }
}

impl fmt::Display for InputShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims.iter().map(usize::to_string).collect();
        write!(f, "{}:{}", self.name, dims.join(","))
    }
}

/// Concrete shapes by input name. Serialised as a map (`{"image": [1, 3, 224, 224]}`, in TOML
/// `input_shape = { image = [1, 3, 224, 224] }`). Empty = the declared shapes suffice.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct InputShapes(pub BTreeMap<String, Vec<usize>>);

impl InputShapes {
    /// From command-line specs; an input named twice is an error.
    pub fn from_specs(specs: &[InputShape]) -> Result<InputShapes> {
        let mut map = BTreeMap::new();
        for s in specs {
            if map.insert(s.name.clone(), s.dims.clone()).is_some() {
                return Err(GraphError::InputShape(format!(
                    "input `{}` is given more than one shape",
                    s.name
                )));
            }
        }
        Ok(InputShapes(map))
    }

    /// The shape given for `input`.
    pub fn get(&self, input: &str) -> Option<&[usize]> {
        self.0.get(input).map(Vec::as_slice)
    }

    /// Whether no shape is given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `NAME:D0,D1,…` specs, one per input, in name order (what `--input-shape` takes).
    pub fn specs(&self) -> Vec<InputShape> {
        self.0
            .iter()
            .map(|(name, dims)| InputShape { name: name.clone(), dims: dims.clone() })
            .collect()
    }
}

impl fmt::Display for InputShapes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let specs: Vec<String> = self.specs().iter().map(InputShape::to_string).collect();
        f.write_str(&specs.join(" "))
    }
}

/// A run-time input with the shape analysis uses.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedInput {
    /// ONNX element type code.
    pub elem: i32,
    /// Concrete shape, batch dim 1 when it is symbolic.
    pub dims: Vec<usize>,
    /// Whether the declaration had symbolic dims besides the batch.
    pub had_symbolic: bool,
}

/// A declared dim: fixed (`Some`) or symbolic, with its `dim_param` name if any.
fn declared_dims(vi: &pb::ValueInfoProto) -> Vec<(Option<usize>, String)> {
    use pb::tensor_shape_proto::dimension::Value;
    let Some(pb::type_proto::Value::TensorType(t)) =
        vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return vec![];
    };
    t.shape
        .as_ref()
        .map(|s| {
            s.dim
                .iter()
                .map(|d| match &d.value {
                    Some(Value::DimValue(v)) if *v > 0 => (Some(*v as usize), String::new()),
                    Some(Value::DimParam(p)) if !p.is_empty() => (None, p.clone()),
                    _ => (None, String::new()),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn show_declared(dims: &[(Option<usize>, String)]) -> String {
    let shown: Vec<String> = dims
        .iter()
        .map(|(v, p)| match v {
            Some(v) => v.to_string(),
            None if p.is_empty() => "?".into(),
            None => p.clone(),
        })
        .collect();
    format!("[{}]", shown.join(", "))
}

/// How a symbolic dim is called in messages: its `dim_param` name, or `D<i>` if it has none.
fn dim_label(i: usize, param: &str) -> String {
    if param.is_empty() {
        format!("D{i}")
    } else {
        param.to_string()
    }
}

/// Resolves every run-time input's concrete shape from its declaration and the user's shapes.
///
/// Errors (each names the input): a shape for an input the model does not have; a shape of the
/// wrong rank; a given dim that contradicts a fixed declared dim; a symbolic dim other than the
/// batch with no shape given; one `dim_param` name given two different values across inputs.
pub(crate) fn resolve(
    g: &pb::GraphProto,
    inputs: &[String],
    given: &InputShapes,
) -> Result<Vec<(String, ResolvedInput)>> {
    for name in given.0.keys() {
        if !inputs.contains(name) {
            return Err(GraphError::InputShape(format!(
                "the model has no input `{name}`; its inputs are {inputs:?}"
            )));
        }
    }
    let mut params: HashMap<String, (usize, String)> = HashMap::new();
    let mut out = Vec::with_capacity(inputs.len());
    for name in inputs {
        let vi = g
            .input
            .iter()
            .find(|v| &v.name == name)
            .ok_or_else(|| GraphError::Invalid(format!("input `{name}` is not declared")))?;
        let (elem, _) = declared_type(vi);
        let declared = declared_dims(vi);
        if declared.is_empty() {
            return Err(GraphError::Invalid(format!("input `{name}` has no declared shape")));
        }
        let shown = show_declared(&declared);
        let had_symbolic = declared.iter().skip(1).any(|(v, _)| v.is_none());
        let dims: Vec<usize> = match given.get(name) {
            Some(dims) => {
                if dims.len() != declared.len() {
                    return Err(GraphError::InputShape(format!(
                        "input `{name}` has rank {} ({shown}), but the shape given has {} dims {dims:?}",
                        declared.len(),
                        dims.len()
                    )));
                }
                for (i, ((fixed, param), &d)) in declared.iter().zip(dims).enumerate() {
                    if fixed.is_some_and(|f| f != d) {
                        return Err(GraphError::InputShape(format!(
                            "input `{name}` declares dim {i} as {} ({shown}); the shape given says {d}",
                            fixed.unwrap_or_default()
                        )));
                    }
                    if fixed.is_none() && !param.is_empty() && i > 0 {
                        if let Some((prev, who)) = params.insert(param.clone(), (d, name.clone())) {
                            if prev != d {
                                return Err(GraphError::InputShape(format!(
                                    "dim `{param}` is {prev} in input `{who}` but {d} in input \
                                     `{name}`: the model requires them equal"
                                )));
                            }
                        }
                    }
                }
                // Analysis is per sample: a symbolic batch dim counts as 1.
                dims.iter()
                    .enumerate()
                    .map(|(i, &d)| if i == 0 && declared[0].0.is_none() { 1 } else { d })
                    .collect()
            }
            None => {
                let symbolic: Vec<String> = declared
                    .iter()
                    .enumerate()
                    .skip(1)
                    .filter(|(_, (v, _))| v.is_none())
                    .map(|(i, (_, p))| format!("{} (dim {i})", dim_label(i, p)))
                    .collect();
                if !symbolic.is_empty() {
                    let example: Vec<String> = declared
                        .iter()
                        .enumerate()
                        .map(|(i, (v, p))| match v {
                            Some(v) => v.to_string(),
                            None if i == 0 => "1".into(),
                            None => format!("<{}>", dim_label(i, p)),
                        })
                        .collect();
                    return Err(GraphError::SymbolicInput {
                        input: name.clone(),
                        declared: shown,
                        symbolic: symbolic.join(", "),
                        example: format!("{name}:{}", example.join(",")),
                    });
                }
                declared.iter().map(|(v, _)| v.unwrap_or(1)).collect()
            }
        };
        out.push((name.clone(), ResolvedInput { elem, dims, had_symbolic }));
    }
    Ok(out)
}

/// Rewrites the declared dims of the run-time inputs to the resolved shapes, leaving a symbolic
/// batch dim symbolic: head and tail files then keep any batch size, and every other dim is the
/// one the model was analysed at.
pub(crate) fn specialise(g: &mut pb::GraphProto, resolved: &[(String, ResolvedInput)]) {
    use pb::tensor_shape_proto::dimension::Value;
    for (name, r) in resolved.iter().filter(|(_, r)| r.had_symbolic) {
        let Some(vi) = g.input.iter_mut().find(|v| &v.name == name) else { continue };
        let Some(pb::type_proto::Value::TensorType(t)) =
            vi.r#type.as_mut().and_then(|t| t.value.as_mut())
        else {
            continue;
        };
        let Some(shape) = t.shape.as_mut() else { continue };
        // Dim 0, the batch, stays as declared.
        for (dim, &d) in shape.dim.iter_mut().zip(&r.dims).skip(1) {
            let fixed = matches!(dim.value, Some(Value::DimValue(v)) if v > 0);
            if !fixed {
                dim.value = Some(Value::DimValue(d as i64));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        let s: InputShape = "input:0:1,3,48,192".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, "input:0");
        assert_eq!(s.dims, vec![1, 3, 48, 192]);
        assert_eq!(s.to_string(), "input:0:1,3,48,192");
        for bad in ["image", ":1,2", "x:1,0,3", "x:1,-3", "x:", "x:1,,2", "x:a"] {
            assert!(bad.parse::<InputShape>().is_err(), "{bad}");
        }
        let one: InputShape = "x:1".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(InputShapes::from_specs(&[one.clone(), one]).is_err());
    }
}
