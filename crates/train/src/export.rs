//! Export of the default model to ONNX (Conv, BatchNormalization, Relu, Add,
//! GlobalAveragePool, Flatten, Gemm; opset 13).

use candle_core::Tensor;
use candle_nn::{BatchNorm, Linear};
use coinfer_graph::builder::{attr_float, attr_int, attr_ints, ModelBuilder};
use coinfer_graph::pb::ModelProto;

use crate::resnet::{ConvBn, ResNet};

fn data(t: &Tensor) -> candle_core::Result<(Vec<usize>, Vec<f32>)> {
    Ok((t.dims().to_vec(), t.flatten_all()?.to_vec1::<f32>()?))
}

fn conv_bn(b: &mut ModelBuilder, x: &str, name: &str, m: &ConvBn) -> candle_core::Result<String> {
    let (wd, w) = data(m.conv.weight())?;
    let k = wd[2] as i64;
    let w = b.weight(&format!("{name}.conv.weight"), &wd, &w);
    let mut inputs = vec![x.to_string(), w];
    if let Some(bias) = m.conv.bias() {
        let (bd, bv) = data(bias)?;
        inputs.push(b.weight(&format!("{name}.conv.bias"), &bd, &bv));
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let s = m.stride as i64;
    let y = b.named_node(
        &format!("{name}.conv"),
        "Conv",
        &refs,
        vec![
            attr_ints("kernel_shape", &[k, k]),
            attr_ints("strides", &[s, s]),
            attr_ints("pads", &[1, 1, 1, 1]),
        ],
    );
    batch_norm(b, &y, &format!("{name}.bn"), &m.bn)
}

fn batch_norm(
    b: &mut ModelBuilder,
    x: &str,
    name: &str,
    bn: &BatchNorm,
) -> candle_core::Result<String> {
    let (scale, bias) = match bn.weight_and_bias() {
        Some((w, bb)) => (data(w)?, data(bb)?),
        None => {
            let n = bn.running_mean().dims1()?;
            ((vec![n], vec![1.0; n]), (vec![n], vec![0.0; n]))
        }
    };
    let (md, mean) = data(bn.running_mean())?;
    let (vd, var) = data(bn.running_var())?;
    let names = [
        b.weight(&format!("{name}.weight"), &scale.0, &scale.1),
        b.weight(&format!("{name}.bias"), &bias.0, &bias.1),
        b.weight(&format!("{name}.running_mean"), &md, &mean),
        b.weight(&format!("{name}.running_var"), &vd, &var),
    ];
    Ok(b.named_node(
        name,
        "BatchNormalization",
        &[x, &names[0], &names[1], &names[2], &names[3]],
        vec![attr_float("epsilon", 1e-5)],
    ))
}

fn gemm(b: &mut ModelBuilder, x: &str, name: &str, l: &Linear) -> candle_core::Result<String> {
    let (wd, w) = data(l.weight())?;
    let w = b.weight(&format!("{name}.weight"), &wd, &w);
    let mut inputs = vec![x.to_string(), w];
    if let Some(bias) = l.bias() {
        let (bd, bv) = data(bias)?;
        inputs.push(b.weight(&format!("{name}.bias"), &bd, &bv));
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    Ok(b.named_node(name, "Gemm", &refs, vec![attr_int("transB", 1)]))
}

/// The model as ONNX with input `image` `(batch, C, H, W)` and output `logits` `(batch, classes)`.
/// Node names follow the module path (`stage1.block0.a.conv`), so cut points are readable.
pub fn to_onnx(model: &ResNet, height: usize, width: usize) -> candle_core::Result<ModelProto> {
    let c = &model.config;
    let mut b = ModelBuilder::new("coinfer_fmnist_resnet");
    let x = b.input("image", &[None, Some(c.in_channels), Some(height), Some(width)]);
    let y = conv_bn(&mut b, &x, "stem", &model.stem)?;
    let mut x = b.named_node("stem.relu", "Relu", &[&y], vec![]);
    for (i, stage) in model.stages.iter().enumerate() {
        if let Some(down) = &stage.down {
            let y = conv_bn(&mut b, &x, &format!("stage{i}.down"), down)?;
            x = b.named_node(&format!("stage{i}.down.relu"), "Relu", &[&y], vec![]);
        }
        for (j, block) in stage.blocks.iter().enumerate() {
            let p = format!("stage{i}.block{j}");
            let y = conv_bn(&mut b, &x, &format!("{p}.a"), &block.a)?;
            let y = b.named_node(&format!("{p}.a.relu"), "Relu", &[&y], vec![]);
            let y = conv_bn(&mut b, &y, &format!("{p}.b"), &block.b)?;
            let y = b.named_node(&format!("{p}.add"), "Add", &[&x, &y], vec![]);
            x = b.named_node(&format!("{p}.relu"), "Relu", &[&y], vec![]);
        }
    }
    let y = b.named_node("pool", "GlobalAveragePool", &[&x], vec![]);
    let y = b.named_node("flatten", "Flatten", &[&y], vec![attr_int("axis", 1)]);
    let y = gemm(&mut b, &y, "fc1", &model.fc1)?;
    let y = b.named_node("fc1.relu", "Relu", &[&y], vec![]);
    let y = gemm(&mut b, &y, "logits", &model.fc2)?;
    b.output(&y, &[None, Some(c.classes)]);
    Ok(b.build())
}
