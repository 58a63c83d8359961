#!/usr/bin/env python3
"""Writes models/corpus/: ONNX models shaped like the files other toolchains produce.

coinfer's own exports (scripts/export_test_models.py, `coinfer train`) all declare a fixed
input except the batch, keep weights as initializers and use opset 13. Models from the wild
do not. Every file here differs from them in at least one way a user's model will:

  mbv3-dynhw.onnx      MobileNetV3-style classifier, input [batch, 3, height, width] (dynamic
                       H/W as torch `dynamic_axes` writes it), HardSwish, squeeze-excite with
                       HardSigmoid + Mul, depthwise convs, residual Adds; newest opset tract runs
  ppocr-cls-const.onnx paddle2onnx style: every weight, BN statistic and reshape target is a
                       `Constant` node (no initializers), opset 11, HardSwish spelled as
                       x * HardSigmoid(x), input [-1, 3, 48, -1] (dim_value -1, as paddle writes)
  fpn-det-op11.onnx    FPN detector: 4-stage backbone, lateral 1x1 convs, top-down nearest
                       Resize (opset 11: roi + scales inputs), a ConvTranspose and a bilinear
                       Resize up to stride 4, Concat of three scales, two outputs (heatmap, boxes)
  crnn-attn.onnx       CNN + self-attention text recognizer: input [N, 3, 48, W]; H pooled to 1,
                       reshape to a sequence through Shape/Gather/Unsqueeze/Concat (as exporters
                       write dynamic reshapes), MatMul Q/K/V, Softmax, Transpose; opset 13
  unet-seg.onnx        segmentation U-Net: skip Concats across scales, ConvTranspose up-sampling,
                       LeakyRelu, Sigmoid output at full resolution; opset 17, dynamic H/W
  lenet-ir3-op9.onnx   an old-toolchain file: IR version 3 (initializers also listed as graph
                       inputs), opset 9, fixed batch 1, Dropout and Softmax left in
  seghead-ac-op11.onnx a segmentation head with a bilinear align_corners Resize by 1.5 at an odd
                       height: the case where tract 0.23.9 departs from ONNX (see corpus.json)

Weights are random (seeded); BN statistics are non-trivial. corpus.json lists, per model, the
input shape to analyse it at (`--input-shape`) and what it exercises; the tests read it.

Usage: .venv/bin/pip install -r scripts/requirements-corpus.txt   (onnx; numpy and onnxruntime
       .venv/bin/python scripts/make_corpus.py [OUT_DIR]           come with scripts/setup.sh)
The files are deterministic: rerunning rewrites them byte for byte.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# The newest opset tract 0.23.9 supports: it is tested against opsets 9 to 18 and warns above.
NEWEST_OPSET = 18


class Net:
    """A tiny graph builder: nodes, initializers, channel bookkeeping."""

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], {}

    def uid(self, prefix):
        self.count[prefix] = self.count.get(prefix, 0) + 1
        return f"{prefix}{self.count[prefix]}"

    def init(self, prefix, array):
        name = self.uid(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, n_out=1, name=None, **attrs):
        name = name or self.uid(op.lower() + "_")
        outs = [f"{name}_out{i}" if n_out > 1 else f"{name}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=name, **attrs))
        return outs if n_out > 1 else outs[0]

    def conv(self, x, cin, cout, k=3, s=1, groups=1, bias=False, pads=None, dilations=None):
        fan_in = cin // groups * k * k
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (cout, cin // groups, k, k)).astype(np.float32)
        ins = [x, self.init("w", w)]
        if bias:
            ins.append(self.init("b", self.rng.normal(0, 0.05, cout).astype(np.float32)))
        p = k // 2 if pads is None else pads
        attrs = dict(kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p], group=groups)
        if dilations:
            attrs["dilations"] = dilations
        return self.node("Conv", ins, **attrs)

    def bn(self, x, c):
        r = self.rng
        ins = [
            x,
            self.init("gamma", (r.random(c) + 0.5).astype(np.float32)),
            self.init("beta", (r.normal(0, 0.1, c)).astype(np.float32)),
            self.init("mean", (r.normal(0, 0.1, c)).astype(np.float32)),
            self.init("var", (r.random(c) + 0.5).astype(np.float32)),
        ]
        return self.node("BatchNormalization", ins, epsilon=1e-5)

    def cbr(self, x, cin, cout, k=3, s=1, act="Relu", groups=1):
        y = self.bn(self.conv(x, cin, cout, k, s, groups), cout)
        return self.act(y, act)

    def act(self, x, act):
        if act is None:
            return x
        if act == "HardSwish":
            return self.node("HardSwish", [x])
        if act == "HardSwishDecomposed":  # paddle2onnx below opset 14
            return self.node("Mul", [x, self.node("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)])
        if act == "LeakyRelu":
            return self.node("LeakyRelu", [x], alpha=0.1)
        return self.node(act, [x])

    def gemm(self, x, cin, cout):
        w = self.rng.normal(0, np.sqrt(1.0 / cin), (cout, cin)).astype(np.float32)
        b = self.rng.normal(0, 0.05, cout).astype(np.float32)
        return self.node("Gemm", [x, self.init("fc_w", w), self.init("fc_b", b)], transB=1)

    def matmul_w(self, x, cin, cout):
        w = self.rng.normal(0, np.sqrt(1.0 / cin), (cin, cout)).astype(np.float32)
        return self.node("MatMul", [x, self.init("mm_w", w)])

    def model(self, inputs, outputs, opset, ir_version=None):
        graph = helper.make_graph(self.nodes, self.name, inputs, outputs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="coinfer-corpus")
        m.ir_version = ir_version or min(onnx.IR_VERSION, 8 if opset <= 17 else 9)
        return m


def vi(name, dims):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def se_block(n, x, c, act_gate="HardSigmoid"):
    """Squeeze-excite: pool → reduce → ReLU → expand → gate → Mul."""
    s = n.node("GlobalAveragePool", [x])
    r = max(8, c // 4)
    s = n.node("Relu", [n.conv(s, c, r, 1, bias=True)])
    s = n.conv(s, r, c, 1, bias=True)
    if act_gate == "HardSigmoid":
        s = n.node("HardSigmoid", [s], alpha=1.0 / 6, beta=0.5)
    else:
        s = n.node("Sigmoid", [s])
    return n.node("Mul", [x, s])


def inverted_residual(n, x, cin, exp, cout, k, s, se, act):
    y = n.cbr(x, cin, exp, 1, 1, act) if exp != cin else x
    y = n.cbr(y, exp, exp, k, s, act, groups=exp)
    if se:
        y = se_block(n, y, exp)
    y = n.cbr(y, exp, cout, 1, 1, None)
    if s == 1 and cin == cout:
        y = n.node("Add", [x, y])
    return y


MBV3_BLOCKS = [  # (kernel, expansion, out, SE, activation, stride): MobileNetV3-Small x0.5-ish
    (3, 16, 16, True, "Relu", 2),
    (3, 40, 16, False, "Relu", 2),
    (3, 48, 16, False, "Relu", 1),
    (5, 48, 24, True, "HardSwish", 2),
    (5, 96, 24, True, "HardSwish", 1),
    (5, 64, 32, True, "HardSwish", 1),
    (5, 96, 48, True, "HardSwish", 2),
    (5, 144, 48, True, "HardSwish", 1),
]


def mbv3(name, seed, act_hs, classes=10):
    n = Net(name, seed)
    x = n.cbr("image", 3, 16, 3, 2, act_hs)
    c = 16
    for k, e, o, se, a, s in MBV3_BLOCKS:
        x = inverted_residual(n, x, c, e, o, k, s, se, act_hs if a == "HardSwish" else a)
        c = o
    x = n.cbr(x, c, 96, 1, 1, act_hs)
    x = n.node("GlobalAveragePool", [x])
    x = n.node("Flatten", [x], axis=1)
    x = n.act(n.gemm(x, 96, 128), act_hs)
    n.nodes.append(helper.make_node("Gemm", [x, n.init("fc_w", n.rng.normal(0, 0.09, (classes, 128)).astype(np.float32)),
                                             n.init("fc_b", np.zeros(classes, np.float32))],
                                    ["logits"], name="classifier", transB=1))
    return n


def make_mbv3_dynhw():
    n = mbv3("mbv3_dynhw", 1, "HardSwish")
    return n.model([vi("image", ["batch", 3, "height", "width"])], [vi("logits", ["batch", 10])],
                   NEWEST_OPSET)


def make_ppocr_cls_const():
    """A text-direction classifier as paddle2onnx writes it: Constant nodes everywhere."""
    n = Net("ppocr_cls", 2)
    x = n.cbr("x", 3, 16, 3, 2, "HardSwishDecomposed")
    c = 16
    for k, e, o, se, a, s in MBV3_BLOCKS[:6]:
        a = "HardSwishDecomposed" if a == "HardSwish" else a
        x = inverted_residual(n, x, c, e, o, k, s, se, a)
        c = o
    x = n.cbr(x, c, 64, 1, 1, "HardSwishDecomposed")
    x = n.node("GlobalAveragePool", [x])
    # paddle flattens with a Reshape to a Constant target.
    x = n.node("Reshape", [x, n.init("shape", np.array([-1, 64], np.int64))])
    x = n.gemm(x, 64, 2)
    n.nodes.append(helper.make_node("Softmax", [x], ["softmax_0.tmp_0"], name="softmax", axis=1))
    m = n.model([vi("x", [-1, 3, 48, -1])], [vi("softmax_0.tmp_0", [-1, 2])], 11, ir_version=6)
    return initializers_to_constants(m)


def make_fpn_det():
    n = Net("fpn_det", 3)
    x = n.cbr("images", 3, 16, 3, 2)          # /2
    c2 = n.cbr(n.cbr(x, 16, 24, 3, 2), 24, 24)  # /4
    c3 = n.cbr(n.cbr(c2, 24, 32, 3, 2), 32, 32)  # /8
    c4 = n.cbr(n.cbr(c3, 32, 48, 3, 2), 48, 48)  # /16
    c5 = n.cbr(n.cbr(c4, 48, 64, 3, 2), 64, 64)  # /32
    f = 32
    p5 = n.conv(c5, 64, f, 1, bias=True)
    empty_roi = n.init("roi", np.zeros(0, np.float32))
    up2 = n.init("scales", np.array([1, 1, 2, 2], np.float32))

    def upsample_nearest(t):  # F.interpolate(scale_factor=2, mode="nearest") at opset 11
        return n.node("Resize", [t, empty_roi, up2], mode="nearest",
                      coordinate_transformation_mode="asymmetric", nearest_mode="floor")

    p4 = n.node("Add", [n.conv(c4, 48, f, 1, bias=True), upsample_nearest(p5)])
    p3 = n.node("Add", [n.conv(c3, 32, f, 1, bias=True), upsample_nearest(p4)])
    p2 = n.node("Add", [n.conv(c2, 24, f, 1, bias=True), upsample_nearest(p3)])
    p2 = n.conv(p2, f, f, 3, bias=True)
    # Three scales brought to stride 4: ConvTranspose (stride 2, k 4, pad 1) and bilinear Resize.
    wt = n.rng.normal(0, np.sqrt(2.0 / (f * 16)), (f, 16, 4, 4)).astype(np.float32)
    p3_up = n.node("ConvTranspose", [p3, n.init("wt", wt), n.init("bt", np.zeros(16, np.float32))],
                   kernel_shape=[4, 4], strides=[2, 2], pads=[1, 1, 1, 1])
    up4 = n.init("scales", np.array([1, 1, 4, 4], np.float32))
    p4_up = n.node("Resize", [p4, empty_roi, up4], mode="linear",
                   coordinate_transformation_mode="pytorch_half_pixel")
    cat = n.node("Concat", [p2, p3_up, p4_up], axis=1)
    h = n.cbr(cat, f + 16 + f, 32)
    heat = n.conv(h, 32, 4, 1, bias=True)
    n.nodes.append(helper.make_node("Sigmoid", [heat], ["heatmap"], name="heat_sigmoid"))
    box = n.conv(h, 32, 4, 1, bias=True)
    n.nodes.append(helper.make_node("Relu", [box], ["boxes"], name="box_relu"))
    return n.model([vi("images", ["n", 3, "h", "w"])],
                   [vi("heatmap", ["n", 4, "h4", "w4"]), vi("boxes", ["n", 4, "h4", "w4"])], 11)


def make_crnn_attn(classes=37):
    n = Net("crnn_attn", 4)
    x = n.cbr("image", 3, 16)                                   # 48 x W
    x = n.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])   # 24 x W/2
    x = n.cbr(x, 16, 32)
    x = n.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])   # 12 x W/4
    x = n.cbr(x, 32, 48)
    x = n.node("MaxPool", [x], kernel_shape=[2, 1], strides=[2, 1])   # 6 x W/4
    x = n.cbr(x, 48, 64)
    x = n.node("MaxPool", [x], kernel_shape=[3, 1], strides=[3, 1])   # 2 x W/4
    x = n.cbr(x, 64, 64, k=3)
    x = n.node("MaxPool", [x], kernel_shape=[2, 1], strides=[2, 1])   # 1 x W/4
    # Dynamic squeeze of H as exporters write it: x.reshape(x.shape[0], x.shape[1], -1).
    shape = n.node("Shape", [x])
    i0 = n.init("idx", np.array(0, np.int64))
    i1 = n.init("idx", np.array(1, np.int64))
    b = n.node("Unsqueeze", [n.node("Gather", [shape, i0], axis=0), n.init("axes", np.array([0], np.int64))])
    ch = n.node("Unsqueeze", [n.node("Gather", [shape, i1], axis=0), n.init("axes", np.array([0], np.int64))])
    target = n.node("Concat", [b, ch, n.init("minus1", np.array([-1], np.int64))], axis=0)
    seq = n.node("Reshape", [x, target])                        # [N, C, T]
    seq = n.node("Transpose", [seq], perm=[0, 2, 1])            # [N, T, C]
    d = 64
    q, k, v = (n.matmul_w(seq, d, d) for _ in range(3))
    scores = n.node("MatMul", [q, n.node("Transpose", [k], perm=[0, 2, 1])])
    scores = n.node("Div", [scores, n.init("sqrt_d", np.array(np.sqrt(d), np.float32))])
    attn = n.node("Softmax", [scores], axis=-1)
    ctx = n.node("MatMul", [attn, v])
    y = n.node("Add", [seq, n.matmul_w(ctx, d, d)])
    y = n.node("Relu", [n.node("Add", [n.matmul_w(y, d, d), n.init("bias", n.rng.normal(0, 0.05, d).astype(np.float32))])])
    n.nodes.append(helper.make_node("MatMul", [y, n.init("cls", n.rng.normal(0, 0.125, (d, classes)).astype(np.float32))],
                                    ["logits"], name="classifier"))
    return n.model([vi("image", ["N", 3, 48, "W"])], [vi("logits", ["N", "T", classes])], 13)


def make_unet_seg(classes=3):
    n = Net("unet_seg", 5)
    e1 = n.cbr(n.cbr("input", 3, 16, act="LeakyRelu"), 16, 16, act="LeakyRelu")         # /1
    e2 = n.cbr(n.node("MaxPool", [e1], kernel_shape=[2, 2], strides=[2, 2]), 16, 32, act="LeakyRelu")  # /2
    e3 = n.cbr(n.node("MaxPool", [e2], kernel_shape=[2, 2], strides=[2, 2]), 32, 48, act="LeakyRelu")  # /4
    mid = n.cbr(n.cbr(e3, 48, 48, act="LeakyRelu"), 48, 48, act="LeakyRelu")

    def up(x, cin, cout):
        w = n.rng.normal(0, np.sqrt(2.0 / (cin * 4)), (cin, cout, 2, 2)).astype(np.float32)
        return n.node("ConvTranspose", [x, n.init("up_w", w), n.init("up_b", np.zeros(cout, np.float32))],
                      kernel_shape=[2, 2], strides=[2, 2])

    d2 = n.cbr(n.node("Concat", [up(mid, 48, 32), e2], axis=1), 64, 32, act="LeakyRelu")
    d1 = n.cbr(n.node("Concat", [up(d2, 32, 16), e1], axis=1), 32, 16, act="LeakyRelu")
    out = n.conv(d1, 16, classes, 1, bias=True)
    n.nodes.append(helper.make_node("Sigmoid", [out], ["mask"], name="mask_sigmoid"))
    return n.model([vi("input", ["batch", 3, "height", "width"])],
                   [vi("mask", ["batch", classes, "height", "width"])], 17)


def make_lenet_ir3():
    n = Net("lenet", 6)
    x = n.node("Relu", [n.conv("data", 1, 8, 5, pads=0, bias=True)])            # 24
    x = n.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])             # 12
    x = n.bn(n.conv(x, 8, 16, 5, pads=0, bias=True), 16)                       # 8
    x = n.node("MaxPool", [n.node("Relu", [x])], kernel_shape=[2, 2], strides=[2, 2])  # 4
    x = n.node("Flatten", [x], axis=1)
    x = n.node("Relu", [n.gemm(x, 256, 64)])
    x = n.node("Dropout", [x], ratio=0.5)
    x = n.gemm(x, 64, 10)
    n.nodes.append(helper.make_node("Softmax", [x], ["prob"], name="prob", axis=1))
    m = n.model([vi("data", [1, 1, 28, 28])], [vi("prob", [1, 10])], 9, ir_version=3)
    # IR < 4: every initializer is also a graph input.
    for t in m.graph.initializer:
        m.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return m


def make_seghead_align_corners():
    """A segmentation head that upsamples 1.5x with bilinear align_corners given as scales.

    Constructed to pin a tract deviation: at an odd feature height, len_in x 1.5 is not an
    integer, ONNX floors it, and tract 0.23.9 maps coordinates with the unfloored length.
    """
    n = Net("seghead_ac", 7)
    x = n.cbr("image", 3, 16, 3, 2)                 # /2
    x = n.cbr(x, 16, 32, 3, 3)                      # /6
    x = n.cbr(x, 32, 32)
    up = n.node("Resize", [x, n.init("roi", np.zeros(0, np.float32)),
                           n.init("scales", np.array([1, 1, 1.5, 1.5], np.float32))],
                mode="linear", coordinate_transformation_mode="align_corners")
    y = n.conv(up, 32, 5, 1, bias=True)
    n.nodes.append(helper.make_node("Sigmoid", [y], ["mask"], name="mask_sigmoid"))
    return n.model([vi("image", ["N", 3, "H", "W"])], [vi("mask", ["N", 5, "h", "w"])], 11)


def initializers_to_constants(m):
    """Rewrites every initializer into a `Constant` node at the top of the graph."""
    consts = [helper.make_node("Constant", [], [t.name], name=f"const_{t.name}", value=t)
              for t in m.graph.initializer]
    names = {t.name for t in m.graph.initializer}
    nodes = consts + list(m.graph.node)
    inputs = [i for i in m.graph.input if i.name not in names]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    del m.graph.initializer[:]
    del m.graph.input[:]
    m.graph.input.extend(inputs)
    return m


MODELS = [
    ("mbv3-dynhw", make_mbv3_dynhw, {"image": [1, 3, 128, 160]},
     "MobileNetV3-style classifier, dynamic H/W, HardSwish + SE (HardSigmoid, Mul), opset %d" % NEWEST_OPSET),
    ("ppocr-cls-const", make_ppocr_cls_const, {"x": [1, 3, 48, 192]},
     "paddle2onnx-style: weights, BN statistics and reshape target as Constant nodes, dims -1, opset 11"),
    ("fpn-det-op11", make_fpn_det, {"images": [1, 3, 160, 224]},
     "FPN detector: nearest Resize (opset 11), ConvTranspose, bilinear Resize, Concat of 3 scales, 2 outputs"),
    ("crnn-attn", make_crnn_attn, {"image": [1, 3, 48, 192]},
     "CNN + self-attention recognizer: dynamic reshape (Shape/Gather/Concat), MatMul, Softmax, Transpose"),
    ("unet-seg", make_unet_seg, {"input": [1, 3, 96, 128]},
     "U-Net segmentation: skip Concats, ConvTranspose, LeakyRelu, full-resolution output, opset 17"),
    ("lenet-ir3-op9", make_lenet_ir3, {"data": [1, 1, 28, 28]},
     "old toolchain: IR 3 (initializers listed as inputs), opset 9, fixed batch 1, Dropout, Softmax"),
    ("seghead-ac-op11", make_seghead_align_corners, {"image": [1, 3, 90, 120]},
     "segmentation head, bilinear Resize x1.5 with align_corners at an odd height (pins a tract deviation)"),
]

# Where the file as written runs differently on tract than on onnxruntime (coinfer's analysed
# copy fixes it; the engine tests pin both).
TRACT_DEVIATIONS = {
    "seghead-ac-op11": "Resize align_corners with a fractional len_in x scale: tract 0.23.9 maps "
                       "coordinates with len_in x scale instead of floor(len_in x scale)",
}


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "models/corpus")
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for name, make, shapes, what in MODELS:
        m = make()
        onnx.checker.check_model(m, full_check=True)
        path = out / f"{name}.onnx"
        onnx.save(m, str(path))
        opset = m.opset_import[0].version
        line = f"{path.name}: {len(m.graph.node)} nodes, opset {opset}, IR {m.ir_version}, {path.stat().st_size} bytes"
        try:
            import onnxruntime as ort
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            feeds = {k: np.random.default_rng(0).random(v, dtype=np.float32) for k, v in shapes.items()}
            outs = sess.run(None, feeds)
            line += ", onnxruntime outputs " + ", ".join(str(list(o.shape)) for o in outs)
        except ImportError:
            pass
        print(line)
        entry = {"file": path.name, "input_shape": shapes, "opset": opset,
                 "nodes": len(m.graph.node), "what": what}
        if name in TRACT_DEVIATIONS:
            entry["tract_deviation"] = TRACT_DEVIATIONS[name]
        manifest.append(entry)
    (out / "corpus.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
