"""InterAct clip -> our :class:`~interprior_jax.motion.clip.Clip` ('smplx' or 'smpl'), verified by FK.

Conversion (everything by name, never by index):

1. Hinge angles: each non-root body's file exp-map is the local rotation ``conj(q_parent) q_child``;
   our body has hinges x, y, z (local rotation ``Rx Ry Rz``), so its three hinge angles are
   ``quat_to_euler_xyz(quat_from_expmap(expmap))`` (see the reader's data notes).  Angles outside
   the model's joint range are clipped (counted in :class:`ConversionReport`).
2. Root pose from the file.  Body positions / orientations are recomputed by forward kinematics
   of OUR model (``mujoco.mj_kinematics``), so the reference is consistent with the simulated body.
3. Bodies absent from the target humanoid (the 30 fingers for 'smpl') are dropped by name;
   contact labels are carried over by body name; the object pose is copied as stored.

FK verification (:func:`fk_error`): our FK body positions vs the positions stored in the file,
over the non-root, non-finger bodies (the root is copied, so its error is 0 by construction; the
file's finger slots are shifted by three (SMPL-X joint
order with jaw/eyes, see :class:`~interprior_jax.motion.io.interact_pt.InteractClip`), so they do
not hold the named finger's position and cannot be compared by name.

Measured (docs/data.md): body rotations of our FK equal the file's to 1e-4 degrees, but the file's
skeleton (rigid, per subject) has bone offsets 1-6 cm away from ``smplx_omomo.xml``'s, so positions
differ by ~3 cm on average; :func:`file_skeleton_fk_error` (our rotations + the file's offsets) is
the control that isolates this.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib

import mujoco
import numpy as np

from interprior_jax import geometry
from interprior_jax.assets import humanoid as humanoid_lib
from interprior_jax.assets import objects as objects_lib
from interprior_jax.motion.clip import Clip, validate_clip
from interprior_jax.motion.io.interact_pt import ClipFormatError, InteractClip
from interprior_jax.motion.layout import BODY_NAMES_SMPLX, BODY_PARENTS_SMPLX

#: Humanoids an InterAct (SMPL-X) clip converts to.
CONVERTIBLE_HUMANOIDS = ("smplx", "smpl")
#: Library name prefix of the OMOMO object meshes (file 'largetable' -> 'omomo_largetable').
OMOMO_OBJECT_PREFIX = "omomo_"
#: Metres -> centimetres (for reports).
CM = 100.0


@dataclasses.dataclass(frozen=True)
class FKError:
  """FK body positions vs the file's stored positions (metres), non-finger bodies only.

  Attributes:
    mean: mean over frames and compared bodies of the Euclidean error.
    max: largest error.
    worst_body: body with the largest mean error.
    per_body_mean: body name -> mean error.
    num_frames: T.
  """
  mean: float
  max: float
  worst_body: str
  per_body_mean: dict[str, float]
  num_frames: int


@dataclasses.dataclass(frozen=True)
class ConversionReport:
  """What :func:`convert_interact` did to one clip.

  Attributes:
    source: the .pt path.
    num_frames: T.
    clipped_entries: number of (frame, hinge) angles outside the joint range (clipped).
    clipped_fraction: clipped_entries / (T * A).
    clipped_max_rad: largest distance outside the range before clipping (radians).
    clipped_joints: names of the hinges that were clipped at least once.
    fk: the FK verification (our model vs the file).
    fk_file_skeleton: the control (our rotations, the file's bone offsets).
  """
  source: str
  num_frames: int
  clipped_entries: int
  clipped_fraction: float
  clipped_max_rad: float
  clipped_joints: tuple[str, ...]
  fk: FKError
  fk_file_skeleton: FKError


@dataclasses.dataclass(frozen=True)
class Conversion:
  clip: Clip
  report: ConversionReport


@functools.lru_cache(maxsize=4)
def humanoid_scene(humanoid: str):
  """A humanoid-only scene (no objects) used for FK; cached per humanoid name."""
  from interprior_jax.assets.scene import SceneOptions, build_scene
  if humanoid not in CONVERTIBLE_HUMANOIDS:
    raise KeyError(f"InterAct clips convert to {CONVERTIBLE_HUMANOIDS}, not {humanoid!r}")
  return build_scene(SceneOptions(humanoid=humanoid, objects=()))


def library_object_name(file_object: str) -> str:
  """Object name in ``assets.objects`` for a file's object: ``omomo_<name>`` when the library has
  it, else the name itself (clips of objects outside the library still convert)."""
  known = set(objects_lib.list_objects())
  prefixed = OMOMO_OBJECT_PREFIX + file_object
  return prefixed if prefixed in known else file_object


def hinge_angles(ic: InteractClip, joint_names: tuple[str, ...]) -> np.ndarray:
  """Hinge angles of the named joints (``<Body>_<axis>``) from the file's exp-maps.

  Args:
    ic: the InterAct clip.
    joint_names: (A,) hinge names of the target model.
  Returns:
    (T, A) float64 radians (intrinsic XYZ Euler angles of each body's local rotation).
  Raises:
    ClipFormatError: a joint whose body or axis the file lacks.
  """
  euler = np.asarray(geometry.quat_to_euler_xyz(
      geometry.quat_from_expmap(np.asarray(ic.joint_expmap, np.float64))), np.float64)
  joint_bodies = list(ic.body_names[1:])  # the exp-map slots: every non-root body
  cols = []
  for j in joint_names:
    body, _, axis = j.rpartition("_")
    if body not in joint_bodies or axis not in humanoid_lib.HINGE_AXES:
      raise ClipFormatError(ic.source, "joint_expmap",
                            f"no hinge {j!r} (body {body!r}, axis {axis!r}) in the file's bodies")
    cols.append((joint_bodies.index(body), humanoid_lib.HINGE_AXES.index(axis)))
  b, a = np.array(cols).T
  return euler[:, b, a]


def forward_kinematics(model: mujoco.MjModel, spec, root_pos: np.ndarray, root_quat: np.ndarray,
                       joint_pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """World body poses of the humanoid for each frame (MuJoCo ``mj_kinematics``).

  Args:
    model, spec: the compiled scene and its SceneSpec.
    root_pos: (T, 3); root_quat: (T, 4) (w, x, y, z); joint_pos: (T, A) in ``spec.joint_names``.
  Returns:
    body_pos (T, B, 3), body_quat (T, B, 4) (canonical w >= 0), float64, ``spec.body_names`` order.
  """
  data = mujoco.MjData(model)
  T = root_pos.shape[0]
  pos = np.empty((T, spec.num_bodies, 3))
  quat = np.empty((T, spec.num_bodies, 4))
  qpos = spec.init_qpos.copy()
  r = spec.root_qpos_adr
  for t in range(T):
    qpos[r:r + 3] = root_pos[t]
    qpos[r + 3:r + 7] = root_quat[t]
    qpos[spec.qpos_adr] = joint_pos[t]
    data.qpos[:] = qpos
    mujoco.mj_kinematics(model, data)
    pos[t] = data.xpos[spec.body_ids]
    quat[t] = data.xquat[spec.body_ids]
  return pos, np.where(quat[..., :1] < 0, -quat, quat)


def compared_bodies(body_names: tuple[str, ...]) -> list[str]:
  """Bodies the FK check compares: all but the root (equal by construction) and the fingers."""
  return [n for n in body_names[1:] if not humanoid_lib.is_finger(n)]


def _fk_error(names: list[str], ours: np.ndarray, ic: InteractClip) -> FKError:
  theirs = ic.body_pos[:, [ic.body_names.index(n) for n in names]]
  err = np.linalg.norm(ours.astype(np.float64) - theirs, axis=-1)  # (T, K)
  per_body = err.mean(axis=0)
  return FKError(mean=float(err.mean()), max=float(err.max()),
                 worst_body=names[int(per_body.argmax())],
                 per_body_mean={n: float(e) for n, e in zip(names, per_body)},
                 num_frames=int(err.shape[0]))


def fk_error(clip: Clip, ic: InteractClip) -> FKError:
  """The clip's (our FK) body positions vs the file's, by body name (:func:`compared_bodies`)."""
  names = compared_bodies(clip.body_names)
  return _fk_error(names, clip.body_pos[:, [clip.body_names.index(n) for n in names]], ic)


def file_bone_offsets(ic: InteractClip) -> dict[str, np.ndarray]:
  """Bone offsets of the file's skeleton: ``R(q_parent)^T (p_child - p_parent)`` per non-root,
  non-finger body, averaged over frames.  Name -> (3,) metres (parent frame).

  Measured on the 27 OMOMO clips: constant in time (std < 1e-4 m, a rigid skeleton) and up to
  ~6 cm away from ``smplx_omomo.xml``'s offsets (the model our humanoid is built from).
  """
  out = {}
  for n in compared_bodies(ic.body_names):
    i, j = ic.body_names.index(n), ic.body_names.index(BODY_PARENTS_SMPLX[n])
    d = np.asarray(geometry.quat_rotate_inv(ic.body_quat[:, j],
                                            ic.body_pos[:, i] - ic.body_pos[:, j]))
    out[n] = d.mean(axis=0)
  return out


def file_skeleton_fk_error(clip: Clip, ic: InteractClip) -> FKError:
  """Control for :func:`fk_error`: FK with the clip's world body rotations but the FILE's bone
  offsets (:func:`file_bone_offsets`).  Near zero means the hinge angles are right and all of
  :func:`fk_error` comes from the skeleton mismatch."""
  offsets = file_bone_offsets(ic)
  names = compared_bodies(clip.body_names)
  pos = {clip.body_names[0]: clip.body_pos[:, 0].astype(np.float64)}
  for n in clip.body_names[1:]:  # parents come first in the body layout
    if n not in offsets:
      continue
    p = BODY_PARENTS_SMPLX[n]
    qp = clip.body_quat[:, clip.body_names.index(p)]
    pos[n] = pos[p] + np.asarray(geometry.quat_rotate(qp, offsets[n]), np.float64)
  return _fk_error(names, np.stack([pos[n] for n in names], axis=1), ic)


def convert_interact(ic: InteractClip, humanoid: str = "smplx", scene=None,
                     name: str | None = None) -> Conversion:
  """Converts an InterAct clip to our humanoid and verifies it by FK.

  Args:
    ic: a loaded clip (:func:`~interprior_jax.motion.io.interact_pt.load_interact_clip`).
    humanoid: 'smplx' or 'smpl'.
    scene: a :class:`~interprior_jax.assets.scene.Scene` of that humanoid (objects are ignored);
      default: :func:`humanoid_scene`.
    name: clip name (default: the file stem).
  Returns:
    :class:`Conversion` (the validated clip and its report).
  Raises:
    ClipFormatError: a file body or joint the model needs is missing.
  """
  if scene is None:
    scene = humanoid_scene(humanoid)
  spec, model = scene.spec, scene.model
  if spec.humanoid != humanoid:
    raise ValueError(f"scene is for {spec.humanoid!r}, asked to convert to {humanoid!r}")
  if tuple(ic.body_names) != BODY_NAMES_SMPLX:
    raise ClipFormatError(ic.source, "body_names", "not the 52-body SMPL-X layout")
  missing = [n for n in spec.body_names if n not in ic.body_names]
  if missing:
    raise ClipFormatError(ic.source, "body_names", f"model bodies {missing} not in the file")

  raw = hinge_angles(ic, spec.joint_names)
  lo, hi = spec.joint_range[:, 0].astype(np.float64), spec.joint_range[:, 1].astype(np.float64)
  joint_pos = np.clip(raw, lo, hi)
  outside = np.maximum(raw - hi, lo - raw)  # > 0 where clipped
  clipped = outside > 0
  body_pos, body_quat = forward_kinematics(model, spec, ic.root_pos, ic.root_quat, joint_pos)

  take = [ic.body_names.index(n) for n in spec.body_names]
  clip = Clip(
      name=name or pathlib.Path(ic.source).stem, source=str(ic.source), humanoid=humanoid,
      object_name=library_object_name(ic.object_name), fps=float(ic.fps),
      body_names=tuple(spec.body_names), joint_names=tuple(spec.joint_names),
      root_pos=np.asarray(ic.root_pos, np.float32),
      root_quat=np.asarray(geometry.quat_canonicalize(ic.root_quat), np.float32),
      joint_pos=joint_pos.astype(np.float32),
      body_pos=body_pos.astype(np.float32), body_quat=body_quat.astype(np.float32),
      obj_pos=np.asarray(ic.obj_pos, np.float32), obj_quat=np.asarray(ic.obj_quat, np.float32),
      body_contact=np.asarray(ic.body_contact[:, take], np.int8),
      obj_contact=np.asarray(ic.obj_contact, np.int8))
  validate_clip(clip)
  T, A = joint_pos.shape
  report = ConversionReport(
      source=str(ic.source), num_frames=T, clipped_entries=int(clipped.sum()),
      clipped_fraction=float(clipped.mean()),
      clipped_max_rad=float(np.maximum(outside, 0.0).max()),
      clipped_joints=tuple(spec.joint_names[k] for k in np.flatnonzero(clipped.any(axis=0))),
      fk=fk_error(clip, ic), fk_file_skeleton=file_skeleton_fk_error(clip, ic))
  return Conversion(clip=clip, report=report)


def interact_to_clip(ic: InteractClip, humanoid: str = "smplx", scene=None,
                     name: str | None = None) -> Clip:
  """:func:`convert_interact` without the report."""
  return convert_interact(ic, humanoid=humanoid, scene=scene, name=name).clip


__all__ = [
    "CONVERTIBLE_HUMANOIDS", "FKError", "ConversionReport", "Conversion", "humanoid_scene",
    "library_object_name", "hinge_angles", "forward_kinematics", "compared_bodies", "fk_error",
    "file_bone_offsets", "file_skeleton_fk_error", "convert_interact",
    "interact_to_clip",
]
