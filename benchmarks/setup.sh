#!/usr/bin/env bash
# Install what benchmarks/run.py needs: psutil in the project's .venv (made by the README's
# install command) and sigma-cli 3.1.0 in its own venv, so it can't change the pySigma
# version sigmapack was tested with. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

.venv/bin/python -m pip install --quiet "psutil==7.2.2"
python3 -m venv benchmarks/.venv-sigma-cli
benchmarks/.venv-sigma-cli/bin/python -m pip install --quiet -r benchmarks/sigma-cli.lock
