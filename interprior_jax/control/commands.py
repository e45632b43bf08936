"""Keyboard commands -> goals the goal-conditioned policy already understands.

Every command becomes a target :class:`~interprior_jax.envs.goals.Features` ``y`` built from the
current simulated state ``x`` (both in the heading frame of the simulated root, as Stage 2's goals
are) plus a mask, for either the H trajectory tokens or the snapshot token of the student's goal
input (``GoalConfig``: H trajectory tokens, then one snapshot token).  The flat goal is
``flatten(m * (y (-) x))`` and the flat mask ``mask_to_flat(m)``, exactly as during distillation
(:func:`interprior_jax.envs.goal_env._hoi_source`).

Key map (:data:`KEYMAP`; browser ``KeyboardEvent.key`` names, the desktop viewer maps GLFW codes
onto them):

=============  ============  =====================================================================
key            command       goal
=============  ============  =====================================================================
w / ArrowUp    forward       pelvis trajectory ``MOVE_SPEED`` m/s ahead along the current heading
s / ArrowDown  back          the same, backwards
a / ArrowLeft  turn_left     walk ``MOVE_SPEED`` m/s along a heading ``TURN_ANGLE`` left of the
                             current one (trajectory; re-aimed every step: it keeps turning)
d / ArrowRight turn_right    the same, to the right
f              approach      pelvis ``APPROACH_DIST`` m short of the object, facing it (snapshot)
g              grasp         both hands touching the object (contact snapshot)
r              lift          object at ``LIFT_HEIGHT`` m, hands on it (object snapshot)
v              lower         object back at its resting height, hands on it
c              carry         object ``CARRY_DIST`` m ahead at ``LIFT_HEIGHT``, hands on it
p              put_down      object at rest height where it is, then hands off (put_down, release)
x              release       hands not touching the object
space          stand         pelvis where it is, upright at standing height
n              snapshot      next dataset snapshot goal (a reference frame, full mask)
m              chain         next goal chain (3 dataset snapshots, 1.5 s apart, advancing on reach)
u              get_up        no goal, the get-up skill's task (a Stage-3 finetune with it:
                             ``finetune.getup_fraction``; such a session does not reset on falls)
Backspace / 0  reset         back to the first frame of the current clip
h              help          the key map (no goal change)
=============  ============  =====================================================================
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from interprior_jax import geometry
from interprior_jax.envs import goals as goals_lib

MOVE_SPEED = 0.8  # m/s of the move and turn commands' pelvis trajectory
# rad: a turn command's pelvis target heading, relative to the current one.  The students learn
# to turn from the heading-noise augmentation (distill ``augment.heading_noise``, +-60 deg): their
# reference pelvis goals then point up to 60 deg off their own heading, moving along it.  A turn
# goal of that shape is followed; turning on the spot (the pelvis kept in place, its heading
# ramped at 1 rad/s: the first form) lies outside the walk clips and was ignored
# (docs/results.md, "The steering student").
TURN_ANGLE = float(np.radians(60.0))
# s: how far ahead a move / turn command also sets the snapshot token's pelvis target (the
# default of ``GoalLayout.move_lead_steps`` as the play session builds it).  A pelvis pose ~1 s out
# carries the command as the students' snapshot goals do (horizons of 10-90 steps); the trajectory
# tokens alone (t+1..t+4) give a few centimetres (docs/results.md, "The steering student").
MOVE_LEAD_S = 1.0
APPROACH_DIST = 0.45  # m between the pelvis and the object centre after "approach"
LIFT_HEIGHT = 1.0  # m above the floor: the object centre after "lift" / "carry"
CARRY_DIST = 1.5  # m ahead of the pelvis: where "carry" takes the object
STAND_HEIGHT_SCALE = 1.0  # x the clip's first-frame pelvis height for "stand"

# Browser key names -> command names.
KEYMAP: dict[str, str] = {
    "w": "forward", "ArrowUp": "forward", "s": "back", "ArrowDown": "back",
    "a": "turn_left", "ArrowLeft": "turn_left", "d": "turn_right", "ArrowRight": "turn_right",
    "f": "approach", "g": "grasp", "r": "lift", "v": "lower", "c": "carry", "p": "put_down",
    "x": "release", " ": "stand", "n": "snapshot", "m": "chain", "Backspace": "reset",
    "0": "reset", "h": "help", "u": "get_up",
}
# Commands that are goals (the rest act on the session: reset, help, dataset goals).
GOAL_COMMANDS = ("stand", "forward", "back", "turn_left", "turn_right", "approach", "grasp",
                 "lift", "lower", "carry", "put_down", "release", "get_up")
# Commands that ask for another skill than goal reaching (``goal_env.TASKS``; the prior's task
# token), with their task's name.
TASK_COMMANDS = {"get_up": "get_up"}
SESSION_COMMANDS = ("snapshot", "chain", "reset", "help")
TRAJECTORY_COMMANDS = ("forward", "back", "turn_left", "turn_right")


def help_text() -> str:
  """One line per command with its keys (the on-screen help overlay)."""
  by_cmd: dict[str, list[str]] = {}
  for k, c in KEYMAP.items():
    by_cmd.setdefault(c, []).append("space" if k == " " else k)
  return "\n".join(f"{'/'.join(keys):<18} {c}" for c, keys in by_cmd.items())


def command_for_key(key: str) -> str | None:
  """The command of a key (single letters case-insensitive), None for an unknown key."""
  if key in KEYMAP:
    return KEYMAP[key]
  return KEYMAP.get(key.lower()) if len(key) == 1 else None


@dataclasses.dataclass(frozen=True)
class GoalLayout:
  """What a goal builder needs to know about the embodiment and the student's goal input.

  num_bodies B / num_contacts C: the residual layout's sizes; root_idx: the pelvis body index;
  hand_contact_slots: indices into the C contact entries that are hand bodies; trajectory_steps H
  (tokens at t+1..t+H); dt: policy step (s); obj_rest_z: the object's resting centre height (m);
  stand_height: pelvis height of "stand" (m); move_lead_steps: when > 0, the move / turn commands
  also fill the snapshot token with their target this many policy steps ahead (a pelvis pose
  ~1 s out carries more of the command than the H trajectory tokens' few centimetres and
  degrees; docs/play.md); 0: the snapshot token stays empty. time_input: the student's goal
  tokens end with their lead time in seconds (``GoalConfig.time_input``).
  """
  num_bodies: int
  num_contacts: int
  root_idx: int
  hand_contact_slots: tuple[int, ...]
  trajectory_steps: int
  dt: float
  obj_rest_z: float
  stand_height: float
  move_lead_steps: int = 0
  time_input: bool = False

  @property
  def num_goals(self) -> int:
    return self.trajectory_steps + 1


def _yaw_quat(angle):
  half = 0.5 * angle
  return jnp.stack([jnp.cos(half), 0.0 * half, 0.0 * half, jnp.sin(half)], -1)


def _none(lay: GoalLayout) -> goals_lib.Features:
  return goals_lib.full_mask(lay.num_bodies, lay.num_contacts, 0.0)


def _pelvis_mask(lay: GoalLayout, rot: bool = True, height: bool = True) -> goals_lib.Features:
  sel = jnp.zeros((lay.num_bodies, 1)).at[lay.root_idx].set(1.0)
  return _none(lay).replace(body_pos=sel, body_rot=sel if rot else jnp.zeros_like(sel),
                            root_height=jnp.full((1,), float(height)))


def _hands_contact(lay: GoalLayout, x: goals_lib.Features, value: float):
  """(y.contact, mask.contact): the hand slots labelled ``value``, the others hidden."""
  slots = jnp.asarray(lay.hand_contact_slots)
  y = jnp.zeros((lay.num_contacts,)).at[slots].set(value)
  m = jnp.zeros((lay.num_contacts,)).at[slots].set(1.0)
  return y, m


def _obj_goal(lay, x, pos):
  yc, mc = _hands_contact(lay, x, 1.0)
  y = x.replace(obj_pos=pos, contact=yc)
  m = _none(lay).replace(obj_pos=jnp.ones(1), obj_rot=jnp.ones(1), contact=mc)
  return y, m


def _move(sign):
  def build(lay, x, k, root_z, spot):
    y = x.replace(body_pos=x.body_pos.at[lay.root_idx, 0].add(sign * MOVE_SPEED * k * lay.dt))
    # the pelvis at its current height: the "root" mask family the student is distilled with
    return y, _pelvis_mask(lay, rot=True, height=True)
  return build


def _turn(sign):
  def build(lay, x, k, root_z, spot):
    th = sign * TURN_ANGLE
    ahead = MOVE_SPEED * k * lay.dt
    r = lay.root_idx
    pos = x.body_pos.at[r, :2].add(ahead * jnp.array([np.cos(th), np.sin(th)]))
    q = geometry.quat_mul(_yaw_quat(jnp.asarray(th)), x.body_rot[r])
    y = x.replace(body_pos=pos, body_rot=x.body_rot.at[r].set(q))
    return y, _pelvis_mask(lay, rot=True, height=True)
  return build


def _stand(lay, x, k, root_z, spot):
  y = x.replace(root_height=jnp.full((1,), lay.stand_height))
  return y, _pelvis_mask(lay)


def _approach(lay, x, k, root_z, spot):
  obj = x.obj_pos.at[2].set(0.0)
  dist = geometry.safe_norm(obj)
  direction = obj / jnp.maximum(dist, 1e-6)
  target = direction * jnp.maximum(dist - APPROACH_DIST, 0.0)
  yaw = jnp.arctan2(direction[1], direction[0])
  body_pos = x.body_pos.at[lay.root_idx, :2].set(target[:2])
  body_rot = x.body_rot.at[lay.root_idx].set(
      geometry.quat_mul(_yaw_quat(yaw), x.body_rot[lay.root_idx]))
  return x.replace(body_pos=body_pos, body_rot=body_rot), _pelvis_mask(lay, height=False)


def _grasp(lay, x, k, root_z, spot):
  yc, mc = _hands_contact(lay, x, 1.0)
  return x.replace(contact=yc), _none(lay).replace(contact=mc)


def _release(lay, x, k, root_z, spot):
  yc, mc = _hands_contact(lay, x, -1.0)
  return x.replace(contact=yc), _none(lay).replace(contact=mc)


def _lift(lay, x, k, root_z, spot):
  return _obj_goal(lay, x, x.obj_pos.at[2].set(LIFT_HEIGHT - root_z))


def _lower(lay, x, k, root_z, spot):
  return _obj_goal(lay, x, x.obj_pos.at[2].set(lay.obj_rest_z - root_z))


def _carry(lay, x, k, root_z, spot):
  return _obj_goal(lay, x, jnp.stack([spot[0], spot[1], LIFT_HEIGHT - root_z]))


# command -> builder(layout, x, k steps ahead, simulated root height, spot) -> (y, mask); spot:
# the carry target in the heading frame of the simulated root (fixed in the world at the key press).
BUILDERS: dict[str, Callable] = {
    "stand": _stand, "forward": _move(1.0), "back": _move(-1.0), "turn_left": _turn(1.0),
    "turn_right": _turn(-1.0), "approach": _approach, "grasp": _grasp, "lift": _lift,
    "lower": _lower, "carry": _carry, "put_down": _lower, "release": _release,
    "get_up": lambda lay, x, k, root_z, spot: (x, _none(lay)),  # no goal: the task says it
}
assert tuple(BUILDERS) == GOAL_COMMANDS


def command_goal(lay: GoalLayout, command: str, x: goals_lib.Features, root_z,
                 spot=None) -> tuple[jax.Array, jax.Array]:
  """``(goals (G, D_g), mask (G, D_g))`` of ``command`` for the current features ``x``
  (unbatched, heading frame of the simulated root) and world root height ``root_z``: a
  trajectory command fills the H trajectory tokens (targets at t+1..t+H) and, with
  ``lay.move_lead_steps`` > 0, the snapshot token with its target that many steps ahead (else
  leaves it empty); any other command fills the snapshot token only.  ``spot`` (3,): the
  "carry" target in the heading frame of the simulated root (default ``CARRY_DIST`` m straight ahead)."""
  if command not in BUILDERS:
    raise ValueError(f"unknown goal command {command!r}; known {GOAL_COMMANDS}")
  B, C = lay.num_bodies, lay.num_contacts
  D = goals_lib.layout_size(goals_lib.RESIDUAL_LAYOUT, B, C) + int(lay.time_input)
  empty = jnp.zeros((D,))
  spot = jnp.array([CARRY_DIST, 0.0, 0.0]) if spot is None else jnp.asarray(spot)

  def token(k):
    y, m = BUILDERS[command](lay, x, k, root_z, spot)
    res = goals_lib.goal_residual(x, y, m)
    g, mf = goals_lib.flatten(res, goals_lib.RESIDUAL_LAYOUT), goals_lib.mask_to_flat(m, B, C)
    if lay.time_input:  # the token's lead time, given with the token (goal_env.with_time_input)
      g = jnp.append(g, k * lay.dt)
      mf = jnp.append(mf, jnp.any(mf > 0).astype(mf.dtype))
    return g, mf

  H = lay.trajectory_steps
  if command in TRAJECTORY_COMMANDS:
    lead = token(lay.move_lead_steps) if lay.move_lead_steps > 0 else (empty, empty)
    toks = [token(k) for k in range(1, H + 1)] + [lead]
  else:
    toks = [(empty, empty)] * H + [token(0)]
  g, m = zip(*toks)
  return jnp.stack(g), jnp.stack(m)


def hand_contact_slots(contact_body_idx, hand_body_idx) -> tuple[int, ...]:
  """Indices of the contact entries whose body is a hand body (empty -> ValueError)."""
  hands = set(int(i) for i in np.asarray(hand_body_idx).ravel())
  slots = tuple(i for i, b in enumerate(np.asarray(contact_body_idx)) if int(b) in hands)
  if not slots:
    raise ValueError("no contact body is a hand body: the grasp / release goals need one")
  return slots


__all__ = ["KEYMAP", "GOAL_COMMANDS", "SESSION_COMMANDS", "TRAJECTORY_COMMANDS", "TASK_COMMANDS",
           "GoalLayout", "command_goal", "command_for_key", "help_text", "hand_contact_slots", "BUILDERS"]
