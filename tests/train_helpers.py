"""Test helpers shared by the trainer tests: the repository's configs by name, a silent logger."""

import importlib.util
import io
import pathlib

from interprior_jax.training import logging as log_lib

REPO = pathlib.Path(__file__).resolve().parents[1]


def load_config(name: str, arg: str):
  """``configs/<name>.py``'s ``get_config(arg)``."""
  spec = importlib.util.spec_from_file_location(f"_cfg_{name}", REPO / "configs" / f"{name}.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg)


def quiet_logger() -> log_lib.MetricsLogger:
  """A logger writing neither TensorBoard files nor the console."""
  return log_lib.MetricsLogger(None, stream=io.StringIO())


def run_with_xla_defaults(module: str, function: str, *args: str, timeout: int = 1800) -> dict:
  """``tests/<module>.py``'s ``function(*args)`` (a JSON-able dict) run in a subprocess with
  XLA's default code generation (``runtime.without_fast_compiles``) and the compilation cache.

  For the training checks whose figures were measured with XLA's defaults, or whose training
  the suite's fast-compile flags (conftest.py) make slower: those flags trade run time for
  compile time and change float rounding.  Fails naming the subprocess's output tails.
  """
  import json
  import subprocess
  import sys

  from interprior_jax import runtime

  tag = f"RESULT_OF_{function} "
  code = ("import json, sys; sys.path.insert(0, sys.argv[1]); "
          "from interprior_jax import runtime; runtime.enable_compilation_cache(); "
          f"import {module} as m; print({tag!r} + json.dumps(m.{function}(*sys.argv[2:])))")
  out = subprocess.run([sys.executable, "-c", code, str(REPO / "tests"), *map(str, args)],
                       cwd=REPO, env=runtime.without_fast_compiles(), capture_output=True,
                       text=True, timeout=timeout)
  lines = [ln for ln in out.stdout.splitlines() if ln.startswith(tag)]
  assert out.returncode == 0 and lines, out.stdout[-3000:] + out.stderr[-3000:]
  return json.loads(lines[-1][len(tag):])
