"""absl entry-point helpers: ``--config=configs/x.py:variant --workdir=DIR --config.a.b=v``."""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import time

from absl import flags
from ml_collections import config_flags

from interprior_jax import config as config_lib
from interprior_jax import runtime


def define_flags(default_config: str, workdir_required: bool = True) -> None:
  """Defines ``--config`` (ml_collections file with dotted overrides) and ``--workdir``."""
  config_flags.DEFINE_config_file(
      "config", default_config, "Config file `configs/x.py:variant`; override fields with "
      "--config.a.b=value.", lock_config=True)
  flags.DEFINE_string("workdir", None, "Output directory (created).", required=workdir_required)


def start(config) -> pathlib.Path | None:
  """Creates the workdir, saves the resolved config, enables the JAX compilation cache."""
  if flags.FLAGS.workdir is None:
    runtime.enable_compilation_cache()
    return None
  workdir = pathlib.Path(flags.FLAGS.workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  config_lib.save_config(config, workdir)
  runtime.enable_compilation_cache()
  return workdir


def provenance() -> dict:
  """Commit, host, device and date for reports and benchmark records."""
  import jax

  try:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=os.path.dirname(__file__), check=False).stdout.strip()
  except OSError:
    commit = ""
  dev = jax.devices()[0]
  return {
      "commit": commit or "unknown",
      "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
      "host": platform.node(),
      "backend": jax.default_backend(),
      "device": getattr(dev, "device_kind", str(dev)),
      "num_devices": jax.device_count(),
      "jax": jax.__version__,
  }


def write_json(path: str | pathlib.Path, obj: dict) -> None:
  pathlib.Path(path).write_text(json.dumps(obj, indent=2, sort_keys=True, default=float))
