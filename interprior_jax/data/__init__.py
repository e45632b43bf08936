"""Data command line (``python -m interprior_jax.data``); see :mod:`interprior_jax.data.cli`."""

from interprior_jax.data.cli import main

__all__ = ["main"]
