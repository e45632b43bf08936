"""Stage-2 DAgger distillation on the toy env from a toy expert (CPU-fast), plus one gated HOI
smoke run (``INTERPRIOR_SLOW_TESTS=1``, needs the shared OMOMO clips)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training.distill import train as distill
from interprior_jax.envs import goal_env
from interprior_jax.training import expert
from interprior_jax.training import loop as loop_lib

from train_helpers import load_config
from train_helpers import quiet_logger as _quiet


@pytest.fixture(scope="module")
def toy_expert(tmp_path_factory):
  """A toy expert trained for the config's 30 PPO iterations (seconds) and exported."""
  d = tmp_path_factory.mktemp("expert")
  expert.train(load_config("expert", "toy"), d, logger=_quiet())
  return d


@pytest.fixture(scope="module")
def toy_distiller(toy_expert):
  config = load_config("distill", "toy")
  bundle, act, obs_size = distill.expert_from_bundle(toy_expert)
  config = distill.resolve_config(config, bundle.config)
  return config, distill.build(config, act, expert_obs_size=obs_size), act


def test_goal_env_episode_draws_and_chain(toy_distiller):
  config, algo, _ = toy_distiller
  genv = algo.env.env
  g = genv.cfg
  s = jax.jit(genv.reset)(jax.random.PRNGKey(3))
  assert s.obs.history.shape == (g.history, genv.source.state_size)
  assert s.obs.goals.shape == s.obs.mask.shape == (g.num_goals, genv.source.goal_size)
  # the trajectory tokens share one mask; history starts as k copies of x_0
  np.testing.assert_array_equal(s.obs.mask[0], s.obs.mask[g.trajectory_steps - 1])
  np.testing.assert_allclose(s.obs.history, jnp.broadcast_to(s.obs.history[-1],
                                                             s.obs.history.shape))
  snap0 = int(s.obs.snap_steps)
  assert g.snapshot_min <= snap0 <= g.snapshot_max
  step = jax.jit(genv.step)
  for t in range(snap0 + 1):
    prev = s
    s = step(s, jnp.zeros(genv.action_size))
    assert float(s.done) == 0.0
    # history rolls: the previous newest state moved one slot back
    np.testing.assert_allclose(s.obs.history[-2], prev.obs.history[-1])
    np.testing.assert_array_equal(s.obs.mask, prev.obs.mask)  # masks fixed within an episode
    np.testing.assert_array_equal(s.obs.eps, prev.obs.eps)    # eps fixed within an episode
  # the countdown reached the target and a new snapshot horizon was drawn (goal chain)
  assert int(s.obs.snap_steps) >= g.snapshot_min - 1
  # the snapshot goal is a fixed absolute target: residual = target - p for a position mask
  ps = s.pipeline_state
  tp, _ = genv.env._target(ps["t"] + s.obs.snap_steps, ps["phase0"])
  np.testing.assert_allclose(s.obs.goals[-1, :2], tp - ps["p"], atol=1e-5)


@pytest.mark.parametrize("always_reached", [True, False])
def test_chain_advances_when_the_goal_is_reached(toy_distiller, always_reached):
  """advance_on_reach: a reached snapshot goal is replaced by the next at once (counted), the
  horizon after the reached goal's frame; an unreached one is replaced when its time limit (the
  horizon) runs out (not counted)."""
  import dataclasses as dc

  from interprior_jax.envs import goal_env
  config, algo, _ = toy_distiller
  inner = algo.env.env
  residual = 0.0 if always_reached else 10.0
  source = dc.replace(inner.source, goals_fn=lambda st, off: jnp.full(
      (off.shape[0], inner.source.goal_size), residual))
  cfg = dc.replace(inner.cfg, advance_on_reach=True, snapshot_min=4, snapshot_max=4,
                   snapshot_families=("pos",), snapshot_probs=(1.0,))
  genv = goal_env.GoalEnv(inner.env, source, cfg)
  s = jax.jit(genv.reset)(jax.random.PRNGKey(3))
  step = jax.jit(genv.step)
  snaps = []
  for _ in range(8):
    s = step(s, jnp.zeros(genv.action_size))
    snaps.append(int(s.obs.snap_steps))
  count = int(s.info[goal_env.REACHED])
  if always_reached:
    # a new goal every step, 4 frames after the one just reached (goals advance along the
    # reference: GoalEnv.next_goal), so 3 more steps ahead each time
    assert count == 8 and snaps == [7, 10, 13, 16, 19, 22, 25, 28], snaps
  else:
    # time limit only; the state at the goal's frame (0) is still checked against it
    assert count == 0 and snaps == [3, 2, 1, 0, 4, 3, 2, 1], snaps


def test_beta_one_executes_only_expert_actions(toy_distiller):
  config, algo, act = toy_distiller
  state = algo.init(jax.random.PRNGKey(0))
  _, tr = jax.jit(algo.collect)(state, jax.random.PRNGKey(1), jnp.float32(1.0))
  np.testing.assert_array_equal(np.asarray(tr.action), np.asarray(tr.extras["expert_action"]))
  assert float(jnp.min(tr.extras["used_expert"])) == 1.0
  # the label is the expert's mean action on the visited state
  np.testing.assert_allclose(tr.extras["expert_action"], jax.vmap(act)(tr.obs.reference),
                             atol=1e-6)
  # beta = 0: the student acts
  _, tr0 = jax.jit(algo.collect)(state, jax.random.PRNGKey(1), jnp.float32(0.0))
  np.testing.assert_array_equal(np.asarray(tr0.action), np.asarray(tr0.extras["student_action"]))
  assert float(jnp.max(tr0.extras["used_expert"])) == 0.0


def test_prior_path_imitation_weight(toy_distiller):
  """``w_action_prior`` adds the prior path's imitation loss to the total and its gradient reaches
  the prior; at 0 (method.md) the same loss is logged and carries no gradient."""
  import copy
  import dataclasses
  _, algo, _ = toy_distiller
  state = algo.init(jax.random.PRNGKey(0))
  _, tr = jax.jit(algo.collect)(state, jax.random.PRNGKey(1), jnp.float32(0.0))
  mb = {"obs": tr.obs, "expert_action": tr.extras["expert_action"], "done": tr.done}

  def loss_and_grad(w):
    a = copy.copy(algo)
    a.cfg = dataclasses.replace(algo.cfg, w_action_prior=w)
    fn = jax.value_and_grad(lambda p: a.loss(p, state.normalizer, mb, jnp.float32(1e-2)),
                            has_aux=True)
    (total, m), g = fn(state.params)
    return float(total), m, g

  t0, m0, g0 = loss_and_grad(0.0)
  t1, m1, g1 = loss_and_grad(1.0)
  assert float(m0["loss_action_prior"]) > 0
  np.testing.assert_allclose(t1 - t0, float(m1["loss_action_prior"]), rtol=1e-4)
  diff = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))), g0, g1)
  prior_leaves = [v for path, v in jax.tree_util.tree_leaves_with_path(diff)
                  if "prior" in jax.tree_util.keystr(path)]
  assert prior_leaves and max(prior_leaves) > 0, diff
  enc = [v for path, v in jax.tree_util.tree_leaves_with_path(diff)
         if "encoder" in jax.tree_util.keystr(path)]
  assert enc and max(enc) == 0.0  # the prior path does not use the encoder


def test_toy_distillation_reduces_imitation_loss_and_exports(toy_expert, toy_distiller,
                                                            tmp_path):
  config, algo, _ = toy_distiller
  res = distill.train(config, tmp_path, toy_expert, algo=algo, logger=_quiet())
  n = config.loop.num_iterations
  assert len(res.history) == n and not res.nan_events
  for k in ("loss_action", "loss_rec", "loss_kl", "loss_scale", "loss_tc", "w_kl", "beta",
            "w_scale", "w_tc", "expert_share"):
    assert all(math.isfinite(h[k]) for h in res.history), k
  act = loop_lib.history_array(res.history, "loss_action")
  # 0.6: the last-3 mean is noisy (0.04-0.20 per iteration); on another CPU the same seed
  # measured a ratio of 0.5004 (2026-12-05), so 0.5 was a float-noise coin toss.  A student that
  # does not learn stays at ~1.0.
  assert np.mean(act[-3:]) < 0.6 * np.mean(act[:2]), act
  # The deployed path (prior + decoder, no encoder) improves too, on the batch and in rollouts
  # (iteration 0 executes only expert actions, labels are the expert's mean either way).
  prior = loop_lib.history_array(res.history, "loss_action_prior")
  assert np.mean(prior[-4:]) < 0.6 * np.mean(prior[:2]), prior
  rollout_err = loop_lib.history_array(res.history, "rollout_action_error")
  assert np.mean(rollout_err[-4:]) < 0.6 * np.mean(rollout_err[:2]), rollout_err
  beta = loop_lib.history_array(res.history, "expert_share")
  assert beta[0] == 1.0 and beta[-1] == 0.0
  w_kl = loop_lib.history_array(res.history, "w_kl")
  assert w_kl[-1] > w_kl[0]
  # inference bundle: prior + decoder only, same actions as the trainer's student
  bundle = ckpt_lib.load_bundle(tmp_path / ckpt_lib.BUNDLE_DIR)
  kept = set(bundle.actor_params["params"])
  assert not kept & set(distill.TRAINING_ONLY_MODULES), kept  # the bundle holds no encoder
  assert {"decoder", "prior_transformer"} <= kept, kept
  params, policy = distill.inference_policy(bundle)
  obs = res.state.env_state.obs
  key = jax.random.PRNGKey(7)
  a = policy(params, obs.history, obs.goals, obs.mask, key)
  eps = jax.random.normal(key, obs.eps.shape)
  ref = algo.student_act(res.state.params, res.state.normalizer, obs.replace(eps=eps))
  np.testing.assert_allclose(a, ref, atol=1e-5)
  # a sparse-goal evaluation task runs on the bundle and reports bounded rates
  from interprior_jax.training import distill_eval
  r = distill_eval.evaluate_goal_task(tmp_path / ckpt_lib.BUNDLE_DIR, "snapshot", 8)
  eps = r["per_episode"]
  assert r["success_rate"] == pytest.approx(np.mean([e["success"] for e in eps]))
  assert r["failure_rate"] == pytest.approx(np.mean([e["terminated"] for e in eps]))
  assert all(not (e["success"] and e["terminated"]) for e in eps)  # a failed episode never counts
  assert len(r["per_episode"]) == 8 and math.isfinite(r["e_pos"])
  # The same episodes played by the expert on the full reference (the student's upper bound).
  rx = distill_eval.evaluate_goal_task(tmp_path / ckpt_lib.BUNDLE_DIR, "snapshot", 8,
                                       expert_dir=toy_expert)
  # Seen once (2026-12-02): student 0.125 / e_pos 0.65, expert 0.625 / 0.18; the margins below
  # were set after that run. Equal numbers would mean the student acted in both.
  assert rx["e_pos"] < 0.5 * r["e_pos"] and rx["success_rate"] > r["success_rate"], (r, rx)
  # trajectory: followed = the whole horizon without termination and the deviation never above
  # the env's tracking limit (distill_eval.trajectory_limits); the old tolerance-rate rule is
  # reported as hit_rate.
  for who in (None, toy_expert):
    tr = distill_eval.evaluate_goal_task(tmp_path / ckpt_lib.BUNDLE_DIR, "trajectory", 8,
                                         expert_dir=who)
    lim = tr["trajectory_limits"]["e_pos"]
    assert lim == distill_eval.trajectory_limits(config)["e_pos"] > 0
    for e in tr["per_episode"]:
      assert e["success"] == float(e["terminated"] == 0 and e["max_e_pos"] <= lim), e
    assert tr["hit_rate"] == pytest.approx(np.mean([e["hit_rate"] for e in tr["per_episode"]]))


def test_ablation_rows_and_config_errors():
  plain = distill.DistillConfig.from_config(load_config("distill", "toy,plain").distill)
  assert plain.w_scale == plain.w_tc == 0.0 and not plain.bound_obs
  assert not plain.network.project_latent
  shaping = distill.DistillConfig.from_config(load_config("distill", "toy,shaping").distill)
  assert shaping.w_scale > 0 and not shaping.network.project_latent
  full = distill.DistillConfig.from_config(load_config("distill", "toy").distill)
  assert full.network.project_latent and full.bound_obs
  with pytest.raises(ValueError, match="unknown ablation"):
    load_config("distill", "toy,nope")
  c = load_config("distill", "toy")
  c.distill.num_minibatches = 5
  with pytest.raises(ValueError, match="divisible"):
    distill.DistillConfig.from_config(c.distill)
  c = load_config("distill", "toy")
  c.goals.snapshot_families = ("full", "elbows")
  c.goals.snapshot_probs = (1.0, 1.0)
  from interprior_jax.envs import toy_env
  env = toy_env.PointMassTracking()
  gcfg = distill.goal_config_from(c.goals, 8)
  with pytest.raises(ValueError, match="elbows"):
    goal_env.GoalEnv(env, goal_env.make_goal_source("toy", env, gcfg), gcfg)


@pytest.mark.slow  # HOI env compile (tests/conftest.py)
def test_hoi_smoke_distillation(tmp_path):
  ec = load_config("expert", "smoke")
  ec.ppo.network.actor_hidden = (16,)
  ec.ppo.network.critic_hidden = (16,)
  ec.loop.num_iterations = 1
  expert.train(ec, tmp_path / "expert", logger=_quiet())
  dc = load_config("distill", "smoke")
  res = distill.train(dc, tmp_path / "student", tmp_path / "expert", logger=_quiet())
  assert int(res.state.step) == dc.loop.num_iterations and not res.nan_events
  for h in res.history:
    assert math.isfinite(h["loss"]) and h["state_finite"] == 1.0
  bundle = ckpt_lib.load_bundle(tmp_path / "student" / ckpt_lib.BUNDLE_DIR)
  assert bundle.config["goal_size"] > 0
  # The student acts in absolute PD targets (method.md; a residual would leak the reference);
  # the residual expert's actions are relabelled to the same PD targets.
  from interprior_jax.envs import hoi_env
  from interprior_jax.envs import registry
  assert bundle.config["env"]["action_mode"] == "absolute"
  expert_cfg = ckpt_lib.load_bundle(tmp_path / "expert" / ckpt_lib.BUNDLE_DIR).config
  cfg = distill.resolve_config(dc, expert_cfg)
  assert cfg.expert_action.mode == "residual" and cfg.env.action_mode == "absolute"
  env = registry.make_env(cfg)
  adapt = distill.expert_adapter(cfg, env)
  k1, k2 = jax.random.split(jax.random.PRNGKey(0))
  a = jax.random.uniform(k1, (8, env.action_size), minval=-1.5, maxval=1.5)
  lo, hi = env.spec.joint_range[:, 0], env.spec.joint_range[:, 1]
  ctx = jax.random.uniform(k2, (8, env.action_size), minval=lo / 2, maxval=hi / 2)
  want = hoi_env.pd_targets(a, ctx, "residual", float(cfg.expert_action.scale), env.spec)
  got = jax.vmap(env.targets_from_ref)(adapt(a, ctx), ctx)
  np.testing.assert_allclose(got, want, atol=1e-5)
  assert not np.allclose(adapt(a, ctx), a, atol=1e-2)  # a real relabelling, not the identity


def test_heading_and_position_noise_reach_the_env_only_with_perturbed_starts():
  """augment.heading_noise / position_noise -> env.init.root_yaw_noise / root_xy_noise of the
  student's env (the steering augmentation; offsets); perturbed_starts=False zeroes every start
  noise, these included."""
  from interprior_jax.envs import init_states
  expert_cfg = load_config("expert", "locomotion").to_dict()
  dc = load_config("distill", "locomotion")
  dc.augment.heading_noise = 0.7
  cfg = distill.resolve_config(dc, expert_cfg)
  assert cfg.env.init.root_yaw_noise == pytest.approx(0.7)
  assert cfg.env.init.joint_pos_noise == expert_cfg["env"]["init"]["joint_pos_noise"] > 0
  # position_noise likewise, and an expert's own offset starts are not inherited
  expert_cfg["env"]["init"]["root_xy_noise"] = 0.25
  assert distill.resolve_config(dc, expert_cfg).env.init.root_xy_noise == 0.0
  dc.augment.position_noise = 0.1
  assert distill.resolve_config(dc, expert_cfg).env.init.root_xy_noise == pytest.approx(0.1)
  dc.augment.perturbed_starts = False
  cfg = distill.resolve_config(dc, expert_cfg)
  assert all(cfg.env.init[k] == 0.0 for k in init_states.START_NOISE_KEYS)


def test_goal_time_input_gives_each_token_its_lead_time(toy_distiller):
  """``goals.time_input``: one trailing goal entry per token = seconds to its frame (trajectory
  k * dt, snapshot ``snap_steps * dt``, counting down), given exactly when the token is, never
  judged for reach; every other entry as without it."""
  config, algo, _ = toy_distiller
  genv = algo.env.env
  base = genv.env
  cfg = dataclasses.replace(genv.cfg, time_input=True, snapshot_families=("pos", "none"),
                            snapshot_probs=(1.0, 1.0))
  timed = goal_env.GoalEnv(base, goal_env.make_goal_source("toy", base, cfg), cfg)
  plain = goal_env.GoalEnv(base, goal_env.make_goal_source("toy", base, dataclasses.replace(
      cfg, time_input=False)), dataclasses.replace(cfg, time_input=False))
  assert timed.source.goal_size == plain.source.goal_size + 1
  assert timed.source.field_names[-1] == goal_env.TIME_FIELD
  lower, upper = timed.source.reach_bounds()
  assert np.isinf(lower[-1]) and np.isinf(upper[-1])
  H, dt = cfg.trajectory_steps, float(base.dt)
  given = set()
  for seed in range(6):
    s = jax.jit(timed.reset)(jax.random.PRNGKey(seed))
    p = jax.jit(plain.reset)(jax.random.PRNGKey(seed))
    np.testing.assert_allclose(s.obs.goals[:, :-1], p.obs.goals, atol=1e-6)
    np.testing.assert_array_equal(s.obs.mask[:, :-1], p.obs.mask)
    np.testing.assert_array_equal(s.obs.mask[:, -1],
                                  np.any(np.asarray(p.obs.mask) > 0, axis=-1))
    lead = np.asarray(s.obs.goals[:, -1])
    np.testing.assert_allclose(lead[:H], dt * np.arange(1, H + 1), rtol=1e-6)
    np.testing.assert_allclose(lead[H], dt * int(s.obs.snap_steps), rtol=1e-6)
    s1 = jax.jit(timed.step)(s, jnp.zeros(timed.action_size))
    np.testing.assert_allclose(float(s1.obs.goals[H, -1]), lead[H] - dt, rtol=1e-5)
    given.add(bool(s.obs.mask[H, -1]))
  assert given == {True, False}, "both a given and an absent snapshot token were drawn"
