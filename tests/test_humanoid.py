"""Humanoid builder: InterAct layout, PD gains from method.md, masses, collision filtering, G1."""

import mujoco
import numpy as np
import pytest

from interprior_jax.assets import humanoid as humanoid_lib
from interprior_jax.assets import scene as scene_lib

# The InterAct body order, typed from ../shared/interact_omomo/README.md (an independent oracle).
_FINGERS = [f"{f}{i}" for f in ("Index", "Middle", "Pinky", "Ring", "Thumb") for i in (1, 2, 3)]
INTERACT_ORDER = (
    ["Pelvis", "L_Hip", "L_Knee", "L_Ankle", "L_Toe", "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
     "Torso", "Spine", "Chest", "Neck", "Head", "L_Thorax", "L_Shoulder", "L_Elbow", "L_Wrist"]
    + [f"L_{f}" for f in _FINGERS]
    + ["R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist"] + [f"R_{f}" for f in _FINGERS])

# PD gains by body group, typed from ../shared/docs/method.md.
GAINS = {("L_Hip", "L_Knee", "L_Ankle", "R_Hip", "R_Knee", "R_Ankle"): (800, 80),
         ("L_Toe", "R_Toe"): (500, 50), ("Torso", "Spine", "Chest"): (1000, 100),
         ("Neck", "Head", "L_Thorax", "R_Thorax", "L_Shoulder", "R_Shoulder", "L_Elbow",
          "R_Elbow"): (500, 50), ("L_Wrist", "R_Wrist"): (300, 30)}


def _scene(h, objects=()):
  return scene_lib.build_scene(scene_lib.SceneOptions(humanoid=h, objects=objects))


@pytest.mark.parametrize("h,nbody,nu", [("smplx", 52, 153), ("smpl", 22, 63)])
def test_body_and_joint_layout_matches_interact(h, nbody, nu):
  s = _scene(h)
  m, sp = s.model, s.spec
  expected = [n for n in INTERACT_ORDER if h == "smplx" or not humanoid_lib.is_finger(n)]
  assert list(sp.body_names) == expected and sp.num_bodies == nbody
  # MuJoCo ids follow the same order (bodies 1..B), so clip arrays index the model directly.
  assert [m.body(i).name for i in sp.body_ids] == expected
  assert list(sp.body_ids) == list(range(1, nbody + 1))
  assert sp.action_size == nu == m.nu and m.nv == nu + 6
  want_joints = [f"{b}_{a}" for b in expected[1:] for a in "xyz"]
  assert list(sp.joint_names) == want_joints
  # Each hinge's axis is its name's axis; qpos addresses are consecutive after the free joint.
  for k, j in enumerate(sp.joint_names):
    assert np.allclose(m.joint(j).axis, np.eye(3)["xyz".index(j[-1])])
  assert list(sp.qpos_adr) == list(range(7, 7 + nu))


@pytest.mark.parametrize("h", ["smplx", "smpl"])
def test_pd_gains_follow_method(h):
  sp = _scene(h).spec
  for k, j in enumerate(sp.joint_names):
    body = j[:-2]
    want = next((g for names, g in GAINS.items() if body in names), (100, 10))  # fingers
    assert humanoid_lib.is_finger(body) or want != (100, 10), body
    assert (sp.kp[k], sp.kd[k]) == want, j


def test_action_mapping_mid_and_half_range():
  sp = _scene("smpl").spec
  lo, hi = sp.joint_range[:, 0], sp.joint_range[:, 1]
  np.testing.assert_allclose(sp.pd_target(np.zeros(sp.action_size)), (lo + hi) / 2, atol=1e-6)
  np.testing.assert_allclose(sp.pd_target(np.ones(sp.action_size)), hi, atol=1e-6)
  np.testing.assert_allclose(sp.pd_target(-2 * np.ones(sp.action_size)), lo, atol=1e-6)
  assert np.allclose(hi, np.pi) and np.allclose(lo, -np.pi)  # body joints: +-180 degrees


@pytest.mark.parametrize("h", ["smplx", "smpl"])
def test_mass_and_standing_pose(h):
  s = _scene(h)
  m, sp = s.model, s.spec
  assert 70.0 < m.body_subtreemass[sp.root_body_id] < 78.0  # README: about 74 kg
  d = mujoco.MjData(m)
  d.qpos[:] = sp.init_qpos
  mujoco.mj_forward(m, d)
  low = humanoid_lib.lowest_point_z(m, d, sp.humanoid_geom_ids)
  assert 0.0 < low < 0.01  # feet just above the floor
  assert 0.85 < sp.standing_root_height < 1.0


@pytest.mark.parametrize("h", ["smplx", "smpl", "g1"])
def test_collision_filter_no_self_collision(h, menagerie_available):
  s = _scene(h, (scene_lib.ObjectPlacement("box"),))
  m, sp = s.model, s.spec

  def collide(a, b):
    return bool((m.geom_contype[a] & m.geom_conaffinity[b]) or
                (m.geom_contype[b] & m.geom_conaffinity[a]))

  hg, og, floor = sp.humanoid_geom_ids, sp.objects[0].geom_ids, sp.floor_geom_id
  assert len(hg) > 0 and len(og) > 0
  assert not any(collide(a, b) for a in hg for b in hg)
  assert all(collide(a, floor) and collide(a, o) for a in hg for o in og)
  assert all(collide(o, floor) for o in og)
  # every humanoid geom with a collision bit is counted as a humanoid geom
  for g in range(m.ngeom):
    if m.geom_bodyid[g] in set(sp.body_ids) and (m.geom_contype[g] or m.geom_conaffinity[g]):
      assert g in set(hg)


def test_named_groups_resolve(menagerie_available):
  for h in ("smplx", "smpl", "g1"):
    sp = _scene(h).spec
    for field in ("key_body_idx", "contact_body_idx", "hand_idx", "hand_body_idx", "foot_idx"):
      idx = getattr(sp, field)
      assert len(idx) > 0 and idx.max() < sp.num_bodies, (h, field)
    assert sp.body_names[sp.hand_idx[0]].lower().startswith("l")
    assert sp.body_names[sp.hand_idx[1]].lower().startswith("r")
  assert len(_scene("smplx").spec.hand_body_idx) == 32  # wrists + 30 finger bodies


def test_g1_loads_offline_with_its_own_gains(menagerie_available):
  s = _scene("g1")
  m, sp = s.model, s.spec
  assert sp.action_size == 29 and sp.body_names[0] == "pelvis"
  assert set(np.unique(sp.kp)) - {100.0, 200.0, 300.0, 500.0, 800.0, 1000.0}  # not SMPL gains
  # zero action = the Menagerie standing keyframe (clipped into the joint ranges)
  assert np.all(sp.action_offset >= sp.joint_range[:, 0])
  assert np.all(sp.action_offset <= sp.joint_range[:, 1])
  hands = [m.body(sp.body_ids[i]).name for i in sp.hand_idx]
  for b in hands:  # hand collision geoms are active for hand-object contact
    bid = m.body(b).id
    assert any(m.geom_contype[g] for g in range(m.ngeom) if m.geom_bodyid[g] == bid)


def test_unknown_names_fail_clearly():
  with pytest.raises(KeyError, match="unknown humanoid 'smplh'"):
    _scene("smplh")
  with pytest.raises(ValueError, match="physics.solver"):
    scene_lib.build_scene(scene_lib.SceneOptions(
        humanoid="smpl", objects=(), physics=scene_lib.PhysicsOptions(solver="magic")))
