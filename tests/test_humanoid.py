"""Humanoid builder: InterAct layout, PD gains from method.md, masses, collision filtering, G1."""

import mujoco
import numpy as np
import pytest

from interprior_jax.assets import humanoid as humanoid_lib
from interprior_jax.assets import scene as scene_lib
from interprior_jax.sim import mjx_sim

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


def test_arm_gain_scale_stiffens_the_arms_only():
  """config ``scene.arm_gain_scale`` multiplies the arm hinges' kp and kv on top of
  ``gain_scale``, in the compiled model; every other hinge keeps ``gain_scale``; the Menagerie G1
  refuses both (its gains are its own)."""
  from interprior_jax import config as config_lib
  c = config_lib.scene_config("smpl")
  c.gain_scale, c.arm_gain_scale = 2.0, 3.0
  s = scene_lib.build_scene(config_lib.scene_options(c))
  m, sp = s.model, s.spec
  arms = humanoid_lib.get_humanoid_def("smpl").arm_bodies
  assert "L_Elbow" in arms and "R_Wrist" in arms and "L_Knee" not in arms
  for k, j in enumerate(sp.joint_names):
    body = j[:-2]
    kp, kd = next(g for names, g in GAINS.items() if body in names)
    f = 6.0 if body in arms else 2.0
    a = m.actuator(j)
    assert (a.gainprm[0], -a.biasprm[1], -a.biasprm[2]) == (kp * f, kp * f, kd * f), j
  # old configs (no key) build unscaled arms
  del c["arm_gain_scale"]
  assert config_lib.scene_options(c).humanoid_build.arm_gain_scale == 1.0
  with pytest.raises(ValueError, match="g1"):
    scene_lib.build_scene(scene_lib.SceneOptions(
        humanoid="g1", humanoid_build=humanoid_lib.HumanoidBuildOptions(arm_gain_scale=3.0)))


@pytest.mark.parametrize("h", ["smplx", "smpl"])
def test_compiled_hinge_ranges_are_the_specs(h):
  """The compiled model's joint limits are the table's angles in radians (they once compiled to
  +-pi/180 rad: the MjSpec compiler read the radians as degrees), and a hinge can follow a PD target
  far from mid-range."""
  scene = _scene(h)
  m, sp = scene.model, scene.spec
  j = m.actuator_trnid[sp.actuator_ids, 0]
  np.testing.assert_allclose(m.jnt_range[j], sp.joint_range, atol=1e-6)
  np.testing.assert_allclose(m.actuator_ctrlrange[sp.actuator_ids], sp.joint_range, atol=1e-6)
  d = mujoco.MjData(m)
  d.qpos[:] = sp.init_qpos
  k = list(sp.joint_names).index("R_Shoulder_x")
  d.ctrl[sp.actuator_ids] = d.qpos[sp.qpos_adr]
  d.ctrl[sp.actuator_ids[k]] = 1.3
  for _ in range(240):
    mujoco.mj_step(m, d)
  assert abs(d.qpos[sp.qpos_adr[k]] - 1.3) < 0.1


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


def test_object_contact_exclude_drops_only_those_bodies_object_contacts():
  """``SceneOptions.object_contact_exclude``: the named bodies stop touching the object (and
  only the object: the floor still collides with them); every other body still touches it; an
  unknown body name is refused, naming the field."""
  def contacts(exclude):
    s = scene_lib.build_scene(scene_lib.SceneOptions(
        humanoid="smpl", objects=(scene_lib.ObjectPlacement("box"),),
        object_contact_exclude=exclude))
    m, sp = s.model, s.spec
    d = mujoco.MjData(m)
    d.qpos[:] = sp.init_qpos
    mujoco.mj_forward(m, d)
    # Put the box's centre on the left forearm's capsule, then the whole arm lies inside it.
    o = sp.objects[0]
    d.qpos[o.qpos_adr:o.qpos_adr + 3] = d.xpos[m.body("L_Elbow").id]
    mujoco.mj_forward(m, d)
    obj_geoms, pairs = set(o.geom_ids), set()
    for c in d.contact[:d.ncon]:
      for a, b in ((c.geom1, c.geom2), (c.geom2, c.geom1)):
        if b in obj_geoms and a not in obj_geoms:
          pairs.add(m.body(m.geom_bodyid[a]).name)
    return pairs, m

  touching, _ = contacts(())
  assert "L_Elbow" in touching and touching - {"L_Elbow"}  # the forearm and its neighbours
  excluded, m = contacts(("L_Elbow",))
  assert excluded == touching - {"L_Elbow"}
  assert m.nexclude == 1
  # The excluded body still collides with the floor (contype / conaffinity untouched).
  floor = m.geom("floor").id
  for g in np.flatnonzero(m.geom_bodyid == m.body("L_Elbow").id):
    assert m.geom_contype[g] & m.geom_conaffinity[floor]
  with pytest.raises(ValueError, match="object_contact_exclude: no body 'Forearm'"):
    contacts(("Forearm",))


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


def test_physics_options_reach_the_model_and_mjx_refuses_noslip():
  """Solver options land in ``model.opt``; MJX would silently ignore the no-slip solver (C
  physics only), so the MJX backend refuses a scene that asks for it."""
  from interprior_jax.envs import physics as physics_lib
  opts = scene_lib.PhysicsOptions(cone="elliptic", impratio=10.0, noslip_iterations=5)
  sc = scene_lib.build_scene(scene_lib.SceneOptions(humanoid="smpl", physics=opts))
  assert sc.model.opt.noslip_iterations == 5 and sc.model.opt.impratio == 10.0
  assert sc.model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
  with pytest.raises(ValueError, match="noslip_iterations=5"):
    physics_lib.make_physics("jax", sc, None, 1, 0.001)  # refused before the index is read


def test_unknown_names_fail_clearly():
  with pytest.raises(KeyError, match="unknown humanoid 'smplh'"):
    _scene("smplh")
  with pytest.raises(ValueError, match="physics.solver"):
    scene_lib.build_scene(scene_lib.SceneOptions(
        humanoid="smpl", objects=(), physics=scene_lib.PhysicsOptions(solver="magic")))


# ----------------------------------------------------------------------------------------------
# Body offset overrides (subject skeletons)
# ----------------------------------------------------------------------------------------------

# Arbitrary but plausible new offsets: a longer, re-aimed thigh bone, a shorter spine segment,
# and a finger (absent from 'smpl': it only moves the wrist box there).
HOLD_SECONDS = 2.0
TABLE = {r[0]: r for r in humanoid_lib.SMPLX_SKELETON}
OVERRIDES = {"L_Knee": (0.01, 0.06, -0.43), "Spine": (0.0, 0.01, 0.15),
             "L_Index1": (0.03, 0.12, -0.01)}


@pytest.fixture(scope="module")
def default_and_overridden():
  base = _scene("smpl")
  build = humanoid_lib.HumanoidBuildOptions(body_offsets=OVERRIDES)
  new = scene_lib.build_scene(scene_lib.SceneOptions(humanoid="smpl", objects=(),
                                                     humanoid_build=build))
  return base, new


def _capsule_ends(m, name, bone):
  """Body-frame end points of a compiled capsule, ordered along ``bone``."""
  g = m.geom(name)
  axis = np.zeros(3)
  mujoco.mju_rotVecQuat(axis, np.array([0.0, 0.0, 1.0]), g.quat)
  ends = sorted((g.pos - g.size[1] * axis, g.pos + g.size[1] * axis), key=lambda e: e @ bone)
  return tuple(ends)


def test_offset_override_changes_fk_exactly(default_and_overridden):
  base, new = default_and_overridden
  mb, mn, sp = base.model, new.model, new.spec
  table = {r[0]: np.asarray(r[2]) for r in humanoid_lib.get_humanoid_def("smpl").rows}
  for n in sp.body_names:
    want = OVERRIDES.get(n, table[n])
    np.testing.assert_array_equal(mn.body(n).pos, want, err_msg=n)
  # FK at a random pose: every bone R_parent^T (x_child - x_parent) is the new offset, and body
  # rotations are those of the default skeleton (offsets do not change rotations).
  rng = np.random.default_rng(0)
  qpos = sp.init_qpos.copy()
  qpos[sp.qpos_adr] = rng.uniform(-1.0, 1.0, sp.action_size)
  db, dn = mujoco.MjData(mb), mujoco.MjData(mn)
  db.qpos[:], dn.qpos[:] = qpos, qpos
  mujoco.mj_kinematics(mb, db)
  mujoco.mj_kinematics(mn, dn)
  np.testing.assert_allclose(dn.xquat, db.xquat, atol=1e-12)
  for name, parent, *_ in humanoid_lib.get_humanoid_def("smpl").rows[1:]:
    c, p = mn.body(name).id, mn.body(parent).id
    local = dn.xmat[p].reshape(3, 3).T @ (dn.xpos[c] - dn.xpos[p])
    np.testing.assert_allclose(local, OVERRIDES.get(name, table[name]), atol=1e-12,
                               err_msg=name)


def test_override_adapts_bone_geoms_and_masses(default_and_overridden):
  base, new = default_and_overridden
  mb, mn = base.model, new.model
  # The thigh capsule spans 0.2..0.8 of the new bone (table rule, residual < 0.1 mm).
  c_new = np.asarray(OVERRIDES["L_Knee"])
  a, b = _capsule_ends(mn, "L_Hip", c_new)
  np.testing.assert_allclose(a, 0.2 * c_new, atol=1e-4)
  np.testing.assert_allclose(b, 0.8 * c_new, atol=1e-4)
  assert mn.geom("L_Hip").size[0] == mb.geom("L_Hip").size[0]  # radius kept
  # Mass from the unchanged density: capsule volume pi r^2 L + 4/3 pi r^3.
  r, half = mn.geom("L_Hip").size[:2]
  density = TABLE["L_Hip"][3]["density"]
  vol = np.pi * r ** 2 * 2 * half + 4.0 / 3.0 * np.pi * r ** 3
  np.testing.assert_allclose(mn.body("L_Hip").mass, density * vol, rtol=1e-6)
  assert mn.body("L_Hip").mass > mb.body("L_Hip").mass  # longer bone, heavier
  # Torso capsule (parent of Spine) follows the shorter spine bone: 0.45..0.55.
  a, b = _capsule_ends(mn, "Torso", np.asarray(OVERRIDES["Spine"]))
  np.testing.assert_allclose(a, 0.45 * np.asarray(OVERRIDES["Spine"]), atol=1e-4)
  np.testing.assert_allclose(b, 0.55 * np.asarray(OVERRIDES["Spine"]), atol=1e-4)
  # smpl has no finger bodies, but its wrist box (centre at half the mean finger offset)
  # follows the finger override, as in smplx.
  num_fingers = sum(r[1] == "L_Wrist" for r in humanoid_lib.SMPLX_SKELETON)
  shift = 0.5 * (np.asarray(OVERRIDES["L_Index1"]) - TABLE["L_Index1"][2]) / num_fingers
  np.testing.assert_allclose(mn.geom("L_Wrist").pos - mb.geom("L_Wrist").pos, shift,
                             atol=1e-5)  # the table's fraction is 0.501 (rounding), not 0.5
  # Untouched bones keep their geoms exactly.
  for g in ("R_Hip", "R_Knee", "Chest", "Head", "L_Ankle", "R_Wrist"):
    np.testing.assert_array_equal(mn.geom(g).size, mb.geom(g).size, err_msg=g)
    np.testing.assert_array_equal(mn.geom(g).pos, mb.geom(g).pos, err_msg=g)


def test_offset_override_errors(menagerie_available):
  def build(h, offsets):
    scene_lib.build_scene(scene_lib.SceneOptions(
        humanoid=h, objects=(), humanoid_build=humanoid_lib.HumanoidBuildOptions(
            body_offsets=offsets)))
  with pytest.raises(ValueError, match=r"unknown bodies \['L_Knees', 'Tail'\]"):
    build("smpl", {"L_Knees": (0, 0, -0.4), "Tail": (0, 0, 0), "L_Knee": (0, 0, -0.4)})
  with pytest.raises(ValueError, match="'Pelvis'.*root"):
    build("smplx", {"Pelvis": (0, 0, 0.1)})
  with pytest.raises(ValueError, match=r"body_offsets\['L_Knee'\].*3 finite"):
    humanoid_lib.HumanoidBuildOptions(body_offsets={"L_Knee": (0, 0)})
  with pytest.raises(ValueError, match="given twice"):
    humanoid_lib.HumanoidBuildOptions(body_offsets=(("Head", (0, 0, 1)), ("Head", (0, 0, 1))))
  with pytest.raises(ValueError, match="not to the Menagerie 'g1'"):
    build("g1", {"Head": (0, 0, 0.1)})
  # Canonical (sorted tuple) form: equal options hash equal whatever the input order / type.
  a = humanoid_lib.HumanoidBuildOptions(body_offsets={"Spine": [0, 0, 0.1], "Head": (0, 0, 1)})
  b = humanoid_lib.HumanoidBuildOptions(body_offsets=(("Head", (0.0, 0.0, 1.0)),
                                                      ("Spine", (0.0, 0.0, 0.1))))
  assert a == b and hash(a) == hash(b)


def test_fitted_skeleton_from_config_stands(tmp_path):
  """config -> SceneOptions -> humanoid with the packaged 'omomo_sub2' skeleton; it holds its
  standing pose for 2 s (MuJoCo C, PD at zero action).  MJX: docs/data.md."""
  from interprior_jax import config as config_lib
  c = config_lib.scene_config(humanoid="smpl", objects=(), object_xy=(), object_yaw=(),
                              skeleton="omomo_sub2")
  opts = config_lib.scene_options(c)
  table = dict(humanoid_lib.skeleton_offsets("omomo_sub2"))
  assert len(table) == 51 and dict(opts.humanoid_build.body_offsets) == table
  s = scene_lib.build_scene(opts)
  m, sp = s.model, s.spec
  for n in sp.body_names[1:]:
    np.testing.assert_array_equal(m.body(n).pos, table[n])
  assert 70.0 < m.body_subtreemass[sp.root_body_id] < 80.0
  d = mjx_sim.initial_mj_data(m, sp)
  z = []
  for _ in range(int(round(HOLD_SECONDS / sp.timestep))):
    mujoco.mj_step(m, d)
    z.append(d.qpos[sp.root_qpos_adr + 2])
  assert np.all(np.isfinite(d.qpos)) and min(z) > 0.8
  # A path works like a name; an unknown name fails naming the config field.
  path = tmp_path / "sk.json"
  humanoid_lib.save_skeleton_json(path, {"L_Knee": (0.0, 0.05, -0.4)}, {"note": "test"})
  c.skeleton = str(path)
  assert config_lib.scene_options(c).humanoid_build.body_offsets == (
      ("L_Knee", (0.0, 0.05, -0.4)),)
  c.skeleton = "omomo_sub9"
  with pytest.raises(ValueError, match="config.scene.skeleton: unknown skeleton 'omomo_sub9'"):
    config_lib.scene_options(c)
  path.write_text('{"format": "interprior_jax.skeleton/1", "offsets": {"L_Knee": [0, 1]}}')
  with pytest.raises(ValueError, match=r"sk.json: field 'offsets'"):
    humanoid_lib.load_skeleton_json(path)


def test_object_friction_sets_the_object_floor_contact_only():
  """``config.scene.object_friction`` with ``floor_friction``: the resting box's floor contacts
  take the lowered coefficient while the feet's floor contacts keep the humanoid's (MuJoCo's max
  rule); () (and configs saved before the key) keep the library's; a wrong length is refused."""
  from interprior_jax import config as config_lib

  def frictions(obj_fr, floor_fr=None):
    c = config_lib.scene_config(humanoid="smpl", objects=("box",), object_xy=((1.0, 0.0),))
    if obj_fr is None:
      del c["object_friction"]
    else:
      c.object_friction = obj_fr
    if floor_fr is not None:
      c.floor_friction = floor_fr
    s = scene_lib.build_scene(config_lib.scene_options(c))
    m, sp = s.model, s.spec
    d = mujoco.MjData(m)
    d.qpos[:] = sp.init_qpos
    d.qpos[sp.root_qpos_adr + 2] -= 0.01  # the init pose floats 2 mm up: feet into the floor
    mujoco.mj_forward(m, d)
    obj, floor, out = set(sp.objects[0].geom_ids), sp.floor_geom_id, {}
    for con in d.contact[:d.ncon]:
      g = {con.geom1, con.geom2}
      if floor in g:
        out.setdefault("box" if g & obj else "humanoid", set()).add(round(float(con.friction[0]), 6))
    return out

  low = (0.5, 0.005, 0.0001)
  assert frictions(low, low) == {"box": {0.5}, "humanoid": {1.0}}
  assert frictions((), None) == frictions(None, None) == {"box": {1.0}, "humanoid": {1.0}}
  # Without the floor's lowered too, the floor's 1.0 wins against the box's 0.5.
  assert frictions(low, None)["box"] == {1.0}
  with pytest.raises(ValueError, match="config.scene.object_friction"):
    frictions((0.5, 0.005))
