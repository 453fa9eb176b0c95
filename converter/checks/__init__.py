"""`sigmapack check` and `sigmapack new`: rule findings, their report formats and templates."""
