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

Subject skeleton (:func:`fit_skeleton`): the file's skeleton is rigid and identical over a
subject's clips, so its offsets are estimated per clip (:func:`file_bone_offsets` for the 21 body
bones, :func:`file_finger_offsets` for 27 finger bones read from the shifted finger slots) and
combined by a per-coordinate median over clips; the right thumb, which no slot holds, is the
mirror (y -> -y) of the fitted left thumb.  The table is stored in
``assets/skeletons/<name>.json`` and selected with ``scene_config(skeleton=...)``; converting with
that humanoid (``convert_interact(..., skeleton=...)``) removes the skeleton mismatch.
Regenerate / measure::

  python -m interprior_jax.motion.convert fit-skeleton /path/to/interact_omomo/clips \
      --out interprior_jax/assets/skeletons/omomo_sub2.json
  python -m interprior_jax.motion.convert fk /path/to/interact_omomo/clips --skeleton omomo_sub2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import pathlib
import subprocess
import sys

import mujoco
import numpy as np

from interprior_jax import geometry
from interprior_jax.assets import humanoid as humanoid_lib
from interprior_jax.assets import objects as objects_lib
from interprior_jax.motion.clip import Clip, validate_clip
from interprior_jax.motion.io.interact_pt import ClipFormatError, InteractClip
from interprior_jax.motion.layout import (
    BODY_NAMES_SMPLX,
    BODY_PARENTS_SMPLX,
    FINGER_BODY_NAMES_SMPLX,
    JOINT_BODY_NAMES_SMPLX,
)

#: Humanoids an InterAct (SMPL-X) clip converts to (``HumanoidDef.interact_convertible``).
CONVERTIBLE_HUMANOIDS = tuple(n for n, make in humanoid_lib.HUMANOIDS.items()
                              if make().interact_convertible)
#: Library name prefix of the OMOMO object meshes (file 'largetable' -> 'omomo_largetable').
OMOMO_OBJECT_PREFIX = "omomo_"
#: Metres -> centimetres (for reports).
CM = 100.0
#: SMPL-X joints between the body and the hand joints (jaw, left eye, right eye).  The file's 30
#: finger slots hold SMPL-X joints in SMPL-X order, so finger k's position is in slot k + 3.
FILE_FINGER_SLOT_SHIFT = 3
#: Mirror of the humanoid's sagittal (x-z) plane, applied to an offset in a parent frame.
SAGITTAL_MIRROR = np.array([1.0, -1.0, 1.0])
#: Side prefixes of the bilateral body names.
LEFT, RIGHT = "L_", "R_"


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
def humanoid_scene(humanoid: str, skeleton: str = humanoid_lib.DEFAULT_SKELETON):
  """A humanoid-only scene (no objects) used for FK; cached per (humanoid, skeleton).

  ``skeleton``: see :func:`~interprior_jax.assets.humanoid.skeleton_offsets`.
  """
  from interprior_jax.assets.scene import SceneOptions, build_scene
  if humanoid not in CONVERTIBLE_HUMANOIDS:
    raise KeyError(f"InterAct clips convert to {CONVERTIBLE_HUMANOIDS}, not {humanoid!r}")
  build = humanoid_lib.HumanoidBuildOptions(
      body_offsets=humanoid_lib.skeleton_offsets(skeleton))
  return build_scene(SceneOptions(humanoid=humanoid, objects=(), humanoid_build=build))


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
  return {n: d.mean(axis=0) for n, d in _body_offset_series(ic).items()}


def _body_offset_series(ic: InteractClip) -> dict[str, np.ndarray]:
  """Compared body -> (T, 3) per-frame offsets in the parent frame (float64)."""
  return {n: _parent_frame_offsets(ic, n, BODY_PARENTS_SMPLX[n], BODY_PARENTS_SMPLX[n])
          for n in compared_bodies(ic.body_names)}


def file_finger_slots() -> dict[str, str]:
  """Finger body -> name of the file slot that holds its position (:data:`FILE_FINGER_SLOT_SHIFT`).

  27 of the 30 fingers; the right thumb (the last three SMPL-X joints) has no slot.
  """
  f = FINGER_BODY_NAMES_SMPLX
  return {f[k]: f[k + FILE_FINGER_SLOT_SHIFT] for k in range(len(f) - FILE_FINGER_SLOT_SHIFT)}


def _parent_frame_offsets(ic: InteractClip, child_slot: str, parent: str,
                          parent_slot: str) -> np.ndarray:
  """(T, 3) ``R(q_parent)^T (p[child_slot] - p[parent_slot])``, float64."""
  i, j = ic.body_names.index(child_slot), ic.body_names.index(parent_slot)
  q = ic.body_quat[:, ic.body_names.index(parent)].astype(np.float64)
  d = (ic.body_pos[:, i] - ic.body_pos[:, j]).astype(np.float64)
  return np.asarray(geometry.quat_rotate_inv(q, d), np.float64)


def file_finger_offsets(ic: InteractClip) -> dict[str, np.ndarray]:
  """Bone offsets of the file's fingers (those with a slot, :func:`file_finger_slots`), averaged
  over frames.  Name -> (3,) metres in the parent's frame.

  Positions come from the shifted slots; rotations by name (finger rotations are stored
  correctly; OMOMO fingers do not move, so they equal the wrist's).  Measured on the 27 OMOMO
  clips: constant in time (std < 1e-6 m) and 0.2-0.9 cm from the table's finger offsets, whereas
  the unshifted slots vary by up to 15 cm over a clip (head-attached points).
  """
  return {n: d.mean(axis=0) for n, d in _finger_offset_series(ic).items()}


def _finger_offset_series(ic: InteractClip) -> dict[str, np.ndarray]:
  """Finger name -> (T, 3) per-frame offsets (fingers with a slot whose parent has one too)."""
  slots = file_finger_slots()
  out = {}
  for n in FINGER_BODY_NAMES_SMPLX:
    p = BODY_PARENTS_SMPLX[n]
    if n not in slots or (p in FINGER_BODY_NAMES_SMPLX and p not in slots):
      continue
    out[n] = _parent_frame_offsets(ic, slots[n], p, slots.get(p, p))
  return out


@dataclasses.dataclass(frozen=True)
class SkeletonFit:
  """A subject skeleton fitted to its clips (:func:`skeleton_fit_report`).

  Attributes:
    subject: the clips' subject.
    offsets: body -> (3,) metres (parent frame), the 51 non-root SMPL-X bodies.
    spread: body -> largest distance (m) of a per-clip estimate from the fitted offset
      (0.0 for mirrored bodies, which have no estimate of their own).
    temporal_std: body -> largest per-axis std (m) over frames within one clip (rigidity check).
    mirrored: body -> the body it was mirrored from (no data for it in the file).
    sources: the clip files.
  """
  subject: str
  offsets: dict[str, np.ndarray]
  spread: dict[str, float]
  temporal_std: dict[str, float]
  mirrored: dict[str, str]
  sources: tuple[str, ...]


def _mirror_name(name: str) -> str:
  for a, b in ((LEFT, RIGHT), (RIGHT, LEFT)):
    if name.startswith(a):
      return b + name[len(a):]
  raise ValueError(f"body {name!r} has no left/right mirror")


def skeleton_fit_report(clips: list[InteractClip]) -> SkeletonFit:
  """Fits one subject's skeleton: per-clip offsets (:func:`file_bone_offsets`,
  :func:`file_finger_offsets`), combined by a per-coordinate median over clips (robust to a bad
  clip); bodies without data are mirrored from their other side.

  Raises:
    ValueError: no clips, clips of several subjects, or a body with no estimate and no mirror.
  """
  if not clips:
    raise ValueError("fit_skeleton: no clips")
  subjects = sorted({ic.subject for ic in clips})
  if len(subjects) != 1:
    raise ValueError(f"fit_skeleton: a skeleton is per subject, got subjects {subjects} in "
                     f"{[ic.source for ic in clips]}")
  per_clip, temporal = [], {}
  for ic in clips:
    if tuple(ic.body_names) != BODY_NAMES_SMPLX:
      raise ClipFormatError(ic.source, "body_names", "not the 52-body SMPL-X layout")
    series = {**_body_offset_series(ic), **_finger_offset_series(ic)}
    per_clip.append({n: d.mean(axis=0) for n, d in series.items()})  # = file_*_offsets(ic)
    for n, d in series.items():  # rigidity: std over frames
      temporal[n] = max(temporal.get(n, 0.0), float(d.std(axis=0).max()))
  offsets, spread = {}, {}
  for n in per_clip[0]:
    e = np.stack([c[n] for c in per_clip])  # (C, 3)
    offsets[n] = np.median(e, axis=0)
    spread[n] = float(np.linalg.norm(e - offsets[n], axis=-1).max())
  mirrored = {}
  for n in JOINT_BODY_NAMES_SMPLX:
    if n in offsets:
      continue
    src = _mirror_name(n)
    if src not in offsets:
      raise ValueError(f"fit_skeleton: no estimate for {n!r} nor for its mirror {src!r}")
    offsets[n], spread[n], mirrored[n] = SAGITTAL_MIRROR * offsets[src], 0.0, src
  order = {n: k for k, n in enumerate(BODY_NAMES_SMPLX)}
  offsets = dict(sorted(offsets.items(), key=lambda kv: order[kv[0]]))
  return SkeletonFit(subject=subjects[0], offsets=offsets, spread=spread,
                     temporal_std=temporal, mirrored=mirrored,
                     sources=tuple(str(ic.source) for ic in clips))


def fit_skeleton(clips: list[InteractClip]) -> dict[str, np.ndarray]:
  """The subject's fitted bone offsets (:func:`skeleton_fit_report`): body -> (3,) metres."""
  return skeleton_fit_report(clips).offsets


def save_skeleton_fit(fit: SkeletonFit, path: str | pathlib.Path,
                      command: str = "") -> pathlib.Path:
  """Writes the fit as a skeleton table (``humanoid.load_skeleton_json`` reads it) with its
  provenance: subject, clip names (not their data), spreads, mirrored bodies, command, commit."""
  meta = {
      "subject": fit.subject,
      "note": ("Bone offsets (metres, parent frame) of the subject's SMPL-X skeleton, derived by "
               "interprior_jax.motion.convert.fit_skeleton from the InterAct clips listed; "
               "median over clips of the per-clip mean over frames. Mirrored bodies have no "
               "data in the files."),
      "command": command,
      "commit": _git_commit(),
      "date": datetime.date.today().isoformat(),
      "clips": [pathlib.Path(s).name for s in fit.sources],
      "mirrored": fit.mirrored,
      "max_spread_over_clips_m": {n: float(f"{v:.3g}") for n, v in fit.spread.items()},
      "max_temporal_std_m": {n: float(f"{v:.3g}") for n, v in fit.temporal_std.items()},
  }
  return humanoid_lib.save_skeleton_json(path, fit.offsets, meta)


def _git_commit() -> str:
  try:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True, cwd=pathlib.Path(__file__).parent).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown"


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
                     name: str | None = None,
                     skeleton: str = humanoid_lib.DEFAULT_SKELETON) -> Conversion:
  """Converts an InterAct clip to our humanoid and verifies it by FK.

  Args:
    ic: a loaded clip (:func:`~interprior_jax.motion.io.interact_pt.load_interact_clip`).
    humanoid: 'smplx' or 'smpl'.
    scene: a :class:`~interprior_jax.assets.scene.Scene` of that humanoid (objects are ignored);
      default: :func:`humanoid_scene` ``(humanoid, skeleton)``.
    name: clip name (default: the file stem).
    skeleton: the humanoid's skeleton ('default', 'omomo_sub2', a path): builds the scene when
      ``scene`` is None, must name ``scene``'s skeleton otherwise; recorded in ``Clip.skeleton``.
  Returns:
    :class:`Conversion` (the validated clip and its report).
  Raises:
    ClipFormatError: a file body or joint the model needs is missing.
  """
  if scene is None:
    scene = humanoid_scene(humanoid, str(skeleton))
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
      obj_contact=np.asarray(ic.obj_contact, np.int8), skeleton=str(skeleton))
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
                     name: str | None = None,
                     skeleton: str = humanoid_lib.DEFAULT_SKELETON) -> Clip:
  """:func:`convert_interact` without the report."""
  return convert_interact(ic, humanoid=humanoid, scene=scene, name=name, skeleton=skeleton).clip


# ----------------------------------------------------------------------------------------------
# Command line: fit a skeleton, measure FK error per clip
# ----------------------------------------------------------------------------------------------

def _load_folder(path: str) -> list[InteractClip]:
  from interprior_jax.motion.io.interact_pt import load_interact_clip
  p = pathlib.Path(path)
  files = sorted(p.glob("*.pt")) if p.is_dir() else [p]
  if not files:
    raise SystemExit(f"{p}: no .pt files")
  return [load_interact_clip(f) for f in files]


def _cmd_fit(args) -> None:
  fit = skeleton_fit_report(_load_folder(args.clips))
  command = "python -m interprior_jax.motion.convert " + " ".join(sys.argv[1:])
  out = save_skeleton_fit(fit, args.out, command)
  worst = max(fit.spread, key=fit.spread.get)
  print(f"{out}: {len(fit.offsets)} offsets of {fit.subject} from {len(fit.sources)} clips; "
        f"max spread over clips {fit.spread[worst] * 1e3:.4f} mm ({worst}); max temporal std "
        f"{max(fit.temporal_std.values()) * 1e3:.4f} mm; mirrored {sorted(fit.mirrored)}")


def _cmd_fk(args) -> None:
  print("| clip | frames | FK mean cm | FK max cm | worst body |\n|---|---|---|---|---|")
  total, frames, worst = 0.0, 0, 0.0
  for ic in _load_folder(args.clips):
    r = convert_interact(ic, args.humanoid, skeleton=args.skeleton).report
    print(f"| {pathlib.Path(ic.source).stem} | {r.num_frames} | {r.fk.mean * CM:.3g} | "
          f"{r.fk.max * CM:.3g} | {r.fk.worst_body} |")
    total, frames = total + r.fk.mean * r.num_frames, frames + r.num_frames
    worst = max(worst, r.fk.max)
  print(f"\nskeleton {args.skeleton!r}, {args.humanoid}: FK mean {total / frames * CM:.3g} cm "
        f"(frame-weighted over {frames} frames), max {worst * CM:.3g} cm")


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(prog="python -m interprior_jax.motion.convert",
                                   description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="cmd", required=True)
  p = sub.add_parser("fit-skeleton", help="fit a subject skeleton to its clips -> JSON")
  p.add_argument("clips", help="folder of one subject's .pt clips (or one .pt)")
  p.add_argument("--out", required=True, help="output .json")
  p.set_defaults(run=_cmd_fit)
  p = sub.add_parser("fk", help="FK error table of the conversion with a skeleton")
  p.add_argument("clips", help="folder of .pt clips (or one .pt)")
  p.add_argument("--skeleton", default=humanoid_lib.DEFAULT_SKELETON,
                 help="'default', a packaged skeleton name or a .json path")
  p.add_argument("--humanoid", default="smplx", choices=CONVERTIBLE_HUMANOIDS)
  p.set_defaults(run=_cmd_fk)
  args = parser.parse_args(argv)
  args.run(args)


__all__ = [
    "CONVERTIBLE_HUMANOIDS", "FKError", "ConversionReport", "Conversion", "humanoid_scene",
    "library_object_name", "hinge_angles", "forward_kinematics", "compared_bodies", "fk_error",
    "file_bone_offsets", "file_skeleton_fk_error", "convert_interact",
    "interact_to_clip", "FILE_FINGER_SLOT_SHIFT", "file_finger_slots", "file_finger_offsets",
    "SkeletonFit", "skeleton_fit_report", "fit_skeleton", "save_skeleton_fit", "main",
]


if __name__ == "__main__":
  main()
