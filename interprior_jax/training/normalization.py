"""Running mean / std of observations (pytrees), merged batch-wise (Chan et al. parallel Welford).

Generic over pytrees of arrays. ``update`` reduces over all leading batch axes with ``jnp.mean``;
under ``jit`` with a batch sharded over a device mesh these are *global* reductions (XLA inserts the
all-reduce), so every device ends with identical statistics: sharded-safe and identical to the
single-device result up to float reduction order.

Shapes: a stats leaf has the feature shape ``F`` of its observation leaf; a batch leaf is ``[*B, *F]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

# Variance floor before the square root (avoids division by ~0 for constant features).
STD_EPS = 1e-5


@struct.dataclass
class RunningStats:
  """``count`` scalar (float32 samples seen); ``mean`` / ``m2`` pytrees of ``F``-shaped leaves
  (``m2`` = sum of squared deviations, so ``var = m2 / count``)."""
  count: jax.Array
  mean: object
  m2: object

  @property
  def var(self):
    return jax.tree.map(lambda m2: m2 / jnp.maximum(self.count, 1.0), self.m2)

  @property
  def std(self):
    """Standard deviation (1 before any sample, so an empty normalizer is the identity)."""
    seen = self.count > 0
    return jax.tree.map(lambda v: jnp.where(seen, jnp.sqrt(jnp.maximum(v, STD_EPS**2)), 1.0),
                        self.var)


def init(example) -> RunningStats:
  """Empty statistics for observations shaped like ``example`` (a pytree of ``F``-shaped leaves,
  arrays or ``jax.ShapeDtypeStruct``)."""
  zeros = jax.tree.map(lambda x: jnp.zeros(x.shape, jnp.float32), example)
  return RunningStats(count=jnp.zeros((), jnp.float32), mean=zeros,
                      m2=jax.tree.map(jnp.zeros_like, zeros))


def update(stats: RunningStats, batch, mask: jax.Array | None = None) -> RunningStats:
  """Merges a batch (leaves ``[*B, *F]``, ``B`` = leading axes beyond the stats' ``F``) into stats.

  ``mask`` (``[*B]``, optional, 0/1) excludes samples (e.g. padding). Exact parallel-variance
  merge: equal to the statistics of all samples seen so far concatenated.
  """
  leaves_s = jax.tree.leaves(stats.mean)
  leaves_b = jax.tree.leaves(batch)
  if len(leaves_s) != len(leaves_b):
    raise ValueError(f"normalization.update: batch has {len(leaves_b)} leaves, stats "
                     f"{len(leaves_s)}")
  first = leaves_b[0]
  nb = first.ndim - leaves_s[0].ndim
  batch_shape = first.shape[:nb]
  w = jnp.ones(batch_shape, jnp.float32) if mask is None else mask.astype(jnp.float32)
  n_b = jnp.sum(w)
  axes = tuple(range(nb))

  def moments(x, s):
    x = x.astype(jnp.float32)
    wb = w.reshape(batch_shape + (1,) * s.ndim)
    mean_b = jnp.sum(wb * x, axis=axes) / jnp.maximum(n_b, 1.0)
    m2_b = jnp.sum(wb * (x - mean_b) ** 2, axis=axes)
    return mean_b, m2_b

  n_a = stats.count
  n = n_a + n_b
  frac = n_b / jnp.maximum(n, 1.0)

  def merge(mean_a, m2_a, x):
    mean_b, m2_b = moments(x, mean_a)
    delta = mean_b - mean_a
    mean = mean_a + delta * frac
    m2 = m2_a + m2_b + delta * delta * n_a * frac
    return mean, m2

  merged = jax.tree.map(merge, stats.mean, stats.m2, batch)
  treedef = jax.tree.structure(stats.mean)
  flat = treedef.flatten_up_to(merged)
  mean = treedef.unflatten([m for m, _ in flat])
  m2 = treedef.unflatten([q for _, q in flat])
  return RunningStats(count=n, mean=mean, m2=m2)


def normalize(stats: RunningStats, obs, clip: float | None = None):
  """``(obs - mean) / std``, optionally clipped to ``[-clip, clip]``; leaves ``[*B, *F]``."""
  def f(x, m, s):
    y = (x - m) / s
    return y if clip is None else jnp.clip(y, -clip, clip)
  return jax.tree.map(f, obs, stats.mean, stats.std)


def denormalize(stats: RunningStats, obs):
  return jax.tree.map(lambda y, m, s: y * s + m, obs, stats.mean, stats.std)
