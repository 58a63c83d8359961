"""The model, plan, hardware and channel API: round trips against the Rust crates' own
answers, models from the wild (symbolic dims, Constant weights), and bad input as named
Python exceptions."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import coinfer

ROOT = Path(__file__).resolve().parents[3]
MODEL = ROOT / "models" / "fmnist-resnet.onnx"
CORPUS = ROOT / "models" / "corpus"
PLAN = ROOT / "examples" / "plan-two-devices.json"


@pytest.fixture(scope="module")
def model():
    return coinfer.Model(MODEL)


def test_a_model_lists_its_cuts_like_the_cli(model):
    cuts = model.cuts()
    assert len(cuts) > 10
    assert [c["index"] for c in cuts] == list(range(len(cuts)))
    assert cuts[9]["tensor"] == "stage1.block0.relu"
    # Heads grow and tails shrink along the network; head + tail = the whole model.
    for c in cuts:
        assert c["head_macs"] + c["tail_macs"] == model.macs
        assert c["feature_bytes"] == 4 * math.prod(c["shape"])
    assert model.inputs and model.input_shape[model.inputs[0]] == [1, 1, 28, 28]
    assert "MACs" in repr(model)


def test_split_halves_compose_to_the_whole_model_and_survive_a_save(model, tmp_path):
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    whole = model.run(x)[0]
    head, tail = model.split("stage1.block0.relu")
    feature = head.run(x)[0]
    assert feature.shape[0] == 3
    y = tail.run(feature)[0]
    assert y.shape == whole.shape == (3, 10)
    assert np.isfinite(y).all()
    np.testing.assert_allclose(y, whole, rtol=1e-4, atol=1e-4 * np.abs(whole).max())
    # By index too, and the saved head reloads with the same cost.
    head9, _ = model.split(9)
    assert head9.macs == head.macs == model.cuts()[9]["head_macs"]
    head.save(tmp_path / "head.onnx")
    again = coinfer.Model(tmp_path / "head.onnx")
    assert again.macs == head.macs
    np.testing.assert_array_equal(again.run(x)[0], feature)


def test_models_from_the_wild_symbolic_dims_and_constant_weights():
    meta = {m["file"]: m for m in json.loads((CORPUS / "corpus.json").read_text())}
    dyn = meta["mbv3-dynhw.onnx"]
    with pytest.raises(ValueError, match="symbolic|input_shape|shape"):
        coinfer.Model(CORPUS / "mbv3-dynhw.onnx")
    m = coinfer.Model(CORPUS / "mbv3-dynhw.onnx", input_shape=dyn["input_shape"])
    assert m.input_shape == dyn["input_shape"]
    assert len(m.cuts()) > 5
    const = meta["ppocr-cls-const.onnx"]
    c = coinfer.Model(CORPUS / "ppocr-cls-const.onnx", input_shape=const["input_shape"])
    assert c.param_bytes > 0 and len(c.cuts()) > 5
    shape = const["input_shape"]["x"]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    head, tail = c.split(c.cuts()[len(c.cuts()) // 2]["tensor"])
    np.testing.assert_allclose(tail.run(head.run(x)[0])[0], c.run(x)[0], rtol=1e-3, atol=1e-4)


def test_bad_models_and_bad_inputs_raise_named_errors(model, tmp_path):
    with pytest.raises(FileNotFoundError, match="no-such.onnx"):
        coinfer.Model(tmp_path / "no-such.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not a model at all" * 10)
    with pytest.raises(ValueError):
        coinfer.Model(junk)
    with pytest.raises(ValueError, match="dims must be positive"):
        coinfer.Model(MODEL, input_shape={"input": [1, 0, 28]})
    with pytest.raises(ValueError, match="float32"):
        model.run(np.zeros((1, 1, 28, 28)))
    with pytest.raises(ValueError, match="shape|dim"):
        model.run(np.zeros((1, 3, 28, 28), np.float32))
    with pytest.raises(ValueError, match="2 input arrays for a model with 1 input"):
        model._m.run([np.zeros((1, 1, 28, 28), np.float32)] * 2, "tract")
    with pytest.raises(ValueError, match="stage1.block0.rlu|cut"):
        model.split("stage1.block0.rlu")
    with pytest.raises(ValueError, match="cut must be"):
        model.split(1.5)
    with pytest.raises(ValueError, match="unknown engine"):
        model.run(np.zeros((1, 1, 28, 28), np.float32), engine="tensorrt")


def test_profile_predicts_every_cut_on_the_named_hardware(model):
    p = model.profile(device="rpi4", edge="edge-gpu", runs=2)
    assert len(p["cuts"]) == len(model.cuts())
    assert p["device"]["name"] == "rpi4" and p["edge"]["name"] == "edge-gpu"
    assert p["device_full_s"] > p["edge_full_s"] > 0
    with pytest.raises(ValueError, match="unknown hardware `toaster`.*rpi4"):
        model.profile(device="toaster")
    with pytest.raises(ValueError, match="at least 1"):
        model.profile(runs=0)


def test_a_plan_round_trips_validates_and_is_predicted(tmp_path):
    plan = coinfer.Plan.load(PLAN)
    assert [d["device_id"] for d in plan.devices] == ["cam-1", "cam-2", "roamer"]
    plan.save(tmp_path / "p.json")
    assert coinfer.Plan.load(tmp_path / "p.json").data == plan.data
    pred = plan.predict(ROOT / "models", device="rpi4", edge="edge-gpu", rate_mbps=20,
                        rtt_ms=2, tx_power_w=0.5)
    assert [p["device_id"] for p in pred] == ["cam-1", "cam-2", "roamer"]
    cut = coinfer.Model(MODEL).cuts()[9]
    # cam-1 sends 8-bit values (one byte each), cam-2 its float32 input.
    assert cut["feature_bytes"] / 4 < pred[0]["payload_bytes"] < cut["feature_bytes"] / 4 + 100
    assert 784 * 4 <= pred[1]["payload_bytes"] < 784 * 4 + 100
    for p in pred:
        q = p["prediction"]
        parts = sum(q[k] for k in ("device_s", "encode_s", "stack_s", "rtt_s", "uplink_s",
                                   "edge_queue_s", "edge_s", "downlink_s"))
        assert q["total_s"] == pytest.approx(parts, rel=1e-12)
        assert q["rtt_s"] == pytest.approx(0.002)
    # A faster link shortens every offloading device's upload.
    fast = plan.predict(ROOT / "models", rate_mbps=200, rtt_ms=2)
    slow = plan.predict(ROOT / "models", rate_mbps=2, rtt_ms=2)
    assert all(f["prediction"]["uplink_s"] < s["prediction"]["uplink_s"] for f, s in zip(fast, slow))
    # Per-device hardware: an MCU head is slower than a Raspberry Pi's.
    mcu = plan.predict(ROOT / "models", devices={"cam-1": "mcu"}, rate_mbps=20)
    assert mcu[0]["prediction"]["device_s"] > pred[0]["prediction"]["device_s"]


def test_bad_plans_are_refused_with_the_problem_named(tmp_path):
    data = json.loads(PLAN.read_text())
    with pytest.raises(ValueError, match="colour"):
        coinfer.Plan({**data, "colour": "red"})
    dup = json.loads(PLAN.read_text())
    dup["devices"][1]["device_id"] = "cam-1"
    with pytest.raises(ValueError, match="cam-1"):
        coinfer.Plan(dup)
    share = json.loads(PLAN.read_text())
    share["devices"][0]["bandwidth_share"] = 1.5
    with pytest.raises(ValueError, match="bandwidth"):
        coinfer.Plan(share)
    with pytest.raises(ValueError, match="plan"):
        coinfer.Plan.from_json("{not json")
    wrong = json.loads(PLAN.read_text())
    wrong["devices"][0]["split"]["tensor"] = "stage1.block0.rlu"
    plan = coinfer.Plan(wrong)
    with pytest.raises(ValueError, match="cam-1.*stage1.block0.relu"):
        plan.predict(ROOT / "models")
    with pytest.raises(ValueError, match="cam-1.*fmnist-resnet.onnx.*No such file"):
        coinfer.Plan(data).predict(tmp_path)
    with pytest.raises(ValueError, match="rate_mbps"):
        coinfer.Plan(data).predict(ROOT / "models", rate_mbps="fast")
    with pytest.raises(ValueError, match="up_bps"):
        coinfer.Plan(data).predict(ROOT / "models", rate_mbps=float("nan"))
    with pytest.raises(ValueError, match="unknown hardware"):
        coinfer.Plan(data).predict(ROOT / "models", devices={"cam-1": "toaster"})


def test_hardware_profiles():
    names = [p["name"] for p in coinfer.hardware_profiles()]
    assert {"mcu", "rpi4", "phone", "edge-gpu"} <= set(names)
    assert coinfer.hardware("rpi4")["name"] == "rpi4"
    with pytest.raises(ValueError, match="known: mcu"):
        coinfer.hardware("toaster")


def test_channels_sample_their_distribution():
    radio = coinfer.default_radio()
    ch = coinfer.Channel("truncated-rayleigh", mean_gain=1e-12, h_min=1e-15)
    h = ch.sample(20000, seed=3)
    assert h.shape == (20000,) and (h >= 1e-15).all()
    se = h.std() / math.sqrt(len(h))
    assert abs(h.mean() - ch.mean_gain) < 4 * se
    np.testing.assert_array_equal(ch.sample(10, seed=3), h[:10])
    eta = float(np.median(h))
    assert ch.prob_at_least(eta) == pytest.approx(0.5, abs=0.02)
    rates = ch.rate_bps(np.sort(h))
    assert (np.diff(rates) >= 0).all()
    snr = radio["tx_power_w"] * h[0] / (radio["noise_w_per_hz"] * radio["bandwidth_hz"])
    assert ch.rate_bps(h[0])[0] == pytest.approx(radio["bandwidth_hz"] * math.log2(1 + snr))
    fs = coinfer.Channel("finite-state", states=[[1e-12, 0.25], [4e-12, 0.75]])
    assert fs.mean_gain == pytest.approx(3.25e-12)
    with pytest.raises(ValueError, match="unknown variant|kind"):
        coinfer.Channel("wormhole")
    with pytest.raises(ValueError, match="probabilit|sum"):
        coinfer.Channel("finite-state", states=[[1e-12, 0.2]])
    with pytest.raises(ValueError, match="radio"):
        coinfer.Channel("truncated-rayleigh", radio={**radio, "bandwidth_hz": -1}, mean_gain=1e-12,
                        h_min=1e-15)
    with pytest.raises(ValueError, match="n must be"):
        ch.sample(-1)


def test_the_bundled_model_copies_are_the_repository_files():
    # The package carries the default model and version table for coinfer/AutoML-v0 and
    # coinfer/MultiDevice-v0; they must not drift from the repository's.
    from coinfer.envs import _data_path

    assert Path(_data_path("fmnist-resnet.onnx")).read_bytes() == MODEL.read_bytes()
    shipped = json.loads(Path(_data_path("versions.json")).read_text())
    assert shipped == json.loads((ROOT / "models" / "versions" / "versions.json").read_text())
