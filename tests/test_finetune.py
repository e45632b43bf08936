"""Stage 3 (training/finetune/) on the toy env: the in-betweening reward, the composed loss, the
frozen networks as arguments, and a short finetune that must raise the goal success of a toy
student (CPU-fast)."""

from __future__ import annotations

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from interprior_jax.envs import goal_env
from interprior_jax.envs import inbetween_env
from interprior_jax.training.distill import train as distill
from interprior_jax.training import expert
from interprior_jax.training import loop as loop_lib
from interprior_jax.training.finetune import train as finetune

from train_helpers import REPO, load_config
from train_helpers import quiet_logger as _quiet


@pytest.fixture(scope="module")
def toy_bundles(tmp_path_factory):
  """A toy expert (PPO) and a toy student distilled from it, both exported (about a minute)."""
  d = tmp_path_factory.mktemp("stage3")
  expert.train(load_config("expert", "toy"), d / "expert", logger=_quiet())
  distill.train(load_config("distill", "toy"), d / "student", d / "expert", logger=_quiet())
  return d / "expert", d / "student"


def _build(toy_bundles, arg="toy", **finetune_overrides):
  exp_dir, stu_dir = toy_bundles
  config = load_config("finetune", arg)
  config.finetune.update(finetune_overrides)
  student = finetune.load_bundle(stu_dir)
  config = finetune.resolve_config(config, student.config)
  return config, finetune.build(config, student, finetune.load_bundle(exp_dir))


def test_inbetween_reward_counts_reached_goals(toy_bundles):
  """r = w_style * (1: the toy has no energy / hand terms) + r_succ * reached + r_term; a goal
  residual of 0 is reached at every step (advance_on_reach), one of 10 never."""
  _, algo = _build(toy_bundles)
  genv = algo.env.env.genv
  assert genv.cfg.advance_on_reach
  for residual, hits in ((0.0, 1.0), (10.0, 0.0)):
    source = dataclasses.replace(genv.source, goals_fn=lambda st, off, r=residual: jnp.full(
        (off.shape[0], genv.source.goal_size), r))
    env = inbetween_env.InbetweenEnv(goal_env.GoalEnv(genv.env, source, genv.cfg),
                                     inbetween_env.InbetweenConfig(w_style=0.5, r_succ=3.0))
    s = jax.jit(env.reset)(jax.random.PRNGKey(0))
    step = jax.jit(env.step)
    for _ in range(4):
      s = step(s, jnp.zeros(env.action_size))
      assert float(s.metrics["ib_reached"]) == hits
      np.testing.assert_allclose(float(s.reward), 0.5 + 3.0 * hits, rtol=1e-6)
    assert int(s.info[goal_env.REACHED]) == 4 * hits


def test_training_reach_tolerance_scale(toy_bundles):
  """``reach_tolerance_scale`` widens the training env's reach band (not the evaluation's): a
  residual 1.5x the position tolerance is not reached at scale 1 and reached at scale 2."""
  _, algo = _build(toy_bundles)
  genv = algo.env.env.genv
  r = 1.5 * goal_env.TOY_TOLERANCE["pos"]   # inside the velocity tolerance either way
  source = dataclasses.replace(genv.source, goals_fn=lambda st, off: jnp.full(
      (off.shape[0], genv.source.goal_size), r))
  for scale, hit in ((1.0, 0.0), (2.0, 1.0)):
    env = inbetween_env.InbetweenEnv(goal_env.GoalEnv(genv.env, source, genv.cfg),
                                     inbetween_env.InbetweenConfig(reach_tolerance_scale=scale))
    s = jax.jit(env.step)(jax.jit(env.reset)(jax.random.PRNGKey(0)), jnp.zeros(env.action_size))
    assert float(s.metrics["ib_reached"]) == hit, scale
  assert source.tolerance == goal_env.TOY_TOLERANCE   # the caller's source is not changed
  with pytest.raises(ValueError, match="reach_tolerance_scale"):
    inbetween_env.InbetweenEnv(genv, inbetween_env.InbetweenConfig(reach_tolerance_scale=0.0))


def test_dense_goal_term(toy_bundles):
  """r_goal = exp(-mean violation / half-width) over the given entries: 1 inside the reach
  interval, exp(-1) one half-width outside it on every entry; hidden entries do not count; with
  w_goal the step reward adds w_goal * r_goal (1 on a reached step)."""
  _, algo = _build(toy_bundles)
  genv = algo.env.env.genv
  env = inbetween_env.InbetweenEnv(genv, inbetween_env.InbetweenConfig(w_goal=2.0))
  lower, upper = (np.asarray(b) for b in genv.source.reach_bounds())
  D = genv.source.goal_size
  K = genv.cfg.trajectory_steps + 1
  half, centre = 0.5 * (upper - lower), 0.5 * (upper + lower)
  inside = np.broadcast_to(centre, (K, D))
  outside = np.broadcast_to(upper + half, (K, D))   # one half-width beyond every interval
  ones = np.ones((K, D), np.float32)
  close = lambda g, m: float(env.goal_closeness(jnp.asarray(g), jnp.asarray(m)))  # noqa: E731
  assert close(inside, ones) == pytest.approx(1.0)
  assert close(outside, ones) == pytest.approx(np.exp(-1.0), rel=1e-5)
  hidden = ones.copy()
  hidden[-1, 1:] = 0.0                                # only entry 0 given, and it is inside
  mixed = np.array(outside)
  mixed[-1, 0] = centre[0]
  assert close(mixed, hidden) == pytest.approx(1.0)
  # in the step reward (the reached-goal source of the test above: every step reaches)
  source = dataclasses.replace(genv.source, goals_fn=lambda st, off: jnp.zeros((off.shape[0], D)))
  env = inbetween_env.InbetweenEnv(goal_env.GoalEnv(genv.env, source, genv.cfg),
                                   inbetween_env.InbetweenConfig(w_style=0.5, r_succ=3.0,
                                                                 w_goal=2.0))
  s = jax.jit(env.step)(jax.jit(env.reset)(jax.random.PRNGKey(0)), jnp.zeros(env.action_size))
  np.testing.assert_allclose(float(s.reward), 0.5 + 3.0 + 2.0, rtol=1e-6)
  assert float(s.metrics["ib_r_goal"]) == pytest.approx(2.0)


def test_loss_composition_and_switches(toy_bundles):
  """The distillation share owns the imitation loss, the rest the PPO loss; with no share the
  imitation loss is 0; at the start the policy equals the frozen prior (KL 0) and a changed
  frozen prior (an argument of the step) changes the KL."""
  _, algo = _build(toy_bundles, distill_fraction=0.25, w_prior_kl=1.0)
  n_d = algo.cfg.num_distill_envs()
  assert n_d == round(0.25 * algo.cfg.num_envs) and float(jnp.sum(algo.distill_weight)) == n_d
  state = algo.init(jax.random.PRNGKey(0))
  step = algo.jit_train_step(state)
  state, m = step(state, jax.random.PRNGKey(1))
  for k in ("loss", "policy_loss", "value_loss", "loss_distill", "loss_prior_kl", "ib_reward"):
    assert np.isfinite(float(m[k])), k
  assert float(m["loss_distill"]) > 0 and float(m["nonfinite_updates"]) == 0

  # a minibatch built by hand: KL to the prior the params started from is 0 at the start
  fresh = algo.init(jax.random.PRNGKey(0))
  obs = jax.tree.map(lambda x: x[None], fresh.env_state.obs)
  n = algo.cfg.num_envs
  mb = {"obs": obs, "raw_action": jnp.zeros((1, n, algo.env.action_size)),
        "log_prob": jnp.zeros((1, n)), "advantage": jnp.ones((1, n)), "return": jnp.ones((1, n)),
        "expert_action": jnp.zeros((1, n, algo.env.action_size)),
        "distill_w": jnp.broadcast_to(algo.distill_weight, (1, n))}
  _, m0 = algo.loss(fresh.params, fresh.normalizer, mb, algo.frozen)
  assert abs(float(m0["loss_prior_kl"])) < 1e-5
  shifted = jax.tree.map(lambda x: x + 0.05, algo.frozen["prior"])
  _, m1 = algo.loss(fresh.params, fresh.normalizer, mb, {**algo.frozen, "prior": shifted})
  assert float(m1["loss_prior_kl"]) > 1e-3
  # no distillation share: no imitation loss
  _, m2 = algo.loss(fresh.params, fresh.normalizer, {**mb, "distill_w": jnp.zeros((1, n))},
                    algo.frozen)
  assert float(m2["loss_distill"]) == 0.0


def test_distillation_share_keeps_the_stage2_setting(toy_bundles):
  """finetune.distill_starts="stage2" (default): envs [0, n_d) are a group with the student's own
  goal mixture (and, on the HOI env, its Stage-2 starts and terminations), the rest the
  in-betweening setting; "inbetween" gives one group; the batch is one [N] pytree either way."""
  from interprior_jax.training import rollout as rollout_lib
  exp_dir, stu_dir = toy_bundles
  student = finetune.load_bundle(stu_dir)
  config, algo = _build(toy_bundles)
  assert isinstance(algo.env, rollout_lib.ConcatVecEnv)
  n_d = algo.cfg.num_distill_envs()
  assert algo.env.sizes == (n_d, algo.cfg.num_envs - n_d) and n_d > 0
  share, rl = (g.env.genv.cfg for g in algo.env.groups)
  want = student.config["goals"]
  assert list(share.snapshot_families) == list(want["snapshot_families"])
  assert list(share.trajectory_families) == list(want["trajectory_families"])
  assert tuple(rl.snapshot_families) == tuple(config.goal_overrides.snapshot_families)
  assert tuple(rl.trajectory_families) == ("none",)
  state = jax.jit(algo.env.reset)(jax.random.PRNGKey(0))
  assert state.done.shape == (algo.cfg.num_envs,)
  # envs [0, n_d) draw their masks from the share's families: some carry a trajectory preview
  traj = np.asarray(state.obs.mask[:, :-1].sum(axis=(1, 2)))
  assert traj[:n_d].max() > 0 and traj[n_d:].max() == 0, traj
  _, one = _build(toy_bundles, distill_starts="inbetween")
  assert isinstance(one.env, rollout_lib.VecEnv)
  _, rl_only = _build(toy_bundles, distill_fraction=0.0)
  assert isinstance(rl_only.env, rollout_lib.VecEnv)
  with pytest.raises(ValueError, match="distill_starts"):
    _build(toy_bundles, distill_starts="nope")


def test_rl_only_config_needs_no_expert(toy_bundles):
  exp_dir, stu_dir = toy_bundles
  student = finetune.load_bundle(stu_dir)
  config = finetune.resolve_config(load_config("finetune", "toy,rl_only"), student.config)
  algo = finetune.build(config, student, None)
  assert algo.cfg.num_distill_envs() == 0
  with pytest.raises(ValueError, match="needs the expert"):
    finetune.build(finetune.resolve_config(load_config("finetune", "toy"), student.config),
                   student, None)
  with pytest.raises(ValueError, match="goal_overrides"):
    bad = load_config("finetune", "toy")
    bad.goal_overrides.history = 2
    finetune.resolve_config(bad, student.config)


def toy_finetune_check(workdir: str, stu_dir: str, exp_dir: str) -> dict:
  """The body of the toy Stage-3 check: finetunes the toy student (``configs/finetune.py:toy``)
  into ``workdir`` and returns its per-iteration goal reach and distillation loss and what the
  exported bundle says (``{"reached", "loss_distill", "nan_events", "iterations", "rows",
  "stage", "latent_size_ok"}``)."""
  import pathlib

  config = load_config("finetune", "toy")
  res = finetune.train(config, pathlib.Path(workdir), pathlib.Path(stu_dir),
                       pathlib.Path(exp_dir), logger=_quiet())
  bundle = finetune.load_bundle(pathlib.Path(workdir))
  _, _, z = distill.latent_inference_policy(bundle)
  return {"reached": loop_lib.history_array(res.history, "ib_reached").tolist(),
          "loss_distill": loop_lib.history_array(res.history, "loss_distill").tolist(),
          "nan_events": len(res.nan_events), "iterations": int(config.loop.num_iterations),
          "rows": len(res.history), "stage": bundle.config["stage"],
          "latent_size_ok": z == bundle.config["distill"]["network"]["latent_size"]}


def test_toy_finetune_raises_goal_success_and_exports(toy_bundles, tmp_path):
  """The CI-sized Stage-3 check (docs/results.md): finetuning the toy student raises the share of
  steps on which a goal is reached; the exported bundle is a student bundle.  The finetune runs
  in a subprocess with XLA's default code generation (``train_helpers.run_with_xla_defaults``):
  under the suite's fast-compile flags it took 120 s instead of 68 s."""
  from train_helpers import run_with_xla_defaults

  exp_dir, stu_dir = toy_bundles
  r = run_with_xla_defaults("test_finetune", "toy_finetune_check", tmp_path, stu_dir, exp_dir)
  assert r["nan_events"] == 0 and r["rows"] == r["iterations"], r
  reached = np.asarray(r["reached"])
  k = len(reached) // 4
  assert np.mean(reached[-k:]) > 1.3 * np.mean(reached[:k]), reached
  # ... while the distillation share's loss stays bounded (the prior is kept; 1.6x in the run
  # of docs/results.md, bound set after it)
  dist = np.asarray(r["loss_distill"])
  assert np.all(np.isfinite(dist)) and np.max(dist[-k:]) < 3.0 * np.mean(dist[:k]), dist
  assert r["stage"] == 3 and r["latent_size_ok"], r


def test_evaluate_cli_all_goal_tasks(toy_bundles, tmp_path):
  """``evaluate.py --task all`` runs the five goal tasks on a student bundle (the expert: four),
  writes one JSON and prints one Table-1 row."""
  import json
  import subprocess
  import sys
  _, stu_dir = toy_bundles
  out = tmp_path / "all.json"
  cmd = [sys.executable, str(REPO / "experiments" / "evaluate.py"), "--workdir", str(stu_dir),
         "--task", "all", "--num_episodes", "4", "--out", str(out)]
  p = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
  assert p.returncode == 0, p.stderr[-2000:]
  r = json.loads(out.read_text())
  from interprior_jax.training import distill_eval
  assert set(r["tasks"]) == set(distill_eval.TASKS) and r["latent"] == "prior sample"
  for t, v in r["tasks"].items():
    assert v["num_episodes"] == 4 and v["task"] == t and "per_episode" not in v
    counted = [s for s in v["episode_success"] if s is not None]
    assert len(v["episode_success"]) == 4 and len(counted) == 4 - v["num_trivial"]
    assert v["success_rate"] == (pytest.approx(np.mean(counted)) if counted else None)
  row = [l for l in p.stdout.splitlines() if l.startswith("| ")]
  assert row[0] == "| " + " | ".join(distill_eval.TASKS) + " |" and len(row) == 2, p.stdout
  out_x = tmp_path / "all_expert.json"
  p = subprocess.run(cmd[:-2] + ["--out", str(out_x), "--expert", str(toy_bundles[0])],
                     capture_output=True, text=True, cwd=REPO, timeout=600)
  assert p.returncode == 0, p.stderr[-2000:]
  rx = json.loads(out_x.read_text())
  assert "random_init" not in rx["tasks"]
  # the two, compared episode by episode (the same seeded episodes)
  p = subprocess.run([sys.executable, str(REPO / "experiments" / "compare_goal_tasks.py"),
                      str(out), str(out_x)], capture_output=True, text=True, cwd=REPO, timeout=120)
  assert p.returncode == 0, p.stderr[-2000:]
  rows = [l.split(" | ") for l in p.stdout.splitlines() if l.startswith("| ") and "---" not in l]
  assert [row[0][2:] for row in rows[1:]] == sorted(rx["tasks"]), p.stdout
  for row in rows[1:]:
    task, counted = row[0][2:], int(row[1])
    a_only, b_only, both = int(row[2]), int(row[3]), int(row[4])
    assert both + a_only == round(r["tasks"][task]["success_rate"] * counted), (task, row)
    assert both + b_only == round(rx["tasks"][task]["success_rate"] * counted), (task, row)


def test_paired_comparison_by_hand():
  """Episode-by-episode counts and the exact sign test, on hand-made success lists."""
  from interprior_jax.training import distill_eval
  a = {"tasks": {"snapshot": {"episode_success": [True, True, False, False, None, True]},
                 "chain": {"episode_success": [True] * 6 + [False] * 2}}}
  b = {"tasks": {"snapshot": {"episode_success": [True, False, True, False, True, False]},
                 "chain": {"episode_success": [False] * 8}, "contact": {"episode_success": []}}}
  c = distill_eval.paired_comparison(a, b)
  assert set(c) == {"snapshot", "chain"}  # tasks both hold
  # episode 4 is trivial for A: 5 counted; discordant 2 + 1, p = 2 (C(3,0) + C(3,1)) / 2^3 -> 1
  assert c["snapshot"] == {"n": 5, "a_only": 2, "b_only": 1, "both": 1, "neither": 1,
                           "p_sign": 1.0}
  # 6 discordant, all one way: p = 2 / 2^6
  assert c["chain"]["a_only"] == 6 and c["chain"]["p_sign"] == pytest.approx(2 / 64)
  assert distill_eval.paired_comparison(a, a)["chain"]["p_sign"] == 1.0  # nothing changed
  with pytest.raises(ValueError, match="'chain' has 8 vs 7 episodes"):
    distill_eval.paired_comparison(a, {"tasks": {"chain": {"episode_success": [True] * 7}}})


def test_compare_goal_tasks_pairs_a_single_task_output_with_an_all_tasks_one(tmp_path):
  """``evaluate.py --task NAME`` outputs (``per_episode``, uncounted episodes excepted) pair with
  ``--task all`` ones on their common task; a file without ``seed`` or ``per_episode``, or
  played under other impulses, is refused by name."""
  import subprocess
  import sys
  from interprior_jax.training import distill_eval
  single = {"task": "snapshot", "seed": 0, "num_episodes": 4, "per_episode": [
      {"success": 1.0, "counted": 1.0}, {"success": 0.0, "counted": 1.0},
      {"success": 1.0, "counted": 0.0}, {"success": 1.0, "counted": 1.0}]}
  assert distill_eval.as_task_results(single)["tasks"] == {
      "snapshot": {"episode_success": [True, False, None, True]}}
  every = {"seed": 0, "num_episodes": 4, "tasks": {
      "snapshot": {"episode_success": [False, True, True, False]},
      "trajectory": {"episode_success": [True] * 4}}}
  files = {}
  for name, r in (("single", single), ("all", every), ("no_seed", {**single, "seed": None}),
                  ("no_episodes", {"task": "snapshot", "seed": 0}),
                  ("pushed", {**single, "perturb": "random"})):
    files[name] = tmp_path / f"{name}.json"
    files[name].write_text(json.dumps(r))
  cli = [sys.executable, str(REPO / "experiments" / "compare_goal_tasks.py")]
  p = subprocess.run(cli + [str(files["single"]), str(files["all"])], capture_output=True,
                     text=True, cwd=REPO, timeout=120)
  assert p.returncode == 0, p.stderr[-2000:]
  rows = [l for l in p.stdout.splitlines() if l.startswith("| snapshot")]
  # episode 2 uncounted: 3 counted; A only episode 0 and 3, B only episode 1
  assert rows == ["| snapshot | 3 | 2 | 1 | 0 | 0 | 1 |"], p.stdout
  # the same seeded episodes under impulses (evaluate.py --perturb) are other episodes
  for bad, field in (("no_seed", "'seed' missing"), ("no_episodes", "'per_episode' missing"),
                     ("pushed", "'random': not the same episodes")):
    p = subprocess.run(cli + [str(files[bad]), str(files["all"])], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert p.returncode != 0 and field in p.stderr and str(files[bad]) in p.stderr, p.stderr


def test_rows_over_training_seeds_summarised_and_permutation_tested(tmp_path):
  """``compare_goal_tasks.py --rows``: per row, one count per seed (uncounted episodes left
  out), mean and sd; between rows the exact permutation test over seeds, hand-computed: 3 vs 3
  seeds fully separated is the smallest p there is (2 of C(6, 3) = 20 splits), 1 vs 2 seeds
  [0] vs [1, 2] splits 3 ways, two as uneven as observed (2/3)."""
  import subprocess
  import sys
  from interprior_jax.training import distill_eval
  assert distill_eval.seed_permutation_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
  assert distill_eval.seed_permutation_p([0], [1, 2]) == pytest.approx(2 / 3)
  assert distill_eval.seed_permutation_p([2, 2], [2, 2]) == 1.0

  def result(k, uncounted=False):  # k of 6 snapshot episodes reached
    flags = [True] * k + [False] * (6 - k)
    if uncounted:
      flags[-1] = None
    return {"seed": 0, "num_episodes": 6, "tasks": {"snapshot": {"episode_success": flags},
                                                    "contact": {"episode_success": [True] * 6}}}
  table = distill_eval.seed_rows({"a": [result(1), result(2), result(3, True)],
                                  "b": [result(4), result(5), result(6)]})
  a = table["snapshot"]["a"]
  assert a["counts"] == [1, 2, 3] and a["counted"] == [6, 6, 5]
  assert a["mean"] == pytest.approx(2.0) and a["sd"] == pytest.approx(1.0)
  files = []
  for i, k in enumerate((1, 2, 3, 4, 5, 6)):
    files.append(tmp_path / f"r{i}.json")
    files[-1].write_text(json.dumps(result(k)))
  cli = [sys.executable, str(REPO / "experiments" / "compare_goal_tasks.py"), "--rows",
         "a=" + ",".join(map(str, files[:3])), "b=" + ",".join(map(str, files[3:]))]
  p = subprocess.run(cli, capture_output=True, text=True, cwd=REPO, timeout=120)
  assert p.returncode == 0, p.stderr[-2000:]
  assert "| a | 1 (6), 2 (6), 3 (6) | 2.0 | 1.0 |" in p.stdout, p.stdout
  assert "| a | b | -3.0 | 0.1 |" in p.stdout, p.stdout
  other = tmp_path / "other_episodes.json"
  other.write_text(json.dumps({**result(1), "seed": 1}))
  p = subprocess.run(cli[:-1] + ["b=" + str(other)], capture_output=True, text=True, cwd=REPO,
                     timeout=120)
  assert p.returncode != 0 and str(other) in p.stderr and "not the same episodes" in p.stderr


@pytest.mark.slow  # HOI env compile (tests/conftest.py); ~2 min
def test_hoi_smoke_finetune_from_the_committed_student(tmp_path):
  """Stage 3 on the HOI env from pretrained/embedded_student (+ its expert), with the get-up
  skill (``smoke,getup``: three env groups, distillation share / fallen starts / goals): runs,
  finite, and the exported bundle keeps the student's format and action parameterisation plus
  the prior's task tokens, which evaluate.py's goal and get-up paths read."""
  stu, exp = REPO / "pretrained" / "embedded_student", REPO / "pretrained" / "embedded_expert"
  config = load_config("finetune", "smoke,getup")
  res = finetune.train(config, tmp_path, stu, exp, logger=_quiet())
  assert int(res.state.step) == config.loop.num_iterations and not res.nan_events
  for h in res.history:
    assert np.isfinite(h["loss"]) and h["state_finite"] == 1.0
    # the get-up envs start fallen: their trunk is below standing height
    assert 0.0 < h["getup_gu_height"] < 0.9 and 0.0 <= h["getup_gu_standing"] < 1.0
  bundle = finetune.load_bundle(tmp_path)
  assert bundle.config["env"]["action_mode"] == "absolute" and bundle.config["stage"] == 3
  assert bundle.config["goals"]["trajectory_families"] == ["none"]
  assert bundle.config["env"]["init"]["psi_harvest"] == "failure"
  assert bundle.config["getup_env"]["init"]["fallen_prob"] == 1.0
  tokens = np.asarray(bundle.actor_params["params"]["task_tokens"])
  assert tokens.shape[0] == bundle.config["distill"]["network"]["num_tasks"] == 2
  assert np.abs(tokens[1]).max() > 0   # PPO on the get-up envs moved the get-up token
  # evaluate.py's goal-task path takes the finetuned bundle as it takes a student's
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training import distill_eval
  res = distill_eval.evaluate_goal_task(tmp_path / ckpt_lib.BUNDLE_DIR, "snapshot", 2)
  assert res["num_episodes"] == 2 and np.isfinite(res["success_rate"])
  res = distill_eval.evaluate_getup(tmp_path / ckpt_lib.BUNDLE_DIR, 2)
  assert res["num_episodes"] == 2 and 0.0 < res["start_height"] < 0.9
  assert res["tilt_deg"] == list(bundle.config["getup_env"]["init"]["fallen_tilt_deg"])
  # starts tipped at most 10 deg: the trunk begins near standing height (above the fallen ones)
  low = distill_eval.evaluate_getup(tmp_path / ckpt_lib.BUNDLE_DIR, 2, tilt_deg=(0.0, 10.0))
  assert low["tilt_deg"] == [0.0, 10.0] and low["start_height"] > res["start_height"]


def test_getup_evaluation_tilt_override():
  """evaluate.py --getup_tilt: the get-up episodes' env takes the given tilt range, every start
  fallen, no termination; a range outside [0, 90] or reversed is refused by name."""
  import ml_collections
  from interprior_jax.training import distill_eval
  path = REPO / "pretrained" / "locomotion_getup" / "policy" / "config.json"
  if not path.is_file():
    pytest.skip("pretrained/locomotion_getup not in this checkout")
  config = ml_collections.ConfigDict(json.loads(path.read_text()))
  trained = tuple(config.getup_env.init.fallen_tilt_deg)
  assert tuple(distill_eval.getup_config(config).env.init.fallen_tilt_deg) == trained
  c = distill_eval.getup_config(config, (5, 20))
  assert tuple(c.env.init.fallen_tilt_deg) == (5.0, 20.0) and c.env.init.fallen_prob == 1.0
  assert tuple(c.env.termination.enabled) == ()
  for bad in ((20, 5), (-1, 10), (10, 95)):
    with pytest.raises(ValueError, match="tilt_deg"):
      distill_eval.getup_config(config, bad)


def test_combined_update_is_the_sum_of_the_two_objectives(toy_bundles):
  """On a tiny batch the gradient of the composed loss equals the PPO objective's gradient (on the
  PPO envs) plus the imitation objective's (on the distillation share), computed by hand from the
  loss functions; one SGD step moves the params by -lr times that sum."""
  from interprior_jax.training import core
  _, algo = _build(toy_bundles, distill_fraction=0.25, w_prior_kl=0.0, w_distill=0.7)
  state = algo.init(jax.random.PRNGKey(0))
  mb = _tiny_batch(algo, state)
  norm = state.normalizer
  ppo_part, distill_part = _hand_parts(algo, state, mb)
  g_total = jax.grad(lambda p: algo.loss(p, norm, mb, algo.frozen)[0])(state.params)
  g_sum = jax.tree.map(jnp.add, jax.grad(ppo_part)(state.params),
                       jax.grad(distill_part)(state.params))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6),
               g_total, g_sum)
  g_d = jax.grad(distill_part)(state.params)
  assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(g_d["student"])) > 0
  lr = 1e-2
  p1, _, bad, _ = core.update(lambda p, b: algo.loss(p, norm, b, algo.frozen), optax.sgd(lr),
                              state.params, optax.sgd(lr).init(state.params), mb,
                              jax.random.PRNGKey(2), num_epochs=1,
                              minibatcher=lambda d, k: jax.tree.map(lambda x: x[None], d))
  assert int(bad) == 0
  jax.tree.map(lambda a, b, g: np.testing.assert_allclose(a, b - lr * g, rtol=1e-4, atol=1e-6),
               p1, state.params, g_sum)


def test_separate_anchor_optimizer(toy_bundles):
  """anchor_optimizer="separate": one forward pass gives the two objectives' gradients apart
  (equal to the hand-computed parts; their sum is the composed loss's gradient), and one step
  adds two Adam updates, each at its own rate after its own norm clip (first Adam step:
  ``-lr * g / (|g| + eps)``, computed by hand); the only adaptable rate is PPO's."""
  from interprior_jax.training import core
  _, algo = _build(toy_bundles, distill_fraction=0.25, w_prior_kl=0.0, w_distill=0.7,
                   anchor_optimizer="separate", learning_rate=3e-3, anchor_learning_rate=1e-3,
                   max_grad_norm=0.05)
  state = algo.init(jax.random.PRNGKey(0))
  mb = _tiny_batch(algo, state)
  norm = state.normalizer
  ppo_part, distill_part = _hand_parts(algo, state, mb)
  (loss, _), g = core.value_and_split_grad(
      lambda p, b: algo.loss_terms(p, norm, b, algo.frozen))(state.params, mb)
  close = lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)  # noqa: E731
  jax.tree.map(close, g["rl"], jax.grad(ppo_part)(state.params))
  jax.tree.map(close, g["anchor"], jax.grad(distill_part)(state.params))
  np.testing.assert_allclose(loss, algo.loss(state.params, norm, mb, algo.frozen)[0], rtol=1e-6)
  assert max(float(jnp.max(jnp.abs(x))) for x in jax.tree.leaves(g["anchor"]["student"])) > 0

  def adam_first_step(grads, lr):  # after clip_by_global_norm(max_grad_norm), bias-corrected
    n = float(optax.tree.norm(grads))
    scale = min(1.0, algo.cfg.max_grad_norm / n)
    return jax.tree.map(lambda x: -lr * (x * scale) / (jnp.abs(x * scale) + 1e-8), grads)

  def split(tree):
    return ({k: v for k, v in tree.items() if k != "critic"}, {"critic": tree["critic"]})
  pol, cri = split(g["rl"])
  want = {**adam_first_step(pol, 3e-3), **adam_first_step(cri, algo.cfg.learning_rate)}
  want["student"] = jax.tree.map(jnp.add, want["student"],
                                 adam_first_step(g["anchor"]["student"], 1e-3))
  opt = algo.optimizer
  u, o = opt.update(g, opt.init(state.params), state.params)
  # atol 1e-8 (steps are ~lr = 1e-3..3e-3): for a gradient far below Adam's eps (1e-8) the step
  # x / (|x| + eps) is eps-sensitive, and float-level differences between CPUs moved one such
  # element of 2048 by 6.6e-9 (2026-12-05).
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-8), u, want)
  assert float(finetune.learning_rate(o)) == pytest.approx(3e-3)
  # the anchor's Adam has no injected rate: the one the KL rule adapts is PPO's (the train step
  # in this layout runs in test_finetune_resumes_exactly)
  assert len(optax.tree_utils.tree_get_all_with_path(o, "learning_rate")) == 1
  with pytest.raises(ValueError, match="anchor_optimizer"):
    dataclasses.replace(algo.cfg, anchor_optimizer="two").validate()


def _tiny_batch(algo, state):
  """One short rollout as a single time-major minibatch, with the distillation share marked."""
  _, tr = jax.jit(lambda s, k: _rollout(algo, s, k))(state, jax.random.PRNGKey(1))
  return {**tr, "distill_w": jnp.broadcast_to(algo.distill_weight, tr["advantage"].shape)}


def _hand_parts(algo, state, mb):
  """The two objectives written out from the loss functions: ``(ppo_part, distill_part)``, each
  ``params -> scalar`` (PPO's surrogate + value - entropy on the PPO envs; the weighted
  imitation loss on the distillation share)."""
  from interprior_jax.training.finetune import losses as L
  from interprior_jax.training.finetune import networks
  from interprior_jax.networks import mlp
  norm, c = state.normalizer, algo.cfg
  w_d = mb["distill_w"]

  def ppo_part(p):
    h, g, _ = algo.inputs(norm, mb["obs"])
    mean, _, _ = networks.policy_outputs(algo.model, p["student"], h, g, mb["obs"].mask,
                                         mb["obs"].eps)
    log_std = jnp.broadcast_to(p["log_std"], mean.shape)
    lp_ = mlp.gaussian_log_prob(mean, log_std, mb["raw_action"])
    adv = L.normalize_advantages(mb["advantage"], 1.0 - w_d)
    pg, _ = L.surrogate_loss(lp_, mb["log_prob"], adv, c.clip_eps, 1.0 - w_d)
    v = algo.critic.apply(p["critic"], networks.critic_input(h, g, mb["obs"].mask))
    ones = jnp.ones_like(w_d)
    return pg + c.value_coef * L.value_loss(v, mb["return"], ones) - c.entropy_coef * L.wmean(
        mlp.gaussian_entropy(log_std), ones)

  def distill_part(p):
    h, g, _ = algo.inputs(norm, mb["obs"])
    mean, _, _ = networks.policy_outputs(algo.model, p["student"], h, g, mb["obs"].mask,
                                         mb["obs"].eps)
    return c.w_distill * L.imitation_loss(mean, mb["expert_action"], w_d)
  return ppo_part, distill_part


def _rollout(algo, state, key):
  """One rollout's minibatch fields (as ``Finetuner.train_step`` builds them)."""
  from interprior_jax.training import gae as gae_lib
  from interprior_jax.training import rollout as rollout_lib
  from interprior_jax.networks import mlp
  from interprior_jax.training.finetune import networks
  norm, params, c = state.normalizer, state.params, algo.cfg

  def policy_fn(obs, k):
    h, g, _ = algo.inputs(norm, obs)
    mean, _, _ = networks.policy_outputs(algo.model, params["student"], h, g, obs.mask, obs.eps)
    u = mlp.gaussian_sample(k, mean, jnp.broadcast_to(params["log_std"], mean.shape))
    v = algo.critic.apply(params["critic"], networks.critic_input(h, g, obs.mask))
    return jnp.clip(u, -1, 1), {"raw_action": u, "value": v, "log_prob": mlp.gaussian_log_prob(
        mean, jnp.broadcast_to(params["log_std"], mean.shape), u),
        "expert_action": algo.expert_label(algo.frozen, obs)}

  env_state, tr = rollout_lib.rollout(algo.env, state.env_state, policy_fn, key, 4,
                                      lambda o: {"next_value": jnp.zeros(o.eps.shape[:-1])})
  adv, ret = gae_lib.compute_gae(tr.reward, tr.extras["value"], tr.next_extras["next_value"],
                                 tr.termination, tr.done, c.gamma, c.gae_lambda)
  return env_state, {"obs": tr.obs, "raw_action": tr.extras["raw_action"],
                     "log_prob": tr.extras["log_prob"], "advantage": adv, "return": ret,
                     "expert_action": tr.extras["expert_action"]}


def test_value_warmup_and_kl_adaptive_rate(toy_bundles):
  """During the value warm-up only the critic moves (the policy's params and its Adam state are
  as initialised); after it the policy moves, and the KL-adaptive rule lowers the policy's rate when every
  minibatch's approx_kl exceeds twice a (here tiny) desired_kl; the critic keeps its own rate."""
  _, algo = _build(toy_bundles, value_warmup_iterations=1, lr_schedule="adaptive",
                   desired_kl=1e-12, critic_learning_rate=1e-3)
  state = algo.init(jax.random.PRNGKey(0))
  step = algo.jit_train_step(state)
  p0 = jax.tree.map(np.asarray, state.params)
  s1, m1 = step(state, jax.random.PRNGKey(1))
  p1 = jax.tree.map(np.asarray, s1.params)
  for k in ("student", "log_std"):
    jax.tree.map(np.testing.assert_array_equal, p1[k], p0[k])
  assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(p1["critic"]),
                                            jax.tree.leaves(p0["critic"])))
  assert float(m1["learning_rate"]) == pytest.approx(algo.cfg.learning_rate)
  # the warm-up leaves the policy's Adam as initialised (step count 0: the next step is Adam's
  # first, not a late one with zero moments); the critic's has counted its steps
  inner = s1.opt_state.inner_states
  init = algo.optimizer.init(s1.params).inner_states
  jax.tree.map(np.testing.assert_array_equal, inner["policy"], init["policy"])
  counts = [int(x) for x in jax.tree.leaves(inner["critic"]) if np.ndim(x) == 0]
  assert counts and min(counts) == algo.cfg.num_epochs * algo.cfg.num_minibatches, counts
  s2, m2 = step(s1, jax.random.PRNGKey(2))
  assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(s2.params["student"]),
                                            jax.tree.leaves(p1["student"])))
  steps = algo.cfg.num_epochs * algo.cfg.num_minibatches
  expect = max(algo.cfg.learning_rate / algo.cfg.lr_factor ** (steps - 1), algo.cfg.lr_min)
  assert float(m2["learning_rate"]) == pytest.approx(expect, rel=1e-4)


@pytest.mark.parametrize("layout", finetune.ANCHOR_OPTIMIZERS)
def test_hold_policy_state_keeps_the_policy_and_anchor_adams(layout):
  """``hold_policy_state``: where warm, the policy's and the anchor's Adam states stay as they
  were and the critic's advances; where not, every group advances (both optimiser layouts)."""
  cfg = finetune.FinetuneConfig(anchor_optimizer=layout)
  opt = finetune.make_optimizer(cfg)
  params = {"student": {"w": jnp.ones(3)}, "log_std": jnp.zeros(2), "critic": {"w": jnp.ones(4)}}
  g = jax.tree.map(jnp.ones_like, params)
  old = opt.init(params)
  _, new = opt.update({"rl": g, "anchor": g} if layout == "separate" else g, old, params)
  rl = lambda st: st.rl if layout == "separate" else st  # noqa: E731
  leaves = lambda t: [np.asarray(x) for x in jax.tree.leaves(t)]  # noqa: E731
  same = lambda a, b: all(np.array_equal(x, y) for x, y in zip(leaves(a), leaves(b)))  # noqa
  held = finetune.hold_policy_state(jnp.asarray(True), old, new)
  assert same(rl(held).inner_states["policy"], rl(old).inner_states["policy"])
  assert same(rl(held).inner_states["critic"], rl(new).inner_states["critic"])
  assert not same(rl(new).inner_states["policy"], rl(old).inner_states["policy"])
  if layout == "separate":
    assert same(held.anchor, old.anchor) and not same(new.anchor, old.anchor)
  assert same(finetune.hold_policy_state(jnp.asarray(False), old, new), new)


def test_latent_exploration_scores_the_prior_latent(toy_bundles):
  """explore="latent": the rollout stores the prior latent sample ``[.., Z]`` with its log-density
  under ``N(mu_p, (scale * sigma_p)^2)``, the env action is the decoder at that latent, and with
  no preservation PPO's gradient reaches the prior but not the decoder."""
  from interprior_jax.networks import mlp
  _, algo = _build(toy_bundles, explore="latent", latent_std_scale=0.5, distill_fraction=0.0,
                   w_prior_kl=0.0)
  state = algo.init(jax.random.PRNGKey(0))
  z_size = algo.model.cfg.latent_size
  obs = jax.tree.map(lambda x: x[:3], state.env_state.obs)
  d = algo.distribution(state.params, state.normalizer, obs)
  mean, log_std = algo.explored(d)
  assert mean.shape == (3, z_size)
  np.testing.assert_allclose(log_std, d["log_std_p"] + np.log(0.5), rtol=1e-6)
  u = mlp.gaussian_sample(jax.random.PRNGKey(3), mean, log_std)
  z = u / jnp.linalg.norm(u, axis=-1, keepdims=True) if algo.model.cfg.project_latent else u
  want = jnp.clip(algo.model.apply(state.params["student"], d["h"], z,
                                   method=algo.model.decode), -1, 1)
  np.testing.assert_allclose(algo.env_action(state.params, d, u), want, rtol=1e-5, atol=1e-6)
  # one train step: finite, and the decoder is unchanged (PPO does not reach it)
  p0 = jax.tree.map(np.asarray, state.params["student"]["params"])   # the step donates state
  s1, m = algo.jit_train_step(state)(state, jax.random.PRNGKey(1))
  assert np.isfinite(float(m["loss"])) and float(m["approx_kl"]) > 0
  p1 = jax.tree.map(np.asarray, s1.params["student"]["params"])
  jax.tree.map(np.testing.assert_array_equal, p1["decoder"], p0["decoder"])
  assert any(np.any(a != b) for a, b in zip(jax.tree.leaves(p1["prior_head"]),
                                            jax.tree.leaves(p0["prior_head"])))


@pytest.mark.parametrize("anchor_optimizer", ["shared", "separate"])
def test_finetune_resumes_exactly(toy_bundles, tmp_path, anchor_optimizer):
  """Orbax exact resume: 2 + 1 iterations == 3 straight (either optimiser layout)."""
  exp_dir, stu_dir = toy_bundles

  def cfg(n):
    c = load_config("finetune", "toy")
    c.finetune.anchor_optimizer = anchor_optimizer
    c.loop.update(num_iterations=n, checkpoint_every=1, keep_checkpoints=2,
                  async_checkpoints=False)
    return c
  straight = finetune.train(cfg(3), tmp_path / "b", stu_dir, exp_dir, logger=_quiet()).state
  finetune.train(cfg(2), tmp_path / "a", stu_dir, exp_dir, logger=_quiet())
  resumed = finetune.train(cfg(3), tmp_path / "a", stu_dir, exp_dir, logger=_quiet())
  assert resumed.resumed_from == 2 and len(resumed.history) == 1
  for x, y in zip(jax.tree.leaves((resumed.state.params, resumed.state.opt_state)),
                  jax.tree.leaves((straight.params, straight.opt_state))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_locomotion_variant_fits_the_committed_locomotion_student():
  """configs/finetune.py:locomotion resolves against pretrained/locomotion_student: body goals
  only (the walk clips never move the object, so an object goal would be reached at once), no
  random-pose starts (their goal is the object only), the student's heading noise kept."""
  student = finetune.load_bundle(REPO / "pretrained" / "locomotion_student")
  c = finetune.resolve_config(load_config("finetune", "locomotion"), student.config)
  assert not any("object" in f for f in c.goals.snapshot_families)
  gcfg = distill.goal_config_from(c.goals, c.distill.network.latent_size)  # validates families
  assert tuple(gcfg.snapshot_families) == tuple(c.goals.snapshot_families)
  assert c.env.init.random_pose_prob == 0.0 and c.env.init.psi_harvest == "failure"
  # the heading noise is the student's, inherited (the finetune's augment does not set it)
  assert "heading_noise" not in load_config("finetune", "locomotion").augment
  assert c.env.init.root_yaw_noise == student.config["env"]["init"]["root_yaw_noise"] > 0
  assert c.augment.heading_noise == student.config["augment"]["heading_noise"]
  assert c.preserve.goals.to_dict() == student.config["goals"]
  # the physics backend: the student's by default, one for every env group when set
  assert c.env.impl == c.preserve.env.impl == student.config["env"]["impl"] == "c"
  g = load_config("finetune", "locomotion,getup")
  g.physics_impl = "jax"
  g = finetune.resolve_config(g, student.config)
  assert g.env.impl == g.preserve.env.impl == g.getup_env.impl == "jax"
  g = load_config("finetune", "locomotion")
  g.physics_impl = "cuda"
  with pytest.raises(ValueError, match="impl"):
    finetune.resolve_config(g, student.config)


def test_goal_task_tolerance_scale(toy_bundles):
  """``evaluate_goal_task(tolerance_scale=s)`` scores the same episodes within s x the task's
  tolerances (contacts excepted), as a Stage-3 run's training band: a band wide enough for every
  state reaches every goal at once, and the scale is recorded."""
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training import distill_eval

  bundle = toy_bundles[1] / ckpt_lib.BUNDLE_DIR
  base = distill_eval.evaluate_goal_task(bundle, "snapshot", 8)
  wide = distill_eval.evaluate_goal_task(bundle, "snapshot", 8, tolerance_scale=1e4)
  assert wide["tolerance"] == {k: 1e4 * v for k, v in base["tolerance"].items()}
  assert base["success_rate"] < 1.0 and base["failure_rate"] == wide["failure_rate"] == 0.0
  assert wide["success_rate"] == 1.0
  with pytest.raises(ValueError, match="scale"):
    distill_eval.evaluate_goal_task(bundle, "snapshot", 8, tolerance_scale=0.0)


@pytest.mark.parametrize("explore", finetune.EXPLORE)
def test_exploration_noise_held_for_noise_hold_steps(toy_bundles, explore):
  """``noise_hold_steps`` K: the rollout's exploration noise (the sample's offset from the
  explored Gaussian's mean, in its std) is one draw per block of K steps, new draws between
  blocks; K = 1 (the default) keeps the previous per-step keys, so earlier runs reproduce."""
  from interprior_jax.networks import mlp
  from interprior_jax.training import rollout as rollout_lib

  key = jax.random.PRNGKey(3)
  np.testing.assert_array_equal(rollout_lib.held_keys(key, 8), jax.random.split(key, 8))
  _, algo = _build(toy_bundles, explore=explore, noise_hold_steps=4)
  assert algo.cfg.noise_hold_steps == 4
  state = algo.init(jax.random.PRNGKey(0))
  params, norm = state.params, state.normalizer

  def policy_fn(obs, k):
    mean, log_std = algo.explored(algo.distribution(params, norm, obs))
    u = mlp.gaussian_sample(k, mean, log_std)
    return algo.env_action(params, algo.distribution(params, norm, obs), u), {
        "xi": (u - mean) / jnp.exp(log_std)}

  _, tr = jax.jit(lambda s, k: rollout_lib.rollout(algo.env, s, policy_fn, k, 10,
                                                   noise_hold=algo.cfg.noise_hold_steps))(
      state.env_state, jax.random.PRNGKey(1))
  xi = np.asarray(tr.extras["xi"])            # [T, N, dim]
  for block in (xi[0:4], xi[4:8], xi[8:10]):
    np.testing.assert_allclose(block, np.broadcast_to(block[0], block.shape), atol=1e-5)
  assert np.abs(xi[4] - xi[0]).min() > 0 and np.abs(xi[8] - xi[4]).mean() > 0.1
  assert np.abs(xi[0, 0] - xi[0, 1]).mean() > 0.1   # envs still draw independently
  with pytest.raises(ValueError, match="noise_hold_steps"):
    _build(toy_bundles, noise_hold_steps=0)


def test_getup_needs_the_hoi_env_and_room(toy_bundles):
  """getup_fraction > 0 on the toy env (no physics to stand up in) and shares over 100 % are
  refused, naming the field."""
  with pytest.raises(ValueError, match="getup_fraction"):
    _build(toy_bundles, getup_fraction=0.25)
  with pytest.raises(ValueError, match="getup_fraction"):
    finetune.FinetuneConfig(distill_fraction=0.5, getup_fraction=0.6).validate()
