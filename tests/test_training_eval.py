"""Evaluation: metric aggregation on synthetic episode data (hand-computed), first-episode
statistics on the toy env, ``evaluate_bundle`` end to end on a toy bundle (fast), and the HOI
path on a smoke-trained expert (``INTERPRIOR_SLOW_TESTS=1``: HOI compile)."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from interprior_jax.training import evaluation, expert
from interprior_jax.envs import toy_env

from test_training import expert_config


def test_summarize_hand_computed():
  names = ["a", "b", "a", "b"]  # two episodes per clip
  per_env = {"success": np.array([1.0, 0.0, 1.0, 1.0]), "terminated": np.array([0, 1, 0, 0.0]),
             "ended": np.ones(4), "length": np.array([10.0, 4.0, 10.0, 12.0]),
             "e_h": np.array([0.1, 0.5, 0.3, 0.2]), "e_o": np.array([0.0, 1.0, 0.2, 0.4])}
  s = evaluation.summarize(per_env, names, ("e_h", "e_o"))
  assert s["num_episodes"] == 4
  assert s["success_rate"] == pytest.approx(0.75)
  assert s["mean_length"] == pytest.approx(9.0)
  assert s["e_h"] == pytest.approx(0.275) and s["e_o"] == pytest.approx(0.4)
  a, b = s["per_clip"]
  assert (a["name"], a["episodes"], a["success_rate"]) == ("a", 2, 1.0)
  assert a["e_h"] == pytest.approx(0.2) and a["e_o"] == pytest.approx(0.1)
  assert b["success_rate"] == pytest.approx(0.5) and b["mean_length"] == pytest.approx(8.0)
  assert b["e_o"] == pytest.approx(0.7)
  assert [e["success"] for e in s["episodes"]] == [True, False, True, True]
  assert s["episodes"][1]["terminated"] and s["episodes"][1]["length"] == 4
  assert [e["ended_by"] for e in s["episodes"]] == [[], [], [], []]  # no term_* entries given
  flags = {"term_fall": np.array([0, 1, 0, 0.0]), "term_obj_dev": np.array([0, 1, 0, 0.0])}
  s = evaluation.summarize({**per_env, **flags}, names, ("e_h", "e_o"))
  assert [e["ended_by"] for e in s["episodes"]] == [[], ["fall", "obj_dev"], [], []]
  with pytest.raises(ValueError, match="e_h"):
    evaluation.summarize({**per_env, "e_h": np.zeros(3)}, names, ("e_h",))


def test_best_episode_prefers_success_then_length():
  e = lambda s, n: {"success": s, "length": n}  # noqa: E731
  assert evaluation.best_episode([e(False, 50), e(True, 30), e(True, 40), e(False, 90)]) == 2
  assert evaluation.best_episode([e(False, 50), e(False, 70), e(False, 70)]) == 1


def test_first_episode_stats_counts_only_the_first_episode():
  cfg = toy_env.ToyConfig(init_speed=0.0, init_pos=0.0, clip_steps=5)
  env = toy_env.PointMassTracking(cfg)
  n = 3
  reset = jax.vmap(env.reset)(jax.random.split(jax.random.PRNGKey(0), n))
  act = lambda obs, k: jnp.zeros((obs.shape[0], toy_env.DIM))  # noqa: E731
  out = jax.jit(lambda s, k: evaluation.first_episode_stats(env, s, act, k, 12, ("e_pos",)))(
      reset, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(out["length"], 5.0)  # the later episodes are ignored
  np.testing.assert_array_equal(out["success"], 1.0)
  np.testing.assert_array_equal(out["terminated"], 0.0)
  # e_pos = mean over the first episode's 5 steps (recomputed by stepping by hand)
  s, errs = reset, []
  for _ in range(5):
    s = jax.vmap(env.step)(s, jnp.zeros((n, toy_env.DIM)))
    errs.append(np.asarray(s.metrics["e_pos"]))
  np.testing.assert_allclose(out["e_pos"], np.mean(errs, axis=0), rtol=1e-5)
  short = jax.jit(lambda s, k: evaluation.first_episode_stats(env, s, act, k, 3, ("e_pos",)))(
      reset, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(short["ended"], 0.0)  # not finished within 3 steps
  np.testing.assert_array_equal(short["success"], 0.0)


def test_evaluate_bundle_toy(tmp_path):
  config = expert_config("toy")
  config.ppo.num_envs = 4
  config.ppo.minibatch_size = 16
  algo = expert.build(config)
  state = algo.init(jax.random.PRNGKey(0))
  algo.export(state, tmp_path / "policy", config)
  res = evaluation.evaluate_bundle(tmp_path / "policy", evaluation.EvalOptions(seed=1))
  assert res["num_episodes"] == 4 and len(res["per_clip"]) == 4
  eps = res["episodes"]
  assert res["success_rate"] == pytest.approx(np.mean([e["success"] for e in eps]))
  assert all(e["success"] != e["terminated"] for e in eps) and np.isfinite(res["e_pos"])
  assert res["e_h"] is None and res["trained_iterations"] == 0
  with pytest.raises(ValueError, match="perturb"):
    evaluation.EvalOptions(perturb="sometimes")


@pytest.mark.slow  # HOI env compile (tests/conftest.py)
def test_evaluate_smoke_expert_hoi(tmp_path):
  """Two smoke iterations on the synthetic clip, then eval with fixed impulses, 2 episodes."""
  config = expert_config("smoke")
  res = expert.train(config, tmp_path)
  assert int(res.state.step) == config.loop.num_iterations
  out = evaluation.evaluate_bundle(tmp_path / "policy",
                                   evaluation.EvalOptions(perturb="fixed", episodes_per_clip=2))
  assert out["perturb"] == "fixed" and out["num_episodes"] == 2 * config.data.num_clips
  assert out["trained_iterations"] == config.loop.num_iterations
  assert out["success_rate"] == pytest.approx(np.mean([e["success"] for e in out["episodes"]]))
  assert 0.0 <= out["e_h"] < 1.0 and 0.0 <= out["e_o"] < 2.0
  clip = out["per_clip"][0]
  assert clip["episodes"] == 2 and clip["mean_length"] >= 1
  for ep in out["episodes"]:
    assert ep["ended"] and ep["success"] != ep["terminated"]  # every clip played to its end
