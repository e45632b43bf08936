"""Safe reader of InterAct / InterMimic ``.pt`` clip files (no torch, no arbitrary unpickling).

A clip file is a PyTorch zip archive::

  <prefix>/data.pkl        pickle (protocol 2) of ONE float32 tensor (T, 591)
  <prefix>/data/<key>      raw little-endian bytes of the tensor's storage
  <prefix>/byteorder       'little'
  <prefix>/version         serialization version

The pickle references ``torch._utils._rebuild_tensor_v2``, ``torch.FloatStorage`` and
``collections.OrderedDict`` (empty backward hooks) and points to the storage through a persistent
id ``('storage', FloatStorage, key, location, numel)``.  :class:`_RestrictedUnpickler` resolves
exactly those names to inert local placeholders (any other global is refused before anything is
called), and the array is rebuilt from the storage bytes with numpy using the recorded
shape/stride/offset.

Column meanings are in :data:`interprior_jax.motion.layout.INTERACT_LAYOUT`.
"""

from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import pickle
import re
import zipfile

import numpy as np

from interprior_jax import geometry
from interprior_jax.motion.layout import (
    BODY_NAMES_SMPLX,
    INTERACT_FPS,
    INTERACT_LAYOUT,
    INTERACT_WIDTH,
)

#: Largest accepted ``data.pkl`` (a single-tensor pickle is ~160 bytes).
MAX_PICKLE_BYTES = 1 << 20
#: Largest accepted storage (1 GiB).
MAX_STORAGE_BYTES = 1 << 30
#: Quaternion norms must be within this of 1.
QUAT_NORM_TOL = 1e-3
#: Fewest frames a usable clip may have (velocities need two).
MIN_FRAMES = 2

_CLIP_NAME_RE = re.compile(r"^(?P<subject>[A-Za-z0-9]+)_(?P<object>.+)_(?P<index>\d+)$")


class ClipFormatError(ValueError):
  """A clip file is malformed, unsafe or has invalid content; the message names file and field."""

  def __init__(self, source, field: str, problem: str):
    self.source = str(source)
    self.field = field
    self.problem = problem
    super().__init__(f"{self.source}: {field}: {problem}")


# ----------------------------------------------------------------------------------------------
# Restricted unpickling
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class _StorageType:
  """Placeholder for a ``torch.<X>Storage`` class: only records the element dtype."""
  torch_name: str
  dtype: str  # numpy dtype name


# Storage classes we recognise.  Only float32 is accepted; the others exist so that the error for
# a file of the wrong dtype says so instead of "disallowed global".
_STORAGE_TYPES = {
    "FloatStorage": "float32", "DoubleStorage": "float64", "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16", "LongStorage": "int64", "IntStorage": "int32",
    "ShortStorage": "int16", "CharStorage": "int8", "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


@dataclasses.dataclass(frozen=True)
class _StorageRef:
  """A persistent-id storage reference: ``<prefix>/data/<key>`` holding ``numel`` elements."""
  storage_type: _StorageType
  key: str
  location: str
  numel: int


@dataclasses.dataclass(frozen=True)
class _TensorRef:
  """What ``_rebuild_tensor_v2`` would have built: a strided view of a storage."""
  storage: _StorageRef
  offset: int
  shape: tuple
  stride: tuple


class _UnsafePickle(Exception):
  """Raised inside unpickling; converted to ClipFormatError with the file name."""


def _no_setstate(self, state):
  """Placeholders refuse the pickle BUILD opcode (which would otherwise patch their fields)."""
  raise _UnsafePickle(f"BUILD applied to {type(self).__name__}")


for _cls in (_StorageType, _StorageRef, _TensorRef):
  _cls.__setstate__ = _no_setstate
del _cls


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None, *extra):
  """Inert stand-in for ``torch._utils._rebuild_tensor_v2``: validates and records arguments."""
  if extra:
    raise _UnsafePickle(f"_rebuild_tensor_v2 got {len(extra)} unexpected extra arguments")
  if not isinstance(storage, _StorageRef):
    raise _UnsafePickle("_rebuild_tensor_v2: first argument is not a storage reference")
  if not (isinstance(storage_offset, int) and isinstance(size, tuple) and isinstance(stride, tuple)
          and all(isinstance(s, int) for s in size + stride)):
    raise _UnsafePickle("_rebuild_tensor_v2: offset/size/stride are not integers")
  if backward_hooks not in (None, {}) or metadata not in (None, {}):
    raise _UnsafePickle("_rebuild_tensor_v2: tensor has backward hooks or metadata")
  return _TensorRef(storage, storage_offset, size, stride)


def _empty_ordered_dict(*args):
  """Inert stand-in for ``collections.OrderedDict()`` (the empty backward-hooks dict)."""
  if args:
    raise _UnsafePickle("OrderedDict called with arguments")
  return {}


class _RestrictedUnpickler(pickle.Unpickler):
  """Unpickler that resolves only the globals of a single-tensor torch pickle, to placeholders."""

  _ALLOWED = {
      ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
      ("collections", "OrderedDict"): _empty_ordered_dict,
  }

  def find_class(self, module, name):
    fn = self._ALLOWED.get((module, name))
    if fn is not None:
      return fn
    if module == "torch" and name in _STORAGE_TYPES:
      return _StorageType(f"torch.{name}", _STORAGE_TYPES[name])
    raise _UnsafePickle(f"disallowed global {module}.{name} in pickle")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
      raise _UnsafePickle(f"unsupported persistent id {pid!r:.80}")
    _, stype, key, location, numel = pid
    if not isinstance(stype, _StorageType):
      raise _UnsafePickle("persistent id does not name a torch storage class")
    if not (isinstance(key, str) and re.fullmatch(r"[0-9A-Za-z_]+", key)):
      raise _UnsafePickle(f"bad storage key {key!r:.40}")
    if not (isinstance(numel, int) and numel >= 0):
      raise _UnsafePickle(f"bad storage size {numel!r:.40}")
    return _StorageRef(stype, key, str(location), numel)


# ----------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------

def _read_member(zf: zipfile.ZipFile, name: str, max_bytes: int, source, field: str) -> bytes:
  try:
    info = zf.getinfo(name)
  except KeyError:
    raise ClipFormatError(source, field, f"archive member {name!r} is missing") from None
  if info.file_size > max_bytes:
    raise ClipFormatError(source, field, f"archive member {name!r} is too large "
                          f"({info.file_size} bytes > {max_bytes})")
  try:
    return zf.read(info)
  except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as e:
    raise ClipFormatError(source, field, f"cannot read archive member {name!r}: {e}") from None


def _load_tensor_ref(zf: zipfile.ZipFile, source) -> tuple[str, _TensorRef]:
  pkls = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
  if len(pkls) != 1:
    raise ClipFormatError(source, "archive", f"expected exactly one data.pkl, found {len(pkls)}")
  prefix = pkls[0][:-len("data.pkl")]
  raw = _read_member(zf, pkls[0], MAX_PICKLE_BYTES, source, "data.pkl")
  try:
    obj = _RestrictedUnpickler(io.BytesIO(raw)).load()
  except _UnsafePickle as e:
    raise ClipFormatError(source, "data.pkl", str(e)) from None
  except Exception as e:  # malformed pickle streams raise many kinds of errors
    raise ClipFormatError(source, "data.pkl", f"unreadable pickle ({type(e).__name__}: {e})") from None
  if not isinstance(obj, _TensorRef):
    raise ClipFormatError(source, "payload",
                          f"expected exactly one tensor, found {type(obj).__name__}")
  return prefix, obj


def read_interact_pt(path) -> np.ndarray:
  """Reads the raw clip array of an InterAct ``.pt`` file, safely and without torch.

  Structural checks only (zip layout, allowed pickle globals, float32, little-endian, storage size,
  one 2-D tensor of width :data:`INTERACT_WIDTH`); content is checked by
  :func:`validate_interact_array`.

  Args:
    path: the ``.pt`` file.
  Returns:
    (T, 591) float32 array (a fresh, C-contiguous copy; quaternions still x, y, z, w).
  Raises:
    ClipFormatError: naming the file and the offending field.
  """
  source = os.fspath(path)
  if not os.path.isfile(source):
    raise ClipFormatError(source, "file", "not found")
  if not zipfile.is_zipfile(source):
    raise ClipFormatError(source, "archive", "not a zip archive (legacy or non-torch .pt?)")
  try:
    zf = zipfile.ZipFile(source)
  except (zipfile.BadZipFile, OSError) as e:
    raise ClipFormatError(source, "archive", f"bad zip archive: {e}") from None
  with zf:
    prefix, t = _load_tensor_ref(zf, source)
    st = t.storage
    if st.storage_type.dtype != "float32":
      raise ClipFormatError(source, "dtype", f"{st.storage_type.torch_name} "
                            f"({st.storage_type.dtype}) is not supported; expected float32")
    names = set(zf.namelist())
    if prefix + "byteorder" in names:
      order = _read_member(zf, prefix + "byteorder", 64, source, "byteorder").strip()
      if order != b"little":
        raise ClipFormatError(source, "byteorder", f"{order!r} is not supported; expected 'little'")
    if len(t.shape) != 2 or len(t.stride) != 2:
      raise ClipFormatError(source, "shape", f"expected a 2-D tensor, got shape {t.shape}")
    frames, width = t.shape
    if width != INTERACT_WIDTH:
      raise ClipFormatError(source, "shape",
                            f"width {width} != {INTERACT_WIDTH} (shape {t.shape})")
    if frames < 0 or min(t.stride) < 0 or t.offset < 0:
      raise ClipFormatError(source, "shape", f"negative size/stride/offset in {t}")
    item = 4
    nbytes_expected = st.numel * item
    if nbytes_expected > MAX_STORAGE_BYTES:
      raise ClipFormatError(source, "storage", f"storage of {st.numel} elements is too large")
    data_name = f"{prefix}data/{st.key}"
    buf = _read_member(zf, data_name, MAX_STORAGE_BYTES, source, "storage")
    if len(buf) != nbytes_expected:
      raise ClipFormatError(source, "storage", f"{data_name!r} holds {len(buf)} bytes, expected "
                            f"{nbytes_expected} ({st.numel} float32)")
    last = t.offset + sum((n - 1) * s for n, s in zip(t.shape, t.stride)) if frames else t.offset
    if frames and last >= st.numel:
      raise ClipFormatError(source, "storage", f"tensor view (shape {t.shape}, stride {t.stride}, "
                            f"offset {t.offset}) exceeds the storage of {st.numel} elements")
  flat = np.frombuffer(buf, dtype="<f4")
  arr = np.lib.stride_tricks.as_strided(
      flat[t.offset:], shape=t.shape, strides=tuple(s * item for s in t.stride), writeable=False)
  return np.ascontiguousarray(arr, dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Content validation
# ----------------------------------------------------------------------------------------------

def validate_interact_array(data: np.ndarray, source="<array>", min_frames: int = MIN_FRAMES,
                            quat_tol: float = QUAT_NORM_TOL) -> None:
  """Checks the content of a raw (T, 591) clip array; raises ClipFormatError naming the block.

  Checks: shape; at least ``min_frames`` frames; every used column finite (reports the block
  name, first bad frame and column); root/object/body quaternions unit within ``quat_tol``
  (reports field, frame and body); object flag in {0, 1}; body contact labels in {-1, 0, 1}.
  Unused columns are not inspected.
  """
  if data.ndim != 2 or data.shape[1] != INTERACT_WIDTH:
    raise ClipFormatError(source, "shape", f"expected (T, {INTERACT_WIDTH}), got {data.shape}")
  if data.shape[0] < min_frames:
    raise ClipFormatError(source, "frames", f"{data.shape[0]} frames < minimum {min_frames}")
  for name, block in INTERACT_LAYOUT.items():
    if block.kind == "unused":
      continue
    cols = data[:, block.slice]
    bad = ~np.isfinite(cols)
    if bad.any():
      frame, col = np.argwhere(bad)[0]
      raise ClipFormatError(source, name, f"non-finite value {cols[frame, col]} at frame {frame} "
                            f"(column {block.start + col})")
    if block.kind == "quat_xyzw":
      q = block.take(data).reshape(data.shape[0], -1, 4)
      err = np.abs(np.linalg.norm(q.astype(np.float64), axis=-1) - 1.0)
      if (err > quat_tol).any():
        frame, k = np.argwhere(err > quat_tol)[0]
        where = f" body {k} ({BODY_NAMES_SMPLX[k]})" if q.shape[1] > 1 else ""
        norm = float(np.linalg.norm(q[frame, k].astype(np.float64)))
        raise ClipFormatError(source, name, f"non-unit quaternion at frame {frame}{where}: "
                              f"norm {norm:.6f} (tolerance {quat_tol})")
    elif block.kind in ("flag", "contact"):
      allowed = (0.0, 1.0) if block.kind == "flag" else (-1.0, 0.0, 1.0)
      bad = ~np.isin(cols, allowed)
      if bad.any():
        frame, col = np.argwhere(bad)[0]
        where = f" body {col} ({BODY_NAMES_SMPLX[col]})" if block.width > 1 else ""
        raise ClipFormatError(source, name, f"label {cols[frame, col]} not in {set(allowed)} "
                              f"at frame {frame}{where}")


# ----------------------------------------------------------------------------------------------
# Named clip
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class InteractClip:
  """One InterAct clip with named fields; quaternions (w, x, y, z), world frame, z up, metres.

  Attributes (T frames):
    root_pos: (T, 3) float32 pelvis position.
    root_quat: (T, 4) float32 pelvis orientation.
    joint_expmap: (T, 51, 3) float32 per non-root body (order ``BODY_NAMES_SMPLX[1:]``): the values
      of its x/y/z hinges (the file calls them exp-maps of the local rotation).
    body_pos: (T, 52, 3) float32 body positions (order ``BODY_NAMES_SMPLX``).
    body_quat: (T, 52, 4) float32 body orientations.
    obj_pos: (T, 3) float32 object position.
    obj_quat: (T, 4) float32 object orientation.
    obj_contact: (T,) int8 object-in-contact flag (0/1).
    body_contact: (T, 52) int8 per-body contact label (1 touching, -1 surely not, 0 unknown).
    object_name: object name from the file name ``<subject>_<object>_<idx>.pt``.
    subject: subject id from the file name (e.g. 'sub2').
    clip_index: index from the file name.
    fps: frames per second.
    source: path of the file.
    body_names: names of the 52 bodies.

  Data notes (measured on the 27 OMOMO sub2 clips): ``root_pos``/``root_quat`` equal the Pelvis
  entries of ``body_pos``/``body_quat`` exactly; ``joint_expmap`` is the exp-map of
  ``conj(q_parent) * q_child`` computed from ``body_quat`` (error < 2e-6 rad), so MJCF hinge
  angles are ``geometry.quat_to_euler_xyz(geometry.quat_from_expmap(joint_expmap))``, not the raw
  values (up to 0.87 rad apart); finger exp-maps are all zero.  ``body_pos`` comes from a skeleton
  whose bone offsets differ from ``smplx_omomo.xml`` by up to ~6 cm, and its FINGER slots are
  shifted by three (SMPL-X joint order with jaw/eyes): the L_Index1-3 slots hold points rigidly
  attached to the Head, L_Middle1..L_Thumb3 hold the left index..ring, R_Index1-3 the left thumb,
  R_Middle1..R_Thumb3 the right index..ring; no slot holds the right thumb.  Finger rotations
  (= wrist rotations) are unaffected.
  """
  root_pos: np.ndarray
  root_quat: np.ndarray
  joint_expmap: np.ndarray
  body_pos: np.ndarray
  body_quat: np.ndarray
  obj_pos: np.ndarray
  obj_quat: np.ndarray
  obj_contact: np.ndarray
  body_contact: np.ndarray
  object_name: str
  subject: str
  clip_index: int
  fps: float
  source: str
  body_names: tuple[str, ...] = BODY_NAMES_SMPLX

  @property
  def num_frames(self) -> int:
    return int(self.root_pos.shape[0])

  @property
  def duration(self) -> float:
    """Seconds from the first to the last frame."""
    return (self.num_frames - 1) / self.fps

  def __len__(self) -> int:
    return self.num_frames


def parse_clip_name(path) -> tuple[str, str, int]:
  """``.../sub2_largetable_003.pt`` -> ('sub2', 'largetable', 3); ValueError if not that form."""
  m = _CLIP_NAME_RE.match(pathlib.Path(path).stem)
  if m is None:
    raise ValueError(f"{path}: file name is not <subject>_<object>_<index>.pt")
  return m["subject"], m["object"], int(m["index"])


def _wxyz(q: np.ndarray) -> np.ndarray:
  return np.ascontiguousarray(geometry.xyzw_to_wxyz(q), dtype=np.float32)


def load_interact_clip(path, fps: float = INTERACT_FPS, object_name: str | None = None,
                       min_frames: int = MIN_FRAMES) -> InteractClip:
  """Reads, validates (structure and content) and names an InterAct ``.pt`` clip.

  Args:
    path: ``<subject>_<object>_<idx>.pt``.
    fps: frame rate of the file (InterAct: 30).
    object_name: overrides the object name parsed from the file name.
    min_frames: fewest frames accepted.
  Returns:
    :class:`InteractClip` with quaternions converted to (w, x, y, z).
  Raises:
    ClipFormatError: naming the file and the field.
  """
  source = os.fspath(path)
  subject, clip_index = "", -1
  try:
    subject, parsed_object, clip_index = parse_clip_name(source)
  except ValueError:
    if object_name is None:
      raise ClipFormatError(source, "file name",
                            "not <subject>_<object>_<index>.pt; pass object_name") from None
  else:
    object_name = object_name or parsed_object
  if not (fps > 0):
    raise ClipFormatError(source, "fps", f"must be positive, got {fps}")
  data = read_interact_pt(source)
  validate_interact_array(data, source, min_frames=min_frames)
  L = INTERACT_LAYOUT
  T = data.shape[0]
  return InteractClip(
      root_pos=L["root_pos"].take(data).copy(),
      root_quat=_wxyz(L["root_quat"].take(data)),
      joint_expmap=L["joint_expmap"].take(data).copy(),
      body_pos=L["body_pos"].take(data).copy(),
      body_quat=_wxyz(L["body_quat"].take(data)),
      obj_pos=L["obj_pos"].take(data).copy(),
      obj_quat=_wxyz(L["obj_quat"].take(data)),
      obj_contact=L["obj_contact"].take(data).astype(np.int8).reshape(T),
      body_contact=L["body_contact"].take(data).astype(np.int8),
      object_name=object_name,
      subject=subject,
      clip_index=clip_index,
      fps=float(fps),
      source=source,
  )


__all__ = [
    "ClipFormatError", "InteractClip", "read_interact_pt", "validate_interact_array",
    "load_interact_clip", "parse_clip_name", "MAX_PICKLE_BYTES", "MAX_STORAGE_BYTES",
    "QUAT_NORM_TOL", "MIN_FRAMES",
]
