"""Declarative expert observation: blocks of named terms whose sizes come from the scene.

Layout (B bodies, C contact bodies, K future offsets; every size derived, never typed):

* ``self``: :data:`goals.FEATURE_LAYOUT` of the simulated state in its own heading frame
  (root height, body positions / 6-D rotations / velocities, object pose and velocities relative to
  the root, interaction field, body-object contact flags);
* ``floor_contact``: (C,) body-floor contact flags;
* ``goal_<k>`` for each offset k (policy steps, default t+1 and t+16): the full residual
  ``y_{t+k} (-) x_t`` (:data:`goals.RESIDUAL_LAYOUT`, unmasked for the expert) of the reference.

:class:`ObsSpec` lists ``(block, term, shape)`` rows; :meth:`ObsSpec.slices` maps names to slices
of the flat vector, and a test checks that the built vector has exactly :attr:`ObsSpec.size`.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from interprior_jax.envs import goals


@dataclasses.dataclass(frozen=True)
class ObsSpec:
  num_bodies: int
  num_contacts: int
  future_offsets: tuple[int, ...]

  @property
  def blocks(self) -> tuple[tuple[str, tuple], ...]:
    """``(block name, layout)`` in vector order; a layout is ``((term, shape_fn, enc), ...)``."""
    floor = (("floor_contact", lambda B, C: (C,), lambda x: x),)
    return ((("self", goals.FEATURE_LAYOUT), ("floor_contact", floor))
            + tuple((f"goal_{k}", goals.RESIDUAL_LAYOUT) for k in self.future_offsets))

  def rows(self) -> list[tuple[str, str, tuple[int, ...]]]:
    B, C = self.num_bodies, self.num_contacts
    return [(blk, name, tuple(shape(B, C))) for blk, layout in self.blocks
            for name, shape, _ in layout]

  @property
  def size(self) -> int:
    return int(sum(np.prod(s) for _, _, s in self.rows()))

  def slices(self) -> dict[str, slice]:
    """``"block/term" -> slice`` into the flat observation."""
    out, i = {}, 0
    for blk, name, s in self.rows():
      n = int(np.prod(s))
      out[f"{blk}/{name}"] = slice(i, i + n)
      i += n
    return out


def build_observation(spec: ObsSpec, x_self: goals.Features, floor_contact: jax.Array,
                      goal_feats: list[goals.Features], clip_value: float) -> jax.Array:
  """Flat observation ``(spec.size,)`` (any leading dims).

  Args:
    x_self: simulated-state features (anchor = simulated root).
    floor_contact: (..., C) body-floor flags of the contact bodies.
    goal_feats: one reference :class:`goals.Features` per future offset, same anchor.
    clip_value: symmetric clip of the raw values (a guard; normalisation is the trainer's job).
  """
  if len(goal_feats) != len(spec.future_offsets):
    raise ValueError(f"{len(goal_feats)} goal frames for offsets {spec.future_offsets}")
  parts = [goals.flatten(x_self, goals.FEATURE_LAYOUT), floor_contact.astype(jnp.float32)]
  for y in goal_feats:
    parts.append(goals.flatten(goals.goal_residual(x_self, y), goals.RESIDUAL_LAYOUT))
  return jnp.clip(jnp.concatenate(parts, axis=-1), -clip_value, clip_value)
