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
# Wheels of sigmapack, its dependencies and its build backend, so the pre-commit hook test
# can install the hooks with pip offline (PIP_NO_INDEX) instead of reaching PyPI.
python -m pip wheel --quiet -c requirements.lock -w .wheelhouse . "hatchling==1.27.0"

ruff format --check .
ruff check .
mypy
sigmapack check
sigmapack convert --check
sigmapack test
python -m pytest
