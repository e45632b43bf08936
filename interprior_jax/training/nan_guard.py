"""Non-finite detection and update skipping (inside ``jit``), shared by all trainers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax


def tree_all_finite(tree) -> jax.Array:
  """Scalar bool: every floating leaf of ``tree`` is finite (True for an empty tree)."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)


def select(ok: jax.Array, new, old):
  """``new`` if ``ok`` (scalar bool) else ``old``, leafwise (pytrees of equal structure)."""
  return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def guarded_update(optimizer: optax.GradientTransformation, params, opt_state, loss: jax.Array,
                   grads):
  """One optimizer step that is skipped when ``loss`` or ``grads`` are non-finite.

  Returns ``(params, opt_state, ok)``: the updated pair when ``ok`` (scalar bool), the inputs
  unchanged otherwise (the trainers count ``~ok`` in ``metrics['nonfinite_updates']``).
  """
  ok = jnp.isfinite(loss) & tree_all_finite(grads)
  updates, new_opt = optimizer.update(grads, opt_state, params)
  new_params, new_opt = select(ok, (optax.apply_updates(params, updates), new_opt),
                               (params, opt_state))
  return new_params, new_opt, ok
