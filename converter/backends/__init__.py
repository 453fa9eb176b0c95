"""Backend subclasses that fix or extend pySigma's backends for sigmapack's targets."""
