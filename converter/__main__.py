"""Allow `python -m converter` as well as the `sigmapack` console script."""

from converter.cli import main

main(prog_name="sigmapack")
