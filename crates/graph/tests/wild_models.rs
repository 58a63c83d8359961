//! Models from other toolchains: symbolic input dims, weights as `Constant` nodes, old IR and
//! opsets. Cut lists of the corpus (`models/corpus`) against the brute-force separator
//! definition; clear errors for missing or wrong input shapes and for bad `Constant`s.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "support/brute_force.rs"]
mod brute_force;
#[path = "support/corpus.rs"]
mod corpus;

use std::collections::HashSet;

use brute_force::separators;
use coinfer_graph::builder::ModelBuilder;
use coinfer_graph::pb::{self, tensor_shape_proto::dimension::Value};
use coinfer_graph::{Graph, GraphError, InputShape, InputShapes, INPUT_SHAPE_KEY};
use corpus::corpus;

fn shapes(spec: &str) -> InputShapes {
    InputShapes::from_specs(&[spec.parse::<InputShape>().unwrap()]).unwrap()
}

/// Declared dims of a value info: `Ok(n)` fixed, `Err(name)` symbolic.
fn dims(vi: &pb::ValueInfoProto) -> Vec<Result<i64, String>> {
    let Some(pb::type_proto::Value::TensorType(t)) =
        vi.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        panic!("{} has no tensor type", vi.name)
    };
    t.shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(Value::DimValue(v)) if *v > 0 => Ok(*v),
            Some(Value::DimParam(p)) => Err(p.clone()),
            other => Err(format!("{other:?}")),
        })
        .collect()
}

#[test]
fn corpus_cut_lists_match_brute_force_at_the_real_shape() {
    for m in corpus() {
        let g = m.graph();
        let cuts = g.cut_points();
        let names: HashSet<String> = cuts.iter().map(|c| c.tensor.clone()).collect();
        assert_eq!(names, separators(&g), "{}", m.file);
        assert!(cuts.len() >= 5, "{}: only {} cuts", m.file, cuts.len());
        assert!(
            g.total_param_bytes() > 50_000,
            "{}: {} parameter bytes",
            m.file,
            g.total_param_bytes()
        );
        // Analysis is at the given shape, not at 1s: the first cut's spatial size follows it.
        let input = &g.inputs[0];
        let given = m.input_shape.get(input).unwrap();
        assert_eq!(g.input_shapes.get(input).unwrap()[1..], given[1..], "{}", m.file);
        assert_eq!(g.input_bytes(), given[1..].iter().product::<usize>() as u64 * 4, "{}", m.file);
        for c in &cuts {
            assert!(!c.shape.is_empty() && c.feature_bytes > 0, "{}: {}", m.file, c.tensor);
            assert_eq!(c.head_macs + c.tail_macs, g.total_macs(), "{}", m.file);
        }
        if given.len() == 4 && cuts[0].shape.len() == 4 {
            assert!(
                cuts[0].shape[2] > 1 && cuts[0].shape[3] > 1,
                "{}: {:?}",
                m.file,
                cuts[0].shape
            );
        }
    }
}

#[test]
fn symbolic_dims_without_a_shape_are_an_error_that_names_input_dims_and_flag() {
    for (file, input, dims) in [
        ("mbv3-dynhw.onnx", "image", ["height (dim 2)", "width (dim 3)"]),
        ("crnn-attn.onnx", "image", ["W (dim 3)", "W (dim 3)"]),
        ("ppocr-cls-const.onnx", "x", ["D3 (dim 3)", "x:1,3,48,<D3>"]),
    ] {
        let err = Graph::load(&corpus::corpus_dir().join(file)).unwrap_err();
        assert!(matches!(err, GraphError::SymbolicInput { .. }), "{file}: {err:?}");
        let msg = err.to_string();
        for needle in [&format!("`{input}`"), "--input-shape", dims[0], dims[1]] {
            assert!(msg.contains(needle), "{file}: `{needle}` not in: {msg}");
        }
    }
    // A symbolic batch alone needs no shape (per-sample analysis at batch 1).
    let g = Graph::load(&corpus::corpus_dir().join("lenet-ir3-op9.onnx")).unwrap();
    assert_eq!(g.input_shapes.get("data"), Some(&[1, 1, 28, 28][..]));
}

#[test]
fn wrong_shapes_are_clear_errors() {
    let dir = corpus::corpus_dir();
    for (file, spec, needle) in [
        ("crnn-attn.onnx", "image:1,3,48", "rank 4"), // wrong rank
        ("crnn-attn.onnx", "picture:1,3,48,192", "no input `picture`"), // no such input
        ("crnn-attn.onnx", "image:1,3,32,192", "declares dim 2 as 48"), // contradicts a fixed dim
        // A U-Net needs sides divisible by 4: its skip Concat cannot join 97 and 96 rows.
        (
            "unet-seg.onnx",
            "input:1,3,97,128",
            "cannot be resolved with the inputs at input:1,3,97,128",
        ),
    ] {
        let err = match Graph::load_with(&dir.join(file), &shapes(spec)) {
            Ok(_) => panic!("{file} at {spec} analysed"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(needle), "{spec}: `{needle}` not in: {err}");
    }
    for bad in ["image:1,3,0,192", "image:1,3,-48,192", "image", "image:1,x"] {
        let err = bad.parse::<InputShape>().unwrap_err().to_string();
        assert!(err.contains(bad), "{bad}: {err}");
    }
}

#[test]
fn one_dim_name_cannot_take_two_values() {
    let mut b = ModelBuilder::new("two_inputs");
    let x = b.input("x", &[None, Some(2), None]);
    let y = b.input("y", &[None, Some(2), None]);
    let s = b.named_node("s", "Add", &[&x, &y], vec![]);
    b.output(&s, &[None, Some(2), None]);
    let mut m = b.build();
    for vi in &mut m.graph.as_mut().unwrap().input {
        if let Some(pb::type_proto::Value::TensorType(t)) =
            vi.r#type.as_mut().and_then(|t| t.value.as_mut())
        {
            t.shape.as_mut().unwrap().dim[2].value = Some(Value::DimParam("len".into()));
        }
    }
    let given =
        InputShapes::from_specs(&["x:1,2,5".parse().unwrap(), "y:1,2,7".parse().unwrap()]).unwrap();
    let err = Graph::analyse_with(m.clone(), &given).unwrap_err().to_string();
    assert!(err.contains("`len`") && err.contains("5") && err.contains("7"), "{err}");
    let given = InputShapes::from_specs(&["x:1,2,5".parse().unwrap()]).unwrap();
    let err = Graph::analyse_with(m, &given).unwrap_err().to_string();
    assert!(err.contains("input `y`") && err.contains("len (dim 2)"), "{err}");
}

#[test]
fn split_files_keep_the_batch_symbolic_and_record_the_shape() {
    let g = Graph::load_with(
        &corpus::corpus_dir().join("mbv3-dynhw.onnx"),
        &shapes("image:1,3,128,160"),
    )
    .unwrap();
    let cut = &g.cut_points()[3];
    let p = g.split(cut).unwrap();
    let head = p.head.graph.as_ref().unwrap();
    let tail = p.tail.graph.as_ref().unwrap();
    assert_eq!(dims(&head.input[0]), vec![Err("batch".into()), Ok(3), Ok(128), Ok(160)]);
    let tail_dims = dims(&tail.input[0]);
    assert_eq!(tail_dims[0], Err("batch".into()));
    let fixed: Vec<i64> = tail_dims[1..].iter().map(|d| *d.as_ref().unwrap()).collect();
    assert_eq!(fixed, cut.shape[1..].iter().map(|&d| d as i64).collect::<Vec<_>>());
    for m in [&p.head, &p.tail] {
        let meta = m.metadata_props.iter().find(|e| e.key == INPUT_SHAPE_KEY).unwrap();
        assert_eq!(meta.value, "image:1,3,128,160");
    }
}

#[test]
fn constant_weights_become_initializers() {
    let m = corpus().into_iter().find(|m| m.file == "ppocr-cls-const.onnx").unwrap();
    let proto = coinfer_graph::load_model(&m.path()).unwrap();
    let file_graph = proto.graph.as_ref().unwrap();
    assert!(file_graph.initializer.is_empty(), "the file stores weights as Constant nodes");
    let constants = file_graph.node.iter().filter(|n| n.op_type == "Constant").count();
    let g = m.graph();
    assert!(g.nodes.iter().all(|n| n.op_type != "Constant"));
    let inits = &g.proto.graph.as_ref().unwrap().initializer;
    assert_eq!(inits.len(), constants);
    // Every conv weight, bias and BN statistic is counted.
    let stored: u64 = inits.iter().map(|t| t.raw_data.len() as u64).sum();
    assert_eq!(g.total_param_bytes(), stored);
    assert!(g.nodes.iter().filter(|n| n.op_type == "Conv").all(|n| n.param_bytes > 0));
}

fn constant_node(name: &str, attr: pb::AttributeProto) -> pb::NodeProto {
    pb::NodeProto {
        output: vec![format!("{name}_out")],
        name: name.into(),
        op_type: "Constant".into(),
        attribute: vec![attr],
        ..Default::default()
    }
}

#[test]
fn constants_that_are_not_numeric_tensors_are_refused_by_name() {
    let with_constant = |node: pb::NodeProto| {
        let mut b = ModelBuilder::new("bad_constant");
        let x = b.input("x", &[None, Some(4)]);
        let out = format!("{}_out", node.name);
        let y = b.named_node("y", "Add", &[&x, &out], vec![]);
        b.output(&y, &[None, Some(4)]);
        let mut m = b.build();
        m.graph.as_mut().unwrap().node.insert(0, node);
        Graph::analyse(m)
    };
    let strings = pb::AttributeProto {
        name: "value_strings".into(),
        strings: vec![b"a".to_vec()],
        ..Default::default()
    };
    let sparse = pb::AttributeProto { name: "sparse_value".into(), ..Default::default() };
    let short = pb::AttributeProto {
        name: "value".into(),
        t: Some(pb::TensorProto {
            dims: vec![4],
            data_type: 1,
            raw_data: vec![0; 12],
            ..Default::default()
        }),
        ..Default::default()
    };
    let empty = pb::NodeProto { attribute: vec![], ..constant_node("nothing", short.clone()) };
    for (node, needle) in [
        (constant_node("labels", strings), "strings"),
        (constant_node("sparse", sparse), "sparse"),
        (constant_node("short", short), "3 values for dims [4]"),
        (empty, "no value"),
    ] {
        let name = node.name.clone();
        let err = with_constant(node).unwrap_err();
        assert!(matches!(err, GraphError::BadConstant { .. }), "{name}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{name}`")) && msg.contains(needle), "{msg}");
    }
    // The scalar and list forms of Constant are tensors too.
    let floats = pb::AttributeProto {
        name: "value_floats".into(),
        floats: vec![1.0, 2.0, 3.0, 4.0],
        ..Default::default()
    };
    let g = with_constant(constant_node("bias", floats)).unwrap();
    assert_eq!(g.total_param_bytes(), 16);
}
