//! Pruning the third-party corpus (`models/corpus`): squeeze-excite and hard-swish blocks,
//! weights stored as `Constant` nodes, explicit-width flatten reshapes, Resize and
//! ConvTranspose. `--uniform 0.3` gives a smaller model with the same output shapes that runs
//! on tract and ONNX Runtime.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "../../graph/tests/support/corpus.rs"]
mod corpus;

use coinfer_engine::engine_for_name;
use coinfer_engine::profile::random_inputs;
use coinfer_prune::{prepare_for_pruning, prune, ChannelGroups, Criterion, Ratios};

#[test]
fn every_corpus_model_prunes_smaller_and_runs_on_both_engines() {
    for m in corpus::corpus() {
        let g = m.graph();
        let pruned = prune(&g, &Ratios::Uniform { ratio: 0.3, until: None }, Criterion::L1)
            .unwrap_or_else(|e| panic!("{}: {e}", m.file));
        assert!(!pruned.outcome.is_empty(), "{}: nothing pruned", m.file);
        let p = &pruned.graph;
        assert!(p.total_param_bytes() < g.total_param_bytes(), "{}", m.file);
        assert!(p.total_macs() < g.total_macs(), "{}", m.file);
        let inputs = random_inputs(&g, 2, 3).unwrap();
        for engine in ["tract", "ort"] {
            let engine = engine_for_name(engine).unwrap();
            let before = engine.prepare(&g.proto).unwrap().run(&inputs).unwrap();
            let after = engine.prepare(&p.proto).unwrap().run(&inputs).unwrap();
            assert_eq!(before.len(), after.len(), "{}", m.file);
            for (b, a) in before.iter().zip(&after) {
                assert_eq!(b.shape(), a.shape(), "{} on {}", m.file, engine.name());
                assert!(a.iter().all(|v| v.is_finite()), "{} on {}", m.file, engine.name());
            }
        }
        println!(
            "{}: MACs {} -> {}, parameter bytes {} -> {}",
            m.file,
            g.total_macs(),
            p.total_macs(),
            g.total_param_bytes(),
            p.total_param_bytes()
        );
    }
}

#[test]
fn coverage_squeeze_excite_hard_swish_constants_and_explicit_flatten() {
    let by_file = |f: &str| corpus::corpus().into_iter().find(|m| m.file == f).unwrap();
    // MobileNetV3 blocks: every group but the input and the logits prunes, and the squeeze-excite
    // Mul ties an expand conv to the block it scales.
    for f in ["mbv3-dynhw.onnx", "ppocr-cls-const.onnx"] {
        let g = prepare_for_pruning(&by_file(f).graph()).unwrap();
        let groups = ChannelGroups::analyse(&g).unwrap();
        let refused: Vec<_> = groups.groups.iter().filter(|gr| !gr.is_prunable()).collect();
        assert_eq!(refused.len(), 2, "{f}: {refused:?}");
        assert!(groups.groups.iter().any(|gr| gr.is_prunable() && gr.producers.len() >= 2), "{f}");
        assert!(g.nodes.iter().any(|n| n.op_type == "HardSigmoid"), "{f}");
    }
    // paddle's `Reshape(x, [-1, 64])` flatten follows the pruned width.
    let m = by_file("ppocr-cls-const.onnx");
    let p = prune(&m.graph(), &Ratios::Uniform { ratio: 0.5, until: None }, Criterion::L1).unwrap();
    let inputs = random_inputs(&p.graph, 3, 1).unwrap();
    let y =
        engine_for_name("tract").unwrap().prepare(&p.graph.proto).unwrap().run(&inputs).unwrap();
    assert_eq!(y[0].shape(), &[3, 2]);
    // Unprunable groups name the node and the reason.
    let g = prepare_for_pruning(&by_file("crnn-attn.onnx").graph()).unwrap();
    let groups = ChannelGroups::analyse(&g).unwrap();
    let reasons: Vec<String> =
        groups.groups.iter().filter_map(|gr| gr.unprunable.clone()).collect();
    assert!(reasons.iter().any(|r| r.contains("`shape_1` (Shape)")), "{reasons:?}");
}
