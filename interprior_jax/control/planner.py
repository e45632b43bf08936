"""Goal planners: a controller-side transform of the student's goal tokens (an observation ->
observation function), applied before the policy acts.  The policy and its training are
unchanged; a planner only fills tokens the task left empty, from tokens the task gave.

``root``: pelvis waypoints towards a snapshot goal.  A snapshot token asks for a pose ``n`` steps
ahead (``snap_steps``) and nothing in between; the walking students fall short of such goals (they
lag, docs/results.md, "Why the walking student misses snapshot goals").  This planner fills the
H trajectory tokens with the pelvis pose on the straight path from the current state to the
snapshot's pelvis: token ``k`` (1..H) is the snapshot's pelvis residual (height, position and
log-map rotation, goal - state in the heading frame) times ``min(k / n, 1)``, with the
``root`` family's mask (:data:`interprior_jax.envs.goals.MASK_FAMILIES`, the form the students'
pelvis trajectory goals and the keyboard's move keys take) and, for students with lead times,
``k dt``.  Re-planned at every step from the current residual, so a lag makes the waypoints
steeper.  Only where the snapshot gives the pelvis and ``n > 0``; everything else is kept.  It
reads nothing but the snapshot token: no reference frame in between is used.  Measured on the
walking student (docs/results.md, "Pelvis waypoints from the goal do not close the lag"): no
gain (snapshot 8/64 with it, 11/64 without); kept as an evaluation option.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from interprior_jax.envs import goals as goals_lib

PLANNERS = ("", "root")


def root_entries(field_names, field_ids) -> np.ndarray:
  """``(7,)`` int: the flat goal entries of the pelvis pose (root height, ``body_pos`` and
  ``body_rot`` of :data:`~interprior_jax.envs.goals.ROOT_BODY`) in a goal source's layout
  (``GoalSource.field_names`` / ``field_ids``: the field of every flat entry, in
  :data:`~interprior_jax.envs.goals.RESIDUAL_LAYOUT` order)."""
  field_names, field_ids = tuple(field_names), np.asarray(field_ids)
  out = []
  for name, width in (("root_height", 1), ("body_pos", 3), ("body_rot", 3)):
    if name not in field_names:
      raise ValueError(f"planner 'root': the goal layout has no field {name!r} ({field_names})")
    idx = np.flatnonzero(field_ids == field_names.index(name))
    start = goals_lib.ROOT_BODY * width if name != "root_height" else 0
    out.append(idx[start:start + width])
  return np.concatenate(out).astype(np.int32)


def root_waypoints(goals, mask, snap_steps, entries: np.ndarray, dt: float,
                   time_entry: int | None = None):
  """``(goals, mask)`` with the trajectory tokens (all but the last) replaced by pelvis waypoints
  towards the snapshot token (the last), where it gives the pelvis (module docstring).

  Args:
    goals, mask: ``(..., G, D)``: G - 1 trajectory tokens, then the snapshot token.
    snap_steps: ``(...)`` int, steps left until the snapshot's frame.
    entries: :func:`root_entries`.
    dt: seconds per step (the lead time of token k is ``k dt``).
    time_entry: the flat index of the lead-time entry, if the layout has one.
  """
  G = goals.shape[-2]
  H = G - 1
  if H < 1:
    return goals, mask
  entries = jnp.asarray(entries)
  snap, snap_m = goals[..., -1, :], mask[..., -1, :]
  n = jnp.asarray(snap_steps, jnp.float32)
  use = (jnp.all(snap_m[..., entries] > 0, axis=-1) & (n > 0))[..., None, None]
  k = jnp.arange(1, H + 1, dtype=jnp.float32)
  frac = jnp.minimum(k / jnp.maximum(n[..., None], 1.0), 1.0)  # (..., H)
  res = snap[..., None, :][..., entries] * frac[..., None]  # (..., H, 7)
  pg = jnp.zeros(goals.shape[:-2] + (H, goals.shape[-1]), goals.dtype).at[..., entries].set(res)
  pm = jnp.zeros_like(pg).at[..., entries].set(1.0)
  if time_entry is not None:
    pg = pg.at[..., time_entry].set(jnp.broadcast_to(k * dt, pg.shape[:-1]))
    pm = pm.at[..., time_entry].set(1.0)
  new_g = jnp.where(use, pg, goals[..., :H, :])
  new_m = jnp.where(use, pm, mask[..., :H, :])
  return (jnp.concatenate([new_g, goals[..., -1:, :]], axis=-2),
          jnp.concatenate([new_m, mask[..., -1:, :]], axis=-2))


def make_planner(name: str, source, dt: float) -> Callable | None:
  """``obs -> obs`` (a :class:`~interprior_jax.envs.goal_env.StudentObs`, any batch shape) for
  planner ``name`` (:data:`PLANNERS`; "" -> None) over a goal env's ``source`` (its field layout)."""
  from interprior_jax.envs import goal_env

  if name not in PLANNERS:
    raise ValueError(f"unknown planner {name!r}; valid {PLANNERS}")
  if not name:
    return None
  entries = root_entries(source.field_names, source.field_ids)
  names = tuple(source.field_names)
  time_entry = (int(np.flatnonzero(np.asarray(source.field_ids) ==
                                   names.index(goal_env.TIME_FIELD))[0])
                if goal_env.TIME_FIELD in names else None)

  def plan(obs):
    g, m = root_waypoints(obs.goals, obs.mask, obs.snap_steps, entries, dt, time_entry)
    return obs.replace(goals=g, mask=m)
  return plan


__all__ = ["PLANNERS", "root_entries", "root_waypoints", "make_planner"]
