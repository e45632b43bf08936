"""SMPL-X / SMPL humanoids built with ``mujoco.MjSpec`` from the skeleton table.

Each non-root body has three hinges (x, y, z in its parent-aligned frame, in that order), so its
local rotation is ``Rx(a) Ry(b) Rz(c)`` (intrinsic XYZ).  PD control is MuJoCo *position actuators*
(``kp``, ``kv``) integrated with ``implicitfast``: measured, the spring-based reference file is
unstable, this form stands (see ../shared/interact_omomo/README.md).

Variants (registry :data:`HUMANOIDS`):
  * ``smplx``: all 52 bodies (153 actuated DoF, 90 of them fingers).
  * ``smpl``: the same without the 30 finger bodies (22 bodies, 63 actuated DoF).
Bodies keep the InterAct order (the skeleton table's order) in both.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import mujoco
import numpy as np

from interprior_jax.assets.smplx_skeleton import SMPLX_SKELETON

HINGE_AXES = ("x", "y", "z")
_FINGER_PREFIXES = ("Index", "Middle", "Pinky", "Ring", "Thumb")


def is_finger(body_name: str) -> bool:
  """True for the 30 SMPL-X finger bodies (``L_Index1`` ... ``R_Thumb3``)."""
  return body_name[2:].startswith(_FINGER_PREFIXES)


@dataclasses.dataclass(frozen=True)
class HumanoidDef:
  """A humanoid variant: its skeleton rows and its named body groups (names, not indices)."""
  name: str
  rows: tuple
  key_bodies: tuple[str, ...]
  contact_bodies: tuple[str, ...]
  hands: tuple[str, str]  # (left, right)
  hand_bodies: tuple[str, ...]  # every body of both hands (wrists plus fingers when present)
  feet: tuple[str, ...]
  head: str = "Head"
  root: str = "Pelvis"
  # PD offset: "mid_range" (InterMimic: mid + half_range * a) or "home" (robot convention:
  # home pose + half_range * a, clipped to the joint range); the standing init pose uses it too.
  action_offset_mode: str = "mid_range"

  @property
  def body_names(self) -> tuple[str, ...]:
    return tuple(r[0] for r in self.rows)


_BODY_CORE = ("Pelvis", "L_Hip", "L_Knee", "L_Ankle", "L_Toe", "R_Hip", "R_Knee", "R_Ankle",
              "R_Toe", "Torso", "Spine", "Chest", "Neck", "Head", "L_Thorax", "L_Shoulder",
              "L_Elbow", "L_Wrist", "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist")
# Key bodies for tracking errors (E_h) and the interaction graph: extremities + head + pelvis.
_KEY_BODIES = ("Pelvis", "L_Ankle", "R_Ankle", "L_Toe", "R_Toe", "Head", "L_Elbow", "R_Elbow",
               "L_Wrist", "R_Wrist", "L_Knee", "R_Knee", "L_Shoulder", "R_Shoulder")
_FEET = ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe")
_FINGERTIPS = tuple(f"{s}_{f}3" for s in "LR" for f in _FINGER_PREFIXES)


def _smplx() -> HumanoidDef:
  rows = SMPLX_SKELETON
  names = [r[0] for r in rows]
  return HumanoidDef(
      name="smplx", rows=rows, key_bodies=_KEY_BODIES,
      # Contact bodies: every body except the proximal/middle finger segments (22 + 10 tips).
      contact_bodies=_BODY_CORE + _FINGERTIPS,
      hands=("L_Wrist", "R_Wrist"),
      hand_bodies=tuple(n for n in names if n in ("L_Wrist", "R_Wrist") or is_finger(n)),
      feet=_FEET)


def _smpl() -> HumanoidDef:
  rows = tuple(r for r in SMPLX_SKELETON if not is_finger(r[0]))
  return HumanoidDef(
      name="smpl", rows=rows, key_bodies=_KEY_BODIES, contact_bodies=_BODY_CORE,
      hands=("L_Wrist", "R_Wrist"), hand_bodies=("L_Wrist", "R_Wrist"), feet=_FEET)


HUMANOIDS: dict[str, Callable[[], HumanoidDef]] = {"smplx": _smplx, "smpl": _smpl}


def get_humanoid_def(name: str) -> HumanoidDef:
  if name not in HUMANOIDS:
    raise KeyError(f"unknown humanoid {name!r}; known: {sorted(HUMANOIDS)} (and 'g1')")
  return HUMANOIDS[name]()


@dataclasses.dataclass(frozen=True)
class HumanoidBuildOptions:
  """Build-time knobs (all from config)."""
  contype: int = 2
  conaffinity: int = 1
  condim: int = 3
  friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)
  gain_scale: float = 1.0  # multiplies every kp and kv
  armature: float | None = None  # None: the table's value
  rgba: tuple[float, float, float, float] = (0.8, 0.6, 0.4, 1.0)
  prefix: str = ""


_GEOM_TYPES = {"sphere": mujoco.mjtGeom.mjGEOM_SPHERE, "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
               "box": mujoco.mjtGeom.mjGEOM_BOX}


def add_humanoid(spec: mujoco.MjSpec, hdef: HumanoidDef,
                 opts: HumanoidBuildOptions = HumanoidBuildOptions()) -> None:
  """Adds the humanoid (free root, 3 hinges per body, one position actuator per hinge) to spec.

  Joint and actuator names are ``<prefix><Body>_<axis>``; the free joint is ``<prefix><root>``.
  Angles in the table are degrees; the spec is built in radians.
  """
  bodies: dict[str, mujoco.MjsBody] = {}
  p = opts.prefix
  for name, parent, pos, g, kp, kd, arm, ranges in hdef.rows:
    parent_body = spec.worldbody if parent is None else bodies[parent]
    body = parent_body.add_body(name=p + name, pos=list(pos))
    bodies[name] = body
    if parent is None:
      body.add_freejoint(name=p + name)
    geom_kw = dict(type=_GEOM_TYPES[g["type"]], density=g["density"], contype=opts.contype,
                   conaffinity=opts.conaffinity, condim=opts.condim,
                   friction=list(opts.friction), rgba=list(opts.rgba), name=p + name)
    size = list(g["size"]) + [0.0] * (3 - len(g["size"]))
    if "fromto" in g:
      geom_kw["fromto"] = list(g["fromto"])
    if "pos" in g:
      geom_kw["pos"] = list(g["pos"])
    body.add_geom(size=size, **geom_kw)
    for axis, (lo, hi) in zip(HINGE_AXES, ranges):
      jname = f"{p}{name}_{axis}"
      rng = [math.radians(lo), math.radians(hi)]
      body.add_joint(name=jname, type=mujoco.mjtJoint.mjJNT_HINGE,
                     axis=[float(axis == a) for a in HINGE_AXES], range=rng,
                     limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                     armature=arm if opts.armature is None else opts.armature)
      act = spec.add_actuator(name=jname, target=jname,
                              trntype=mujoco.mjtTrn.mjTRN_JOINT)
      act.set_to_position(kp=kp * opts.gain_scale, kv=kd * opts.gain_scale)
      act.ctrlrange = rng
      act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE


def lowest_point_z(model: mujoco.MjModel, data: mujoco.MjData, geom_ids: np.ndarray) -> float:
  """Lowest world z over the given sphere/capsule/box geoms at the current ``data`` pose."""
  lo = np.inf
  for gid in geom_ids:
    t, size = model.geom_type[gid], model.geom_size[gid]
    c, R = data.geom_xpos[gid], data.geom_xmat[gid].reshape(3, 3)
    if t == mujoco.mjtGeom.mjGEOM_SPHERE:
      z = c[2] - size[0]
    elif t == mujoco.mjtGeom.mjGEOM_CAPSULE:
      z = c[2] - abs(R[2, 2]) * size[1] - size[0]
    elif t == mujoco.mjtGeom.mjGEOM_BOX:
      z = c[2] - np.abs(R[2, :]) @ size[:3]
    else:
      z = c[2] - model.geom_rbound[gid]
    lo = min(lo, z)
  return float(lo)
