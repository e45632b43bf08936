"""Generalized advantage estimation with truncation vs termination (time-major arrays)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def compute_gae(rewards: jax.Array, values: jax.Array, next_values: jax.Array,
                terminations: jax.Array, dones: jax.Array, gamma: float,
                lam: float) -> tuple[jax.Array, jax.Array]:
  """Advantages and value targets, all arrays ``[T, N]``.

  ``values[t] = V(s_t)``; ``next_values[t] = V(s'_t)`` of the *true* next state (the final
  pre-reset observation when the episode ended at t, see ``rollout.py``).
  ``delta_t = r_t + gamma * (1 - term_t) * next_values[t] - values[t]`` (bootstrap on truncation,
  not on termination); ``A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}`` (no leakage across
  episode boundaries, whatever ended them). ``A_T`` = 0 beyond the rollout, which is exact because
  the last delta already bootstraps from ``next_values[T-1]``.
  Returns ``(advantages, returns = advantages + values)``.
  """
  deltas = rewards + gamma * (1.0 - terminations) * next_values - values
  decay = gamma * lam * (1.0 - dones)

  def body(acc, x):
    d, c = x
    acc = d + c * acc
    return acc, acc

  _, adv = jax.lax.scan(body, jnp.zeros_like(deltas[0]), (deltas, decay), reverse=True)
  return adv, adv + values
