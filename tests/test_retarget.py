"""G1 retargeting of a synthetic smpl clip: valid G1 clip, keypoint error within measured bounds."""

import dataclasses

import numpy as np
import pytest

from interprior_jax.motion import clip as clip_lib
from interprior_jax.motion import retarget
from interprior_jax.motion import synth

# Measured on synthetic smpl clips (docs/data_synth.md) plus margin.
MAX_MEAN_ERROR = 0.10  # m
MAX_FRAMES = 90


@pytest.fixture(scope="module")
def retargeted(menagerie_available):
  cfg = dataclasses.replace(synth.SynthConfig(), ik_batch=1)
  src = synth.generate_dataset(1, humanoid="smpl", seed=3, families=("push",), config=cfg)[0]
  src = src.replace(**{k: v[:MAX_FRAMES] for k, v in src.arrays().items()})
  return src, *retarget.retarget_to_g1(src)


def test_g1_clip_valid(retargeted):
  src, g1, rep = retargeted
  clip_lib.validate_clip(g1)
  assert g1.humanoid == "g1" and g1.num_frames == src.num_frames
  assert "pelvis" in g1.body_names and len(g1.joint_names) == g1.joint_pos.shape[1]
  assert 0.6 < rep.scale < 1.0
  assert g1.object_scale == pytest.approx(src.object_scale * rep.scale)


def test_keypoint_error(retargeted):
  _, g1, rep = retargeted
  assert rep.mean_error < MAX_MEAN_ERROR, rep
  assert np.isfinite(rep.max_error)
  # Feet stay on/near the floor.
  feet = [g1.body_names.index(n) for n in ("left_ankle_roll_link", "right_ankle_roll_link")]
  assert g1.body_pos[:, feet, 2].min() > -0.05


def test_rejects_g1_source(retargeted):
  _, g1, _ = retargeted
  with pytest.raises(clip_lib.ClipError, match="humanoid"):
    retarget.retarget_to_g1(g1)
