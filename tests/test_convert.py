"""InterAct -> our humanoid: FK error on real clips, synthetic round trip, smpl layout."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from interprior_jax import geometry
from interprior_jax.assets import humanoid as humanoid_lib
from interprior_jax.assets.humanoid import is_finger
from interprior_jax.motion import convert
from interprior_jax.motion.io.interact_pt import InteractClip, load_interact_clip
from interprior_jax.motion.layout import BODY_NAMES_SMPLX, BODY_PARENT_INDEX_SMPLX

# Measured on all 27 OMOMO clips (docs/data.md): per-clip FK mean 3.17-3.69 cm, max <= 8.01 cm,
# entirely from the bone-offset mismatch (the file-skeleton control is < 1e-6 m).
FK_MEAN_BOUND_M = 0.037 + 0.005
FK_MAX_BOUND_M = 0.081 + 0.01
CONTROL_BOUND_M = 1e-5
REAL_CLIPS = ("sub2_largetable_000.pt", "sub2_woodchair_010.pt")  # the two shortest of each


@pytest.fixture(scope="module")
def real(omomo_root):
  return [load_interact_clip(omomo_root / "clips" / n) for n in REAL_CLIPS]


def test_real_clips_fk_error(real):
  for ic in real:
    conv = convert.convert_interact(ic, "smplx")
    r = conv.report
    assert r.fk.mean < FK_MEAN_BOUND_M and r.fk.max < FK_MAX_BOUND_M, (ic.source, r.fk)
    assert r.fk_file_skeleton.max < CONTROL_BOUND_M, (ic.source, r.fk_file_skeleton)
    assert r.clipped_entries == 0
    c = conv.clip
    assert c.source == ic.source and c.object_name == "omomo_" + ic.object_name
    np.testing.assert_array_equal(c.root_pos, ic.root_pos)
    np.testing.assert_array_equal(c.obj_pos, ic.obj_pos)
    # Our FK rotations equal the file's body rotations (fingers: file stores wrist rotations).
    body = [i for i, n in enumerate(BODY_NAMES_SMPLX) if not is_finger(n)]
    ang = np.asarray(geometry.quat_angle_diff(c.body_quat[:, body], ic.body_quat[:, body]))
    assert ang.max() < 1e-3
    # Contacts carried over by name.
    k = c.body_names.index("R_Wrist")
    np.testing.assert_array_equal(c.body_contact[:, k],
                                  ic.body_contact[:, BODY_NAMES_SMPLX.index("R_Wrist")])


def test_smpl_conversion_layout(real):
  c = convert.interact_to_clip(real[0], "smpl")
  assert len(c.body_names) == 22 and len(c.joint_names) == 63
  assert not any(is_finger(n) for n in c.body_names)
  np.testing.assert_array_equal(
      c.body_contact, real[0].body_contact[:, [BODY_NAMES_SMPLX.index(n) for n in c.body_names]])
  full = convert.interact_to_clip(real[0], "smplx")
  idx = [full.body_names.index(n) for n in c.body_names]
  np.testing.assert_allclose(c.body_pos, full.body_pos[:, idx], atol=1e-6)


def _synthetic_interact(angles: np.ndarray, root_pos: np.ndarray, root_quat: np.ndarray,
                        body_quat: np.ndarray, body_pos: np.ndarray) -> InteractClip:
  """An InteractClip whose exp-maps are those of the local rotations of ``body_quat``."""
  T = angles.shape[0]
  parent = np.array(BODY_PARENT_INDEX_SMPLX[1:])
  local = geometry.quat_mul(geometry.quat_conj(body_quat[:, parent]), body_quat[:, 1:])
  return InteractClip(
      root_pos=root_pos.astype(np.float32), root_quat=root_quat.astype(np.float32),
      joint_expmap=np.asarray(geometry.quat_to_expmap(local), np.float32),
      body_pos=body_pos.astype(np.float32), body_quat=body_quat.astype(np.float32),
      obj_pos=np.zeros((T, 3), np.float32), obj_quat=np.tile([1.0, 0, 0, 0], (T, 1)).astype(
          np.float32),
      obj_contact=np.zeros(T, np.int8), body_contact=np.zeros((T, 52), np.int8),
      object_name="box", subject="synthetic", clip_index=0, fps=30.0, source="synthetic")


def test_synthetic_round_trip():
  """Random hinge angles -> our FK -> quats -> exp-maps -> convert -> the same angles."""
  scene = convert.humanoid_scene("smplx")
  s = scene.spec
  rng = np.random.default_rng(0)
  T = 6
  lo, hi = s.joint_range[:, 0], s.joint_range[:, 1]
  # Inside the range and away from Euler gimbal lock (|y| < pi/2) so angles are unique.
  mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
  half = np.minimum(half, np.where(np.char.endswith(np.array(s.joint_names), "_y"), 1.3, 3.0))
  angles = mid + rng.uniform(-0.95, 0.95, (T, s.action_size)) * half
  root_pos = rng.normal(0, 1, (T, 3)) + [0, 0, 1]
  root_quat = np.asarray(geometry.quat_normalize(rng.normal(0, 1, (T, 4))))
  pos, quat = convert.forward_kinematics(scene.model, s, root_pos, root_quat, angles)
  ic = _synthetic_interact(angles, root_pos, root_quat, quat, pos)
  conv = convert.convert_interact(ic, "smplx", scene=scene)
  np.testing.assert_allclose(conv.clip.joint_pos, angles, atol=2e-3)
  assert conv.report.fk.max < 1e-4 and conv.report.clipped_entries == 0
  # Out-of-range angles are clipped and counted.
  k = s.joint_names.index("L_Index3_x")
  bad = angles.copy()
  bad[:, k] = s.joint_range[k, 1] + 0.2
  pos, quat = convert.forward_kinematics(scene.model, s, root_pos, root_quat, bad)
  ic = dataclasses.replace(_synthetic_interact(bad, root_pos, root_quat, quat, pos))
  rep = convert.convert_interact(ic, "smplx", scene=scene).report
  assert rep.clipped_entries == T and rep.clipped_joints == ("L_Index3_x",)
  assert abs(rep.clipped_max_rad - 0.2) < 2e-3


# ----------------------------------------------------------------------------------------------
# Subject skeleton fit (assets/skeletons/omomo_sub2.json)
# ----------------------------------------------------------------------------------------------

# The task's target for the fitted humanoid; measured on all 27 clips (docs/data.md): ~1e-7 m.
FITTED_FK_MEAN_BOUND_M = 0.02
# The fit is exact up to float32 storage and the table's 0.1 um rounding.
FITTED_FK_MAX_BOUND_M = 1e-4
FITTED_SKELETON = "omomo_sub2"


def test_fitted_skeleton_fk_error_on_real_clips(real):
  scene = convert.humanoid_scene("smplx", FITTED_SKELETON)
  slots = convert.file_finger_slots()
  assert len(slots) == 27 and not any(n.startswith("R_Thumb") for n in slots)
  for ic in real:
    r = convert.convert_interact(ic, "smplx", skeleton=FITTED_SKELETON).report
    assert r.fk.mean < FITTED_FK_MEAN_BOUND_M, (ic.source, r.fk)
    assert r.fk.max < FITTED_FK_MAX_BOUND_M, (ic.source, r.fk)
    # The fitted fingers too: our finger FK vs the (shifted) file slots that hold them.
    c = convert.interact_to_clip(ic, "smplx", scene=scene)
    ours = c.body_pos[:, [c.body_names.index(n) for n in slots]]
    theirs = ic.body_pos[:, [ic.body_names.index(s) for s in slots.values()]]
    assert np.abs(ours - theirs).max() < FITTED_FK_MAX_BOUND_M, ic.source


def test_fit_skeleton_matches_stored_table(real, tmp_path):
  fit = convert.skeleton_fit_report(real)
  stored, doc = humanoid_lib.load_skeleton_json(
      humanoid_lib.SKELETON_DIR / f"{FITTED_SKELETON}.json")
  stored = dict(stored)
  assert set(fit.offsets) == set(stored) == set(BODY_NAMES_SMPLX[1:])  # 51 bones
  for n, v in fit.offsets.items():  # 2 clips reproduce the 27-clip table (a rigid skeleton)
    np.testing.assert_allclose(v, stored[n], atol=1e-5, err_msg=n)
  assert max(fit.spread.values()) < 1e-5 and max(fit.temporal_std.values()) < 1e-3
  assert fit.mirrored == {f"R_Thumb{k}": f"L_Thumb{k}" for k in (1, 2, 3)}
  np.testing.assert_array_equal(fit.offsets["R_Thumb2"],
                                fit.offsets["L_Thumb2"] * [1.0, -1.0, 1.0])
  assert doc["subject"] == fit.subject == "sub2" and len(doc["clips"]) == 27
  # The fit moves bones by cm (the mismatch it removes), fingers by mm.
  table = {r[0]: np.asarray(r[2]) for r in humanoid_lib.SMPLX_SKELETON}
  moved = {n: np.linalg.norm(v - table[n]) for n, v in fit.offsets.items()}
  assert moved["Neck"] > 0.04 and max(moved[n] for n in convert.file_finger_slots()) < 0.01
  # Save / load round trip.
  path = convert.save_skeleton_fit(fit, tmp_path / "sk.json", command="test")
  again = dict(humanoid_lib.load_skeleton_json(path)[0])
  for n, v in fit.offsets.items():
    np.testing.assert_allclose(again[n], v, atol=1e-7)
  # One skeleton per subject.
  other = dataclasses.replace(real[1], subject="sub3")
  with pytest.raises(ValueError, match=r"per subject, got subjects \['sub2', 'sub3'\]"):
    convert.fit_skeleton([real[0], other])
