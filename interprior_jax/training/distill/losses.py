"""Stage-2 distillation losses and schedules (free functions; method.md "Variational distillation").

``L = w_act |a_student - a_expert|^2 + w_rec L_rec + w_kl(step) KL(q || p) + w_scale L_scale
+ w_tc L_tc``. Every function reduces to a scalar with an optional validity weight ``w`` over the
batch dims (``None`` = all valid); shapes: ``...`` = any batch dims, A actions, Z latent,
G goal tokens, D_g goal-residual size.

Scaling (method.md's weights mean what they say): per sample, the action error, the reconstruction
error and the KL are all *sums* over their dimensions (``|a - a*|^2`` over A, hidden goal entries,
Z), then averaged over the batch.  (A per-dimension mean for the action term made every
regulariser A = 63 (smpl) / 153 (smplx) times stronger relative to it than the spec intends.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def _wmean(x: jax.Array, w: jax.Array | None) -> jax.Array:
  """Mean of ``x`` ``[...]`` weighted by ``w`` ``[...]`` (plain mean when ``w`` is None)."""
  if w is None:
    return jnp.mean(x)
  w = w.astype(x.dtype)
  return jnp.sum(x * w) / jnp.maximum(jnp.sum(w), 1.0)


def imitation_loss(action: jax.Array, expert_action: jax.Array,
                   w: jax.Array | None = None) -> jax.Array:
  """Batch mean of the squared error summed over the action dims (``|a - a*|^2``):
  ``[..., A]`` x2 -> scalar."""
  return _wmean(jnp.sum((action - expert_action) ** 2, axis=-1), w)


def masked_reconstruction_loss(pred: jax.Array, target: jax.Array, mask: jax.Array,
                               w: jax.Array | None = None) -> jax.Array:
  """Squared error summed over the *hidden* goal entries (``mask == 0``) of each sample, batch
  mean: ``pred, target, mask [..., G, D_g]`` -> scalar (0 when nothing is hidden)."""
  per_sample = jnp.sum((1.0 - mask) * (pred - target) ** 2, axis=(-2, -1))
  return _wmean(per_sample, w)


def gaussian_kl(mu_q: jax.Array, log_std_q: jax.Array, mu_p: jax.Array,
                log_std_p: jax.Array) -> jax.Array:
  """``KL(N(mu_q, s_q^2) || N(mu_p, s_p^2))`` of diagonal Gaussians, summed over the last axis:
  ``[..., Z]`` x4 -> ``[...]``."""
  var_ratio = jnp.exp(2.0 * (log_std_q - log_std_p))
  mahal = ((mu_q - mu_p) * jnp.exp(-log_std_p)) ** 2
  return 0.5 * jnp.sum(var_ratio + mahal - 1.0, axis=-1) + jnp.sum(log_std_p - log_std_q, axis=-1)


def kl_loss(mu_q, log_std_q, mu_p, log_std_p, w: jax.Array | None = None) -> jax.Array:
  """Batch mean of :func:`gaussian_kl` (q = residual posterior, p = prior)."""
  return _wmean(gaussian_kl(mu_q, log_std_q, mu_p, log_std_p), w)


def scale_loss(mu_p: jax.Array, target_norm: float = 1.0,
               w: jax.Array | None = None) -> jax.Array:
  """``L_scale = mean (|mu_p| - target)^2``: keeps the prior mean near the unit sphere.
  ``[..., Z]`` -> scalar."""
  return _wmean((jnp.linalg.norm(mu_p, axis=-1) - target_norm) ** 2, w)


def temporal_consistency_loss(mu_p: jax.Array, log_std_p: jax.Array,
                              same_episode: jax.Array) -> jax.Array:
  """``L_tc``: KL between consecutive prior distributions of one episode.

  Args:
    mu_p, log_std_p: ``[T, ..., Z]`` time-major priors.
    same_episode: ``[T - 1, ...]`` 1 where steps t and t+1 belong to the same episode.
  Returns: scalar ``mean_t KL(p_{t+1} || p_t)`` over valid pairs.
  """
  kl = gaussian_kl(mu_p[1:], log_std_p[1:], mu_p[:-1], log_std_p[:-1])
  return _wmean(kl, same_episode)


def log_linear(step: jax.Array, start: float, end: float, num_steps: int) -> jax.Array:
  """Geometric interpolation ``start -> end`` over ``num_steps`` iterations, then ``end``
  (``start`` at step 0; ``num_steps <= 0`` gives ``end``)."""
  if num_steps <= 0:
    return jnp.asarray(end, jnp.float32)
  f = jnp.clip(jnp.asarray(step, jnp.float32) / num_steps, 0.0, 1.0)
  return jnp.exp((1.0 - f) * jnp.log(start) + f * jnp.log(end))


def kl_weight(step: jax.Array, start: float, end: float, anneal_steps: int) -> jax.Array:
  """Annealed KL weight (method.md default 1e-4 -> 1e-2), log-linear in the iteration."""
  return log_linear(step, start, end, anneal_steps)


def dagger_beta(step: jax.Array, start: float, decay_steps: int, end: float = 0.0) -> jax.Array:
  """Probability of executing the expert's action: linear ``start -> end`` over
  ``decay_steps`` iterations, then ``end`` (default 0: pure student rollouts)."""
  if decay_steps <= 0:
    return jnp.asarray(end, jnp.float32)
  f = jnp.clip(jnp.asarray(step, jnp.float32) / decay_steps, 0.0, 1.0)
  return (1.0 - f) * start + f * end
