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


#: XLA flags that trade generated-code speed for compile speed (LLVM's backend optimisation off).
#: For runs that compile many programs and execute each briefly -- the test suite -- this cuts
#: the CPU time of a compile-bound test by ~40 %, while a long PPO run gets ~35 % slower
#: (docs/benchmarks.md, "Test-suite wall time").  It also changes float rounding, which can flip
#: a trained policy's episodes (the push expert: 4/4 -> 2/4), so the quickstart and the
#: training, evaluation and export scripts keep XLA's defaults.
FAST_COMPILE_XLA_FLAGS = ("--xla_backend_optimization_level=0",
                          "--xla_llvm_disable_expensive_passes=true")


def _flag_name(flag: str) -> str:
  return flag.split("=", 1)[0]


def with_fast_compiles(environ: dict | None = None) -> dict:
  """A copy of ``environ`` (default ``os.environ``) whose ``XLA_FLAGS`` gain
  :data:`FAST_COMPILE_XLA_FLAGS`; a flag the caller already set keeps the caller's value.

  Takes effect only in a process whose XLA backend is not yet initialised (set it in
  ``os.environ`` before the first JAX computation, or pass it to a subprocess)."""
  env = dict(os.environ if environ is None else environ)
  have = {_flag_name(f) for f in env.get("XLA_FLAGS", "").split()}
  extra = [f for f in FAST_COMPILE_XLA_FLAGS if _flag_name(f) not in have]
  env["XLA_FLAGS"] = " ".join(env.get("XLA_FLAGS", "").split() + extra)
  return env


def without_fast_compiles(environ: dict | None = None) -> dict:
  """A copy of ``environ`` whose ``XLA_FLAGS`` lack :data:`FAST_COMPILE_XLA_FLAGS` (XLA's default
  code generation again: for a subprocess that trains, e.g. the suite's PPO learning check)."""
  env = dict(os.environ if environ is None else environ)
  names = {_flag_name(f) for f in FAST_COMPILE_XLA_FLAGS}
  env["XLA_FLAGS"] = " ".join(f for f in env.get("XLA_FLAGS", "").split()
                              if _flag_name(f) not in names)
  return env
