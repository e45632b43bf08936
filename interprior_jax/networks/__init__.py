"""Flax networks shared by all stages (MLPs, Gaussian policy / value heads)."""
