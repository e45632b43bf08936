"""Physics-only throughput benchmark (zero action PD hold), one JSON line per run.

Variants: ``smpl`` (default), ``smplx``, ``g1``, ``smoke`` (CPU-sized).  The benchmark scene
matches ../shared/docs/benchmarks.md: humanoid + one free 0.4 x 0.3 x 0.4 m box + floor.
"""

import ml_collections

from interprior_jax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "smpl"
  humanoid = "smpl" if variant == "smoke" else variant
  if humanoid not in ("smpl", "smplx", "g1"):
    raise ValueError(f"configs/bench_physics.py: unknown variant {variant!r}")
  c = ml_collections.ConfigDict()
  c.scene = config_lib.scene_config(humanoid=humanoid, objects=("box",), object_xy=((0.8, 0.0),))
  c.num_envs = 8 if variant == "smoke" else 4096
  c.steps = 20 if variant == "smoke" else 200  # timed physics steps per repeat
  c.repeats = 1 if variant == "smoke" else 3
  c.impl = ""  # "" (MJX default), "jax" or "warp"
  return c
