"""PPO loss terms as free functions over arrays (shapes in docstrings; all return scalars unless
stated). Each is checked against hand-computed values in ``tests/test_ppo_losses.py``."""

from __future__ import annotations

import jax
import jax.numpy as jnp

# Advantage normalization epsilon.
ADV_EPS = 1e-8


def normalize_advantages(adv: jax.Array) -> jax.Array:
  """``(adv - mean) / (std + eps)`` over all entries (global under a sharded ``jit``)."""
  return (adv - jnp.mean(adv)) / (jnp.std(adv) + ADV_EPS)


def clipped_surrogate_loss(log_prob: jax.Array, old_log_prob: jax.Array, adv: jax.Array,
                           clip_eps: float) -> tuple[jax.Array, dict]:
  """``-mean(min(rho * A, clip(rho, 1 - eps, 1 + eps) * A))``, ``rho = exp(lp - lp_old)``; inputs
  ``[B]``. Aux: clip fraction and approximate KL (``mean((rho - 1) - log rho)``)."""
  log_ratio = log_prob - old_log_prob
  ratio = jnp.exp(log_ratio)
  unclipped = ratio * adv
  clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv
  loss = -jnp.mean(jnp.minimum(unclipped, clipped))
  aux = {"clip_frac": jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
         "approx_kl": jnp.mean((ratio - 1.0) - log_ratio)}
  return loss, aux


def value_loss(values: jax.Array, old_values: jax.Array, returns: jax.Array,
               clip_eps: float | None) -> jax.Array:
  """``0.5 * mean((V - R)^2)``; with ``clip_eps`` the PPO clipped form
  ``0.5 * mean(max((V - R)^2, (V_old + clip(V - V_old, -eps, eps) - R)^2))``. Inputs ``[B]``."""
  err = (values - returns) ** 2
  if clip_eps is not None:
    v_clip = old_values + jnp.clip(values - old_values, -clip_eps, clip_eps)
    err = jnp.maximum(err, (v_clip - returns) ** 2)
  return 0.5 * jnp.mean(err)


def action_bound_loss(mean: jax.Array, bound: float) -> jax.Array:
  """Penalty on policy means outside ``[-bound, bound]``:
  ``mean_b(sum_a(max(mu - bound, 0)^2 + min(mu + bound, 0)^2))``; ``mean`` ``[B, A]``."""
  hi = jnp.maximum(mean - bound, 0.0) ** 2
  lo = jnp.minimum(mean + bound, 0.0) ** 2
  return jnp.mean(jnp.sum(hi + lo, axis=-1))


def entropy_bonus(entropy: jax.Array) -> jax.Array:
  """``-mean(entropy)`` (add with a positive coefficient to *encourage* entropy); ``[B]``."""
  return -jnp.mean(entropy)
