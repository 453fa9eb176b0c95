#!/usr/bin/env bash
# Install everything the tests need into .venv, then run the format, lint, type and test
# checks that CI enforces. Run from the repository root: bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade "pip==24.3.1"
python -m pip install --quiet -c requirements.lock -e '.[test]'
npm ci --prefix tools/kql-check --no-audit --no-fund --loglevel=error

ruff format --check .
ruff check .
mypy
sigmapack check
sigmapack convert --check
sigmapack test
python -m pytest
