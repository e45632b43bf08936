"""Test helpers for the env tests (re-exported from :mod:`interprior_jax.envs.standing`)."""

from interprior_jax.envs.standing import standing_clip  # noqa: F401
