"""Latent policy network and distillation losses on small synthetic batches (CPU-fast)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from interprior_jax.networks import latent_policy as lp
from interprior_jax.networks.transformer import TransformerConfig
from interprior_jax.training.distill import losses as L

A, K, G, DG, DS, R, Z, N = 3, 2, 3, 5, 4, 7, 6, 4


@pytest.fixture(scope="module")
def model_and_params():
  cfg = lp.LatentPolicyConfig(latent_size=Z, prior=TransformerConfig(d_model=16, num_heads=2,
                                                                      num_layers=2, mlp_ratio=2),
                              encoder_hidden=(16,), decoder_hidden=(16,), recon_hidden=(8,))
  model = lp.make_latent_policy(A, K, G, DG, cfg)
  k = jax.random.split(jax.random.PRNGKey(0), 6)
  batch = {"history": jax.random.normal(k[0], (N, K, DS)),
           "goals": jax.random.normal(k[1], (N, G, DG)),
           "mask": jax.random.bernoulli(k[2], 0.5, (N, G, DG)).astype(jnp.float32),
           "reference": jax.random.normal(k[3], (N, R)), "eps": jax.random.normal(k[4], (N, Z))}
  params = model.init(k[5], batch["history"], batch["goals"], batch["mask"], batch["reference"],
                      batch["eps"])
  return model, params, batch


def test_shapes_and_unit_latent(model_and_params):
  model, params, b = model_and_params
  out = model.apply(params, b["history"], b["goals"], b["mask"], b["reference"], b["eps"])
  assert out["action"].shape == (N, A) and out["goal_recon"].shape == (N, G, DG)
  for k in ("mu_p", "log_std_p", "mu_q", "log_std_q", "z"):
    assert out[k].shape == (N, Z), k
  np.testing.assert_allclose(jnp.linalg.norm(out["z"], axis=-1), 1.0, atol=1e-5)
  np.testing.assert_allclose(out["mu_q"], out["mu_p"] + out["mu_residual"], atol=1e-6)
  act = model.apply(params, b["history"], b["goals"], b["mask"], b["eps"], method=model.act)
  assert act.shape == (N, A) and bool(jnp.all(jnp.isfinite(act)))
  # extra leading dims (time-major minibatches) work
  tb = jax.tree.map(lambda x: jnp.stack([x, x]), b)
  out2 = model.apply(params, tb["history"], tb["goals"], tb["mask"], tb["reference"], tb["eps"])
  np.testing.assert_allclose(out2["action"][1], out["action"], atol=1e-5)
  with pytest.raises(ValueError, match="do not match"):
    model.apply(params, b["history"], b["goals"][:, :2], b["mask"][:, :2], b["eps"],
                method=model.act)


def test_projection_switch_and_sphere():
  z = jnp.array([[3.0, 4.0], [0.0, 0.0], [1e-3, 0.0]])
  n = jnp.linalg.norm(lp.project_to_sphere(z), axis=-1)
  np.testing.assert_allclose(np.asarray(n)[[0, 2]], 1.0, atol=1e-6)
  assert bool(jnp.all(jnp.isfinite(n)))
  mu, ls, eps = jnp.ones((2, 2)), jnp.zeros((2, 2)), jnp.ones((2, 2))
  np.testing.assert_allclose(lp.sample_latent(mu, ls, eps, project=False), 2.0)
  np.testing.assert_allclose(jnp.linalg.norm(lp.sample_latent(mu, ls, eps, True), axis=-1), 1.0,
                             atol=1e-6)


def test_masked_goal_entries_have_no_influence(model_and_params):
  """Gradient test: d(any output)/d(goal entry) == 0 exactly where mask == 0 (prior path and
  the inference action), and non-zero somewhere where mask == 1."""
  model, params, b = model_and_params

  def prior_out(goals):
    mu, ls = model.apply(params, b["history"], goals, b["mask"], method=model.prior)
    return jnp.sum(mu * 1.3 + ls * 0.7)

  def act_out(goals):
    return jnp.sum(model.apply(params, b["history"], goals, b["mask"], b["eps"],
                               method=model.act) ** 2)

  for f in (prior_out, act_out):
    g = jax.grad(f)(b["goals"])
    hidden = b["mask"] == 0
    assert bool(jnp.all(g[hidden] == 0.0))
    assert float(jnp.max(jnp.abs(g[~hidden]))) > 0.0
  # and changing a hidden entry leaves the action bit-identical
  perturbed = jnp.where(b["mask"] == 0, b["goals"] + 100.0, b["goals"])
  a0 = model.apply(params, b["history"], b["goals"], b["mask"], b["eps"], method=model.act)
  a1 = model.apply(params, b["history"], perturbed, b["mask"], b["eps"], method=model.act)
  np.testing.assert_array_equal(np.asarray(a0), np.asarray(a1))


def test_kl_zero_for_zero_residual_and_matching_sigma():
  k = jax.random.split(jax.random.PRNGKey(1), 2)
  mu_p, ls = jax.random.normal(k[0], (5, Z)), 0.3 * jax.random.normal(k[1], (5, Z))
  np.testing.assert_allclose(L.gaussian_kl(mu_p + 0.0, ls, mu_p, ls), 0.0, atol=1e-6)
  assert float(L.kl_loss(mu_p + 0.5, ls, mu_p, ls)) > 0.0
  assert float(L.kl_loss(mu_p, ls + 0.2, mu_p, ls)) > 0.0
  # closed form check in 1-D: KL(N(1, 2^2) || N(0, 1)) = log(1/2) + (4 + 1)/2 - 1/2
  kl = L.gaussian_kl(jnp.array([1.0]), jnp.log(jnp.array([2.0])), jnp.zeros(1), jnp.zeros(1))
  np.testing.assert_allclose(kl, np.log(0.5) + 2.5 - 0.5, rtol=1e-6)


def test_losses_and_schedules():
  a = jnp.ones((3, A))
  assert float(L.imitation_loss(a, a)) == 0.0
  np.testing.assert_allclose(L.imitation_loss(a, a + 2.0), 4.0 * A)  # |a - a*|^2: sum over A
  w = jnp.array([1.0, 0.0, 0.0])
  np.testing.assert_allclose(L.imitation_loss(a.at[1:].set(9.0), a, w), 0.0)
  # reconstruction only scores hidden entries, summed per sample, batch mean
  pred, tgt = jnp.zeros((2, G, DG)), jnp.ones((2, G, DG))
  mask = jnp.zeros((2, G, DG)).at[0].set(1.0)  # sample 0 sees everything, sample 1 nothing
  np.testing.assert_allclose(L.masked_reconstruction_loss(pred, tgt, mask), G * DG / 2)
  np.testing.assert_allclose(L.masked_reconstruction_loss(pred, tgt, jnp.ones_like(mask)), 0.0)
  # The ratio the spec's weights assume: one unit of error in every action dim costs A units,
  # as much as a KL of A nats (both sums), whatever A is.
  mu, ls = jnp.zeros((1, Z)), jnp.zeros((1, Z))
  kl_one_nat_per_dim = L.kl_loss(mu + jnp.sqrt(2.0), ls, mu, ls)
  np.testing.assert_allclose(kl_one_nat_per_dim, Z, rtol=1e-6)
  np.testing.assert_allclose(L.imitation_loss(jnp.ones((1, A)), jnp.zeros((1, A))), A)
  # scale: zero on the unit sphere
  np.testing.assert_allclose(L.scale_loss(jnp.array([[0.6, 0.8]])), 0.0, atol=1e-7)
  np.testing.assert_allclose(L.scale_loss(jnp.array([[3.0, 0.0]])), 4.0, rtol=1e-6)
  # tc: zero for constant priors; episode boundaries are excluded
  mu = jnp.zeros((4, 2, Z)).at[2:].set(5.0)
  ls = jnp.zeros((4, 2, Z))
  same = jnp.ones((3, 2)).at[1].set(0.0)  # the jump 1 -> 2 is an episode boundary
  np.testing.assert_allclose(L.temporal_consistency_loss(mu, ls, same), 0.0, atol=1e-7)
  assert float(L.temporal_consistency_loss(mu, ls, jnp.ones((3, 2)))) > 0.0
  # schedules
  np.testing.assert_allclose(L.kl_weight(0, 1e-4, 1e-2, 10), 1e-4, rtol=1e-5)
  np.testing.assert_allclose(L.kl_weight(5, 1e-4, 1e-2, 10), 1e-3, rtol=1e-5)
  np.testing.assert_allclose(L.kl_weight(50, 1e-4, 1e-2, 10), 1e-2, rtol=1e-5)
  np.testing.assert_allclose(L.dagger_beta(0, 1.0, 4), 1.0)
  np.testing.assert_allclose(L.dagger_beta(2, 1.0, 4), 0.5)
  np.testing.assert_allclose(L.dagger_beta(9, 1.0, 4), 0.0)


def test_network_config_rejects_unknown_fields():
  with pytest.raises(ValueError, match="unknown fields"):
    lp.config_from_dict({"latent_size": 4, "decoder": (8,)})
  with pytest.raises(ValueError, match="prior"):
    lp.config_from_dict({"prior": {"layers": 2}})
  c = lp.config_from_dict({"latent_size": 4, "decoder_hidden": [8, 8], "prior": {"d_model": 8}})
  assert c.decoder_hidden == (8, 8) and c.prior.d_model == 8


def test_task_tokens_extend_a_trained_prior(model_and_params):
  """Stage 3's task token: a prior given zero task tokens (``with_task_tokens``) acts exactly as
  the one it extends, on every task; a trained row changes its own task only; num_tasks 1
  ignores ``task``."""
  import dataclasses
  model, params, b = model_and_params
  two = model.clone(cfg=dataclasses.replace(model.cfg, num_tasks=2))
  p2 = lp.with_task_tokens(params, 2, model.cfg.prior.d_model)
  assert lp.with_task_tokens(p2, 2, model.cfg.prior.d_model) is p2
  h, g, m = b["history"], b["goals"], b["mask"]
  task = jnp.array([0, 1, 0, 1])
  mu0, ls0 = model.apply(params, h, g, m, method=model.prior)
  np.testing.assert_array_equal(model.apply(params, h, g, m, task, method=model.prior)[0], mu0)
  mu, ls = two.apply(p2, h, g, m, task, method=two.prior)
  np.testing.assert_allclose(mu, mu0, atol=1e-6)
  np.testing.assert_allclose(ls, ls0, atol=1e-6)
  inner = dict(p2["params"])
  # (a random row: a constant one would vanish in the transformer's layer norms)
  inner["task_tokens"] = inner["task_tokens"].at[1].set(
      jax.random.normal(jax.random.PRNGKey(2), (model.cfg.prior.d_model,)))
  mu1, _ = two.apply({**p2, "params": inner}, h, g, m, task, method=two.prior)
  moved = np.abs(np.asarray(mu1 - mu0)).max(axis=-1)
  assert np.all(moved[[0, 2]] < 1e-6) and np.all(moved[[1, 3]] > 1e-3), moved
  a = two.apply({**p2, "params": inner}, h, g, m, b["eps"], task, method=two.act)
  assert a.shape == (N, A)
  # a freshly initialised prior with num_tasks 2 has the parameter, zeros
  fresh = two.init(jax.random.PRNGKey(1), h, g, m, b["reference"], b["eps"])
  assert fresh["params"]["task_tokens"].shape == (2, model.cfg.prior.d_model)
  assert float(jnp.abs(fresh["params"]["task_tokens"]).max()) == 0.0
