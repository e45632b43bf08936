"""Stage-3 losses as free functions over arrays. Every one reduces with a weight ``w`` over the
batch (1 on the envs the objective owns: PPO envs, or the distillation share; 0 elsewhere), so one
minibatch carries both objectives and one optimiser step combines their gradients.

Shapes: leading batch dims ``[...]`` (time-major minibatches ``[T, n]``), actions ``[..., A]``,
latents ``[..., Z]``; weights ``[...]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from interprior_jax.training.distill import losses as distill_losses


def wmean(x: jax.Array, w: jax.Array) -> jax.Array:
  """Weighted mean; 0 when every weight is 0."""
  return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1.0)


def normalize_advantages(adv: jax.Array, w: jax.Array) -> jax.Array:
  """``(adv - mean) / std`` with the weighted moments of the owning envs."""
  m = wmean(adv, w)
  s = jnp.sqrt(wmean((adv - m) ** 2, w))
  return (adv - m) / (s + 1e-8)


def surrogate_loss(log_prob: jax.Array, old_log_prob: jax.Array, adv: jax.Array,
                   clip_eps: float, w: jax.Array) -> tuple[jax.Array, dict]:
  """PPO's clipped surrogate (to minimise) and diagnostics ``approx_kl``, ``clip_frac``."""
  ratio = jnp.exp(log_prob - old_log_prob)
  obj = jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv)
  log_r = log_prob - old_log_prob
  return -wmean(obj, w), {"approx_kl": wmean(jnp.exp(log_r) - 1.0 - log_r, w),
                          "clip_frac": wmean((jnp.abs(ratio - 1.0) > clip_eps)
                                             .astype(jnp.float32), w)}


def value_loss(values: jax.Array, returns: jax.Array, w: jax.Array) -> jax.Array:
  return wmean(0.5 * (values - returns) ** 2, w)


def imitation_loss(action: jax.Array, expert_action: jax.Array, w: jax.Array) -> jax.Array:
  """Squared action error summed over A (Stage 2's ``L_act``), weighted mean over the batch."""
  return wmean(jnp.sum((action - expert_action) ** 2, axis=-1), w)


def prior_kl_loss(mu: jax.Array, log_std: jax.Array, mu0: jax.Array, log_std0: jax.Array,
                  w: jax.Array) -> jax.Array:
  """``KL(p_theta(z | .) || p_0(z | .))`` to the frozen distilled prior, summed over Z."""
  return wmean(distill_losses.gaussian_kl(mu, log_std, mu0, log_std0), w)
