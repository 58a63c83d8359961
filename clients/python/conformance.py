"""Drives a coinfer edge from Python grpcio with hand-built frames, following docs/protocol.md
alone (no coinfer code): health, edge-only and split inference on every self-describing
codec, a head downloaded with FetchModel and run in onnxruntime, every documented error
status, and the Prometheus/OpenMetrics endpoint parsed with prometheus_client.

    .venv/bin/python clients/python/conformance.py --edge 127.0.0.1:50051 \
        --metrics http://127.0.0.1:9464/metrics [--token T] [--tls-ca ca.pem]

Prints one line per check and a JSON summary; exits non-zero on the first failure.
"""

import argparse
import gzip
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import urllib.request

import grpc
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coinfer_frames as cf  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
checks = []


def check(name, ok, detail=""):
    checks.append({"check": name, "ok": bool(ok), "detail": str(detail)})
    print(("ok   " if ok else "FAIL ") + name + (f": {detail}" if detail else ""), flush=True)
    if not ok:
        print(json.dumps({"passed": False, "checks": checks}))
        sys.exit(1)


def stubs(tmp):
    """Compiles crates/runtime/proto/coinfer.proto with grpc_tools.protoc."""
    proto_dir = os.path.join(ROOT, "crates", "runtime", "proto")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_dir}", f"--python_out={tmp}",
         f"--grpc_python_out={tmp}", os.path.join(proto_dir, "coinfer.proto")],
        check=True,
    )
    sys.path.insert(0, tmp)
    import coinfer_pb2
    import coinfer_pb2_grpc
    return coinfer_pb2, coinfer_pb2_grpc


def images(n):
    """The first n Fashion-MNIST test images, preprocessed as the protocol says: uint8
    pixels / 255 as float32, NCHW [n, 1, 28, 28]."""
    with gzip.open(IMAGES) as f:
        raw = f.read()
    pixels = np.frombuffer(raw, dtype=np.uint8, offset=16)[: n * 784]
    return (pixels.astype(np.float32) / 255.0).reshape(n, 1, 28, 28)


def run_onnx(path_or_bytes, x):
    s = ort.InferenceSession(path_or_bytes, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    # One sample at a time: models with a fixed batch of 1 run too.
    return np.concatenate([s.run(None, {name: x[i : i + 1]})[0] for i in range(len(x))])


def code_of(call):
    try:
        call()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edge", required=True, help="host:port of the edge's gRPC port")
    ap.add_argument("--metrics", required=True, help="URL of the edge's /metrics")
    ap.add_argument("--token", help="bearer token, if the edge requires one")
    ap.add_argument("--tls-ca", help="CA certificate (PEM) of a TLS edge")
    ap.add_argument("--device", default="py-1", help="device_id to send as")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp()
    pb, pb_grpc = stubs(tmp)
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(args.edge, creds)
    else:
        channel = grpc.insecure_channel(args.edge)
    edge = pb_grpc.EdgeStub(channel)
    auth = [("authorization", f"Bearer {args.token}")] if args.token else []
    counts = {"ok": 0, "invalid": 0, "not_found": 0, "unauthenticated": 0}

    def infer(frame, model="fmnist-resnet", version="", cut=-1, md=None, timeout=30):
        req = pb.InferRequest(device_id=args.device, model=model, version=version, cut=cut,
                              frame=frame, request_id=42)
        return edge.Infer(req, metadata=auth if md is None else md, timeout=timeout)

    h = edge.Health(pb.HealthRequest(), timeout=10)
    check("health", h.status == "SERVING" and h.protocol == "coinfer.v1", f"{h.status} {h.protocol}")

    x = images(16)
    ref = run_onnx(os.path.join(ROOT, "models", "fmnist-resnet.onnx"), x)

    # Edge-only: the model input, 4 samples per frame (the batch dimension comes first).
    outs = []
    for b in range(0, 16, 4):
        r = infer(cf.raw_f32(x[b : b + 4]))
        counts["ok"] += 1
        check(f"edge-only batch {b // 4}: shape", list(r.output_shape) == [4, 10], list(r.output_shape))
        outs.append(np.array(r.output, dtype=np.float32).reshape(4, 10))
        check(f"edge-only batch {b // 4}: top1 = argmax", list(r.top1) == list(outs[-1].argmax(1)))
        check(f"edge-only batch {b // 4}: request_id echoed", r.request_id == 42)
    out = np.concatenate(outs)
    err = float(np.abs(out - ref).max())
    check("edge-only answers = onnxruntime on the whole model", err < 1e-3, f"max |diff| {err:.2e}")

    # A published version's head, downloaded with FetchModel and run here.
    vs = edge.Versions(pb.VersionsRequest(model="versions"), metadata=auth, timeout=120)
    v = vs.versions[-1]
    k = v.layers // 2
    head = v.heads[k - 1]
    check("versions: heads for K = 1..N", [hd.layers for hd in v.heads] == list(range(1, v.layers + 1)),
          f"{v.version}, N = {v.layers}")
    data, offset = bytearray(), 0
    while offset < head.bytes:  # resumable: ask again from what we have
        req = pb.FetchRequest(model="versions", version=v.version, layers=k, offset=offset,
                              chunk_bytes=65536)
        for chunk in edge.FetchModel(req, metadata=auth, timeout=60):
            if chunk.offset != offset:
                break
            data += chunk.data
            offset += len(chunk.data)
    check("fetch: bytes and SHA-256 as advertised",
          len(data) == head.bytes and hashlib.sha256(data).hexdigest() == head.sha256,
          f"K = {k}, {len(data)} B")
    feature = run_onnx(bytes(data), x)
    check("head output shape as advertised", list(feature.shape[1:]) == list(head.output_shape),
          list(feature.shape))
    vref = run_onnx(os.path.join(ROOT, "models", "versions", f"{v.version}.onnx"), x).argmax(1)
    for name, build, floor in [
        ("raw f32", cf.raw_f32, 1.0),
        ("raw f16", cf.raw_f16, 15 / 16),
        ("uniform 8-bit", lambda f: cf.uniform(f, 8), 15 / 16),
        ("uniform 4-bit per channel", lambda f: cf.uniform(f, 4, per_channel=True), 12 / 16),
    ]:
        top1 = []
        for b in range(0, 16, 8):
            r = infer(build(feature[b : b + 8]), model="versions", version=v.version, cut=k - 1)
            counts["ok"] += 1
            top1 += list(r.top1)
        agree = float(np.mean(np.array(top1) == vref))
        check(f"split at K = {k}, {name}: top-1 agreement with the whole version", agree >= floor,
              f"{agree:.3f} (floor {floor:.3f}), frame {len(build(feature[:8]))} B")

    # Every documented refusal.
    good = cf.raw_f32(x[:1])
    bad_magic = b"CFR1" + good[4:]
    flipped = bytearray(good)
    flipped[40] ^= 0xFF
    cases = [
        ("bad magic", lambda: infer(bad_magic), grpc.StatusCode.INVALID_ARGUMENT, "magic", "invalid"),
        ("flipped byte (CRC)", lambda: infer(bytes(flipped)), grpc.StatusCode.INVALID_ARGUMENT, "checksum", "invalid"),
        ("wrong shape", lambda: infer(cf.raw_f32(x[:1, :, :14])), grpc.StatusCode.INVALID_ARGUMENT, "wrong shape", "invalid"),
        ("unknown model", lambda: infer(good, model="nope"), grpc.StatusCode.NOT_FOUND, "", "not_found"),
        ("unknown cut", lambda: infer(good, cut=999), grpc.StatusCode.NOT_FOUND, "", "not_found"),
    ]
    if args.token:
        cases.append(("no token", lambda: infer(good, md=[]), grpc.StatusCode.UNAUTHENTICATED, "", "unauthenticated"))
    for name, call, want, text, outcome in cases:
        code, detail = code_of(call)
        check(f"refused: {name} -> {want.name}", code == want and text in detail, f"{code.name}: {detail}")
        counts[outcome] += 1
    if args.token:
        code, _ = code_of(lambda: infer(good, md=[("authorization", f"bearer {args.token}")]))
        check("the Bearer scheme is case-insensitive", code == grpc.StatusCode.OK)
        counts["ok"] += 1

    # Metrics: OpenMetrics text, parsed by the reference parser, counting what we did.
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    ctx = ssl.create_default_context(cafile=args.tls_ca) if args.tls_ca else None
    with urllib.request.urlopen(args.metrics, context=ctx, timeout=10) as resp:
        ctype = resp.headers.get("Content-Type", "")
        body = resp.read().decode()
    check("metrics content type is OpenMetrics", ctype.startswith("application/openmetrics-text"), ctype)
    families = {f.name: f for f in text_string_to_metric_families(body)}
    fam = families.get("coinfer_edge_requests")
    check("coinfer_edge_requests is a counter", fam is not None and fam.type == "counter",
          fam.type if fam else "missing")
    got = {s.labels.get("outcome"): s.value for s in fam.samples if s.name.endswith("_total")}
    for outcome, n in counts.items():
        if n:
            check(f"requests_total{{outcome={outcome}}} = {n}", got.get(outcome) == n, got.get(outcome))
    print(json.dumps({"passed": True, "checks": checks, "counts": counts}))


if __name__ == "__main__":
    main()
