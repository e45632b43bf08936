"""Non-finite detection and update skipping (inside ``jit``), shared by all trainers."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def tree_all_finite(tree) -> jax.Array:
  """Scalar bool: every floating leaf of ``tree`` is finite (True for an empty tree)."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def select(ok: jax.Array, new, old):
  """``new`` if ``ok`` (scalar bool) else ``old``, leafwise (pytrees of equal structure)."""
  return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)
