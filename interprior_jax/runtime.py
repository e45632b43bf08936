"""Process-level JAX settings shared by scripts and tests (compilation cache, x64 off)."""

from __future__ import annotations

import os

from interprior_jax import paths


def enable_compilation_cache(path: str | None = None) -> str:
  """Turns on JAX's persistent compilation cache (``$INTERPRIOR_JAX_CACHE`` or the user cache).

  Repeated test and smoke runs then skip most XLA compilation, which dominates CPU run time.
  """
  import jax

  path = path or os.environ.get("INTERPRIOR_JAX_CACHE") or str(paths.cache_dir("jax_cache"))
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
