"""Quickstart: the main job on the embedded default (no external data needed).

Variants: ``default`` (smpl + box, a few hundred env copies) and ``smoke`` (CI-sized, 2 CPU cores).
Usage: ``python experiments/quickstart.py --config=configs/quickstart.py:smoke --workdir DIR``.
"""

import ml_collections

from interprior_jax import config as config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "default"
  c = ml_collections.ConfigDict()
  c.variant = variant
  c.seed = 0
  c.scene = config_lib.scene_config(humanoid="smpl", objects=("box",), object_xy=((0.8, 0.0),))
  c.data = ml_collections.ConfigDict({
      "source": "synthetic",  # the embedded generator; "native:<dir>" loads a converted dataset
      "num_clips": 8,
      "families": ("carry", "push"),
  })
  c.sim = ml_collections.ConfigDict({
      "num_envs": 64,
      "seconds": 2.0,  # simulated seconds per env
      "action_noise": 0.05,  # std of random actions around zero (PD offset)
  })
  c.video = ml_collections.ConfigDict({"enabled": True, "width": 320, "height": 240})
  if variant == "smoke":
    c.data.num_clips = 4
    c.sim.num_envs = 4
  elif variant != "default":
    raise ValueError(f"configs/quickstart.py: unknown variant {variant!r} (smoke, default)")
  return c
