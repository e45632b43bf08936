"""Stage 1 made well-posed and shown: reward factors on the reference, a CI learning check that
fails for the untrained policy, and the committed pretrained experts."""

import dataclasses
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

import train_helpers  # noqa: E402
from interprior_jax.envs import init_states, perturbations, rewards  # noqa: E402
from interprior_jax.envs import load_env_config, make_env  # noqa: E402
from interprior_jax.envs.sim_frame import sim_frame_from_mujoco  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
FACTORS = tuple(f"r_{n}" for n in rewards.TRACK_TERMS + rewards.ENERGY_TERMS) + ("r_hand",)


@pytest.fixture(scope="module")
def carry_clips():
  """A synthetic box-carry clip of seed 0."""
  from interprior_jax.motion import synth
  gen = dataclasses.replace(synth.SynthConfig(), objects=(("carry", ("box",)),))
  return synth.generate_dataset(1, humanoid="smpl", seed=0, families=("carry",), config=gen)


@pytest.fixture(scope="module")
def carry_env(carry_clips):
  """The carry clip on the C backend (perturbations off)."""
  clips = carry_clips
  cfg = load_env_config("smoke")
  cfg.update(impl="c", action_mode="residual")
  cfg.perturb.mode = "off"
  cfg.randomize.enabled = False
  return make_env(cfg, clips)


def test_every_factor_near_one_on_the_reference(carry_env):
  """The reference itself, placed kinematically in MuJoCo frame by frame for the first second,
  scores every reward factor >= 0.9 (no factor collapses for reasons a policy cannot fix)."""
  env = carry_env
  m = env.scene.model
  d = mujoco.MjData(m)
  params = perturbations.nominal_params()
  points = env.surface_points(jnp.int32(0), params)
  base = env.physics.init_data().qpos
  errors = jax.jit(env.errors)
  prev = None
  lows = {}
  for f in range(1, 31):
    ref = env.library.frame(jnp.int32(0), jnp.float32(f / 30.0))
    q, v = init_states.reference_state(ref, base, env.idx, env.spec.nv)
    d.qpos[:], d.qvel[:] = np.asarray(q, np.float64), np.asarray(v, np.float64)
    mujoco.mj_forward(m, d)
    e = errors(sim_frame_from_mujoco(d, env.idx, env.physics.contact_dist), ref, points,
               v if prev is None else prev)
    prev = v
    _, terms = rewards.compute_reward(e, jnp.bool_(False), env.cfg.reward)
    for k in FACTORS:
      lows[k] = min(lows.get(k, 1.0), float(terms[k]))
  assert all(v >= 0.9 for v in lows.values()), lows


def test_zero_residual_keeps_factors_high_at_first(carry_env):
  """Zero residual action from the reference state: every factor >= 0.9 for the first 5 steps.

  Not for the first second, as the issue hoped: the root is unactuated, so a PD-only humanoid on
  a *static* reference already drifts (r_ig 0.60, r_body_pos 0.80 after 1 s, measured on a clip
  whose first 1.3 s are standing; docs/results.md) -- balance is what the policy learns."""
  env = carry_env
  s = jax.jit(env.reset_to)(jax.random.PRNGKey(0), jnp.int32(0), jnp.float32(0.0))
  step = jax.jit(env.step)
  for t in range(5):
    s = step(s, jnp.zeros(env.action_size))
    low = {k: float(s.metrics[k]) for k in FACTORS if float(s.metrics[k]) < 0.9}
    assert not low, (t, low)
  assert float(s.done) == 0.0


def test_hand_term_is_relative_to_the_reference(carry_env):
  """On a reference grasp frame taken as the simulated state, the hand distance / facing errors
  are zero (r_hand then depends only on the simulated contact); hands 10 cm farther out are
  penalised."""
  from interprior_jax.envs.sim_frame import SimFrame

  env = carry_env
  lib = env.library
  hand_label = np.asarray(lib.body_contact[0][:, np.asarray(env.spec.hand_idx)]).max(-1)
  grasp = np.flatnonzero(hand_label > 0.5)
  assert grasp.size, "the carry clip has a grasp phase"
  ref = lib.frame(jnp.int32(0), jnp.float32(grasp[len(grasp) // 2] / 30.0))
  points = env.surface_points(jnp.int32(0), perturbations.nominal_params())
  B = env.spec.num_bodies
  sim = SimFrame(**{f: getattr(ref, f) for f in SimFrame.__dataclass_fields__
                    if f not in ("body_obj_contact", "body_floor_contact", "obj_contact_force",
                                 "body_obj_dist")},
                 body_obj_contact=jnp.zeros(B), body_floor_contact=jnp.zeros(B),
                 obj_contact_force=jnp.zeros(()), body_obj_dist=jnp.full(B, 0.02))
  e = env.errors(sim, ref, points, jnp.zeros(env.spec.nv))
  np.testing.assert_allclose(e.hand_dist, 0.0, atol=1e-6)
  np.testing.assert_allclose(e.hand_facing, 1.0, atol=1e-6)
  assert np.all(np.asarray(e.hand_required) == 1.0)
  hands = jnp.asarray(env.hand_groups.reshape(-1))
  out = sim.body_pos[hands] - ref.obj_pos
  out = out.at[:, 2].set(0.0)
  moved = sim.body_pos.at[hands].add(0.1 * out / jnp.linalg.norm(out, axis=-1, keepdims=True))
  e2 = env.errors(sim.replace(body_pos=moved), ref, points, jnp.zeros(env.spec.nv))
  assert float(jnp.min(e2.hand_dist)) > 0.05, e2.hand_dist
  r1 = rewards.hand_reward(e, 10.0, 0.03, 0.3, 0.4)
  r2 = rewards.hand_reward(e2, 10.0, 0.03, 0.3, 0.4)
  assert float(r1) == pytest.approx(0.6 ** 2, rel=1e-5) and float(r2) < 0.7 * float(r1)


# CI learning check (configs/expert.py:push): a standing clip held for 3 s under 40 N s pelvis
# pushes every second.  Judged on 64 starts with the env's initial-state noise, deterministic
# policy.  Thresholds set after one run each (docs/results.md, "CI learning check"): trained
# (150 iterations, seed 0, an earlier commit) 0.61 success / 88.3 steps of 90; freshly initialised
# policies (seeds 0-2) 0.00-0.03 / 49-62; zero action 0.00 / 54.  At d000c9c the same 150
# iterations gave 0.11 / 73 (seed 0, in CI and here alike; what moved it was not identified), and
# 0.66 / 0.34 for seeds 1 / 2, so the check now trains 250: seed 0 (what CI runs) 0.95 / 89.9,
# seeds 2 / 3 0.69 / 89.4 and 0.31 / 77.0.  It still depends on the seed (seed 3 would fail the
# length threshold): measured and recorded, not tuned away.
PUSH_EPISODES = 64
UNTRAINED_MAX = {"success": 0.1, "length": 0.8}  # of the episode limit
TRAINED_MIN = {"success": 0.3, "length": 0.9}


def _noisy_starts(env, policy_act, num_steps):
  from interprior_jax.training import evaluation
  reset = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(123), PUSH_EPISODES))
  r = jax.device_get(jax.jit(lambda s, k: evaluation.first_episode_stats(
      env, s, lambda o, _: policy_act(o), k, num_steps, ("e_h",)))(reset, jax.random.PRNGKey(1)))
  return {"success": float(np.mean(r["success"])), "length": float(np.mean(r["length"]))}


def learning_check(workdir: str) -> dict:
  """The check's body: the untrained policy's and the trained policy's stand-under-pushes rates
  (``{"before": ..., "after": ..., "nan_events": N, "steps": S, "iterations": I, "limit": L}``,
  L the episode limit)."""
  from interprior_jax.training import expert
  from interprior_jax.training import logging as log_lib
  from test_training import expert_config

  config = expert_config("push")
  config.loop.eval_every = 0
  algo = expert.build(config)
  env = algo.env.env
  limit = int(config.env.max_episode_steps)
  state0 = algo.init(jax.random.PRNGKey(int(config.seed)))
  before = _noisy_starts(env, lambda o: algo.act(state0.params, state0.normalizer, o), limit + 2)
  res = expert.train(config, pathlib.Path(workdir), algo=algo,
                     logger=log_lib.MetricsLogger(None, stream=None))
  st = res.state
  after = _noisy_starts(env, lambda o: algo.act(st.params, st.normalizer, o), limit + 2)
  return {"before": before, "after": after, "nan_events": len(res.nan_events),
          "steps": int(st.step), "iterations": int(config.loop.num_iterations), "limit": limit}


def test_learns_to_stand_under_pushes(tmp_path):
  """~5 min on 2 cores: the untrained policy falls, the trained one stands through the pushes.

  It trains in a subprocess with XLA's default code generation: the suite's fast-compile flags
  (conftest.py) make PPO's iterations ~35 % slower and change its float rounding, and the
  thresholds above were measured with the defaults."""
  r = train_helpers.run_with_xla_defaults("test_stage1_expert", "learning_check", tmp_path)
  before, after, limit = r["before"], r["after"], r["limit"]
  print("push learning check: before", before, "after", after)
  assert before["success"] < UNTRAINED_MAX["success"], before
  assert before["length"] < UNTRAINED_MAX["length"] * limit, before
  assert r["nan_events"] == 0 and r["steps"] == r["iterations"], r
  assert after["success"] >= TRAINED_MIN["success"], (before, after)
  assert after["length"] >= TRAINED_MIN["length"] * limit, (before, after)


def test_contact_phase_starts(carry_env, carry_clips):
  """config.init.contact_start_prob = 1: every random-frame start is a frame whose reference
  touches the object (the interaction-phase curriculum of the CPU experts)."""
  cfg = carry_env.cfg.copy_and_resolve_references()
  cfg.init.update(start_prob=0.0, psi_prob=0.0, contact_start_prob=1.0)
  touching = []
  for p in (1.0, 0.0):
    cfg.init.contact_start_prob = p
    env = make_env(cfg, carry_clips)
    s = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(1), 32))
    ref = jax.vmap(env.library.frame)(s.info["clip"], s.info["time"])
    touching.append(np.asarray(ref.obj_contact))
  assert np.all(touching[0])
  assert not np.all(touching[1])  # uniform frames include the walk before the box


def test_clip_priority_weights_steer_the_auto_resets(carry_env, carry_clips):
  """``info['clip_weights']`` (set by the clip-priority curriculum) decides which clips the env's
  auto-resets draw: with all weight on the second clip, every reset episode plays it."""
  from interprior_jax.training import clip_priority
  clips = [carry_clips[0], dataclasses.replace(carry_clips[0], name="copy")]
  cfg = carry_env.cfg.copy_and_resolve_references()
  cfg.max_episode_steps = 1  # every step ends the episode: every step auto-resets
  env = make_env(cfg, clips)
  s = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(2), 32))
  np.testing.assert_array_equal(s.info["clip_weights"], np.ones((32, 2)))
  assert set(np.asarray(s.info["clip"]).tolist()) == {0, 1}  # uniform at reset
  s = clip_priority.set_clip_weights(s, np.array([0.0, 1.0]))
  s = jax.jit(jax.vmap(env.step))(s, jnp.zeros((32, env.action_size)))
  assert np.all(np.asarray(s.done) > 0)
  np.testing.assert_array_equal(s.info["clip"], np.ones(32))


def test_tracking_eval_from_several_perturbed_starts_per_clip():
  """``config.loop.eval_episodes_per_clip`` / ``eval_perturbed_start``: the trainer's periodic
  evaluation plays that many episodes per clip; exact first frames repeat one outcome (a
  deterministic policy), perturbed copies of them differ, and they are the same starts at every
  evaluation (so evaluations compare policies, not draws)."""
  from types import SimpleNamespace

  from interprior_jax.training import expert
  from test_training import expert_config

  config = expert_config("walk")  # one 60-frame clip, C physics
  config.loop.update(eval_every=1, eval_episodes_per_clip=6)
  size = _action_size(config)
  zero = SimpleNamespace(act=lambda params, normalizer, obs: jnp.zeros((obs.shape[0], size)))
  state = SimpleNamespace(params=None, normalizer=None)
  exact = expert.tracking_eval_fn(config, zero)(state)["episodes"]
  config.loop.eval_perturbed_start = True
  fn = expert.tracking_eval_fn(config, zero)
  noisy, again = fn(state)["episodes"], fn(state)["episodes"]
  assert len(exact) == len(noisy) == 6 and len({e["name"] for e in noisy}) == 1
  assert len({e["length"] for e in exact}) == 1, exact
  assert len({e["length"] for e in noisy}) > 1, noisy
  assert [e["length"] for e in again] == [e["length"] for e in noisy]


def _action_size(config) -> int:
  from interprior_jax.envs import registry
  from interprior_jax.motion import sources
  return int(registry.make_env(config, sources.load_clips(config)).action_size)


def test_clip_priority_weights_from_evaluation():
  from interprior_jax.training import clip_priority
  eps = [{"name": "a", "success": True, "length": 10},
         {"name": "b", "success": False, "length": 25},
         {"name": "b", "success": False, "length": 75}]
  w = clip_priority.weights_from_episodes(eps, ["a", "b", "c"], [10, 100, 50], floor=0.2)
  np.testing.assert_allclose(w, [0.2, 0.5, 1.0])  # mastered -> floor; half done -> 0.5; unseen -> 1
  with pytest.raises(ValueError, match="not among the training clips"):
    clip_priority.weights_from_episodes([{"name": "z", "success": 1, "length": 1}], ["a"], [1], 0.2)
  with pytest.raises(ValueError, match="floor"):
    clip_priority.weights_from_episodes(eps, ["a", "b"], [10, 100], floor=0.0)


def test_pd_lead_feeds_the_reference_velocity_forward():
  """``config.env.pd_lead``: zero action's PD targets are the next reference frame's angles plus
  kv/kp (the scene's gains) x its hinge velocities, clipped to the ranges (off: the angles
  alone), and a PD-only humanoid on a moving reference then tracks its hinges more closely:
  mean |q - q_ref| over the first 15 steps of a synthetic walk 0.99 deg -> 0.45 deg at seed 0
  (the bound 0.7x was set after that measurement)."""
  from interprior_jax.motion import synth
  clips = synth.generate_dataset(1, humanoid="smpl", seed=0, families=("walk",))
  t0 = jnp.float32(1.0)  # mid-walk: the hinges are moving
  err = {}
  for lead in (False, True):
    cfg = load_env_config("smoke")
    cfg.update(impl="c", action_mode="residual", pd_lead=lead)
    cfg.perturb.mode = "off"
    cfg.randomize.enabled = False
    env = make_env(cfg, clips)
    zero = jnp.zeros(env.action_size)
    ref = env.library.frame(jnp.int32(0), t0 + env.dt)
    tau = np.asarray(env.spec.kd) / np.asarray(env.spec.kp) if lead else 0.0
    want = np.clip(np.asarray(ref.joint_pos) + tau * np.asarray(ref.joint_vel),
                   env.spec.joint_range[:, 0], env.spec.joint_range[:, 1])
    np.testing.assert_allclose(np.asarray(env.pd_targets(zero, jnp.int32(0), t0)), want,
                               atol=1e-5)
    s = jax.jit(env.reset_to)(jax.random.PRNGKey(0), jnp.int32(0), t0)
    step = jax.jit(env.step)
    e = []
    for _ in range(15):
      s = step(s, zero)
      q = np.asarray(s.pipeline_state.qpos)[np.asarray(env.spec.qpos_adr)]
      e.append(np.abs(q - np.asarray(env.library.frame(jnp.int32(0), s.info["time"]).joint_pos)))
      assert float(s.done) == 0.0
    err[lead] = float(np.mean(e))
  assert err[True] < 0.7 * err[False], err
