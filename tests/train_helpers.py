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
