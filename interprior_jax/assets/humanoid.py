"""SMPL-X / SMPL humanoids built with ``mujoco.MjSpec`` from the skeleton table.

Each non-root body has three hinges (x, y, z in its parent-aligned frame, in that order), so its
local rotation is ``Rx(a) Ry(b) Rz(c)`` (intrinsic XYZ).  PD control is MuJoCo *position actuators*
(``kp``, ``kv``) integrated with ``implicitfast``: measured, the spring-based reference file is
unstable, this form stands (see ../shared/interact_omomo/README.md).

Variants (registry :data:`HUMANOIDS`):
  * ``smplx``: all 52 bodies (153 actuated DoF, 90 of them fingers).
  * ``smpl``: the same without the 30 finger bodies (22 bodies, 63 actuated DoF).
Bodies keep the InterAct order (the skeleton table's order) in both.

Subject skeletons (:attr:`HumanoidBuildOptions.body_offsets`, :func:`skeleton_offsets`): the body
offsets of the table (read off ``smplx_omomo.xml``) can be replaced per body by name, e.g. by a
skeleton fitted to a mocap subject (``assets/skeletons/<name>.json``, written by
``motion.convert.fit_skeleton``).  The geoms follow the new offsets by one rule, measured to hold
for every non-leaf body of the table (residual < 0.1 mm, the table's rounding): each body's geom
anchor points (capsule ``fromto`` end points, box / sphere ``pos``) lie on its *bone vector* ``c``
= the mean of its children's offsets, at a fixed fraction ``t = p.c / |c|^2`` (limb capsules
0.2..0.8, torso capsules 0.45..0.55, foot / hand boxes 0.5, the pelvis sphere 0).  With overrides
every anchor point is moved to the same fraction of the new bone vector ``c'``:
``p' = p + t (c' - c)`` (its off-axis residual is kept).  So a capsule spanning parent->child is
re-aimed and stretched to span the new bone; a box / sphere centre slides with the bone.  Radii,
box half-sizes and box orientations are NOT changed; leaf bodies (toes, head, finger tips) keep
their geoms (no child defines their extent).  Masses follow from the unchanged densities (so a
longer capsule is heavier).  Bone vectors are taken over the full SMPL-X table for both variants,
so the ``smpl`` wrist box follows finger overrides exactly as in ``smplx``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
from typing import Any, Callable, Mapping

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
  # Bodies whose hinges ``HumanoidBuildOptions.arm_gain_scale`` stiffens (shoulders to hands).
  arm_bodies: tuple[str, ...] = ()
  head: str = "Head"
  root: str = "Pelvis"
  # PD offset: "mid_range" (InterMimic: mid + half_range * a) or "home" (robot convention:
  # home pose + half_range * a, clipped to the joint range); the standing init pose uses it too.
  action_offset_mode: str = "mid_range"
  # Palm normal of the (left, right) hand bodies in their body frames (the hand reward's facing
  # term).  SMPL(-X): the rest pose is a T-pose with the palms facing down.
  palm_axes: tuple[tuple[float, float, float], tuple[float, float, float]] = (
      (0.0, 0.0, -1.0), (0.0, 0.0, -1.0))
  # InterAct (SMPL-X) clips convert to this humanoid by forward kinematics (motion/convert.py).
  interact_convertible: bool = True
  # Physics timestep (s) of its scenes (config.scene_config); the policy runs at
  # config.CONTROL_HZ with config.env.substeps physics steps per policy step.
  timestep: float = 1.0 / 120.0
  # The full table ``rows`` was cut from (None: ``rows`` itself).  Offset overrides may name any
  # body of it, and bone vectors (geom adaptation) are computed over it.
  source_rows: tuple | None = None

  @property
  def body_names(self) -> tuple[str, ...]:
    return tuple(r[0] for r in self.rows)

  @property
  def skeleton_rows(self) -> tuple:
    return self.rows if self.source_rows is None else self.source_rows


_BODY_CORE = ("Pelvis", "L_Hip", "L_Knee", "L_Ankle", "L_Toe", "R_Hip", "R_Knee", "R_Ankle",
              "R_Toe", "Torso", "Spine", "Chest", "Neck", "Head", "L_Thorax", "L_Shoulder",
              "L_Elbow", "L_Wrist", "R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist")
# Key bodies for tracking errors (E_h) and the interaction graph: extremities + head + pelvis.
_KEY_BODIES = ("Pelvis", "L_Ankle", "R_Ankle", "L_Toe", "R_Toe", "Head", "L_Elbow", "R_Elbow",
               "L_Wrist", "R_Wrist", "L_Knee", "R_Knee", "L_Shoulder", "R_Shoulder")
_FEET = ("L_Ankle", "L_Toe", "R_Ankle", "R_Toe")
_ARMS = ("L_Shoulder", "L_Elbow", "L_Wrist", "R_Shoulder", "R_Elbow", "R_Wrist")
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
      feet=_FEET, arm_bodies=_ARMS + tuple(n for n in names if is_finger(n)))


def _smpl() -> HumanoidDef:
  rows = tuple(r for r in SMPLX_SKELETON if not is_finger(r[0]))
  return HumanoidDef(
      name="smpl", rows=rows, key_bodies=_KEY_BODIES, contact_bodies=_BODY_CORE,
      hands=("L_Wrist", "R_Wrist"), hand_bodies=("L_Wrist", "R_Wrist"), feet=_FEET,
      arm_bodies=_ARMS, source_rows=SMPLX_SKELETON)


HUMANOIDS: dict[str, Callable[[], HumanoidDef]] = {"smplx": _smplx, "smpl": _smpl}


def get_humanoid_def(name: str) -> HumanoidDef:
  if name not in HUMANOIDS:
    raise KeyError(f"unknown humanoid {name!r}; known: {sorted(HUMANOIDS)} (and 'g1')")
  return HUMANOIDS[name]()


#: Offset overrides: ((body name, (x, y, z) metres in the parent frame), ...), hashable.
BodyOffsets = tuple[tuple[str, tuple[float, float, float]], ...]


def canonical_body_offsets(offsets: Any) -> BodyOffsets:
  """A mapping or sequence of ``(name, (x, y, z))`` -> sorted tuple of (str, 3 floats).

  Raises:
    ValueError: a duplicate name, or an offset that is not 3 finite numbers (naming the body).
  """
  items = list(offsets.items()) if isinstance(offsets, Mapping) else list(offsets)
  out: dict[str, tuple[float, float, float]] = {}
  for item in items:
    try:
      name, vec = item
      v = tuple(float(x) for x in vec)
    except (TypeError, ValueError):
      raise ValueError(f"body_offsets: entry {item!r} is not (body name, (x, y, z))") from None
    if not isinstance(name, str):
      raise ValueError(f"body_offsets: body name {name!r} is not a string")
    if len(v) != 3 or not all(math.isfinite(x) for x in v):
      raise ValueError(f"body_offsets[{name!r}] = {vec!r}: expected 3 finite numbers (metres)")
    if name in out:
      raise ValueError(f"body_offsets: body {name!r} given twice")
    out[str(name)] = v
  return tuple(sorted(out.items()))


@dataclasses.dataclass(frozen=True)
class HumanoidBuildOptions:
  """Build-time knobs (all from config).

  ``body_offsets`` replaces the named bodies' offsets (parent frame, metres); the geoms follow
  (see the module docstring).  Any mapping / sequence of pairs is canonicalised to a sorted tuple
  of ``(name, (x, y, z))`` so the options stay hashable.
  """
  contype: int = 2
  conaffinity: int = 1
  condim: int = 3
  friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)
  gain_scale: float = 1.0  # multiplies every kp and kv
  # Multiplies kp and kv of the arms' hinges (``HumanoidDef.arm_bodies``) on top of gain_scale:
  # stiffer arms squeeze a carried object harder for the same PD-target offset.
  arm_gain_scale: float = 1.0
  armature: float | None = None  # None: the table's value
  rgba: tuple[float, float, float, float] = (0.8, 0.6, 0.4, 1.0)
  prefix: str = ""
  body_offsets: BodyOffsets = ()

  def __post_init__(self):
    object.__setattr__(self, "body_offsets", canonical_body_offsets(self.body_offsets))


_GEOM_TYPES = {"sphere": mujoco.mjtGeom.mjGEOM_SPHERE, "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
               "box": mujoco.mjtGeom.mjGEOM_BOX}


def add_humanoid(spec: mujoco.MjSpec, hdef: HumanoidDef,
                 opts: HumanoidBuildOptions = HumanoidBuildOptions()) -> None:
  """Adds the humanoid (free root, 3 hinges per body, one position actuator per hinge) to spec.

  Joint and actuator names are ``<prefix><Body>_<axis>``; the free joint is ``<prefix><root>``.
  Angles in the table are degrees; the spec is built in radians (``spec.compiler.degree`` is set
  to False).  ``opts.body_offsets`` replaces
  body offsets and adapts the geoms (module docstring).

  Raises:
    ValueError: an offset override names a body the skeleton table lacks, or the root.
  """
  # The joints below are written in radians; MjSpec's compiler reads angles as degrees unless told
  # otherwise (MJCF's default), which once compiled every hinge range to +-pi/180 rad.
  spec.compiler.degree = False
  offsets = resolved_body_offsets(hdef, opts.body_offsets)
  bones_old = bone_vectors(hdef.skeleton_rows, {r[0]: np.asarray(r[2], np.float64)
                                                for r in hdef.skeleton_rows})
  bones_new = bone_vectors(hdef.skeleton_rows, offsets)
  bodies: dict[str, mujoco.MjsBody] = {}
  p = opts.prefix
  for name, parent, _, g, kp, kd, arm, ranges in hdef.rows:
    parent_body = spec.worldbody if parent is None else bodies[parent]
    body = parent_body.add_body(name=p + name, pos=[float(x) for x in offsets[name]])
    bodies[name] = body
    g = adapt_geom(g, bones_old[name], bones_new[name])
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
    gain = opts.gain_scale * (opts.arm_gain_scale if name in hdef.arm_bodies else 1.0)
    for axis, (lo, hi) in zip(HINGE_AXES, ranges):
      jname = f"{p}{name}_{axis}"
      rng = [math.radians(lo), math.radians(hi)]
      body.add_joint(name=jname, type=mujoco.mjtJoint.mjJNT_HINGE,
                     axis=[float(axis == a) for a in HINGE_AXES], range=rng,
                     limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                     armature=arm if opts.armature is None else opts.armature)
      act = spec.add_actuator(name=jname, target=jname,
                              trntype=mujoco.mjtTrn.mjTRN_JOINT)
      act.set_to_position(kp=kp * gain, kv=kd * gain)
      act.ctrlrange = rng
      act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE


#: Bone vectors shorter than this (metres) carry no direction: their geoms are not adapted.
MIN_BONE_LENGTH = 1e-6


def resolved_body_offsets(hdef: HumanoidDef, overrides: BodyOffsets = ()) -> dict[str, np.ndarray]:
  """Offsets of every body of ``hdef.skeleton_rows`` with the overrides applied.

  Returns:
    name -> (3,) float64 metres (parent frame).
  Raises:
    ValueError: overrides naming bodies the table lacks (all listed), or the root body.
  """
  out = {r[0]: np.asarray(r[2], np.float64) for r in hdef.skeleton_rows}
  overrides = canonical_body_offsets(overrides)
  unknown = [n for n, _ in overrides if n not in out]
  if unknown:
    raise ValueError(f"body_offsets: unknown bodies {unknown} for humanoid {hdef.name!r}; "
                     f"valid: {sorted(out)}")
  roots = [n for n, _ in overrides for r in hdef.skeleton_rows if r[0] == n and r[1] is None]
  if roots:
    raise ValueError(f"body_offsets: {roots} is the root (placed by its free joint), "
                     "its offset cannot be overridden")
  for n, v in overrides:
    out[n] = np.asarray(v, np.float64)
  return out


def bone_vectors(rows: tuple, offsets: Mapping[str, np.ndarray]) -> dict[str, np.ndarray | None]:
  """Bone vector of each body: the mean of its children's offsets (None for a leaf).

  Args:
    rows: skeleton table rows (name, parent, ...).
    offsets: name -> (3,) offset of every body in ``rows``.
  Returns:
    name -> (3,) float64 or None.
  """
  kids: dict[str, list[np.ndarray]] = {r[0]: [] for r in rows}
  for name, parent, *_ in rows:
    if parent is not None:
      kids[parent].append(np.asarray(offsets[name], np.float64))
  return {n: (np.mean(k, axis=0) if k else None) for n, k in kids.items()}


def adapt_geom(g: dict, bone_old: np.ndarray | None, bone_new: np.ndarray | None) -> dict:
  """A table geom (dict) moved from bone vector ``bone_old`` to ``bone_new``.

  Each anchor point ``p`` (capsule ``fromto`` end points, else ``pos``) keeps its fraction
  ``t = p.c / |c|^2`` along the bone: ``p' = p + t (c' - c)``.  Sizes are unchanged.  Leaves
  (``None``), unchanged bones and bones shorter than :data:`MIN_BONE_LENGTH` return ``g``.
  """
  if bone_old is None or bone_new is None or np.array_equal(bone_old, bone_new):
    return g
  c, c_new = np.asarray(bone_old, np.float64), np.asarray(bone_new, np.float64)
  cc = float(c @ c)
  if cc < MIN_BONE_LENGTH ** 2:
    return g

  def move(pt):
    pt = np.asarray(pt, np.float64)
    return pt + (pt @ c / cc) * (c_new - c)

  out = dict(g)
  if "fromto" in g:
    ft = np.asarray(g["fromto"], np.float64)
    out["fromto"] = tuple(float(x) for x in np.concatenate([move(ft[:3]), move(ft[3:])]))
  if "pos" in g:
    out["pos"] = tuple(float(x) for x in move(g["pos"]))
  return out


# ----------------------------------------------------------------------------------------------
# Named subject skeletons (JSON tables of offset overrides)
# ----------------------------------------------------------------------------------------------

#: Folder of the packaged skeleton tables (``<name>.json``).
SKELETON_DIR = pathlib.Path(__file__).resolve().parent / "skeletons"
#: The skeleton of the table itself (no overrides).
DEFAULT_SKELETON = "default"
SKELETON_FORMAT = "interprior_jax.skeleton/1"


def list_skeletons() -> tuple[str, ...]:
  """Names accepted by :func:`skeleton_offsets`: 'default' and the packaged tables."""
  return (DEFAULT_SKELETON,) + tuple(sorted(p.stem for p in SKELETON_DIR.glob("*.json")))


def save_skeleton_json(path: str | pathlib.Path, offsets: Mapping[str, Any],
                       meta: Mapping[str, Any] | None = None) -> pathlib.Path:
  """Writes a skeleton table: ``{"format", "offsets": {body: [x, y, z]}, **meta}`` (metres)."""
  path = pathlib.Path(path)
  doc = {"format": SKELETON_FORMAT, **dict(meta or {}),
         "offsets": {n: [round(float(x), 7) for x in v]
                     for n, v in canonical_body_offsets(offsets)}}
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text(json.dumps(doc, indent=1) + "\n")
  return path


def load_skeleton_json(path: str | pathlib.Path) -> tuple[BodyOffsets, dict]:
  """Reads a skeleton table written by :func:`save_skeleton_json`.

  Returns:
    (offsets as :data:`BodyOffsets`, the whole document).
  Raises:
    ValueError: naming the file and the bad field.
  """
  path = pathlib.Path(path)
  try:
    doc = json.loads(path.read_text())
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f"{path}: cannot read skeleton table: {e}") from None
  if not isinstance(doc, dict) or doc.get("format") != SKELETON_FORMAT:
    raise ValueError(f"{path}: field 'format': expected {SKELETON_FORMAT!r}")
  if not isinstance(doc.get("offsets"), dict):
    raise ValueError(f"{path}: field 'offsets': expected an object body -> [x, y, z]")
  try:
    return canonical_body_offsets(doc["offsets"]), doc
  except (TypeError, ValueError) as e:
    raise ValueError(f"{path}: field 'offsets': {e}") from None


def skeleton_offsets(skeleton: str | pathlib.Path) -> BodyOffsets:
  """'default' -> (); a packaged name (:func:`list_skeletons`) or a ``.json`` path -> its offsets.

  Raises:
    ValueError: neither a known name nor an existing file.
  """
  if str(skeleton) == DEFAULT_SKELETON:
    return ()
  named = SKELETON_DIR / f"{skeleton}.json"
  if named.is_file():
    return load_skeleton_json(named)[0]
  path = pathlib.Path(skeleton)
  if path.suffix == ".json" and path.is_file():
    return load_skeleton_json(path)[0]
  raise ValueError(f"unknown skeleton {str(skeleton)!r}: not one of {list_skeletons()} "
                   "and not an existing .json file")


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
