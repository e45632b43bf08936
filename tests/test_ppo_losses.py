"""PPO pieces against hand-computed values: GAE (truncation vs termination), surrogate, value,
bound and entropy terms, Gaussian log-prob, running normalizer, VecEnv episode bookkeeping."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from interprior_jax.networks import mlp
from interprior_jax.training import gae, normalization, rollout
from interprior_jax.training.ppo import losses as ppo_losses
from interprior_jax.envs import toy_env


def test_gae_hand_computed_truncation_vs_termination():
  # column 0: episode truncated at t=1 (bootstrap), column 1: terminated at t=1 (no bootstrap)
  r = jnp.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
  v = jnp.array([[0.5, 0.5], [1.0, 1.0], [1.5, 1.5]])
  nv = jnp.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])
  term = jnp.array([[0.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
  done = jnp.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
  adv, ret = gae.compute_gae(r, v, nv, term, done, gamma=0.9, lam=0.8)
  # deltas: 1 + .9*1 - .5 = 1.4 ; 2 + .9*2 - 1 = 2.8 (trunc) or 2 - 1 = 1.0 (term) ; 3 + .9*4 - 1.5
  np.testing.assert_allclose(adv[:, 0], [1.4 + 0.72 * 2.8, 2.8, 5.1], rtol=1e-6)
  np.testing.assert_allclose(adv[:, 1], [1.4 + 0.72 * 1.0, 1.0, 5.1], rtol=1e-6)
  np.testing.assert_allclose(ret, adv + v, rtol=1e-6)


def test_gae_matches_python_reference():
  rng = np.random.default_rng(0)
  t, n, g, lam = 7, 3, 0.97, 0.9
  r, v, nv = (rng.normal(size=(t, n)).astype(np.float32) for _ in range(3))
  done = (rng.random((t, n)) < 0.3).astype(np.float32)
  term = done * (rng.random((t, n)) < 0.5)
  adv, _ = gae.compute_gae(*map(jnp.asarray, (r, v, nv, term, done)), gamma=g, lam=lam)
  ref = np.zeros((t, n), np.float32)
  acc = np.zeros(n, np.float32)
  for i in reversed(range(t)):
    delta = r[i] + g * (1 - term[i]) * nv[i] - v[i]
    acc = delta + g * lam * (1 - done[i]) * acc
    ref[i] = acc
  np.testing.assert_allclose(adv, ref, rtol=1e-5, atol=1e-6)


def test_clipped_surrogate_hand_computed():
  lp = jnp.log(jnp.array([1.0, 1.5, 0.5]))
  loss, aux = ppo_losses.clipped_surrogate_loss(lp, jnp.zeros(3), jnp.array([1.0, 1.0, -1.0]), 0.2)
  # ratios 1, 1.5, 0.5 -> min(unclipped, clipped) = 1, 1.2, -0.8
  np.testing.assert_allclose(loss, -(1.0 + 1.2 - 0.8) / 3, rtol=1e-6)
  np.testing.assert_allclose(aux["clip_frac"], 2 / 3, rtol=1e-6)
  kl = np.mean([0.0, 0.5 - np.log(1.5), -0.5 - np.log(0.5)])
  np.testing.assert_allclose(aux["approx_kl"], kl, rtol=1e-5)


def test_value_loss_hand_computed():
  v, old, ret = jnp.array([1.0, 2.0]), jnp.array([0.0, 2.0]), jnp.array([2.0, 3.0])
  np.testing.assert_allclose(ppo_losses.value_loss(v, old, ret, None), 0.5, rtol=1e-6)
  # clipped: V_old + clip(1, -.2, .2) = .2 -> (0.2 - 2)^2 = 3.24 dominates 1
  np.testing.assert_allclose(ppo_losses.value_loss(v, old, ret, 0.2), 0.5 * (3.24 + 1.0) / 2,
                             rtol=1e-6)


def test_bound_and_entropy_hand_computed():
  mean = jnp.array([[1.5, -0.2], [-2.0, 0.9]])
  np.testing.assert_allclose(ppo_losses.action_bound_loss(mean, 1.0), (0.25 + 1.0) / 2, rtol=1e-6)
  log_std = jnp.array([[-2.9, 0.3]])
  ent = mlp.gaussian_entropy(log_std)
  np.testing.assert_allclose(ent, [stats.norm(0, np.exp(-2.9)).entropy()
                                   + stats.norm(0, np.exp(0.3)).entropy()], rtol=1e-5)
  np.testing.assert_allclose(ppo_losses.entropy_bonus(ent), -ent[0], rtol=1e-6)
  adv = ppo_losses.normalize_advantages(jnp.array([1.0, 2.0, 3.0, 6.0]))
  np.testing.assert_allclose([adv.mean(), adv.std()], [0.0, 1.0], atol=1e-5)


def test_gaussian_log_prob_matches_scipy():
  mean = jnp.array([[0.1, -0.3, 0.0]])
  log_std = jnp.array([[-2.9, -1.0, 0.5]])
  x = jnp.array([[0.15, -0.1, 2.0]])
  ref = stats.norm(np.asarray(mean), np.exp(np.asarray(log_std))).logpdf(np.asarray(x)).sum(-1)
  np.testing.assert_allclose(mlp.gaussian_log_prob(mean, log_std, x), ref, rtol=1e-5)


def test_running_normalizer_matches_numpy_with_mask_and_pytree():
  rng = np.random.default_rng(1)
  a = rng.normal(3.0, 2.0, size=(4, 5, 3)).astype(np.float32)  # batch [4, 5], feature [3]
  b = rng.normal(-1.0, 0.5, size=(6, 3)).astype(np.float32)
  mask = (rng.random(6) < 0.6).astype(np.float32)
  s = normalization.init({"x": jax.ShapeDtypeStruct((3,), jnp.float32)})
  s = normalization.update(s, {"x": jnp.asarray(a)})
  s = normalization.update(s, {"x": jnp.asarray(b)}, mask=jnp.asarray(mask))
  allx = np.concatenate([a.reshape(-1, 3), b[mask > 0]])
  assert float(s.count) == len(allx)
  np.testing.assert_allclose(s.mean["x"], allx.mean(0), rtol=1e-5)
  np.testing.assert_allclose(s.std["x"], allx.std(0), rtol=1e-4)
  y = normalization.normalize(s, {"x": jnp.asarray(allx)}, clip=1.0)["x"]
  assert float(jnp.max(jnp.abs(y))) <= 1.0
  z = normalization.normalize(s, {"x": jnp.asarray(allx)})["x"]
  np.testing.assert_allclose(normalization.denormalize(s, {"x": z})["x"], allx, rtol=1e-4,
                             atol=1e-4)
  empty = normalization.init(jax.ShapeDtypeStruct((3,), jnp.float32))
  np.testing.assert_allclose(normalization.normalize(empty, jnp.ones(3)), 1.0)  # identity


def _zero_policy(obs, key):
  return jnp.zeros(obs.shape[:-1] + (toy_env.DIM,)), {}


def _final_frac(final_obs):
  return {"frac": final_obs[..., -1]}


@pytest.mark.parametrize("case", ["truncate", "terminate", "time_limit"])
def test_vecenv_truncation_termination_and_final_obs(case):
  if case == "terminate":
    cfg = toy_env.ToyConfig(init_speed=0.0, init_pos=0.0, arena=0.25, clip_steps=50)
    env = rollout.VecEnv(toy_env.PointMassTracking(cfg), 3)
    policy = lambda o, k: (jnp.ones(o.shape[:-1] + (2,)), {})  # noqa: E731  accelerate out
  else:
    cfg = toy_env.ToyConfig(init_speed=0.0, init_pos=0.0, clip_steps=3)
    env = rollout.VecEnv(toy_env.PointMassTracking(cfg), 3,
                         episode_length=2 if case == "time_limit" else 0)
    policy = _zero_policy
  s0 = env.reset(jax.random.PRNGKey(0))
  _, tr = jax.jit(lambda s, k: rollout.rollout(env, s, policy, k, 7, _final_frac))(
      s0, jax.random.PRNGKey(1))
  done = np.asarray(tr.done[:, 0])
  if case == "truncate":
    np.testing.assert_array_equal(done, [0, 0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(tr.truncation[:, 0], done)
    assert float(jnp.sum(tr.termination)) == 0
    # bootstrap input is the final pre-reset observation (phase 3/3), not the reset one (0)
    np.testing.assert_allclose(tr.next_extras["frac"][2], 1.0)
    np.testing.assert_allclose(tr.obs[3, :, -1], 0.0)
    np.testing.assert_allclose(tr.done_length[2], 3.0)
  elif case == "time_limit":
    np.testing.assert_array_equal(done, [0, 1, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(tr.truncation[:, 0], done)
    np.testing.assert_allclose(tr.next_extras["frac"][1], 2 / 3, rtol=1e-6)
  else:
    t_end = int(np.argmax(done))
    assert 0 < t_end < 6
    np.testing.assert_array_equal(tr.termination[:, 0], done)
    assert float(jnp.sum(tr.truncation)) == 0
  if case == "truncate":  # return of the finished episode = sum of its rewards
    np.testing.assert_allclose(tr.done_return[2], jnp.sum(tr.reward[:3], 0), rtol=1e-5)
    np.testing.assert_allclose(tr.done_return[:2], 0.0)


class _SelfResettingToy(toy_env.PointMassTracking):
  """Resets finished episodes inside ``step`` (HOIEnv-style), keyed by ``info['rng']``;
  ``final_obs=True``: also reports the pre-reset observation in ``info['final_obs']`` (as HOIEnv
  does)."""

  def __init__(self, cfg, final_obs: bool = False):
    super().__init__(cfg)
    self.final_obs = final_obs

  def reset(self, rng):
    s = super().reset(rng)
    extra = {"final_obs": s.obs} if self.final_obs else {}
    return s.replace(info={**s.info, "rng": rng, **extra})

  def step(self, state, action):
    s = super().step(state, action)
    k, k_reset = jax.random.split(state.info["rng"])
    fresh = super().reset(k_reset)
    fresh = fresh.replace(info={**fresh.info, "rng": k})
    if self.final_obs:
      fresh = fresh.replace(info={**fresh.info, "final_obs": fresh.obs})
    nxt = jax.tree.map(lambda a, b: jnp.where(s.done > 0, a, b), fresh, s)
    extra = {"final_obs": s.obs} if self.final_obs else {}
    return nxt.replace(reward=s.reward, done=s.done, metrics=s.metrics,
                       info={**nxt.info, "truncation": s.info["truncation"], "rng": k, **extra})


def test_vecenv_self_resetting_env_uses_pre_step_obs_for_bootstrap():
  cfg = toy_env.ToyConfig(init_speed=0.0, init_pos=0.0, clip_steps=3)
  env = rollout.VecEnv(_SelfResettingToy(cfg), 2, self_resetting=True)
  with pytest.raises(ValueError, match="episode_length"):
    rollout.VecEnv(_SelfResettingToy(cfg), 2, episode_length=5, self_resetting=True)
  s0 = env.reset(jax.random.PRNGKey(0))
  _, tr = jax.jit(lambda s, k: rollout.rollout(env, s, _zero_policy, k, 4, _final_frac))(
      s0, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(tr.done[:, 0], [0, 0, 1, 0])
  np.testing.assert_array_equal(tr.truncation[:, 0], [0, 0, 1, 0])
  # no env-provided final obs: V(s_T) ~ V(s_{T-1}) -> the observation the action was taken in
  np.testing.assert_allclose(tr.next_extras["frac"][2], 2 / 3, rtol=1e-6)
  np.testing.assert_allclose(tr.next_extras["frac"][1], 2 / 3, rtol=1e-6)  # live: true next
  np.testing.assert_allclose(tr.obs[3, :, -1], 0.0)  # the env reset itself
  np.testing.assert_allclose(tr.done_length[2], 3.0)


def test_self_resetting_env_final_obs_is_exact_bootstrap_in_gae():
  """An env that reports ``info['final_obs']`` (HOIEnv): the truncated step bootstraps from
  V(s_T) of the pre-reset state, and GAE's delta on that step uses it."""
  cfg = toy_env.ToyConfig(init_speed=0.0, init_pos=0.0, clip_steps=3)
  env = rollout.VecEnv(_SelfResettingToy(cfg, final_obs=True), 2, self_resetting=True)
  s0 = env.reset(jax.random.PRNGKey(0))
  _, tr = jax.jit(lambda s, k: rollout.rollout(env, s, _zero_policy, k, 5, _final_frac))(
      s0, jax.random.PRNGKey(1))
  np.testing.assert_array_equal(tr.truncation[:, 0], [0, 0, 1, 0, 0])
  np.testing.assert_allclose(tr.next_extras["frac"][2], 1.0)  # phase 3/3: s_T, not s_{T-1}
  np.testing.assert_allclose(tr.obs[3, :, -1], 0.0)  # next obs is the reset one
  # V(o) = phase fraction: GAE on the truncated step = r + gamma * V(s_T) - V(s_{T-1}).
  gamma, lam = 0.9, 0.8
  values = tr.obs[..., -1]
  adv, _ = gae.compute_gae(tr.reward, values, tr.next_extras["frac"], tr.termination, tr.done,
                           gamma, lam)
  np.testing.assert_allclose(adv[2], tr.reward[2] + gamma * 1.0 - 2.0 / 3.0, rtol=1e-5)
  # the same rollout without final_obs would bootstrap from 2/3 (the approximation)
  approx = tr.reward[2] + gamma * 2.0 / 3.0 - 2.0 / 3.0
  assert float(jnp.min(jnp.abs(adv[2] - approx))) > 0.2
