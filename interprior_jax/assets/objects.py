"""Rigid interaction objects: definitions, MJX-friendly collision geometry and MjSpec insertion.

Three layers, data flowing one way:

* **Definitions** -- frozen dataclasses holding every default number (sizes in metres, density in
  kg/m^3, friction, colour): :class:`BoxDef`, :class:`CylinderDef`, :class:`SphereDef`,
  :class:`CapsuleDef`, box composites (:class:`BoxCompositeDef`, :class:`TableDef`,
  :class:`ChairDef`) and :class:`MeshDef` (an OBJ file, convex-decomposed with CoACD).  Every
  definition has ``scaled(factor)`` for size randomisation; fields can be overridden with
  ``dataclasses.replace`` or ``make_object(name, **overrides)``.
* **Compilation** -- :func:`make_object` turns a definition into an :class:`ObjectAsset`: a list of
  collision geoms (boxes, spheres, capsules, cylinders, convex hulls of at most 64 vertices), a
  deterministic area-uniform surface point cloud with normals and the collision bounding box.
  :meth:`ObjectAsset.add_to_spec` adds the object as a free body to a ``mujoco.MjSpec``.
* **Library** -- :data:`OBJECT_LIBRARY` maps names to definition factories; :func:`list_objects`.

Frames.  Primitives are centred on their geometric centre with their axis (cylinder, capsule) along
z.  Composites are built standing on z=0 and then shifted so the centre of their bounding box is the
origin.  Mesh objects keep the OBJ file's own frame (the OMOMO meshes are centred near the origin and
are not re-centred).  To rest an object upright on a floor at z=0 put its origin at
``z = -asset.bottom_z``.

MJX notes.  MJX has no (cylinder, box) or (cylinder, mesh) collision function, so cylinders are, by
default, emitted as a convex ``CylinderDef.mesh_segments``-gon prism mesh (``as_mesh=True``); meshes
collide convex-convex, which is why mesh objects are decomposed into small convex hulls.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import hashlib
import json
import logging
import os
import pathlib
import tempfile
from typing import Any, Callable, ClassVar, Sequence

import mujoco
import numpy as np

from interprior_jax import paths

_LOG = logging.getLogger(__name__)

Vec3 = tuple[float, float, float]
Quat = tuple[float, float, float, float]  # (w, x, y, z)

DEFAULT_NUM_POINTS = 1024
# Bump when the decomposition post-processing changes, so stale cache files are not reused.
_HULL_CACHE_VERSION = 1
_IDENTITY_QUAT: Quat = (1.0, 0.0, 0.0, 0.0)


# ------------------------------------------------------------------------------------------------
# Definitions
# ------------------------------------------------------------------------------------------------


def _tuple(x: Sequence[float], n: int, what: str) -> tuple[float, ...]:
  t = tuple(float(v) for v in x)
  if len(t) != n:
    raise ValueError(f"{what}: expected {n} values, got {len(t)}")
  return t


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectDef(abc.ABC):
  """Common physical properties of an object definition.

  Attributes:
    name: library / display name; also the default MuJoCo body name.
    density: kg/m^3; masses are density * collision volume (MuJoCo computes the inertia).
    friction: MuJoCo geom friction (sliding, torsional, rolling).
    rgba: colour.
  """

  name: str = "object"
  density: float = 300.0
  friction: Vec3 = (0.8, 0.005, 0.0001)
  rgba: tuple[float, float, float, float] = (0.72, 0.55, 0.35, 1.0)

  # Names of length-valued fields (floats or tuples of floats) multiplied by ``scaled``.
  _length_fields: ClassVar[tuple[str, ...]] = ()

  def __post_init__(self) -> None:
    object.__setattr__(self, "friction", _tuple(self.friction, 3, f"{self.name}.friction"))
    object.__setattr__(self, "rgba", _tuple(self.rgba, 4, f"{self.name}.rgba"))
    if not self.density > 0:
      raise ValueError(f"{self.name}: density must be positive, got {self.density}")
    for f in self._length_fields:
      v = getattr(self, f)
      if isinstance(v, (tuple, list)):
        v = tuple(float(x) for x in v)
        object.__setattr__(self, f, v)
        bad = any(x <= 0 for x in v)
      else:
        bad = not float(v) > 0
      if bad:
        raise ValueError(f"{self.name}: {f} must be positive, got {v}")

  def scaled(self, factor: float) -> "ObjectDef":
    """A copy with every length multiplied by ``factor`` (density and friction unchanged)."""
    if not factor > 0:
      raise ValueError(f"scale factor must be positive, got {factor}")
    changes = {}
    for f in self._length_fields:
      v = getattr(self, f)
      changes[f] = tuple(x * factor for x in v) if isinstance(v, tuple) else v * factor
    return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoxDef(ObjectDef):
  """A box; ``half_extents`` (3,) in metres (default 0.4 x 0.3 x 0.4 m full size, ~4.8 kg)."""

  name: str = "box"
  half_extents: Vec3 = (0.2, 0.15, 0.2)
  density: float = 100.0
  _length_fields: ClassVar[tuple[str, ...]] = ("half_extents",)

  def __post_init__(self) -> None:
    object.__setattr__(self, "half_extents", _tuple(self.half_extents, 3, "half_extents"))
    super().__post_init__()


@dataclasses.dataclass(frozen=True, kw_only=True)
class CylinderDef(ObjectDef):
  """An upright cylinder (axis z): ``radius`` and ``half_height`` in metres.

  ``as_mesh`` (default) emits the collision shape as a convex prism with ``mesh_segments`` sides
  (2 * mesh_segments vertices) because MJX cannot collide primitive cylinders with boxes or meshes;
  with ``as_mesh=False`` a MuJoCo cylinder geom is used instead.
  """

  name: str = "cylinder"
  radius: float = 0.15
  half_height: float = 0.25
  density: float = 100.0
  rgba: tuple[float, float, float, float] = (0.35, 0.55, 0.75, 1.0)
  as_mesh: bool = True
  mesh_segments: int = 20  # MJX polygon faces with more than 20 vertices get subsampled
  _length_fields: ClassVar[tuple[str, ...]] = ("radius", "half_height")

  def __post_init__(self) -> None:
    super().__post_init__()
    if not 3 <= self.mesh_segments <= 32:
      raise ValueError(f"{self.name}: mesh_segments must be in [3, 32], got {self.mesh_segments}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class SphereDef(ObjectDef):
  """A sphere of ``radius`` metres."""

  name: str = "sphere"
  radius: float = 0.12
  density: float = 300.0
  rgba: tuple[float, float, float, float] = (0.8, 0.3, 0.3, 1.0)
  _length_fields: ClassVar[tuple[str, ...]] = ("radius",)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CapsuleDef(ObjectDef):
  """A capsule along z: ``radius`` and ``half_length`` of its cylindrical part, metres."""

  name: str = "capsule"
  radius: float = 0.05
  half_length: float = 0.3
  density: float = 400.0
  rgba: tuple[float, float, float, float] = (0.45, 0.7, 0.4, 1.0)
  _length_fields: ClassVar[tuple[str, ...]] = ("radius", "half_length")


@dataclasses.dataclass(frozen=True)
class BoxPart:
  """One box of a composite: ``half_extents`` (3,), ``pos`` (3,) and ``quat`` (4,) (w, x, y, z)."""

  label: str
  half_extents: Vec3
  pos: Vec3 = (0.0, 0.0, 0.0)
  quat: Quat = _IDENTITY_QUAT

  def __post_init__(self) -> None:
    he = _tuple(self.half_extents, 3, f"{self.label}.half_extents")
    if any(x <= 0 for x in he):
      raise ValueError(f"{self.label}: half_extents must be positive, got {he}")
    q = np.asarray(_tuple(self.quat, 4, f"{self.label}.quat"))
    object.__setattr__(self, "half_extents", he)
    object.__setattr__(self, "pos", _tuple(self.pos, 3, f"{self.label}.pos"))
    object.__setattr__(self, "quat", tuple(float(x) for x in q / np.linalg.norm(q)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class CompositeDef(ObjectDef):
  """An object made of several boxes; subclasses define :meth:`raw_parts`."""

  density: float = 500.0  # wood

  @abc.abstractmethod
  def raw_parts(self) -> tuple[BoxPart, ...]:
    """The boxes in the construction frame (any origin)."""

  def parts(self) -> tuple[BoxPart, ...]:
    """The boxes shifted so the centre of their bounding box is the object origin."""
    raw = self.raw_parts()
    lo, hi = _aabb_of_pieces([_box_piece(p) for p in raw])
    c = 0.5 * (lo + hi)
    return tuple(dataclasses.replace(p, pos=tuple(np.asarray(p.pos) - c)) for p in raw)


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoxCompositeDef(CompositeDef):
  """A composite from an explicit list of :class:`BoxPart` (re-centred on its bounding box)."""

  name: str = "composite"
  boxes: tuple[BoxPart, ...] = ()

  def __post_init__(self) -> None:
    super().__post_init__()
    object.__setattr__(self, "boxes", tuple(self.boxes))
    if not self.boxes:
      raise ValueError(f"{self.name}: a composite needs at least one box")
    labels = [b.label for b in self.boxes]
    if len(set(labels)) != len(labels):
      raise ValueError(f"{self.name}: box labels must be unique, got {labels}")

  def raw_parts(self) -> tuple[BoxPart, ...]:
    return self.boxes

  def scaled(self, factor: float) -> "BoxCompositeDef":
    if not factor > 0:
      raise ValueError(f"scale factor must be positive, got {factor}")
    boxes = tuple(
        dataclasses.replace(b, half_extents=tuple(x * factor for x in b.half_extents),
                            pos=tuple(x * factor for x in b.pos)) for b in self.boxes)
    return dataclasses.replace(self, boxes=boxes)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TableDef(CompositeDef):
  """A four-legged table: a top (``width`` along x, ``depth`` along y) and square legs.

  ``height`` is floor to top surface; legs stand ``leg_inset`` in from the top's edges. ~9.4 kg.
  """

  name: str = "table"
  width: float = 0.8
  depth: float = 0.6
  height: float = 0.72
  top_thickness: float = 0.03
  leg_width: float = 0.04
  leg_inset: float = 0.02
  _length_fields: ClassVar[tuple[str, ...]] = (
      "width", "depth", "height", "top_thickness", "leg_width", "leg_inset")

  def __post_init__(self) -> None:
    super().__post_init__()
    if self.top_thickness >= self.height:
      raise ValueError(f"{self.name}: top_thickness must be below height")
    if 2 * (self.leg_inset + self.leg_width) > min(self.width, self.depth):
      raise ValueError(f"{self.name}: legs do not fit under the top")

  def raw_parts(self) -> tuple[BoxPart, ...]:
    leg_h = self.height - self.top_thickness
    parts = [BoxPart("top", (self.width / 2, self.depth / 2, self.top_thickness / 2),
                     (0.0, 0.0, self.height - self.top_thickness / 2))]
    lx = self.width / 2 - self.leg_inset - self.leg_width / 2
    ly = self.depth / 2 - self.leg_inset - self.leg_width / 2
    for i, (sx, sy) in enumerate(((1, 1), (-1, 1), (-1, -1), (1, -1))):
      parts.append(BoxPart(f"leg{i}", (self.leg_width / 2, self.leg_width / 2, leg_h / 2),
                           (sx * lx, sy * ly, leg_h / 2)))
    return tuple(parts)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ChairDef(CompositeDef):
  """A chair facing +x: seat (``seat_depth`` along x, ``seat_width`` along y), 4 legs, a backrest.

  ``seat_height`` is floor to seat surface; the backrest (``back_height`` above the seat) stands on
  the seat's rear (-x) edge. ~6.8 kg.
  """

  name: str = "chair"
  density: float = 400.0
  seat_width: float = 0.44
  seat_depth: float = 0.42
  seat_height: float = 0.45
  seat_thickness: float = 0.04
  leg_width: float = 0.04
  back_height: float = 0.45
  back_thickness: float = 0.03
  _length_fields: ClassVar[tuple[str, ...]] = (
      "seat_width", "seat_depth", "seat_height", "seat_thickness", "leg_width", "back_height",
      "back_thickness")

  def __post_init__(self) -> None:
    super().__post_init__()
    if self.seat_thickness >= self.seat_height:
      raise ValueError(f"{self.name}: seat_thickness must be below seat_height")
    if 2 * self.leg_width > min(self.seat_width, self.seat_depth):
      raise ValueError(f"{self.name}: legs do not fit under the seat")
    if self.back_thickness >= self.seat_depth:
      raise ValueError(f"{self.name}: back_thickness must be below seat_depth")

  def raw_parts(self) -> tuple[BoxPart, ...]:
    leg_h = self.seat_height - self.seat_thickness
    parts = [BoxPart("seat", (self.seat_depth / 2, self.seat_width / 2, self.seat_thickness / 2),
                     (0.0, 0.0, self.seat_height - self.seat_thickness / 2))]
    lx = self.seat_depth / 2 - self.leg_width / 2
    ly = self.seat_width / 2 - self.leg_width / 2
    for i, (sx, sy) in enumerate(((1, 1), (-1, 1), (-1, -1), (1, -1))):
      parts.append(BoxPart(f"leg{i}", (self.leg_width / 2, self.leg_width / 2, leg_h / 2),
                           (sx * lx, sy * ly, leg_h / 2)))
    parts.append(BoxPart(
        "back", (self.back_thickness / 2, self.seat_width / 2, self.back_height / 2),
        (-self.seat_depth / 2 + self.back_thickness / 2, 0.0,
         self.seat_height + self.back_height / 2)))
    return tuple(parts)


@dataclasses.dataclass(frozen=True)
class DecompositionParams:
  """CoACD convex-decomposition settings (part of the hull-cache key).

  Attributes:
    threshold: CoACD concavity threshold (lower = more, tighter hulls; slower).
    max_hulls: upper bound on the number of hulls (CoACD merges down to it).
    max_hull_vertices: hard cap on vertices per hull (MJX convex collision cost grows with it).
    preprocess_resolution: CoACD manifold-preprocessing voxel resolution.
    mcts_iterations: CoACD tree-search iterations.
    seed: CoACD random seed.
    min_hull_volume: hulls below this volume (m^3, unscaled) are dropped as degenerate.
  """

  threshold: float = 0.08
  max_hulls: int = 16
  max_hull_vertices: int = 64
  preprocess_resolution: int = 50
  mcts_iterations: int = 150
  seed: int = 0
  min_hull_volume: float = 1e-9

  def __post_init__(self) -> None:
    if not 0 < self.threshold <= 1:
      raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
    if self.max_hulls < 1 or self.max_hull_vertices < 4:
      raise ValueError("max_hulls must be >= 1 and max_hull_vertices >= 4")


@dataclasses.dataclass(frozen=True, kw_only=True)
class MeshDef(ObjectDef):
  """A triangle mesh from an OBJ file (metres, kept in the file's own frame).

  Collision uses the CoACD convex decomposition (cached on disk, see :func:`convex_decomposition`);
  surface points are sampled on the original mesh.  ``scale`` multiplies the mesh uniformly after
  decomposition, so randomised sizes reuse the cached hulls.
  """

  name: str = "mesh"
  obj_path: str = ""
  scale: float = 1.0
  density: float = 400.0
  decomposition: DecompositionParams = DecompositionParams()
  _length_fields: ClassVar[tuple[str, ...]] = ("scale",)

  def __post_init__(self) -> None:
    object.__setattr__(self, "obj_path", os.fspath(self.obj_path))
    if not self.obj_path:
      raise ValueError(f"{self.name}: obj_path is required")
    super().__post_init__()


# ------------------------------------------------------------------------------------------------
# Geometry helpers
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class GeomPiece:
  """One collision geom in the object frame.

  Attributes:
    label: suffix of the MuJoCo geom (and mesh) name.
    kind: "box" | "sphere" | "capsule" | "cylinder" | "mesh".
    size: MuJoCo geom size: box half extents (3,); sphere (r,); capsule/cylinder (r, half length);
      unused (empty) for meshes.
    pos: (3,) geom position; quat: (4,) (w, x, y, z) geom orientation.
    vertices: (V, 3) float64 convex-hull vertices in the object frame, V <= 64 (meshes only).
  """

  label: str
  kind: str
  size: tuple[float, ...] = ()
  pos: Vec3 = (0.0, 0.0, 0.0)
  quat: Quat = _IDENTITY_QUAT
  vertices: np.ndarray | None = None

  @property
  def rotation(self) -> np.ndarray:
    """(3, 3) rotation matrix of ``quat``."""
    return _quat_to_mat(self.quat)

  @property
  def volume(self) -> float:
    """Volume in m^3 (what MuJoCo multiplies by density)."""
    if self.kind == "box":
      return 8.0 * float(np.prod(self.size))
    if self.kind == "sphere":
      return 4.0 / 3.0 * np.pi * self.size[0] ** 3
    if self.kind == "cylinder":
      return np.pi * self.size[0] ** 2 * 2.0 * self.size[1]
    if self.kind == "capsule":
      r, h = self.size
      return np.pi * r ** 2 * 2.0 * h + 4.0 / 3.0 * np.pi * r ** 3
    return float(_convex_hull(self.vertices).volume)

  def aabb(self) -> tuple[np.ndarray, np.ndarray]:
    """(min (3,), max (3,)) of the geom in the object frame."""
    if self.kind == "mesh":
      return self.vertices.min(0), self.vertices.max(0)
    p, rot = np.asarray(self.pos), self.rotation
    if self.kind == "box":
      ext = np.abs(rot) @ np.asarray(self.size)
    elif self.kind == "sphere":
      ext = np.full(3, self.size[0])
    else:
      axis = rot[:, 2]
      r, h = self.size
      radial = r if self.kind == "capsule" else r * np.sqrt(np.clip(1.0 - axis ** 2, 0.0, 1.0))
      ext = h * np.abs(axis) + radial
    return p - ext, p + ext


def _quat_to_mat(q: Sequence[float]) -> np.ndarray:
  mat = np.zeros(9)
  mujoco.mju_quat2Mat(mat, np.asarray(q, dtype=np.float64))
  return mat.reshape(3, 3)


def _box_piece(part: BoxPart) -> GeomPiece:
  return GeomPiece(part.label, "box", part.half_extents, part.pos, part.quat)


def _aabb_of_pieces(pieces: Sequence[GeomPiece]) -> tuple[np.ndarray, np.ndarray]:
  boxes = [p.aabb() for p in pieces]
  return np.min([b[0] for b in boxes], axis=0), np.max([b[1] for b in boxes], axis=0)


def _convex_hull(points: np.ndarray):
  from scipy.spatial import ConvexHull  # pylint: disable=g-import-not-at-top
  return ConvexHull(np.asarray(points, dtype=np.float64))


def _prism_vertices(radius: float, half_height: float, segments: int) -> np.ndarray:
  """(2 * segments, 3) vertices of a regular prism inscribed in the cylinder (axis z)."""
  a = 2.0 * np.pi * np.arange(segments) / segments
  ring = np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)
  return np.concatenate([np.c_[ring, np.full(segments, -half_height)],
                         np.c_[ring, np.full(segments, half_height)]])


def reduce_hull(points: np.ndarray, max_vertices: int = 64) -> np.ndarray:
  """Vertices (V, 3), V <= max_vertices, of a convex hull approximating that of ``points`` (N, 3).

  Keeps the hull's own vertices when there are few enough; otherwise keeps a deterministic
  farthest-point subset of them (starting from the vertex farthest from the centroid) and re-hulls.
  The result lies inside the original hull and keeps its extreme points, so it stays close to it.
  Raises scipy's QhullError for degenerate (flat) input.
  """
  pts = np.asarray(points, dtype=np.float64)
  hull = _convex_hull(pts)
  v = pts[np.sort(hull.vertices)]
  if len(v) <= max_vertices:
    return v
  d_centre = np.linalg.norm(v - v.mean(0), axis=1)
  chosen = [int(np.argmax(d_centre))]
  dist = np.linalg.norm(v - v[chosen[0]], axis=1)
  for _ in range(max_vertices - 1):
    i = int(np.argmax(dist))
    chosen.append(i)
    dist = np.minimum(dist, np.linalg.norm(v - v[i], axis=1))
  sub = v[np.sort(np.unique(chosen))]
  return sub[np.sort(_convex_hull(sub).vertices)]


# ------------------------------------------------------------------------------------------------
# Meshes: loading and convex decomposition (cached)
# ------------------------------------------------------------------------------------------------


def load_obj(path: str | os.PathLike):
  """Loads an OBJ file as one ``trimesh.Trimesh`` (duplicate vertices merged).

  Raises:
    FileNotFoundError: the file does not exist (the message names it).
    ValueError: the file cannot be parsed or holds no triangles (the message names it).
  """
  import trimesh  # pylint: disable=g-import-not-at-top

  p = pathlib.Path(path)
  if not p.is_file():
    raise FileNotFoundError(f"{p}: OBJ mesh file not found")
  try:
    mesh = trimesh.load(p, file_type="obj", force="mesh", process=True)
  except Exception as e:  # trimesh raises many types on bad input
    raise ValueError(f"{p}: cannot read OBJ mesh ({type(e).__name__}: {e})") from e
  if (not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0
      or not np.isfinite(mesh.vertices).all()):
    raise ValueError(f"{p}: OBJ file holds no valid triangle mesh")
  return mesh


def _file_digest(path: str | os.PathLike) -> str:
  p = pathlib.Path(path)
  if not p.is_file():
    raise FileNotFoundError(f"{p}: OBJ mesh file not found")
  return hashlib.sha256(p.read_bytes()).hexdigest()


def hull_cache_path(obj_path: str | os.PathLike, params: DecompositionParams) -> pathlib.Path:
  """Where the decomposition of ``obj_path`` with ``params`` is cached (hash of bytes + params)."""
  key = json.dumps({"file": _file_digest(obj_path), "params": dataclasses.asdict(params),
                    "version": _HULL_CACHE_VERSION}, sort_keys=True)
  digest = hashlib.sha256(key.encode()).hexdigest()[:24]
  return paths.cache_dir("hulls") / f"{pathlib.Path(obj_path).stem}_{digest}.npz"


def convex_decomposition(obj_path: str | os.PathLike,
                         params: DecompositionParams = DecompositionParams(),
                         use_cache: bool = True) -> list[np.ndarray]:
  """Convex hulls of an OBJ mesh, each a (V_i, 3) float64 vertex array with V_i <= 64.

  Runs CoACD (imported lazily) on the mesh in its own frame, reduces any hull above
  ``params.max_hull_vertices`` with :func:`reduce_hull` and drops degenerate hulls.  Results are
  cached in ``paths.cache_dir("hulls")`` under a key hashing the file bytes and ``params``.
  """
  cache = hull_cache_path(obj_path, params) if use_cache else None
  if cache is not None and cache.is_file():
    try:
      with np.load(cache) as z:
        verts, counts = z["vertices"], z["counts"]
      return [np.array(h) for h in np.split(verts, np.cumsum(counts)[:-1])]
    except Exception as e:  # corrupt cache: recompute
      _LOG.warning("ignoring unreadable hull cache %s (%s)", cache, e)

  mesh = load_obj(obj_path)
  import coacd  # pylint: disable=g-import-not-at-top
  from scipy.spatial import QhullError  # pylint: disable=g-import-not-at-top

  coacd.set_log_level("error")
  raw = coacd.run_coacd(
      coacd.Mesh(np.asarray(mesh.vertices, np.float64), np.asarray(mesh.faces, np.int32)),
      threshold=params.threshold, max_convex_hull=params.max_hulls,
      preprocess_resolution=params.preprocess_resolution,
      mcts_iterations=params.mcts_iterations, seed=params.seed,
      decimate=True, max_ch_vertex=params.max_hull_vertices)
  hulls = []
  for v, _ in raw:
    try:
      h = reduce_hull(np.asarray(v, np.float64), params.max_hull_vertices)
    except QhullError:
      continue
    if len(h) >= 4 and _convex_hull(h).volume >= params.min_hull_volume:
      hulls.append(h)
  if not hulls:
    raise ValueError(f"{obj_path}: convex decomposition produced no valid hull")
  if cache is not None:
    # Atomic write: parallel processes may decompose the same mesh.
    fd, tmp = tempfile.mkstemp(dir=cache.parent, suffix=".npz.tmp")
    try:
      with os.fdopen(fd, "wb") as f:
        np.savez(f, vertices=np.concatenate(hulls),
                 counts=np.array([len(h) for h in hulls], np.int64))
      os.replace(tmp, cache)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
  return hulls


# ------------------------------------------------------------------------------------------------
# Surface sampling
# ------------------------------------------------------------------------------------------------


def _sample_triangles(verts: np.ndarray, faces: np.ndarray, n: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """n area-uniform points (n, 3) and their face normals (n, 3) on a triangle mesh."""
  tri = verts[faces]
  cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
  area = 0.5 * np.linalg.norm(cross, axis=1)
  idx = rng.choice(len(faces), size=n, p=area / area.sum())
  u, v = rng.random(n), rng.random(n)
  flip = u + v > 1.0
  u[flip], v[flip] = 1.0 - u[flip], 1.0 - v[flip]
  t = tri[idx]
  pts = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
  nrm = cross[idx] / np.maximum(np.linalg.norm(cross[idx], axis=1, keepdims=True), 1e-30)
  return pts, nrm


def _piece_area(p: GeomPiece) -> float:
  if p.kind == "box":
    a, b, c = p.size
    return 8.0 * (a * b + b * c + a * c)
  if p.kind == "sphere":
    return 4.0 * np.pi * p.size[0] ** 2
  if p.kind == "cylinder":
    r, h = p.size
    return 2.0 * np.pi * r * 2.0 * h + 2.0 * np.pi * r ** 2
  if p.kind == "capsule":
    r, h = p.size
    return 2.0 * np.pi * r * 2.0 * h + 4.0 * np.pi * r ** 2
  return float(_convex_hull(p.vertices).area)


def _sample_piece(p: GeomPiece, n: int,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """n area-uniform points (n, 3) and outward normals (n, 3) on one geom, object frame."""
  if p.kind == "mesh":
    hull = _convex_hull(p.vertices)
    faces = hull.simplices.copy()
    # Orient every triangle outward (scipy's simplices are unordered).
    tri = p.vertices[faces]
    nrm = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    inward = np.einsum("ij,ij->i", nrm, hull.equations[:, :3]) < 0
    faces[inward] = faces[inward][:, ::-1]
    return _sample_triangles(p.vertices, faces, n, rng)
  if p.kind == "box":
    he = np.asarray(p.size)
    face_area = np.array([he[1] * he[2], he[0] * he[2], he[0] * he[1]])
    axis = rng.choice(3, size=n, p=face_area / face_area.sum())
    sign = rng.choice([-1.0, 1.0], size=n)
    local = (rng.random((n, 3)) * 2.0 - 1.0) * he
    local[np.arange(n), axis] = sign * he[axis]
    nrm = np.zeros((n, 3))
    nrm[np.arange(n), axis] = sign
  elif p.kind == "sphere":
    nrm = rng.normal(size=(n, 3))
    nrm /= np.linalg.norm(nrm, axis=1, keepdims=True)
    local = p.size[0] * nrm
  else:  # cylinder / capsule along z
    r, h = p.size
    side = 2.0 * np.pi * r * 2.0 * h
    ends = 2.0 * np.pi * r ** 2 if p.kind == "cylinder" else 4.0 * np.pi * r ** 2
    on_side = rng.random(n) < side / (side + ends)
    theta = rng.random(n) * 2.0 * np.pi
    local = np.stack([r * np.cos(theta), r * np.sin(theta), (rng.random(n) * 2 - 1) * h], axis=1)
    nrm = np.stack([np.cos(theta), np.sin(theta), np.zeros(n)], axis=1)
    m = ~on_side
    k = int(m.sum())
    if p.kind == "cylinder":
      s = rng.choice([-1.0, 1.0], size=k)
      rad = r * np.sqrt(rng.random(k))
      local[m] = np.stack([rad * np.cos(theta[m]), rad * np.sin(theta[m]), s * h], axis=1)
      nrm[m] = np.stack([np.zeros(k), np.zeros(k), s], axis=1)
    else:
      d = rng.normal(size=(k, 3))
      d /= np.linalg.norm(d, axis=1, keepdims=True)
      local[m] = r * d + np.stack([np.zeros(k), np.zeros(k), np.sign(d[:, 2]) * h], axis=1)
      nrm[m] = d
  rot = p.rotation
  return local @ rot.T + np.asarray(p.pos), nrm @ rot.T


def _covered(pts: np.ndarray, nrm: np.ndarray, piece: GeomPiece, eps: float = 1e-6) -> np.ndarray:
  """(n,) bool: points whose outward-nudged position lies inside box ``piece`` (hidden surface)."""
  local = (pts + eps * nrm - np.asarray(piece.pos)) @ piece.rotation
  return np.all(np.abs(local) < np.asarray(piece.size), axis=1)


def _sample_pieces(pieces: Sequence[GeomPiece], n: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
  """n area-uniform points on the union of ``pieces`` (surface hidden inside a box removed)."""
  areas = np.array([_piece_area(p) for p in pieces])
  boxes = [i for i, p in enumerate(pieces) if p.kind == "box"] if len(pieces) > 1 else []
  out_p, out_n, have = [], [], 0
  while have < n:
    m = 2 * (n - have) + 64
    which = rng.choice(len(pieces), size=m, p=areas / areas.sum())
    pts, nrm = np.zeros((m, 3)), np.zeros((m, 3))
    for i, p in enumerate(pieces):
      sel = which == i
      if sel.any():
        pts[sel], nrm[sel] = _sample_piece(p, int(sel.sum()), rng)
    keep = np.ones(m, bool)
    for j in boxes:
      keep &= ~((which != j) & _covered(pts, nrm, pieces[j]))
    out_p.append(pts[keep])
    out_n.append(nrm[keep])
    have += int(keep.sum())
  return np.concatenate(out_p)[:n], np.concatenate(out_n)[:n]


def _sampling_seed(defn: ObjectDef, num_points: int) -> int:
  """A seed from the definition's parameters (mesh files by content, not by path)."""
  fields = {f.name: getattr(defn, f.name) for f in dataclasses.fields(defn)}
  if isinstance(defn, MeshDef):
    fields["obj_path"] = _file_digest(defn.obj_path)
  key = f"{type(defn).__name__}|{num_points}|{sorted(fields.items())!r}"
  return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")


# ------------------------------------------------------------------------------------------------
# Compiled asset
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class ObjectAsset:
  """A compiled object, ready to be added to scenes (arrays are read-only and shared).

  Attributes:
    name: the definition's name.
    definition: the :class:`ObjectDef` it was made from.
    geoms: collision geoms in the object frame.
    surface_points: (N, 3) float32 area-uniform surface samples, object frame (N = num_points).
    surface_normals: (N, 3) float32 unit outward normals at ``surface_points`` (for meshes: the
      OBJ face normals, oriented as the file's winding).
    bounding_box: (2, 3) float64 [min; max] of the collision geometry, object frame.
  """

  name: str
  definition: ObjectDef
  geoms: tuple[GeomPiece, ...]
  surface_points: np.ndarray
  surface_normals: np.ndarray
  bounding_box: np.ndarray

  @property
  def num_points(self) -> int:
    return int(self.surface_points.shape[0])

  @property
  def half_extents(self) -> np.ndarray:
    """(3,) half sizes of :attr:`bounding_box`."""
    return 0.5 * (self.bounding_box[1] - self.bounding_box[0])

  @property
  def center(self) -> np.ndarray:
    """(3,) centre of :attr:`bounding_box` in the object frame."""
    return 0.5 * (self.bounding_box[1] + self.bounding_box[0])

  @property
  def height(self) -> float:
    """Vertical (z) extent of the collision geometry in the object frame, metres."""
    return float(self.bounding_box[1, 2] - self.bounding_box[0, 2])

  @property
  def bottom_z(self) -> float:
    """Lowest collision point z in the object frame; rest on a z=0 floor at origin z=-bottom_z."""
    return float(self.bounding_box[0, 2])

  @property
  def volume(self) -> float:
    """Sum of geom volumes (m^3); overlapping hulls count twice, exactly as in MuJoCo's mass."""
    return float(sum(g.volume for g in self.geoms))

  @property
  def mass(self) -> float:
    """density * volume (kg): the body mass MuJoCo computes."""
    return self.definition.density * self.volume

  def add_to_spec(self, spec: mujoco.MjSpec, body_name: str | None = None,
                  pos: Sequence[float] = (0.0, 0.0, 0.0),
                  quat: Sequence[float] = _IDENTITY_QUAT,
                  contype: int = 1, conaffinity: int = 1, condim: int = 3,
                  parent: mujoco.MjsBody | None = None, free: bool = True,
                  group: int = 0) -> mujoco.MjsBody:
    """Adds the object as a body of ``spec`` and returns it.

    Args:
      spec: the scene being built.
      body_name: body name (default: ``self.name``); prefixes all geom, mesh and joint names.
      pos: (3,) body position in the parent frame; quat: (4,) (w, x, y, z) orientation.
      contype, conaffinity, condim: MuJoCo contact settings for every geom.
      parent: parent body (default: the world body).
      free: add a free joint named ``<body_name>_root`` (False: the object is welded to parent).
      group: visualisation group of the geoms.
    """
    name = body_name or self.name
    parent = parent if parent is not None else spec.worldbody
    body = parent.add_body(name=name, pos=_tuple(pos, 3, "pos"), quat=_tuple(quat, 4, "quat"))
    if free:
      body.add_freejoint(name=f"{name}_root")
    d = self.definition
    for g in self.geoms:
      geom = body.add_geom(name=f"{name}_{g.label}", contype=contype, conaffinity=conaffinity,
                           condim=condim, density=d.density, friction=list(d.friction),
                           rgba=list(d.rgba), group=group)
      if g.kind == "mesh":
        mesh_name = f"{name}_{g.label}_mesh"
        spec.add_mesh(name=mesh_name, uservert=g.vertices.astype(np.float64).ravel().tolist(),
                      inertia=mujoco.mjtMeshInertia.mjMESH_INERTIA_CONVEX)
        geom.type = mujoco.mjtGeom.mjGEOM_MESH
        geom.meshname = mesh_name
      else:
        geom.type = getattr(mujoco.mjtGeom, f"mjGEOM_{g.kind.upper()}")
        size = list(g.size) + [0.0] * (3 - len(g.size))
        geom.size = size
        geom.pos = list(g.pos)
        geom.quat = list(g.quat)
    return body


def _collision_pieces(defn: ObjectDef) -> tuple[GeomPiece, ...]:
  if isinstance(defn, BoxDef):
    return (GeomPiece("geom", "box", defn.half_extents),)
  if isinstance(defn, SphereDef):
    return (GeomPiece("geom", "sphere", (defn.radius,)),)
  if isinstance(defn, CapsuleDef):
    return (GeomPiece("geom", "capsule", (defn.radius, defn.half_length)),)
  if isinstance(defn, CylinderDef):
    if defn.as_mesh:
      v = _prism_vertices(defn.radius, defn.half_height, defn.mesh_segments)
      return (GeomPiece("geom", "mesh", vertices=v),)
    return (GeomPiece("geom", "cylinder", (defn.radius, defn.half_height)),)
  if isinstance(defn, CompositeDef):
    return tuple(_box_piece(p) for p in defn.parts())
  if isinstance(defn, MeshDef):
    hulls = convex_decomposition(defn.obj_path, defn.decomposition)
    return tuple(GeomPiece(f"hull{i}", "mesh", vertices=h * defn.scale)
                 for i, h in enumerate(hulls))
  raise TypeError(f"unsupported object definition {type(defn).__name__}")


def _readonly(a: np.ndarray) -> np.ndarray:
  a.setflags(write=False)
  return a


@functools.lru_cache(maxsize=64)
def _compile(defn: ObjectDef, num_points: int) -> ObjectAsset:
  pieces = _collision_pieces(defn)
  for p in pieces:
    if p.vertices is not None:
      _readonly(p.vertices)
  rng = np.random.default_rng(_sampling_seed(defn, num_points))
  if isinstance(defn, MeshDef):
    mesh = load_obj(defn.obj_path)
    pts, nrm = _sample_triangles(np.asarray(mesh.vertices) * defn.scale,
                                 np.asarray(mesh.faces), num_points, rng)
  else:
    pts, nrm = _sample_pieces(pieces, num_points, rng)
  lo, hi = _aabb_of_pieces(pieces)
  return ObjectAsset(
      name=defn.name, definition=defn, geoms=pieces,
      surface_points=_readonly(pts.astype(np.float32)),
      surface_normals=_readonly(nrm.astype(np.float32)),
      bounding_box=_readonly(np.stack([lo, hi])))


# ------------------------------------------------------------------------------------------------
# Library
# ------------------------------------------------------------------------------------------------


def _omomo_mesh(name: str, **kwargs: Any) -> Callable[[], MeshDef]:
  def factory() -> MeshDef:
    obj = paths.shared_path("interact_omomo", "objects", name, f"{name}.obj")
    return MeshDef(name=f"omomo_{name}", obj_path=str(obj), **kwargs)
  return factory


OBJECT_LIBRARY: dict[str, Callable[[], ObjectDef]] = {
    "box": BoxDef,
    "small_box": lambda: BoxDef(name="small_box", half_extents=(0.1, 0.1, 0.1), density=250.0,
                                rgba=(0.8, 0.6, 0.3, 1.0)),
    "large_box": lambda: BoxDef(name="large_box", half_extents=(0.3, 0.25, 0.3), density=50.0,
                                rgba=(0.6, 0.45, 0.3, 1.0)),
    "cylinder": CylinderDef,
    "sphere": SphereDef,
    "capsule": CapsuleDef,
    "table": TableDef,
    "chair": ChairDef,
    "omomo_largetable": _omomo_mesh("largetable", rgba=(0.55, 0.4, 0.3, 1.0)),
    "omomo_woodchair": _omomo_mesh("woodchair", rgba=(0.6, 0.45, 0.3, 1.0)),
}
"""Named object definitions: name -> factory returning an :class:`ObjectDef`.

The ``omomo_*`` factories raise :class:`paths.SharedDataNotFound` when the shared data is absent.
"""


def list_objects() -> list[str]:
  """Names in :data:`OBJECT_LIBRARY`, sorted."""
  return sorted(OBJECT_LIBRARY)


def object_def(name: str, **overrides: Any) -> ObjectDef:
  """The library definition ``name`` with dataclass-field ``overrides`` applied.

  Raises:
    KeyError: unknown name (the message lists the valid ones).
    TypeError: an override that is not a field of the definition.
  """
  if name not in OBJECT_LIBRARY:
    raise KeyError(f"unknown object {name!r}; valid names: {', '.join(list_objects())}")
  defn = OBJECT_LIBRARY[name]()
  return _apply_overrides(defn, overrides)


def _apply_overrides(defn: ObjectDef, overrides: dict[str, Any]) -> ObjectDef:
  if not overrides:
    return defn
  valid = {f.name for f in dataclasses.fields(defn)}
  bad = sorted(set(overrides) - valid)
  if bad:
    raise TypeError(f"{type(defn).__name__} has no field(s) {bad}; valid: {sorted(valid)}")
  return dataclasses.replace(defn, **overrides)


def make_object(name_or_def: str | ObjectDef, num_points: int = DEFAULT_NUM_POINTS,
                **overrides: Any) -> ObjectAsset:
  """Compiles a library name or an :class:`ObjectDef` (with field ``overrides``) to an asset.

  Results are memoised per (definition, num_points); mesh decompositions are cached on disk.
  """
  if isinstance(name_or_def, str):
    defn = object_def(name_or_def, **overrides)
  elif isinstance(name_or_def, ObjectDef):
    defn = _apply_overrides(name_or_def, overrides)
  else:
    raise TypeError(f"expected an object name or ObjectDef, got {type(name_or_def).__name__}")
  if num_points < 1:
    raise ValueError(f"num_points must be positive, got {num_points}")
  return _compile(defn, int(num_points))
