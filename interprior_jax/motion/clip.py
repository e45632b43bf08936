"""The HOI motion clip: one humanoid + one object, kinematic reference at a fixed frame rate.

Tensor layout (documented once, here; T frames, B humanoid bodies in the scene's body layout,
A actuated hinges in the scene's action order; quaternions are (w, x, y, z), world frame, z up):

=============  ==========  ===================================================================
field          shape       meaning
=============  ==========  ===================================================================
root_pos       (T, 3)      root (pelvis) position
root_quat      (T, 4)      root orientation
joint_pos      (T, A)      hinge angles (radians) in ``joint_names`` order
body_pos       (T, B, 3)   world body positions in ``body_names`` order
body_quat      (T, B, 4)   world body orientations
obj_pos        (T, 3)      object position
obj_quat       (T, 4)      object orientation
body_contact   (T, B)      int8 ternary label: 1 touching, -1 surely not, 0 unknown
obj_contact    (T,)        int8: 1 when the object is in contact with the human
=============  ==========  ===================================================================

:func:`validate_clip` rejects NaN/Inf, wrong widths, non-unit quaternions, bad labels and
inconsistent lengths with a :class:`ClipError` naming the clip's source and the field.
"""

from __future__ import annotations

import dataclasses

import numpy as np

QUAT_NORM_TOL = 1e-3
ARRAY_FIELDS = ("root_pos", "root_quat", "joint_pos", "body_pos", "body_quat", "obj_pos",
                "obj_quat", "body_contact", "obj_contact")
QUAT_FIELDS = ("root_quat", "body_quat", "obj_quat")


class ClipError(ValueError):
  """A clip (or clip file) is malformed; the message names the source and the field."""


@dataclasses.dataclass(frozen=True)
class Clip:
  name: str
  source: str  # file path or generator description
  humanoid: str  # "smplx" | "smpl" | "g1"
  object_name: str
  fps: float
  body_names: tuple[str, ...]
  joint_names: tuple[str, ...]
  root_pos: np.ndarray
  root_quat: np.ndarray
  joint_pos: np.ndarray
  body_pos: np.ndarray
  body_quat: np.ndarray
  obj_pos: np.ndarray
  obj_quat: np.ndarray
  body_contact: np.ndarray
  obj_contact: np.ndarray
  # The clip's object is the library object ``object_name`` scaled uniformly by ``object_scale``
  # (geometry and surface points) with its density multiplied by ``object_density_scale``.
  object_scale: float = 1.0
  object_density_scale: float = 1.0
  # The humanoid skeleton the clip's body positions were computed with (see
  # ``assets.humanoid.skeleton_offsets``): simulate it with the same skeleton.
  skeleton: str = "default"

  @property
  def num_frames(self) -> int:
    return int(self.root_pos.shape[0])

  @property
  def duration(self) -> float:
    return (self.num_frames - 1) / self.fps

  def arrays(self) -> dict[str, np.ndarray]:
    return {k: getattr(self, k) for k in ARRAY_FIELDS}

  def replace(self, **kw) -> "Clip":
    return dataclasses.replace(self, **kw)

  def head(self, num_frames: int) -> "Clip":
    """The first ``num_frames`` frames (the whole clip when it is shorter), name suffixed."""
    if num_frames <= 0 or num_frames >= self.num_frames:
      return self
    return self.replace(name=f"{self.name}[:{num_frames}]",
                        **{k: v[:num_frames] for k, v in self.arrays().items()})


def validate_clip(c: Clip, min_frames: int = 2) -> Clip:
  """Checks shapes, finiteness, unit quaternions and contact labels; returns the clip."""
  where = f"{c.source or c.name}"

  def fail(field, msg):
    raise ClipError(f"{where}: field '{field}': {msg}")

  T, B, A = c.num_frames, len(c.body_names), len(c.joint_names)
  if T < min_frames:
    fail("root_pos", f"{T} frames, need at least {min_frames}")
  if not np.isfinite(c.fps) or c.fps <= 0:
    fail("fps", f"must be a positive number, got {c.fps}")
  for k in ("object_scale", "object_density_scale"):
    v = getattr(c, k)
    if not np.isfinite(v) or v <= 0:
      fail(k, f"must be a positive number, got {v}")
  expected = {"root_pos": (T, 3), "root_quat": (T, 4), "joint_pos": (T, A),
              "body_pos": (T, B, 3), "body_quat": (T, B, 4), "obj_pos": (T, 3),
              "obj_quat": (T, 4), "body_contact": (T, B), "obj_contact": (T,)}
  for k, shape in expected.items():
    v = getattr(c, k)
    if not isinstance(v, np.ndarray):
      fail(k, f"expected a numpy array, got {type(v).__name__}")
    if v.shape != shape:
      fail(k, f"shape {v.shape}, expected {shape} (T={T}, B={B} bodies, A={A} joints)")
    if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
      frame = int(np.argwhere(~np.isfinite(v.reshape(T, -1)))[0, 0])
      fail(k, f"non-finite value (first at frame {frame})")
  for k in QUAT_FIELDS:
    err = np.abs(np.linalg.norm(getattr(c, k), axis=-1) - 1.0)
    if np.any(err > QUAT_NORM_TOL):
      frame = int(np.argwhere(err.reshape(T, -1) > QUAT_NORM_TOL)[0, 0])
      fail(k, f"non-unit quaternion (|norm-1|={err.max():.2e}, first at frame {frame})")
  for k in ("body_contact", "obj_contact"):
    bad = ~np.isin(getattr(c, k), (-1, 0, 1))
    if np.any(bad):
      fail(k, f"labels must be in {{-1, 0, 1}} (first bad at frame {int(np.argwhere(bad)[0, 0])})")
  return c
