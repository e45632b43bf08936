"""Early-termination conditions (registry) and the hand-contact-loss counter.

Each condition is a pure function ``(TermInputs, cfg) -> bool ()``; ``config.termination.enabled``
lists the active ones (unknown names fail at env construction).  Truncation (clip end, max
episode length) is handled by the env and never counts as termination.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import struct

from interprior_jax.envs.rewards import StepErrors


@struct.dataclass
class TermInputs:
  root_height: jax.Array  # () simulated root z (m)
  errors: StepErrors
  ref_obj_contact: jax.Array  # () 1.0 while the reference human touches the object
  hand_loss_steps: jax.Array  # (2,) int32 consecutive steps a required hand contact is missing


def update_hand_loss(counter: jax.Array, e: StepErrors) -> jax.Array:
  """(2,) int32: +1 while a hand must touch (reference) but does not (sim), else reset to 0."""
  missing = (e.hand_required > 0.5) & (e.hand_contact < 0.5)
  return jnp.where(missing, counter + 1, 0).astype(jnp.int32)


CONDITIONS: dict[str, Callable[[TermInputs, object], jax.Array]] = {
    "fall": lambda t, c: t.root_height < c.min_root_height,
    "body_dev": lambda t, c: t.errors.e_h > c.max_body_err,
    "obj_dev": lambda t, c: t.errors.e_o > c.max_obj_err,
    "ig_ratio": lambda t, c: (t.ref_obj_contact > 0.5) & (t.errors.ig_ratio > c.max_ig_ratio),
    "hand_contact_loss": lambda t, c: jnp.any(t.hand_loss_steps > c.max_hand_loss_steps),
}


def check_names(enabled) -> None:
  unknown = sorted(set(enabled) - set(CONDITIONS))
  if unknown:
    raise ValueError(f"config.termination.enabled: unknown conditions {unknown}; "
                     f"valid: {sorted(CONDITIONS)}")


def terminations(t: TermInputs, cfg) -> tuple[jax.Array, dict[str, jax.Array]]:
  """``(terminated bool (), {"term_<name>": float ()})`` for every registered condition
  (disabled ones report 0)."""
  flags, any_ = {}, jnp.zeros((), bool)
  for name, fn in CONDITIONS.items():
    hit = jnp.asarray(fn(t, cfg), bool) if name in cfg.enabled else jnp.zeros((), bool)
    flags[f"term_{name}"] = hit.astype(jnp.float32)
    any_ = any_ | hit
  return any_, flags
