"""Synthetic HOI generator: determinism, validity, every family, quality thresholds."""

import dataclasses

import ml_collections
import numpy as np
import pytest

from interprior_jax.assets import objects as objects_lib
from interprior_jax.motion import clip as clip_lib
from interprior_jax.motion import synth
from interprior_jax.motion.synth import npquat

# One IK compilation for the whole module: every call below uses this config.
CFG = dataclasses.replace(synth.SynthConfig(), ik_batch=3)
FAMILIES = ("carry", "push", "drag")
# Thresholds (measured means are ~10x below; see docs/data_synth.md).
MAX_SKATE_MEAN = 0.03  # m/s
MAX_HAND_PENETRATION = 0.04  # m
MIN_CONTACT_CONSISTENCY = 0.9
MAX_HAND_RESIDUAL = 0.12  # m
# Palm speed over the held object (quality_report's hand_slip_p95) in a carry: 0.016 m/s on the
# seed-7 carry with IKConfig.upper_damping 1.0, 0.18 m/s with the old 1e-3 (and 0.8 / 1.8 m/s
# on the seed-0 carries); the bound was set after those measurements (2026-12-05).
MAX_CARRY_HAND_SLIP = 0.1  # m/s


@pytest.fixture(scope="module")
def clips():
  return synth.generate_dataset(3, humanoid="smpl", seed=7, families=FAMILIES, config=CFG)


def test_every_family_valid(clips):
  assert [c.name.split("_")[1] for c in clips] == list(FAMILIES)
  for c in clips:
    clip_lib.validate_clip(c)
    assert c.humanoid == "smpl" and c.fps == CFG.fps
    assert c.object_name in objects_lib.list_objects()
    lo, hi = CFG.rand.scale
    assert lo <= c.object_scale <= hi and f"scale={c.object_scale:.4f}" in c.source
    assert CFG.rand.min_duration <= c.duration <= CFG.rand.max_duration
    assert np.any(c.obj_contact == 1) and np.any(c.obj_contact == 0)


def test_determinism(clips):
  again = synth.generate_dataset(1, humanoid="smpl", seed=7, families=FAMILIES, config=CFG)[0]
  for k, v in clips[0].arrays().items():
    np.testing.assert_array_equal(v, getattr(again, k), err_msg=k)
  other = synth.generate_dataset(1, humanoid="smpl", seed=8, families=FAMILIES, config=CFG)[0]
  assert other.num_frames != clips[0].num_frames or not np.allclose(other.root_pos,
                                                                     clips[0].root_pos)


def test_quality(clips):
  for c in clips:
    q = synth.quality_report(c, CFG)
    assert q["foot_skate_mean"] < MAX_SKATE_MEAN, (c.name, q)
    assert q["hand_penetration_max"] < MAX_HAND_PENETRATION, (c.name, q)
    assert q["contact_consistency"] >= MIN_CONTACT_CONSISTENCY, (c.name, q)
    assert q["far_consistency"] == 1.0, (c.name, q)
    assert q["hand_residual_max"] < MAX_HAND_RESIDUAL, (c.name, q)
    assert q["object_min_z"] > -CFG.label.floor_tol, (c.name, q)
    assert q["object_unheld_speed_max"] < 1e-6, (c.name, q)


def test_object_moves_only_when_held(clips):
  for c in clips:
    moving = np.linalg.norm(np.diff(c.obj_pos, axis=0), axis=-1) > 1e-9
    held = (c.obj_contact[1:] == 1) | (c.obj_contact[:-1] == 1)
    assert not np.any(moving & ~held), c.name
    assert np.any(moving), c.name  # every family moves the object


def test_body_pos_is_fk_of_joints(clips):
  from interprior_jax.motion.synth import generator
  kit = generator._kit("smpl", CFG)  # pylint: disable=protected-access
  c = clips[1]
  pos, _ = kit.solver.forward_kinematics(c.root_pos[:5], c.root_quat[:5], c.joint_pos[:5])
  np.testing.assert_allclose(pos, c.body_pos[:5], atol=1e-5)


def test_npquat_matches_geometry():
  from interprior_jax import geometry as geo
  from interprior_jax.motion.synth import npquat
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 5, 4))
  np.testing.assert_allclose(npquat.quat_mul(a, b), np.asarray(geo.quat_mul(a, b)), rtol=1e-5,
                             atol=1e-5)
  np.testing.assert_allclose(npquat.quat_to_mat(a), np.asarray(geo.quat_to_mat(a)), rtol=1e-5,
                             atol=1e-5)


def test_unknown_family():
  with pytest.raises(KeyError, match="unknown family"):
    synth.generate_dataset(1, families=("dance",), config=CFG)


def _com_ahead_of_feet(clip) -> float:
  """Largest forward distance (m, pelvis heading) of the whole-body centre of mass beyond the
  toe joints, over the frames where the clip's pelvis is lowest (the carry grasp)."""
  import mujoco
  from interprior_jax.assets import scene as scene_lib
  scene = scene_lib.build_scene(scene_lib.SceneOptions(humanoid="smpl", objects=()))
  model, spec = scene.model, scene.spec
  d = mujoco.MjData(model)
  root = spec.root_body_id
  toes = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in ("L_Toe", "R_Toe")]
  deep = np.argsort(clip.root_pos[:, 2])[:10]
  worst = -np.inf
  for t in deep:
    d.qpos[:3], d.qpos[3:7] = clip.root_pos[t], clip.root_quat[t]
    d.qpos[7:7 + clip.joint_pos.shape[1]] = clip.joint_pos[t]
    mujoco.mj_kinematics(model, d)
    mujoco.mj_comPos(model, d)
    fwd = d.xmat[root].reshape(3, 3)[:2, 0]
    fwd = fwd / np.linalg.norm(fwd)
    com = d.subtree_com[root][:2]
    worst = max(worst, max(float(np.dot(com - d.xpos[i][:2], fwd)) for i in toes))
  return worst


def test_sit_back_keeps_the_carry_grasp_balanced():
  """The deepest carry grasp of the default generator puts the centre of mass ahead of the toes
  (unbalanced, docs/results.md); sit_back_gain brings it back over the feet."""
  gen = dataclasses.replace(synth.SynthConfig(), objects=(("carry", ("box",)),))
  ahead = {}
  for gain in (0.0, 1.1):
    cfg = dataclasses.replace(gen, rand=dataclasses.replace(gen.rand, sit_back_gain=gain))
    clip = synth.generate_dataset(1, humanoid="smpl", seed=0, families=("carry",), config=cfg)[0]
    ahead[gain] = _com_ahead_of_feet(clip)
  assert ahead[0.0] > 0.10, ahead  # the legacy crouch: >= 10 cm beyond the toe joints
  assert ahead[1.1] < 0.06, ahead  # within the toe geoms' reach (balanced)


def test_walk_family_turns_and_never_touches_the_object():
  """The locomotion family (steering data): the heading turns, the path has the drawn length,
  the object rests untouched outside the path's circle, and the clip passes the quality bars."""
  clips = synth.generate_dataset(3, humanoid="smpl", seed=7, families=("walk",), config=CFG)
  r = CFG.rand
  turned = []
  for c in clips:
    assert c.name.startswith("synth_walk_") and CFG.rand.min_duration <= c.duration
    assert not np.any(c.body_contact == 1) and not np.any(c.obj_contact == 1)
    np.testing.assert_array_equal(c.obj_pos, np.broadcast_to(c.obj_pos[0], c.obj_pos.shape))
    # Path length = the drawn walk segments (the description lists them).
    walks = [float(w.split("=")[1][:-1]) for w in c.source.split(":")[-1].split()
             if w.startswith("walk=")]
    travelled = np.linalg.norm(np.diff(c.root_pos[:, :2], axis=0), axis=-1).sum()
    np.testing.assert_allclose(travelled, sum(walks), rtol=0.05, atol=0.05)
    gap = np.linalg.norm(c.root_pos[:, :2] - c.obj_pos[0, :2], axis=-1).min()
    assert gap > r.walk_obj_clearance, (c.name, gap)
    x = npquat.quat_to_mat(c.root_quat)[:, :2, 0]  # heading: the pelvis' x axis
    yaw = np.unwrap(np.arctan2(x[:, 1], x[:, 0]))
    turned.append(np.degrees(yaw.max() - yaw.min()))
    q = synth.quality_report(c, CFG)
    assert q["foot_skate_mean"] < MAX_SKATE_MEAN, (c.name, q)
    assert q["body_penetration_max"] == 0.0 and q["far_consistency"] == 1.0, (c.name, q)
  assert max(turned) > 45.0, turned


def test_config_data_overrides_reach_the_generator_and_unknown_fields_are_named():
  """``config.data.synth_rand / synth_hand / synth_ik`` replace fields of the generator's
  sub-configs (the clip changes); a misspelt field is refused naming the key and the field."""
  import ml_collections

  from interprior_jax.motion import sources

  def cfg(**data):
    return ml_collections.ConfigDict({
        "seed": 3, "env": {"scene": {"humanoid": "smpl"}},
        "data": {"source": "synthetic", "num_clips": 1, "families": ("walk",), "object": "box",
                 "max_clips": 0, "max_frames": 0, **data}})

  base = sources.load_clips(cfg())[0]
  longer = sources.load_clips(cfg(synth_rand={"stand_time": (1.5, 1.5)}))[0]
  assert longer.num_frames > base.num_frames
  # as a bundle's config.json gives it back (lists): the same clip, not an unhashable config
  listed = sources.load_clips(cfg(synth_rand={"stand_time": [1.5, 1.5]}))[0]
  assert listed.num_frames == longer.num_frames
  np.testing.assert_array_equal(np.asarray(listed.body_pos), np.asarray(longer.body_pos))
  for key, field in (("synth_rand", "no_such"), ("synth_hand", "palm_marginn"),
                     ("synth_ik", "iters")):
    with pytest.raises(ValueError, match=f"config.data.{key}.*{field}"):
      sources.load_clips(cfg(**{key: {field: 1}}))


def test_a_student_distils_on_its_experts_clips_whatever_its_seed():
  """The synthetic clips come from ``data.seed`` (else the config's seed, as every config saved
  before it did). A student inheriting an expert's data gets the expert's generator seed pinned,
  so ``--config.seed=1`` changes its training, not its clips (it regenerated seed-1 clips the
  expert never saw before 2026-12-07: docs/results.md, "Stage 2 from the tight push expert")."""
  from configs import distill as distill_configs
  from interprior_jax.motion import sources
  from interprior_jax.training.distill import train as distill_lib

  data = {"source": "synthetic", "num_clips": 1, "families": ["walk"], "object": "box",
          "max_clips": 0, "max_frames": 0}
  expert = {"seed": 0, "env_kind": "hoi", "data": data,
            "env": distill_configs.get_config("embedded").env.to_dict()}
  expert["env"]["scene"]["humanoid"] = "smpl"
  student = distill_configs.get_config("embedded")
  student.seed = 1
  resolved = distill_lib.resolve_config(student, expert)
  assert resolved.seed == 1 and sources.data_seed(resolved) == 0
  name = sources.load_clips(resolved)[0].name
  assert name == sources.load_clips(ml_collections.ConfigDict(expert))[0].name
  assert "seed0" in name
  # without the pin (the old behaviour) the training seed would have made other clips
  unpinned = ml_collections.ConfigDict(resolved.to_dict())
  del unpinned.data["seed"]
  assert "seed1" in sources.load_clips(unpinned)[0].name
  # an explicit data.seed is the clips' seed and is kept by the pin
  assert sources.pinned_data({"seed": 5, "data": {**data, "seed": 2}})["seed"] == 2
  assert sources.pinned_data({"seed": 5, "data": data})["seed"] == 5


MAX_BODY_PENETRATION = 0.01  # m: what a physically holdable grasp needs (docs/results.md)


def test_carried_object_stays_put_in_the_hands(clips):
  """A carry's palms stay where they hold the box from frame to frame: the IK's jitter (damping
  1e-3) slid them over it and opened the grip at the lift, which PD hands cannot follow."""
  carry = [c for c in clips if c.name.startswith("synth_carry")]
  assert carry
  for c in carry:
    q = synth.quality_report(c, CFG)
    assert q["hand_slip_p95"] < MAX_CARRY_HAND_SLIP, (c.name, q["hand_slip_p95"])


def test_clearance_passes_move_the_arms_out_of_the_held_object(clips):
  """IKConfig.clear_rounds (off by default): on the seed-7 carry clip the deepest body point
  inside the box at least halves (measured 2026-12-02: 0.037 -> 0.017 m; the bound was set
  after that measurement) and the hands keep their contacts; on a push clip the passes leave
  the contacts and add no penetration (before 2026-12-05 its arms stayed clear of the object
  and the clip was left exactly as it was; with the trunk's IK damping its palms sit 1 mm from
  their targets and the passes now touch it)."""
  cfg = dataclasses.replace(CFG, ik=dataclasses.replace(CFG.ik, clear_rounds=3))
  carry, push = synth.generate_dataset(2, humanoid="smpl", seed=7, families=FAMILIES, config=cfg)
  assert carry.name == clips[0].name and push.name == clips[1].name
  before, after = synth.quality_report(clips[0], CFG), synth.quality_report(carry, cfg)
  assert after["body_penetration_max"] < 0.5 * before["body_penetration_max"], (before, after)
  assert after["contact_consistency"] >= MIN_CONTACT_CONSISTENCY, after
  p0, p1 = synth.quality_report(clips[1], CFG), synth.quality_report(push, cfg)
  assert p1["contact_consistency"] >= MIN_CONTACT_CONSISTENCY, p1
  assert p1["body_penetration_max"] <= p0["body_penetration_max"] + 1e-3, (p0, p1)


@pytest.mark.xfail(strict=True, reason="known defect: side-grasp forearms lie 3-9 cm inside the "
                   "held object (docs/results.md, 'the carry: the box is never held'); strict, so "
                   "the fix shows up as a failure to remove this mark")
def test_side_grasp_keeps_the_whole_body_outside_the_object(clips):
  carry = [c for c in clips if c.name.startswith("synth_carry")]
  assert carry
  for c in carry:
    q = synth.quality_report(c, CFG)
    assert q["body_penetration_max"] < MAX_BODY_PENETRATION, (c.name, q["body_penetration_max"])


def test_an_expert_run_can_vary_its_training_seed_and_keep_its_clips():
  """``configs/expert.py`` has ``data.seed`` (None: the clips come from ``config.seed``, as
  before), so ``--config.seed=1 --config.data.seed=0`` trains another seed on the same clips,
  and the pin a student takes from such an expert is the data seed, not the training seed."""
  import json

  from configs import expert as expert_configs
  from interprior_jax.motion import sources

  config = expert_configs.get_config("embedded_push")
  config.seed = 1
  assert config.data.seed is None and sources.data_seed(config) == 1
  config.data.seed = 0
  assert sources.data_seed(config) == 0
  assert sources.pinned_data(config.to_dict())["seed"] == 0
  # a bundle's config.json holds the placeholder as null
  assert sources.data_seed(json.loads(json.dumps({"seed": 3, "data": {"seed": None}}))) == 3
