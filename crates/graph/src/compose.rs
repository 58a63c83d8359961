//! Composition of two models: `second ∘ first`, the output of `first` feeding the input of
//! `second`. This is how a learned encoder is appended to a device head and a decoder
//! prepended to an edge tail.

use std::collections::HashSet;

use crate::analysis::declared_type;
use crate::error::{GraphError, Result};
use crate::pb::{self, ModelProto};

fn single<'a>(
    what: &str,
    values: &'a [pb::ValueInfoProto],
    inits: &HashSet<&str>,
) -> Result<&'a pb::ValueInfoProto> {
    let mut it = values.iter().filter(|v| !inits.contains(v.name.as_str()));
    match (it.next(), it.next()) {
        (Some(v), None) => Ok(v),
        _ => Err(GraphError::Invalid(format!("composition needs exactly one {what}"))),
    }
}

/// The model computing `second(first(x))`. `first` must have one output and `second` one
/// run-time input. Names of `second` that clash with names of `first` get `prefix` prepended;
/// the opset is the higher of the two.
pub fn compose(first: &ModelProto, second: &ModelProto, prefix: &str) -> Result<ModelProto> {
    let g1 = first.graph.as_ref().ok_or_else(|| GraphError::Invalid("no graph".into()))?;
    let g2 = second.graph.as_ref().ok_or_else(|| GraphError::Invalid("no graph".into()))?;
    let inits2: HashSet<&str> = g2.initializer.iter().map(|t| t.name.as_str()).collect();
    let out1_info = single("output in the first model", &g1.output, &HashSet::new())?;
    let in2_info = single("run-time input in the second model", &g2.input, &inits2)?;
    let ((t1, d1), (t2, d2)) = (declared_type(out1_info), declared_type(in2_info));
    let dims_agree = d1.len() == d2.len()
        && d1.iter().zip(&d2).all(|(a, b)| a.is_none() || b.is_none() || a == b);
    if (t1 != 0 && t2 != 0 && t1 != t2) || (!d1.is_empty() && !d2.is_empty() && !dims_agree) {
        return Err(GraphError::Invalid(format!(
            "the first model's output `{}` {d1:?} does not fit the second model's input `{}` {d2:?}",
            out1_info.name, in2_info.name
        )));
    }
    let (out1, in2) = (out1_info.name.clone(), in2_info.name.clone());
    let mut taken: HashSet<String> = g1
        .node
        .iter()
        .flat_map(|n| n.input.iter().chain(&n.output).cloned())
        .chain(g1.initializer.iter().map(|t| t.name.clone()))
        .chain(g1.input.iter().map(|i| i.name.clone()))
        .collect();
    taken.extend(g1.node.iter().map(|n| n.name.clone()));
    let rename = |t: &str| -> String {
        if t.is_empty() {
            String::new()
        } else if t == in2 {
            out1.clone()
        } else if taken.contains(t) {
            format!("{prefix}{t}")
        } else {
            t.to_string()
        }
    };
    let mut g = g1.clone();
    g.output.clear();
    g.value_info.extend(g2.value_info.iter().cloned().map(|mut v| {
        v.name = rename(&v.name);
        v
    }));
    for n in &g2.node {
        let mut n = n.clone();
        n.input = n.input.iter().map(|x| rename(x)).collect();
        n.output = n.output.iter().map(|x| rename(x)).collect();
        if taken.contains(&n.name) {
            n.name = format!("{prefix}{}", n.name);
        }
        g.node.push(n);
    }
    for t in &g2.initializer {
        let mut t = t.clone();
        t.name = rename(&t.name);
        g.initializer.push(t);
    }
    for o in &g2.output {
        let mut o = o.clone();
        o.name = rename(&o.name);
        g.output.push(o);
    }
    let mut model = first.clone();
    model.graph = Some(g);
    for op in &second.opset_import {
        match model.opset_import.iter_mut().find(|o| o.domain == op.domain) {
            Some(o) => o.version = o.version.max(op.version),
            None => model.opset_import.push(op.clone()),
        }
    }
    model.ir_version = model.ir_version.max(second.ir_version);
    Ok(model)
}
