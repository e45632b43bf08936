"""Stage-1 training machinery on the toy env: it learns, resumes exactly, survives NaNs, ignores
unfinished checkpoints, exports a loadable inference bundle, writes TensorBoard events."""

from __future__ import annotations

import importlib.util
import io
import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training import expert
from interprior_jax.training import logging as log_lib
from interprior_jax.training import loop as loop_lib
from interprior_jax.training.ppo import train as ppo

REPO = pathlib.Path(__file__).resolve().parents[1]


def expert_config(variant: str):
  spec = importlib.util.spec_from_file_location("_expert_cfg", REPO / "configs" / "expert.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(variant)


def with_loop(config, **loop):
  c = config.copy_and_resolve_references()
  c.loop.update(**loop)
  return c


@pytest.fixture(scope="module")
def toy():
  config = expert_config("toy")
  return config, expert.build(config)


def _quiet():
  return log_lib.MetricsLogger(None, stream=io.StringIO())


def test_toy_learns_and_exports(toy, tmp_path):
  config, algo = toy
  stream = io.StringIO()
  logger = log_lib.MetricsLogger(tmp_path / "tb", stream=stream)
  res = expert.train(config, tmp_path, algo, logger=logger)
  logger.close()
  n = config.loop.num_iterations
  assert len(res.history) == n and not res.nan_events
  ret = loop_lib.history_array(res.history, "episode_return")
  length = loop_lib.history_array(res.history, "episode_length")
  first, last = np.nanmean(ret[:3]), np.nanmean(ret[-3:])
  assert last > 3.0 * first, (first, last)
  assert np.nanmean(length[-3:]) > 2.0 * np.nanmean(length[:3]), length
  assert np.nanmean(loop_lib.history_array(res.history, "success_rate")[-3:]) > 0.5
  # console line and TensorBoard events
  lines = stream.getvalue().splitlines()
  assert any(line.startswith(f"it {n} |") and "episode_return" in line and "r_track" in line
             for line in lines), lines
  assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
  # inference bundle reproduces the trained deterministic policy
  bundle = ckpt_lib.load_bundle(tmp_path / ckpt_lib.BUNDLE_DIR)
  assert bundle.config["trained_iterations"] == n and bundle.config["variant"] == "toy"
  obs = res.state.env_state.obs
  np.testing.assert_allclose(ppo.bundle_policy(bundle)(obs),
                             algo.act(res.state.params, res.state.normalizer, obs), atol=1e-6)


def _params_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_resume_is_exact_and_tmp_dirs_ignored(toy, tmp_path):
  config, algo = toy
  c2 = with_loop(config, num_iterations=2, checkpoint_every=1, keep_checkpoints=2,
                 async_checkpoints=False)
  c3 = with_loop(c2, num_iterations=3)
  straight = expert.train(c3, tmp_path / "b", algo, logger=_quiet()).state
  first = expert.train(c2, tmp_path / "a", algo, logger=_quiet())
  assert first.resumed_from is None
  # an interrupted save leaves an Orbax temp dir: it must never be picked up
  stray = tmp_path / "a" / ckpt_lib.CHECKPOINT_DIR / "7.orbax-checkpoint-tmp-1234"
  stray.mkdir()
  (stray / "garbage").write_text("partial")
  ck = ckpt_lib.Checkpointer(tmp_path / "a" / ckpt_lib.CHECKPOINT_DIR)
  assert ck.latest_step() == 2
  ck.close()
  resumed = expert.train(c3, tmp_path / "a", algo, logger=_quiet())
  assert resumed.resumed_from == 2 and len(resumed.history) == 1
  _params_equal(resumed.state.params, straight.params)
  _params_equal(resumed.state.normalizer, straight.normalizer)
  _params_equal(resumed.state.env_state.obs, straight.env_state.obs)
  steps = ckpt_lib.Checkpointer(tmp_path / "a" / ckpt_lib.CHECKPOINT_DIR).all_steps()
  assert sorted(steps) == [2, 3]  # keep-N


def test_warm_start_takes_params_and_normaliser_only(toy, tmp_path):
  """``loop.init_from``: a new run starts from another run's params and normaliser (step 0, fresh
  optimizer); a workdir with its own checkpoint resumes instead; a bad source is named."""
  config, algo = toy
  c2 = with_loop(config, num_iterations=2, checkpoint_every=1, keep_checkpoints=2,
                 async_checkpoints=False)
  src = expert.train(c2, tmp_path / "src", algo, logger=_quiet()).state
  fresh = algo.init(jax.random.PRNGKey(int(config.seed)))
  for source in (tmp_path / "src", tmp_path / "src" / ckpt_lib.CHECKPOINT_DIR / "2"):
    warm, note = loop_lib.warm_start(fresh, str(source))
    assert "warm start" in note and int(warm.step) == 0
    _params_equal(warm.params, src.params)
    _params_equal(warm.normalizer, src.normalizer)
    _params_equal(warm.opt_state, fresh.opt_state)
    _params_equal(warm.env_state.obs, fresh.env_state.obs)
  with pytest.raises(AssertionError):  # the fresh init differs, so the check above can fail
    _params_equal(fresh.params, src.params)
  one = with_loop(c2, num_iterations=1, init_from=str(tmp_path / "src"))
  run = expert.train(one, tmp_path / "warm", algo, logger=_quiet())
  assert run.resumed_from is None and int(run.state.step) == 1
  with pytest.raises(FileNotFoundError, match="init_from"):
    loop_lib.warm_start(fresh, str(tmp_path / "nowhere"))
  # From an inference bundle (a committed pretrained/<name>/policy has no checkpoint): its actor
  # and normaliser; the critic and everything else stay fresh.
  bundle_dir = tmp_path / "src" / ckpt_lib.BUNDLE_DIR
  algo.export(src, bundle_dir, config)
  warm, note = loop_lib.warm_start(fresh, str(bundle_dir))
  assert "bundle" in note and int(warm.step) == 0
  _params_equal(warm.params["actor"], src.params["actor"])
  _params_equal(warm.params["critic"], fresh.params["critic"])
  _params_equal(warm.normalizer, src.normalizer)
  with pytest.raises(AssertionError):
    _params_equal(fresh.params["actor"], src.params["actor"])
  other = config.copy_and_resolve_references()
  other.ppo.network.actor_hidden = (8, 8)
  other_state = expert.build(other).init(jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match="actor params .*shape"):
    loop_lib.warm_start(other_state, str(bundle_dir))


def test_averaged_bundle_is_the_mean_of_the_saved_actors(toy, tmp_path):
  """``checkpoint.average_actor_bundle`` (``experiments/average_policy.py``): the actor is the
  leaf-wise mean of the chosen checkpoints' actors, the normaliser the last one's; a missing step
  is named."""
  config, algo = toy
  c3 = with_loop(config, num_iterations=3, checkpoint_every=1, keep_checkpoints=5,
                 async_checkpoints=False)
  run = tmp_path / "run"
  expert.train(c3, run, algo, logger=_quiet())
  ck = ckpt_lib.Checkpointer(run / ckpt_lib.CHECKPOINT_DIR, async_save=False)
  saved = ck.all_steps()
  two, three = ck.read_leaves(2), ck.read_leaves(3)
  ck.close()
  assert ckpt_lib.select_average_steps(saved, last=2) == [2, 3] and ckpt_lib.select_average_steps(saved, first_step=1) == [1, 2, 3]
  with pytest.raises(ValueError):
    ckpt_lib.select_average_steps(saved, last=2, first_step=1)
  out = ckpt_lib.average_actor_bundle(run, [2, 3], tmp_path / "avg")
  avg = ckpt_lib.load_bundle(out)
  assert avg.config["averaged_steps"] == [2, 3] and avg.config["trained_iterations"] == 3
  moved = 0
  for path, leaf in jax.tree_util.tree_flatten_with_path(avg.actor_params)[0]:
    key = ckpt_lib.ACTOR_PREFIX + jax.tree_util.keystr(path)
    np.testing.assert_allclose(np.asarray(leaf), (two[key] + three[key]) / 2, rtol=1e-6, atol=1e-7)
    moved += int(not np.array_equal(two[key], three[key]))
  assert moved > 0  # the two iterates differ, so the mean is neither of them
  for path, leaf in jax.tree_util.tree_flatten_with_path(avg.normalizer)[0]:
    np.testing.assert_array_equal(
        np.asarray(leaf), three[ckpt_lib.NORMALIZER_PREFIX + jax.tree_util.keystr(path)])
  act = ppo.bundle_policy(avg)(np.zeros((2, algo.env.observation_size), np.float32))
  assert np.all(np.isfinite(np.asarray(act)))
  with pytest.raises(FileNotFoundError, match="no checkpoint at steps \\[7\\]"):
    ckpt_lib.average_actor_bundle(run, [3, 7], tmp_path / "bad")


def test_nan_guard_restores_last_good_checkpoint(toy, tmp_path):
  config, algo = toy
  c = with_loop(config, num_iterations=3, checkpoint_every=1, async_checkpoints=False)
  injected = []

  def poison(state):
    if int(state.step) == 2 and not injected:
      injected.append(True)
      params = jax.tree.map(lambda x: x.at[(0,) * x.ndim].set(jnp.nan), state.params)
      return state.replace(params=params)
    return state

  stream = io.StringIO()
  res = expert.train(c, tmp_path, algo, logger=log_lib.MetricsLogger(None, stream=stream),
                     pre_step_hook=poison)
  assert len(res.nan_events) == 1 and res.nan_events[0]["restored_step"] == 2
  assert res.nan_events[0]["metrics"]["nonfinite_updates"] > 0
  assert "NaN guard" in stream.getvalue()
  assert int(res.state.step) == 3 and len(res.history) == 3
  assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(res.state.params))

  # with no checkpoint to go back to, the run stops with a clear error
  def poison_always(state):
    return state.replace(params=jax.tree.map(lambda x: x * jnp.nan, state.params))

  with pytest.raises(loop_lib.NonFiniteError, match="no checkpoint"):
    expert.train(c, tmp_path / "fresh", algo, logger=_quiet(), pre_step_hook=poison_always)


def test_checkpoint_zero_size_leaves_and_structure_mismatch(tmp_path):
  ck = ckpt_lib.Checkpointer(tmp_path, async_save=False)
  tree = {"a": jnp.arange(3.0), "empty": jnp.zeros((4, 0)), "b": {"c": jnp.ones((2,), jnp.int32)}}
  ck.save(1, tree, {"x": 1})
  restored, cfg = ck.restore(tree)
  assert cfg == {"x": 1} and restored["empty"].shape == (4, 0)
  np.testing.assert_array_equal(restored["a"], tree["a"])
  np.testing.assert_array_equal(restored["b"]["c"], tree["b"]["c"])
  with pytest.raises(ValueError, match="structure differs"):
    ck.restore({"a": jnp.arange(3.0), "other": jnp.zeros(2)})
  leaves = ck.read_leaves(1)  # no target: every leaf by its key path
  assert list(leaves) == ["['a']", "['b']['c']", "['empty']"]
  np.testing.assert_array_equal(leaves["['a']"], tree["a"])
  np.testing.assert_array_equal(leaves["['b']['c']"], tree["b"]["c"])
  assert leaves["['empty']"].shape == (4, 0)
  ck.close()


def test_checkpoint_restore_with_state_added_since(tmp_path):
  """A resumed run may meet new leaves under the allowed prefixes (they keep the target's
  values, everything else restores by path); a leaf the target lacks is never dropped."""
  ck = ckpt_lib.Checkpointer(tmp_path, async_save=False)
  old = {"params": jnp.arange(3.0), "env": {"x": jnp.full((2,), 7.0), "z": jnp.zeros((0,))}}
  ck.save(1, old, {"x": 1})
  target = {"params": jnp.zeros(3), "env": {"w": jnp.ones((2, 4)), "x": jnp.zeros(2),
                                             "z": jnp.zeros((0,))}}
  with pytest.raises(ValueError, match="structure differs"):
    ck.restore(target)
  restored, cfg = ck.restore(target, new_leaves_ok=("['env']",))
  np.testing.assert_array_equal(restored["params"], old["params"])
  np.testing.assert_array_equal(restored["env"]["x"], old["env"]["x"])
  np.testing.assert_array_equal(restored["env"]["w"], target["env"]["w"])
  assert cfg["new_leaves"] == ["['env']['w']"]
  with pytest.raises(ValueError, match="only in the target"):  # new leaf outside the prefix
    ck.restore({**target, "opt": jnp.zeros(1)}, new_leaves_ok=("['env']",))
  with pytest.raises(ValueError, match="only in the checkpoint"):  # nothing silently dropped
    ck.restore({"params": jnp.zeros(3), "env": {"w": jnp.ones((2, 4)), "z": jnp.zeros((0,))}},
               new_leaves_ok=("['env']",))
  with pytest.raises(ValueError, match="has shape"):
    ck.restore({"params": jnp.zeros(4), "env": target["env"]}, new_leaves_ok=("['env']",))
  ck.close()


def test_adaptive_learning_rate_rule_and_state():
  cfg = ppo.PPOConfig(lr_schedule="adaptive", desired_kl=0.01, lr_factor=2.0, lr_min=1e-5,
                      lr_max=1e-3, learning_rate=1e-4)
  lr = jnp.asarray(1e-4)
  np.testing.assert_allclose(ppo.adapt_learning_rate(lr, jnp.asarray(0.05), cfg), 5e-5)
  np.testing.assert_allclose(ppo.adapt_learning_rate(lr, jnp.asarray(0.001), cfg), 2e-4)
  np.testing.assert_allclose(ppo.adapt_learning_rate(lr, jnp.asarray(0.01), cfg), 1e-4)
  np.testing.assert_allclose(ppo.adapt_learning_rate(jnp.asarray(1e-5), jnp.asarray(1.0), cfg), 1e-5)
  np.testing.assert_allclose(ppo.adapt_learning_rate(jnp.asarray(1e-3), jnp.asarray(0.0), cfg), 1e-3)
  const = ppo.PPOConfig(learning_rate=1e-4)
  np.testing.assert_allclose(ppo.adapt_learning_rate(lr, jnp.asarray(1.0), const), 1e-4)
  with pytest.raises(ValueError, match="lr_schedule"):
    ppo.PPOConfig(lr_schedule="cosine").validate()
  # the rate lives in the optimizer state and drives Adam's step size
  opt = ppo.make_optimizer(cfg)
  params = {"w": jnp.ones(3)}
  state = opt.init(params)
  np.testing.assert_allclose(ppo.learning_rate(state), 1e-4)
  state = ppo.with_learning_rate(state, 3e-4)
  np.testing.assert_allclose(ppo.learning_rate(state), 3e-4)
  upd, _ = opt.update({"w": jnp.full(3, 0.5)}, state, params)
  np.testing.assert_allclose(upd["w"], -3e-4, rtol=1e-3)  # first Adam step = -lr * sign(g)


def test_adaptive_learning_rate_moves_in_training(toy):
  config, _ = toy
  c = config.copy_and_resolve_references()
  c.ppo.update(lr_schedule="adaptive", desired_kl=1e-6)  # every update overshoots: lr falls
  algo = expert.build(c)
  state = algo.init(jax.random.PRNGKey(0))
  step = algo.jit_train_step(state)
  state, m = step(state, jax.random.PRNGKey(1))
  n_updates = c.ppo.num_epochs * (c.ppo.num_envs * c.ppo.unroll_length // c.ppo.minibatch_size)
  # the first minibatch (kl = 0 before any update) leaves the rate alone; every later one divides
  expected = c.ppo.learning_rate / c.ppo.lr_factor ** (n_updates - 1)
  np.testing.assert_allclose(float(m["learning_rate"]), max(expected, c.ppo.lr_min), rtol=1e-4)


def test_state_dependent_log_std_head():
  from interprior_jax.networks import mlp
  pol = mlp.GaussianPolicy(3, (8,), init_log_std=-1.5, state_dependent_std=True)
  obs = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
  params = pol.init(jax.random.PRNGKey(1), obs)
  mean, log_std = pol.apply(params, obs)
  assert mean.shape == log_std.shape == (5, 3)
  np.testing.assert_allclose(log_std, -1.5, atol=0.5)  # small head init: starts near init
  assert float(jnp.std(log_std)) > 0.0  # a function of the state
  g = jax.grad(lambda p: jnp.sum(pol.apply(p, obs)[1]))(params)
  assert float(jnp.abs(g["params"]["mlp"]["out"]["kernel"]).sum()) > 0.0
  big = jax.tree.map(lambda x: x * 1e4, params)
  lo, hi = mlp.STATE_LOG_STD_RANGE
  ls = pol.apply(big, obs)[1]
  assert float(ls.min()) >= lo and float(ls.max()) <= hi


def test_curve_labels_the_evaluation_protocol(tmp_path):
  """The learning curve names what the periodic evaluations measured (from the workdir's
  config.json), not "from frame 0" for perturbed starts under impulses."""
  from interprior_jax.training import curves
  assert curves.eval_label(tmp_path) == "eval from frame 0"  # no config: the loop's defaults
  (tmp_path / "config.json").write_text(json.dumps({"loop": {
      "eval_perturbed_start": True, "eval_episodes_per_clip": 16, "eval_perturb": "fixed"}}))
  assert curves.eval_label(tmp_path) == "eval: 16 perturbed starts per clip, fixed impulses"
  (tmp_path / "config.json").write_text(json.dumps({"loop": {
      "eval_perturbed_start": False, "eval_episodes_per_clip": 1, "eval_perturb": "off"}}))
  assert curves.eval_label(tmp_path) == "eval from frame 0"


def test_history_curve_and_wall_time_limit(toy, tmp_path):
  """history.jsonl gets one row per logged iteration, loop.max_wall_s stops (with a checkpoint)
  after the first iteration past the limit, and the learning-curve PNG is drawn from the rows."""
  from interprior_jax.training import curves
  config, algo = toy
  c = with_loop(config, max_wall_s=1e-6, log_every=1)
  res = expert.train(c, tmp_path, algo, logger=log_lib.MetricsLogger(None, stream=None))
  assert int(res.state.step) == 1 < c.loop.num_iterations
  rows = loop_lib.read_history(tmp_path)
  assert [r["step"] for r in rows] == [1] and "episode_return" in rows[0]
  assert ckpt_lib.Checkpointer(tmp_path / ckpt_lib.CHECKPOINT_DIR, 2).latest_step() == 1
  png = curves.plot_workdir(tmp_path)
  assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
  with pytest.raises(ValueError, match="history.jsonl"):
    curves.plot_workdir(tmp_path / "empty")
  assert curves.plot_if_logged(tmp_path / "empty") is None
  # Two runs overlaid (the CLI's --overlay): a copy of the run with its return doubled.
  twin = tmp_path / "twin"
  twin.mkdir()
  rows2 = [{**r, "episode_return": 2 * r["episode_return"]} for r in rows]
  (twin / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows2))
  both = curves.main(["--overlay", str(tmp_path / "both.png"), f"a={tmp_path}", f"b={twin}"])
  assert both.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and both.stat().st_size > 5000
  # A distillation history gets the Stage-2 panels (the imitation loss on a log axis).
  distill_dir = tmp_path / "distill"
  distill_dir.mkdir()
  (distill_dir / "history.jsonl").write_text("".join(json.dumps(
      {"step": i, "env_steps": 100 * i, "loss_action_prior": 10.0 ** -i, "loss_action": 0.5 ** i,
       "rollout_action_error": 0.1, "expert_share": 1.0 - i / 4, "episode_length": 10 * i,
       "success_rate": 0.2}) + "\n" for i in range(1, 5)))
  assert curves.plot_workdir(distill_dir).name == "learning_curve.png"
  with pytest.raises(ValueError, match="empty/history.jsonl"):
    curves.plot_runs({"a": tmp_path, "b": tmp_path / "empty"}, tmp_path / "x.png")
  with pytest.raises(SystemExit, match="LABEL=WORKDIR"):
    curves.main(["--overlay", str(tmp_path / "x.png"), str(twin)])
  # The same rows replayed as TensorBoard scalars (one event file for a whole resumed lineage).
  import struct

  from tensorboardX.proto import event_pb2
  tb = curves.write_tensorboard(tmp_path, tmp_path / "tb_replay")
  (events_file,) = tb.glob("events.out.tfevents.*")
  data, scalars = events_file.read_bytes(), []
  while data:  # TFRecord: u64 length, u32 crc, payload, u32 crc
    (n,) = struct.unpack("<Q", data[:8])
    ev = event_pb2.Event.FromString(data[12:12 + n])
    data = data[12 + n + 4:]
    scalars += [(ev.step, v.tag, v.simple_value) for v in ev.summary.value]
  ret = [(st, val) for st, tag, val in scalars if tag == "episode_return"]
  assert ret == [(rows[0]["env_steps"], pytest.approx(rows[0]["episode_return"], rel=1e-6))]


def test_best_evaluation_exports_its_bundle(toy, tmp_path):
  """The bundle of the best periodic evaluation (success, then mean length) is kept in
  best_policy/ with best.json, across a resume; a worse evaluation does not replace it."""
  config, algo = toy
  scores = iter([(0.0, 10.0), (0.5, 5.0), (0.25, 40.0), (0.5, 30.0), (0.5, 20.0)])
  exported = []

  def eval_fn(state):
    s, length = next(scores)
    return {"success_rate": s, "mean_length": length}

  def best_export(state, d):
    exported.append(int(state.step))
    algo.export(state, d, config)

  c = with_loop(config, num_iterations=3, eval_every=1, log_every=1, checkpoint_every=1)
  expert.train(c, tmp_path, algo, logger=_quiet(), eval_fn=eval_fn, best_export_fn=best_export)
  assert exported == [1, 2]
  c = with_loop(config, num_iterations=5, eval_every=1, log_every=1, checkpoint_every=1)
  expert.train(c, tmp_path, algo, logger=_quiet(), eval_fn=eval_fn, best_export_fn=best_export)
  assert exported == [1, 2, 4]  # (0.5, 30) beats (0.5, 5); (0.25, 40) and (0.5, 20) do not
  best = json.loads((tmp_path / loop_lib.BEST_FILE).read_text())
  assert (best["step"], best["success_rate"], best["mean_length"]) == (4, 0.5, 30.0)
  bundle = ckpt_lib.load_bundle(tmp_path / loop_lib.BEST_DIR)
  assert bundle.config["trained_iterations"] == 4


def test_eval_score_breaks_ties_on_the_lower_body_error():
  """Evaluations with the same success and mean length rank by E_h (the lower wins); success and
  then length still come first; a record without E_h keeps its place on a tie."""
  score = loop_lib.eval_score
  a = {"success_rate": 1.0, "mean_length": 278.5, "e_h": 0.113}
  assert score(dict(a, e_h=0.099)) > score(a)
  assert score(dict(a, success_rate=0.75, e_h=0.05)) < score(a)
  assert score(dict(a, mean_length=270.0, e_h=0.05)) < score(a)
  old = {"success_rate": 1.0, "mean_length": 278.5}
  assert not score(a) > score(old)


def test_loop_refuses_settings_its_trainer_cannot_run(toy, tmp_path):
  """A periodic evaluation or a clip-priority floor without the function that runs it is an
  error naming the field (a distillation run once took ``eval_every`` and silently ignored it),
  raised before anything is built or written."""
  config, algo = toy
  loop = loop_lib.LoopConfig(num_iterations=1, eval_every=5)
  with pytest.raises(ValueError, match="loop.eval_every=5"):
    loop_lib.run(algo, config, tmp_path, loop, logger=_quiet())
  loop = loop_lib.LoopConfig(num_iterations=1, eval_every=5, clip_priority_floor=0.2)
  with pytest.raises(ValueError, match="loop.clip_priority_floor=0.2"):
    loop_lib.run(algo, config, tmp_path, loop, logger=_quiet(), eval_fn=lambda s: {})
  loop = loop_lib.LoopConfig(num_iterations=1, eval_perturbed_start=True)
  with pytest.raises(ValueError, match="loop.eval_episodes_per_clip / eval_perturbed_start"):
    loop_lib.run(algo, config, tmp_path, loop, logger=_quiet())
  loop = loop_lib.LoopConfig(num_iterations=1, eval_every=5, eval_episodes_per_clip=0)
  with pytest.raises(ValueError, match="loop.eval_episodes_per_clip=0"):
    loop_lib.run(algo, config, tmp_path, loop, logger=_quiet(), eval_fn=lambda s: {})
  assert not any(tmp_path.iterdir())


def test_episodes_line_one_per_clip_or_counts():
  """The console line of an evaluation: each episode when every clip has one, else per clip its
  successes over its episodes."""
  one = [{"name": "a", "success": True, "length": 9, "ended_by": []},
         {"name": "b", "success": False, "length": 4, "ended_by": ["fall"]}]
  assert loop_lib.episodes_line(one) == " | a: 9  | b: 4 fall"
  many = one + [{"name": "a", "success": False, "length": 3, "ended_by": ["fall"]}]
  assert loop_lib.episodes_line(many) == " | a: 1/2 | b: 0/1"
