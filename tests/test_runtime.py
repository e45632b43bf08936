"""Process-level JAX settings (interprior_jax/runtime.py): the fast-compile XLA flags the suite
runs under, and their removal for a subprocess that trains."""

import os

from interprior_jax import runtime


def test_fast_compile_flags_merge_and_are_removed():
  env = runtime.with_fast_compiles({"XLA_FLAGS": "--xla_force_host_platform_device_count=4 "
                                                 "--xla_backend_optimization_level=2"})
  flags = env["XLA_FLAGS"].split()
  # the caller's own setting wins; the other flag is added; unrelated flags are kept
  assert "--xla_backend_optimization_level=2" in flags
  assert "--xla_backend_optimization_level=0" not in flags
  assert "--xla_llvm_disable_expensive_passes=true" in flags
  assert "--xla_force_host_platform_device_count=4" in flags
  assert runtime.with_fast_compiles({})["XLA_FLAGS"].split() == list(
      runtime.FAST_COMPILE_XLA_FLAGS)
  back = runtime.without_fast_compiles(runtime.with_fast_compiles(
      {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "OTHER": "x"}))
  assert back == {"XLA_FLAGS": "--xla_force_host_platform_device_count=4", "OTHER": "x"}


def test_the_suite_runs_with_fast_compiles():
  """conftest.py sets them before any JAX computation (unless the caller chose otherwise)."""
  have = {f.split("=", 1)[0] for f in os.environ.get("XLA_FLAGS", "").split()}
  assert {f.split("=", 1)[0] for f in runtime.FAST_COMPILE_XLA_FLAGS} <= have
