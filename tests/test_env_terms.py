"""Pure-function tests of the env pieces (no MJX step compile): frames, goals, rewards,
terminations, PSI buffer, perturbations, config validation."""

import os
import sys

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from env_helpers import standing_clip  # noqa: E402
from interprior_jax import config as config_lib  # noqa: E402
from interprior_jax.assets import scene as scene_lib  # noqa: E402
from interprior_jax.envs import goals, init_states, perturbations, rewards, terminations  # noqa
from interprior_jax.envs import load_env_config, make_env  # noqa: E402
from interprior_jax.envs import sim_frame as sf  # noqa: E402
from interprior_jax.envs.hoi_env import _hand_groups  # noqa: E402
from interprior_jax.motion import features as mfeatures  # noqa: E402
from interprior_jax.motion.library import MotionLibrary  # noqa: E402


@pytest.fixture(scope="module")
def setup():
  clip = standing_clip("smpl", hand_label=1)
  # A moving variant: translate everything along x at 0.5 m/s and spin the object.
  T = clip.num_frames
  shift = np.zeros((T, 3))
  shift[:, 0] = 0.5 * np.arange(T) / clip.fps
  yaw = 0.4 * np.arange(T) / clip.fps
  oq = np.stack([np.cos(yaw / 2), 0 * yaw, 0 * yaw, np.sin(yaw / 2)], -1)
  moving = clip.replace(name="moving", root_pos=clip.root_pos + shift,
                        body_pos=clip.body_pos + shift[:, None], obj_pos=clip.obj_pos + shift,
                        obj_quat=oq)
  opts = config_lib.scene_options(config_lib.scene_config(
      humanoid="smpl", objects=("box",), object_xy=((1.0, 0.0),), object_yaw=(0.0,)))
  scene = scene_lib.build_scene(opts)
  lib = MotionLibrary.from_clips([clip, moving], spec=scene.spec)
  return scene, lib, sf.sim_index(scene.model, scene.spec)


BODY_WEIGHT = 700.0  # N, unit of the contact-force energy term in these tests


def _mujoco_frame(scene, idx, qpos, qvel):
  m = scene.model
  d = mujoco.MjData(m)
  d.qpos[:] = np.asarray(qpos)
  d.qvel[:] = np.asarray(qvel)
  mujoco.mj_forward(m, d)
  return sf.sim_frame_from_mujoco(d, idx, 1e-3)


def test_reference_state_fk_matches_reference(setup):
  """RSI: qpos/qvel built from a reference frame reproduce its body poses and velocities."""
  scene, lib, idx = setup
  ref = lib.frame(jnp.int32(1), jnp.float32(1.0))
  qpos, qvel = init_states.reference_state(ref, scene.spec.init_qpos, idx, scene.spec.nv)
  sim = _mujoco_frame(scene, idx, qpos, qvel)
  np.testing.assert_allclose(sim.body_pos, ref.body_pos, atol=2e-4)
  np.testing.assert_allclose(np.abs(np.sum(np.asarray(sim.body_quat) * np.asarray(ref.body_quat),
                                           -1)), 1.0, atol=1e-4)
  np.testing.assert_allclose(sim.obj_pos, ref.obj_pos, atol=1e-5)
  np.testing.assert_allclose(sim.obj_lin_vel, ref.obj_lin_vel, atol=1e-4)
  np.testing.assert_allclose(sim.obj_ang_vel, ref.obj_ang_vel, atol=1e-4)
  np.testing.assert_allclose(sim.body_lin_vel, ref.body_lin_vel, atol=1e-3)  # rigid translation


def _errors(scene, lib, idx, sim, ref, pts_scale=1.0):
  points = lib.obj_points[0] * pts_scale
  sp = mfeatures.object_points_world(sim.obj_pos, sim.obj_quat, points)
  rp = mfeatures.object_points_world(ref.obj_pos, ref.obj_quat, points)
  s = scene.spec
  return rewards.step_errors(
      sim, ref, sim_points=sp, ref_points=rp, sim_anchors=sp[::64], ref_anchors=rp[::64],
      joint_vel_prev=ref.joint_vel, obj_lin_vel_prev=ref.obj_lin_vel, dt=1 / 30,
      key_body_idx=jnp.asarray(s.key_body_idx), contact_body_idx=jnp.asarray(s.contact_body_idx),
      hand_groups=jnp.asarray(_hand_groups(scene.model, s)),
      palm_axis=jnp.asarray([[0, 0, -1.0]] * 2), near_decay=5.0, ig_eps=0.05,
      body_weight=BODY_WEIGHT)


def _sim_from_ref(ref, contact):
  return sf.SimFrame(**{k: getattr(ref, k) for k in (
      "root_pos", "root_quat", "joint_pos", "joint_vel", "body_pos", "body_quat", "body_lin_vel",
      "body_ang_vel", "obj_pos", "obj_quat", "obj_lin_vel", "obj_ang_vel")},
      body_obj_contact=contact, body_floor_contact=jnp.zeros_like(contact),
      obj_contact_force=jnp.zeros(()), body_obj_dist=0.02 * (1.0 - contact))


def test_tracking_terms_are_one_at_the_reference(setup):
  scene, lib, idx = setup
  cfg = load_env_config("smoke").reward
  ref = lib.frame(jnp.int32(1), jnp.float32(0.7))
  contact = (ref.body_contact > 0).astype(jnp.float32)
  e = _errors(scene, lib, idx, _sim_from_ref(ref, contact), ref)
  r, terms = rewards.compute_reward(e, jnp.bool_(False), cfg)
  for name in rewards.TRACK_TERMS + rewards.ENERGY_TERMS + ("track", "energy"):
    assert float(terms[f"r_{name}"]) == pytest.approx(1.0, abs=1e-5), name
  assert float(e.e_h) < 1e-4 and float(e.e_o) < 1e-6
  # Perturb the body positions: the position term and E_h react, the object terms do not.
  shifted = _sim_from_ref(ref, contact).replace(body_pos=ref.body_pos + jnp.array([0.1, 0, 0]))
  e2 = _errors(scene, lib, idx, shifted, ref)
  _, t2 = rewards.compute_reward(e2, jnp.bool_(True), cfg)
  assert float(e2.e_h) == pytest.approx(0.1, abs=1e-4)
  assert float(t2["r_body_pos"]) == pytest.approx(np.exp(-cfg.track.body_pos * 0.01), rel=1e-3)
  assert float(t2["r_obj_pos"]) == pytest.approx(1.0)
  assert float(t2["r_term"]) == cfg.term_penalty


def test_key_pos_sees_the_pelvis_that_body_pos_barely_weighs(setup):
  """A pelvis 0.3 m off its reference while the hands hold the box: ``body_pos`` (weights on
  the bodies nearest the object) barely moves; ``key_pos`` (the E_h bodies, unweighted) charges
  0.09 m^2 / K for it (K key bodies); weight 0 (the default) keeps the factor at 1."""
  scene, lib, idx = setup
  cfg = load_env_config("smoke").reward
  assert cfg.track.key_pos == 0.0
  ref = lib.frame(jnp.int32(0), jnp.float32(0.7))
  contact = (ref.body_contact > 0).astype(jnp.float32)
  pelvis = 0  # the root body of every layout
  sim = _sim_from_ref(ref, contact)
  off = sim.replace(body_pos=sim.body_pos.at[pelvis].add(jnp.array([0.3, 0.0, 0.0])))
  e = _errors(scene, lib, idx, off, ref)
  d_obj = np.linalg.norm(np.asarray(ref.body_obj_vec), axis=-1)
  near = np.exp(-cfg.near_decay * d_obj)
  assert float(e.body_pos) == pytest.approx(near[pelvis] / near.sum() * 0.09, rel=1e-4)
  n_key = round(0.3 / float(e.e_h))  # E_h = 0.3 m / K with one key body off by 0.3 m
  assert float(e.key_pos) == pytest.approx(0.09 / n_key, rel=1e-4)
  assert near[pelvis] / near.sum() < 0.05  # the pelvis's share of body_pos here
  assert float(e.key_pos) > 2 * float(e.body_pos), (float(e.key_pos), float(e.body_pos))
  _, t0 = rewards.compute_reward(e, jnp.bool_(False), cfg)
  assert float(t0["r_key_pos"]) == 1.0
  cfg.track.key_pos = 20.0
  _, t1 = rewards.compute_reward(e, jnp.bool_(False), cfg)
  assert float(t1["r_key_pos"]) == pytest.approx(np.exp(-20.0 * 0.09 / n_key), rel=1e-4)


def test_hand_reward(setup):
  scene, lib, idx = setup
  cfg = load_env_config("smoke").reward.hand
  ref = lib.frame(jnp.int32(0), jnp.float32(0.0))  # hands labelled "touching"; object 0.6 m away
  # Distance and facing are measured against the reference's own hands: the simulated state
  # equal to the reference loses only the contact factor (no simulated contact here) ...
  same = _errors(scene, lib, idx, _sim_from_ref(ref, jnp.zeros(ref.body_contact.shape)), ref)
  assert float(rewards.hand_reward(same, cfg.dist_scale, cfg.margin, cfg.facing_weight,
                                   cfg.contact_weight)) == pytest.approx(
                                       (1.0 - cfg.contact_weight) ** 2, rel=1e-5)
  # ... and hands 0.5 m farther from the object than the reference's score ~0.
  away = _sim_from_ref(ref, jnp.zeros(ref.body_contact.shape))
  away = away.replace(body_pos=away.body_pos - jnp.array([0.5, 0.0, 0.0]))
  far = _errors(scene, lib, idx, away, ref)
  assert np.all(np.asarray(far.hand_required) == 1)
  assert np.all(np.asarray(far.hand_dist) > 0.2)
  r_far = float(rewards.hand_reward(far, cfg.dist_scale, cfg.margin, cfg.facing_weight,
                                    cfg.contact_weight))
  assert r_far < 0.05
  free = far.replace(hand_required=jnp.zeros(2))
  assert float(rewards.hand_reward(free, cfg.dist_scale, cfg.margin, cfg.facing_weight,
                                   cfg.contact_weight)) == pytest.approx(1.0)
  grasp = far.replace(hand_dist=jnp.zeros(2), hand_facing=jnp.ones(2), hand_contact=jnp.ones(2))
  assert float(rewards.hand_reward(grasp, cfg.dist_scale, cfg.margin, cfg.facing_weight,
                                   cfg.contact_weight)) == pytest.approx(1.0)


def test_hand_grip_pays_only_a_palm_on_the_surface(setup):
  """With ``grip_dist`` > 0 the contact factor is the hand's gap to the object, not the 2 cm
  flag: a hand 1 cm off (flagged as touching) earns half of it, one on the surface all of it."""
  scene, lib, idx = setup
  cfg = load_env_config("smoke").reward.hand
  ref = lib.frame(jnp.int32(0), jnp.float32(0.0))
  hands = np.asarray(_hand_groups(scene.model, scene.spec))[:, 0]
  sim = _sim_from_ref(ref, jnp.zeros(ref.body_contact.shape))
  e = _errors(scene, lib, idx, sim.replace(body_obj_dist=sim.body_obj_dist.at[hands].set(
      jnp.array([0.01, -0.002]))), ref)
  np.testing.assert_allclose(e.hand_gap, [0.01, -0.002], atol=1e-7)
  flagged = e.replace(hand_contact=jnp.ones(2), hand_dist=jnp.zeros(2), hand_facing=jnp.ones(2))
  r = lambda err, grip: float(rewards.hand_reward(  # noqa: E731
      err, cfg.dist_scale, cfg.margin, cfg.facing_weight, cfg.contact_weight, grip))
  assert r(flagged, 0.0) == pytest.approx(1.0)  # the flag: both hands count as touching
  np.testing.assert_allclose(rewards.hand_grip(flagged, 0.02), [0.5, 1.0], rtol=1e-5)
  assert r(flagged, 0.02) == pytest.approx(1.0 - 0.5 * cfg.contact_weight, rel=1e-5)
  hovering = flagged.replace(hand_gap=jnp.full(2, 0.02))
  assert r(hovering, 0.02) == pytest.approx((1.0 - cfg.contact_weight) ** 2, rel=1e-5)


def test_each_termination_triggers(setup):
  scene, lib, idx = setup
  cfg = load_env_config("smoke").termination
  ref = lib.frame(jnp.int32(0), jnp.float32(0.0))
  e = _errors(scene, lib, idx, _sim_from_ref(ref, jnp.zeros(ref.body_contact.shape)), ref)
  ok = terminations.TermInputs(root_height=jnp.float32(0.9), errors=e,
                               ref_obj_contact=jnp.float32(1.0),
                               hand_loss_steps=jnp.zeros(2, jnp.int32))
  term, flags = terminations.terminations(ok, cfg)
  assert not bool(term) and all(float(v) == 0 for v in flags.values())
  cases = {
      "fall": ok.replace(root_height=jnp.float32(0.1)),
      "body_dev": ok.replace(errors=e.replace(e_h=jnp.float32(0.8))),
      "obj_dev": ok.replace(errors=e.replace(e_o=jnp.float32(0.8))),
      "ig_ratio": ok.replace(errors=e.replace(ig_ratio=jnp.float32(5.0))),
      "hand_contact_loss": ok.replace(hand_loss_steps=jnp.array([11, 0], jnp.int32)),
  }
  assert set(cases) == set(terminations.CONDITIONS)
  for name, t in cases.items():
    term, flags = terminations.terminations(t, cfg)
    assert bool(term), name
    assert [k for k, v in flags.items() if float(v)] == [f"term_{name}"]
  # The interaction-graph test only applies while the reference is in contact.
  no_contact = cases["ig_ratio"].replace(ref_obj_contact=jnp.float32(0.0))
  assert not bool(terminations.terminations(no_contact, cfg)[0])
  # Hand-loss counter: counts while required & missing, resets otherwise.
  c = jnp.zeros(2, jnp.int32)
  for _ in range(3):
    c = terminations.update_hand_loss(c, e)
  assert c.tolist() == [3, 3]
  c = terminations.update_hand_loss(c, e.replace(hand_contact=jnp.array([1.0, 0.0])))
  assert c.tolist() == [0, 4]
  with pytest.raises(ValueError, match="unknown conditions"):
    terminations.check_names(("fall", "nope"))


def test_goal_residual_and_masks(setup):
  scene, lib, idx = setup
  ref = lib.frame(jnp.int32(1), jnp.float32(0.5))
  B, C = scene.spec.num_bodies, len(scene.spec.contact_body_idx)
  cidx = jnp.asarray(scene.spec.contact_body_idx)
  x = goals.hoi_features(ref, ref.root_pos, ref.root_quat, ref.body_obj_vec,
                         ref.body_contact[cidx])
  res = goals.goal_residual(x, x)
  flat = goals.flatten(res, goals.RESIDUAL_LAYOUT)
  assert flat.shape == (goals.layout_size(goals.RESIDUAL_LAYOUT, B, C),)
  np.testing.assert_allclose(flat, 0.0, atol=1e-5)
  # Heading frame: rotating the whole world about z leaves the features unchanged.
  q = jnp.array([np.cos(0.6), 0, 0, np.sin(0.6)], jnp.float32)
  rot = lambda v: mfeatures.geometry.quat_rotate(q, v)  # noqa: E731
  turned = ref.replace(body_pos=rot(ref.body_pos), obj_pos=rot(ref.obj_pos),
                       body_quat=mfeatures.geometry.quat_mul(q, ref.body_quat),
                       obj_quat=mfeatures.geometry.quat_mul(q, ref.obj_quat),
                       body_lin_vel=rot(ref.body_lin_vel), body_ang_vel=rot(ref.body_ang_vel),
                       obj_lin_vel=rot(ref.obj_lin_vel), obj_ang_vel=rot(ref.obj_ang_vel))
  x2 = goals.hoi_features(turned, turned.body_pos[0], turned.body_quat[0],
                          rot(ref.body_obj_vec), ref.body_contact[cidx])
  np.testing.assert_allclose(goals.flatten(x2, goals.FEATURE_LAYOUT),
                             goals.flatten(x, goals.FEATURE_LAYOUT), atol=2e-5)
  # Masks: the object family keeps only the object pose residual.
  y = x.replace(obj_pos=x.obj_pos + 1.0, body_pos=x.body_pos + 1.0)
  m = goals.MASK_FAMILIES["object"](B, C, np.asarray(scene.spec.key_body_idx))
  r = goals.goal_residual(x, y, m)
  np.testing.assert_allclose(r.obj_pos, 1.0, atol=1e-6)
  np.testing.assert_allclose(r.body_pos, 0.0)
  # The root family keeps the pelvis pose and height, nothing else.
  y = x.replace(root_height=x.root_height + 1.0, body_pos=x.body_pos + 1.0,
                obj_pos=x.obj_pos + 1.0)
  r = goals.goal_residual(x, y, goals.MASK_FAMILIES["root"](B, C, np.asarray([1])))
  np.testing.assert_allclose(r.body_pos[goals.ROOT_BODY], 1.0, atol=1e-6)
  np.testing.assert_allclose(np.delete(np.asarray(r.body_pos), goals.ROOT_BODY, 0), 0.0)
  np.testing.assert_allclose(r.root_height, 1.0, atol=1e-6)
  np.testing.assert_allclose(r.obj_pos, 0.0)


def test_psi_buffer():
  buf = init_states.psi_empty(3, 4, 3)
  q, v, c, t, avail = init_states.psi_sample(buf, jax.random.PRNGKey(0))
  assert not bool(avail)
  for i, score in enumerate([0.6, 0.9, 0.7, 0.8]):
    buf = init_states.psi_insert(buf, jax.random.PRNGKey(i), jnp.full(4, float(i)), jnp.zeros(3),
                                 jnp.int32(i), jnp.float32(i), jnp.float32(score),
                                 jnp.bool_(True), 1.0)
  np.testing.assert_allclose(np.sort(np.asarray(buf.score)), [0.7, 0.8, 0.9], rtol=1e-6)  # 0.6 out
  keys = jax.random.split(jax.random.PRNGKey(1), 64)
  clips = jax.vmap(lambda k: init_states.psi_sample(buf, k)[2])(keys)
  assert set(np.asarray(clips).tolist()) <= {1, 2, 3}
  refused = init_states.psi_insert(buf, jax.random.PRNGKey(9), jnp.zeros(4), jnp.zeros(3),
                                   jnp.int32(7), jnp.float32(0), jnp.float32(0.99),
                                   jnp.bool_(False), 1.0)
  assert 7 not in np.asarray(refused.clip).tolist()


def test_heading_noise_turns_the_humanoid_about_its_pelvis(setup):
  """init.root_yaw_noise: the humanoid (root orientation, world linear velocity, hence every body)
  turned about the vertical through its pelvis; the object, the root position and the hinges exactly
  as the same key draws them with no heading noise (its own stream)."""
  scene, lib, idx = setup
  ref = lib.frame(jnp.int32(1), jnp.float32(1.0))  # the moving clip: nonzero root velocity
  qpos, qvel = init_states.reference_state(ref, scene.spec.init_qpos, idx, scene.spec.nv)
  cfg = load_env_config("smoke").init.copy_and_resolve_references()
  cfg.root_yaw_noise = 0.8
  yaws = []
  for i in range(6):
    k = jax.random.PRNGKey(10 + i)
    q0, v0 = init_states.perturb_state(k, qpos, qvel, idx, _no_yaw(cfg))
    q1, v1 = init_states.perturb_state(k, qpos, qvel, idx, cfg)
    s0, s1 = (_mujoco_frame(scene, idx, q, v) for q, v in ((q0, v0), (q1, v1)))
    yaw = float(np.arctan2(*(_heading(s1.root_quat)[::-1]))
                - np.arctan2(*(_heading(s0.root_quat)[::-1])))
    yaw = (yaw + np.pi) % (2 * np.pi) - np.pi
    yaws.append(yaw)
    c, s_ = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1]])
    pelvis = np.asarray(s0.root_pos)
    np.testing.assert_allclose(np.asarray(s1.body_pos),
                               (np.asarray(s0.body_pos) - pelvis) @ rot.T + pelvis, atol=1e-4)
    np.testing.assert_allclose(np.asarray(s1.body_lin_vel), np.asarray(s0.body_lin_vel) @ rot.T,
                               atol=1e-3)
    np.testing.assert_allclose(s1.obj_pos, s0.obj_pos, atol=1e-6)
    qa = np.asarray(idx.qpos_adr)
    np.testing.assert_array_equal(np.asarray(q1)[qa], np.asarray(q0)[qa])
    r = idx.root_qpos_adr
    np.testing.assert_array_equal(np.asarray(q1)[r:r + 3], np.asarray(q0)[r:r + 3])
  assert max(abs(y) for y in yaws) <= 0.8 + 1e-4 and np.std(yaws) > 0.1


def test_xy_noise_displaces_the_humanoid_horizontally(setup):
  """init.root_xy_noise: the root (hence every body) moved by at most the noise per horizontal
  axis, never vertically; orientation, hinges, velocities and the object exactly as the same key
  draws them without it (its own stream)."""
  scene, lib, idx = setup
  ref = lib.frame(jnp.int32(1), jnp.float32(1.0))
  qpos, qvel = init_states.reference_state(ref, scene.spec.init_qpos, idx, scene.spec.nv)
  cfg = load_env_config("smoke").init.copy_and_resolve_references()
  cfg.root_xy_noise = 0.3
  none = cfg.copy_and_resolve_references()
  none.root_xy_noise = 0.0
  r = idx.root_qpos_adr
  shifts = []
  for i in range(8):
    k = jax.random.PRNGKey(20 + i)
    q0, v0 = init_states.perturb_state(k, qpos, qvel, idx, none)
    q1, v1 = init_states.perturb_state(k, qpos, qvel, idx, cfg)
    d = np.asarray(q1) - np.asarray(q0)
    shifts.append(d[r:r + 2])
    assert d[r + 2] == 0.0 and not np.any(d[r + 3:]) and not np.any(d[:r])
    np.testing.assert_array_equal(np.asarray(v1), np.asarray(v0))
  shifts = np.asarray(shifts)
  assert np.all(np.abs(shifts) <= 0.3 + 1e-6) and shifts.std(0).min() > 0.05
  assert "root_xy_noise" in init_states.START_NOISE_KEYS  # zeroed where starts must be exact


def _no_yaw(cfg):
  c = cfg.copy_and_resolve_references()
  c.root_yaw_noise = 0.0
  return c


def _heading(quat):
  """(x, y) of the body x axis of ``quat`` (w, x, y, z) in the world."""
  w, x, y, z = np.asarray(quat)
  return np.array([1 - 2 * (y * y + z * z), 2 * (x * y + w * z)])


def test_perturbations(setup):
  scene, _, _ = setup
  cfg = load_env_config("smoke")
  # Fixed schedule: deterministic, exactly one impulse per period.
  fixed = cfg.perturb.copy_and_resolve_references()
  fixed.mode = "fixed"
  f = jax.vmap(lambda s: perturbations.impulse_forces(jax.random.PRNGKey(0), s, 1 / 30, fixed))(
      jnp.arange(2 * fixed.fixed_period_steps))
  hits = np.flatnonzero(np.linalg.norm(np.asarray(f[0]), axis=-1) > 0)
  assert hits.tolist() == [fixed.fixed_period_steps - 1, 2 * fixed.fixed_period_steps - 1]
  impulse = np.linalg.norm(np.asarray(f[0][hits[0]])) / 30
  assert impulse == pytest.approx(fixed.fixed_pelvis_impulse, rel=1e-5)
  # Random impulses: rate matches in expectation.
  keys = jax.random.split(jax.random.PRNGKey(3), 20000)
  fr = jax.vmap(lambda k: perturbations.impulse_forces(k, 0, 1 / 30, cfg.perturb))(keys)
  rate = float(np.mean(np.linalg.norm(np.asarray(fr[0]), axis=-1) > 0))
  assert rate == pytest.approx(cfg.perturb.rate_hz / 30, rel=0.3)
  # Object randomisation: mass follows density * s^3, Playground-style batched model.
  from interprior_jax.sim import mjx_sim
  mx = mjx_sim.put_model(scene.model)
  ob = scene.spec.objects[0]
  base = perturbations.object_base(scene.model, ob.body_id, ob.geom_ids)
  p = perturbations.nominal_params().replace(size_scale=jnp.float32(1.5),
                                             mass_scale=jnp.float32(2.0))
  m2 = perturbations.apply_object_params(mx, base, p)
  assert float(m2.body_mass[ob.body_id]) == pytest.approx(base.mass * 2.0 * 1.5 ** 3, rel=1e-5)
  np.testing.assert_allclose(m2.geom_size[ob.geom_ids], base.geom_size * 1.5, rtol=1e-6)
  batched, in_axes = perturbations.domain_randomize(mx, jax.random.split(jax.random.PRNGKey(0), 5),
                                                    base, cfg.randomize)
  assert batched.body_mass.shape == (5, scene.model.nbody) and in_axes.body_mass == 0
  assert in_axes.body_pos is None and in_axes.geom_friction == 0
  masses = np.asarray(batched.body_mass[:, ob.body_id])
  assert masses.std() > 0 and np.all(masses > 0.7 * base.mass)


def test_make_env_validation():
  cfg = load_env_config("smoke")
  a = standing_clip("smpl", num_frames=4)
  b = a.replace(name="other", object_name="sphere")
  with pytest.raises(ValueError, match="object_name"):
    make_env(cfg, [a, b])
  bad = cfg.copy_and_resolve_references()
  bad.termination.enabled = ("fall", "typo")
  with pytest.raises(ValueError, match="typo"):
    make_env(bad, [a])
  scaled = cfg.copy_and_resolve_references()
  scaled.update(action_mode="absolute", action_scale=0.25)
  env = make_env(scaled, [a])
  lo, hi = env.spec.joint_range[:, 0], env.spec.joint_range[:, 1]
  ref = jnp.asarray(0.5 * (lo + hi) + 0.1)
  ones = jnp.ones(env.action_size)
  # absolute: mid-range + 0.25 rad * clip(a); the reference is ignored.
  np.testing.assert_allclose(env.targets_from_ref(2.0 * ones, ref), env.spec.action_offset + 0.25,
                             rtol=1e-6)
  np.testing.assert_allclose(env.targets_from_ref(-0.4 * ones, ref), env.spec.action_offset - 0.1,
                             rtol=1e-6, atol=1e-6)
  method = scaled.copy_and_resolve_references()
  method.action_scale = 0.0  # method.md: half the joint range per unit
  env_m = make_env(method, [a])
  np.testing.assert_allclose(env_m.targets_from_ref(ones, ref), hi, rtol=1e-6)
  np.testing.assert_allclose(env_m.targets_from_ref(-0.5 * ones, ref),
                             env.spec.action_offset - 0.5 * env.spec.action_scale, rtol=1e-5,
                             atol=1e-6)
  # residual: the reference + 0.25 rad * clip(a), clipped to the joint range.
  resid = scaled.copy_and_resolve_references()
  resid.action_mode = "residual"
  env_r = make_env(resid, [a])
  np.testing.assert_allclose(env_r.targets_from_ref(0 * ones, ref), ref, rtol=1e-6)
  np.testing.assert_allclose(env_r.targets_from_ref(-2.0 * ones, ref), ref - 0.25, rtol=1e-6)
  np.testing.assert_allclose(env_r.targets_from_ref(ones, jnp.asarray(hi)), hi, rtol=1e-6)
  bad_mode = resid.copy_and_resolve_references()
  bad_mode.action_mode = "relative"
  with pytest.raises(ValueError, match="action_mode"):
    make_env(bad_mode, [a])
  zero = resid.copy_and_resolve_references()
  zero.action_scale = 0.0
  with pytest.raises(ValueError, match="action_scale"):
    make_env(zero, [a])
  loose = resid.copy_and_resolve_references()
  loose.reward.hand.grip_dist = 2 * loose.obj_contact_dist  # past the distances' cap
  with pytest.raises(ValueError, match="grip_dist"):
    make_env(loose, [a])


def test_contact_normal_forces_match_mujoco_and_energy_term(setup):
  """efc rows -> per-contact normal force equals mj_contactForce; only humanoid-object pairs
  enter F_ho; the energy term is exp(-w (F_ho / weight)^2)."""
  scene, _, idx = setup
  m, spec = scene.model, scene.spec
  d = mujoco.MjData(m)
  d.qpos[:] = spec.init_qpos
  obj = spec.objects[0]
  # The box on the floor pressed into the shins: humanoid-object and object-floor contacts.
  mujoco.mj_forward(m, d)
  root = d.xpos[spec.root_body_id].copy()
  d.qpos[obj.qpos_adr:obj.qpos_adr + 3] = root + np.array([0.2, 0.0, -0.74])
  mujoco.mj_forward(m, d)  # solves the constraint forces
  n = d.ncon
  assert n > 0
  ours = sf.mujoco_contact_normal_forces(d, idx)
  f6 = np.zeros(6)
  ref = []
  for i in range(n):
    mujoco.mj_contactForce(m, d, i, f6)
    ref.append(f6[0])
  np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
  geom = np.asarray(d.contact.geom[:n])
  hum = idx.geom_body_idx < idx.num_bodies
  pair = (idx.geom_is_obj[geom[:, 0]] & hum[geom[:, 1]]) | (idx.geom_is_obj[geom[:, 1]]
                                                            & hum[geom[:, 0]])
  assert pair.any() and (~pair).any()
  f_ho = float(np.sum(np.asarray(ref)[pair]))
  assert f_ho > 0
  frame = sf.sim_frame_from_mujoco(d, idx, 1e-3)
  assert float(frame.obj_contact_force) == pytest.approx(f_ho, rel=1e-5)
  cfg = load_env_config("smoke").reward
  e = rewards.StepErrors(**{**{f: jnp.zeros(()) for f in rewards.StepErrors.__dataclass_fields__},
                            "contact_force": jnp.asarray((f_ho / BODY_WEIGHT) ** 2),
                            "hand_dist": jnp.zeros(2), "hand_facing": jnp.zeros(2),
                            "hand_contact": jnp.zeros(2), "hand_required": jnp.zeros(2)})
  _, terms = rewards.compute_reward(e, jnp.bool_(False), cfg)
  expected = np.exp(-cfg.energy.contact_force * (f_ho / BODY_WEIGHT) ** 2)
  assert float(terms["r_contact_force"]) == pytest.approx(expected, rel=1e-5)
  assert float(terms["r_energy"]) == pytest.approx(expected, rel=1e-5)
  # No efc rows (e.g. no contact at all): zero forces, no indexing error.
  np.testing.assert_array_equal(
      sf.contact_normal_forces(np.zeros(0), np.array([-1]), np.array([3]), False), [0.0])


def test_psi_failure_harvest():
  """psi_harvest="failure" stores states tracking worse than psi_max_track, scored 1 - r_track
  (Stage 3's failure-state starts); "good" keeps r_track > psi_min_track; a typo is refused."""
  cfg = load_env_config("smoke")
  cfg.impl = "c"
  a = standing_clip("smpl", num_frames=8)
  cfg.init.update(psi_insert_prob=1.0, psi_harvest="failure", psi_max_track=2.0)
  env = make_env(cfg, [a])
  s = jax.jit(env.step)(jax.jit(env.reset)(jax.random.PRNGKey(0)), jnp.zeros(env.action_size))
  score = np.asarray(s.info["psi"].score)
  np.testing.assert_allclose(score.max(), 1.0 - float(s.metrics["r_track"]), rtol=1e-5)
  assert np.sum(score > 0) == 1
  # ... and a PSI reset restores the stored state exactly
  psi = s.info["psi"]
  j = int(np.argmax(score))
  restore = cfg.copy_and_resolve_references()
  restore.init.update(start_prob=0.0, psi_prob=1.0)
  env_r = make_env(restore, [a])
  qpos, qvel, clip, time, _ = jax.jit(env_r._sample_reset)(jax.random.PRNGKey(5), psi,
                                                           s.info["clip_weights"])
  np.testing.assert_array_equal(qpos, psi.qpos[j])
  np.testing.assert_array_equal(qvel, psi.qvel[j])
  assert int(clip) == int(psi.clip[j]) and float(time) == float(psi.time[j])
  d = env_r._reset_data(qpos, qvel, s.info["obj_params"])
  np.testing.assert_array_equal(np.asarray(d.qpos), np.asarray(psi.qpos[j]))
  good = cfg.copy_and_resolve_references()
  good.init.update(psi_harvest="good", psi_min_track=2.0)  # no state tracks that well
  env_g = make_env(good, [a])
  s = jax.jit(env_g.step)(jax.jit(env_g.reset)(jax.random.PRNGKey(0)), jnp.zeros(env.action_size))
  assert float(np.max(s.info["psi"].score)) == 0.0
  bad = cfg.copy_and_resolve_references()
  bad.init.psi_harvest = "fails"
  with pytest.raises(ValueError, match="psi_harvest"):
    make_env(bad, [a])
