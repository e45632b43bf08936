"""Object geometry for the generator: signed distance, ray casts, lowest point, contact points.

:class:`ObjectShape` wraps an :class:`~interprior_jax.assets.objects.ObjectAsset`'s collision
geoms (the same pieces MuJoCo collides) in the object frame:

* :meth:`ObjectShape.sdf` -- signed distance of points to the union of the pieces (negative
  inside).  Exact for boxes, spheres, capsules and cylinders; for convex hulls it is the largest
  face-plane distance, exact inside and a lower bound outside (near edges).
* :meth:`ObjectShape.raycast` -- sphere tracing on that SDF (safe with a lower bound) plus the
  outward normal from the SDF gradient; used to put hands *on* the surface for any shape.
* :meth:`ObjectShape.lowest_z` -- lowest point of the posed object (support function along -z).
* :func:`side_grasp` / :func:`push_contact` -- two-hand contact points in the object frame.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from interprior_jax.assets import objects as objects_lib
from interprior_jax.motion.synth import npquat

_GRAD_EPS = 1e-4
_TRACE_TOL = 1e-6
_TRACE_ITERS = 200
_PUSH_EDGE_MARGIN = 0.04  # palms stay this far inside a pushed face's lateral edges
_FACE_TOL = 0.01


def _rotmat(q) -> np.ndarray:
  """(..., 4) (w, x, y, z) -> (..., 3, 3) numpy rotation matrices (via :mod:`geometry`)."""
  return npquat.quat_to_mat(q)


def _box_sdf(p: np.ndarray, half: np.ndarray) -> np.ndarray:
  q = np.abs(p) - half
  outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
  inside = np.minimum(q.max(axis=-1), 0.0)
  return outside + inside


class ObjectShape:
  """Geometry queries on one object asset (all points in the object frame unless noted)."""

  def __init__(self, asset: objects_lib.ObjectAsset):
    self.asset = asset
    self.pieces = []
    for g in asset.geoms:
      rot = g.rotation
      entry = {"kind": g.kind, "pos": np.asarray(g.pos, np.float64), "rot": rot,
               "size": np.asarray(g.size, np.float64)}
      if g.kind == "mesh":
        from scipy.spatial import ConvexHull  # pylint: disable=g-import-not-at-top
        hull = ConvexHull(np.asarray(g.vertices, np.float64))
        entry["eq"] = hull.equations  # (F, 4): n . x + d <= 0 inside, n outward unit
        entry["verts"] = np.asarray(g.vertices, np.float64)
      self.pieces.append(entry)
    self.bbox = np.asarray(asset.bounding_box, np.float64)  # (2, 3)

  # -- distances ---------------------------------------------------------------------------------

  def piece_sdf(self, i: int, pts: np.ndarray) -> np.ndarray:
    """(N, 3) object-frame points -> (N,) signed distance to piece ``i``."""
    pc = self.pieces[i]
    p = (pts - pc["pos"]) @ pc["rot"]
    kind, size = pc["kind"], pc["size"]
    if kind == "box":
      return _box_sdf(p, size)
    if kind == "sphere":
      return np.linalg.norm(p, axis=-1) - size[0]
    if kind == "capsule":
      z = np.clip(p[:, 2], -size[1], size[1])
      return np.linalg.norm(p - np.stack([0 * z, 0 * z, z], -1), axis=-1) - size[0]
    if kind == "cylinder":
      d = np.stack([np.linalg.norm(p[:, :2], axis=-1) - size[0], np.abs(p[:, 2]) - size[1]], -1)
      return np.minimum(d.max(-1), 0.0) + np.linalg.norm(np.maximum(d, 0.0), axis=-1)
    eq = pc["eq"]
    return (pts @ eq[:, :3].T + eq[:, 3]).max(axis=-1)

  def sdf(self, pts: np.ndarray) -> np.ndarray:
    """(..., 3) object-frame points -> (...) signed distance to the object (negative inside)."""
    pts = np.asarray(pts, np.float64)
    flat = pts.reshape(-1, 3)
    d = np.min([self.piece_sdf(i, flat) for i in range(len(self.pieces))], axis=0)
    return d.reshape(pts.shape[:-1])

  def sdf_world(self, pts: np.ndarray, obj_pos: np.ndarray, obj_quat: np.ndarray) -> np.ndarray:
    """(T, N, 3) world points, (T, 3) / (T, 4) object poses -> (T, N) signed distances."""
    rot = _rotmat(obj_quat)  # (T, 3, 3)
    local = np.einsum("tji,tnj->tni", rot, np.asarray(pts) - np.asarray(obj_pos)[:, None])
    return self.sdf(local)

  def normal_world(self, pts: np.ndarray, obj_pos: np.ndarray, obj_quat: np.ndarray) -> np.ndarray:
    """(T, N, 3) world points, (T, 3) / (T, 4) object poses -> (T, N, 3) unit outward normals in
    the world frame (:meth:`normal` of the points in the object frame, rotated back)."""
    rot = _rotmat(obj_quat)  # (T, 3, 3)
    pts = np.asarray(pts, np.float64)
    local = np.einsum("tji,tnj->tni", rot, pts - np.asarray(obj_pos)[:, None])
    n = self.normal(local.reshape(-1, 3)).reshape(local.shape)
    return np.einsum("tij,tnj->tni", rot, n)

  def normal(self, pts: np.ndarray) -> np.ndarray:
    """(N, 3) -> (N, 3) unit outward normals (central differences of :meth:`sdf`)."""
    pts = np.asarray(pts, np.float64).reshape(-1, 3)
    g = np.zeros_like(pts)
    for k in range(3):
      e = np.zeros(3)
      e[k] = _GRAD_EPS
      g[:, k] = self.sdf(pts + e) - self.sdf(pts - e)
    return g / np.maximum(np.linalg.norm(g, axis=-1, keepdims=True), 1e-12)

  def raycast(self, origin, direction, max_dist: float = 5.0):
    """First surface hit along a ray (object frame) -> (point (3,), normal (3,)) or None."""
    o = np.asarray(origin, np.float64)
    v = np.asarray(direction, np.float64)
    v = v / np.linalg.norm(v)
    t = 0.0
    for _ in range(_TRACE_ITERS):
      d = float(self.sdf(o + t * v))
      if d < _TRACE_TOL:
        p = o + t * v
        return p, self.normal(p[None])[0]
      t += d
      if t > max_dist:
        return None
    return None

  # -- placement ---------------------------------------------------------------------------------

  def lowest_z(self, obj_pos: np.ndarray, obj_quat: np.ndarray) -> np.ndarray:
    """(T, 3), (T, 4) world poses -> (T,) world z of the lowest collision point."""
    obj_pos, obj_quat = np.atleast_2d(obj_pos), np.atleast_2d(obj_quat)
    rot = _rotmat(obj_quat)  # (T, 3, 3)
    lows = []
    for pc in self.pieces:
      rz = np.einsum("tj,jk->tk", rot[:, 2, :], pc["rot"])  # (T, 3): world z row in piece frame
      cz = obj_pos[:, 2] + rot[:, 2, :] @ pc["pos"]
      kind, size = pc["kind"], pc["size"]
      if kind == "box":
        low = cz - np.abs(rz) @ size
      elif kind == "sphere":
        low = cz - size[0]
      elif kind == "capsule":
        low = cz - np.abs(rz[:, 2]) * size[1] - size[0]
      elif kind == "cylinder":
        low = cz - np.abs(rz[:, 2]) * size[1] - size[0] * np.sqrt(np.clip(1 - rz[:, 2] ** 2, 0, 1))
      else:
        low = obj_pos[:, 2] + (pc["verts"] @ rot[:, 2, :].T).min(axis=0)
      lows.append(low)
    return np.min(lows, axis=0)

  @property
  def rest_z(self) -> float:
    """Origin height of the upright object resting on a z=0 floor."""
    return float(-self.bbox[0, 2])


@dataclasses.dataclass(frozen=True)
class HandContacts:
  """Two-hand contact in the object frame (index 0 left hand, 1 right hand).

  Attributes:
    points: (2, 3) surface points under the palms.
    normals: (2, 3) outward surface normals there.
    approach: (3,) unit horizontal direction the human faces (from the human toward the object).
    near_extent: distance from the object origin to its near face along ``approach`` (>= 0);
      the human stands at ``-approach * (near_extent + clearance)`` from the origin.
  """
  points: np.ndarray
  normals: np.ndarray
  approach: np.ndarray
  near_extent: float

  @property
  def midpoint(self) -> np.ndarray:
    return self.points.mean(axis=0)


_SIDES = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _piece_box(shape: ObjectShape, i: int) -> tuple[np.ndarray, np.ndarray]:
  g = shape.asset.geoms[i]
  return g.aabb()


def _grasp_piece(shape: ObjectShape) -> int:
  """The piece hands hold: the one with the largest horizontal footprint (a seat, a table top)."""
  areas = []
  for i in range(len(shape.pieces)):
    lo, hi = _piece_box(shape, i)
    areas.append((hi[0] - lo[0]) * (hi[1] - lo[1]))
  return int(np.argmax(areas))


def _tallest_piece(shape: ObjectShape) -> int:
  tops = [_piece_box(shape, i)[1][2] for i in range(len(shape.pieces))]
  return int(np.argmax(tops))


def _blocked(shape: ObjectShape, side: np.ndarray, above_z: float, skip: int) -> bool:
  """True when a piece rising above ``above_z`` sits on the ``-side`` half (between human and
  the held piece), e.g. a chair's backrest when approaching from behind."""
  for i in range(len(shape.pieces)):
    if i == skip:
      continue
    lo, hi = _piece_box(shape, i)
    if hi[2] > above_z and float(0.5 * (lo + hi) @ side) < -1e-3:
      return True
  return False


def side_grasp_options(shape: ObjectShape, span_range: tuple[float, float],
                       palm_margin: float) -> list[np.ndarray]:
  """Approach directions (object frame, unit (3,)) that allow a two-hand side grasp."""
  gi = _grasp_piece(shape)
  lo, hi = _piece_box(shape, gi)
  out = []
  for side in _SIDES:
    lateral = np.array([-side[1], side[0], 0.0])
    span = float(np.abs(lateral) @ (hi - lo)) + 2 * palm_margin
    if not span_range[0] <= span <= span_range[1]:
      continue
    if _blocked(shape, side, hi[2] + 0.02, gi):
      continue
    out.append(side)
  return out


def side_grasp(shape: ObjectShape, approach: np.ndarray, height_frac: float,
               inset: float) -> HandContacts:
  """Palms on the two lateral faces of the grasp piece (object frame).

  Args:
    approach: (3,) object-frame unit direction the human faces (one of the options).
    height_frac: 0 bottom .. 1 top of the grasp piece; 0.5 = mid height.
    inset: how far behind the near edge the hands hold (capped at the piece centre).
  """
  gi = _grasp_piece(shape)
  lo, hi = _piece_box(shape, gi)
  c = 0.5 * (lo + hi)
  z = lo[2] + height_frac * (hi[2] - lo[2])
  lateral = np.array([-approach[1], approach[0], 0.0])  # the human's left
  near = float(max(-lo @ approach, -hi @ approach))  # near-face distance along -approach
  depth_c = float(c @ approach)
  along = min(-near + inset, depth_c)
  pts, nrms = [], []
  reach = float(np.abs(lateral) @ (hi - lo)) + 1.0
  for sgn in (1.0, -1.0):  # left hand on the left face, right hand on the right face
    base = along * approach + (c @ lateral) * lateral
    base[2] = z
    hit = shape.raycast(base + sgn * reach * lateral, -sgn * lateral, max_dist=2 * reach)
    if hit is None:
      raise ValueError(f"{shape.asset.name}: no side surface for a grasp")
    pts.append(hit[0])
    nrms.append(hit[1])
  near_all = float(max(-shape.bbox[0] @ approach, -shape.bbox[1] @ approach))
  return HandContacts(np.stack(pts), np.stack(nrms), approach.astype(np.float64), near_all)


def push_options(shape: ObjectShape, max_span: float, min_span: float,
                 min_top: float) -> list[tuple[np.ndarray, float]]:
  """(approach direction, palm half spacing) pairs whose near face (of the tallest piece) is wide
  and high enough; the half spacing is ``max_span`` shrunk to fit narrower faces."""
  ti = _tallest_piece(shape)
  lo, hi = _piece_box(shape, ti)
  out = []
  for side in _SIDES:
    lateral = np.array([-side[1], side[0], 0.0])
    half_width = 0.5 * float(np.abs(lateral) @ (hi - lo))
    span = min(max_span, half_width - _PUSH_EDGE_MARGIN)
    face = float(max(-lo @ side, -hi @ side))
    bbox_face = float(max(-shape.bbox[0] @ side, -shape.bbox[1] @ side))
    if span < min_span or hi[2] - shape.bbox[0, 2] < min_top:
      continue
    if abs(face - bbox_face) > _FACE_TOL:  # the tallest piece is not at the near boundary
      continue
    out.append((side, span))
  return out


def push_contact(shape: ObjectShape, approach: np.ndarray, span: float,
                 palm_height: float) -> HandContacts:
  """Palms on the near face of the tallest piece at ``palm_height`` above the object bottom."""
  ti = _tallest_piece(shape)
  lo, hi = _piece_box(shape, ti)
  c = 0.5 * (lo + hi)
  lateral = np.array([-approach[1], approach[0], 0.0])
  z = float(np.clip(shape.bbox[0, 2] + palm_height, lo[2] + 0.03, hi[2] - 0.04))
  pts, nrms = [], []
  start = float(max(-shape.bbox[0] @ approach, -shape.bbox[1] @ approach)) + 1.0
  for sgn in (1.0, -1.0):
    o = (c @ lateral + sgn * span) * lateral - start * approach
    o[2] = z
    hit = shape.raycast(o, approach, max_dist=2 * start)
    if hit is None:
      raise ValueError(f"{shape.asset.name}: no near face to push")
    pts.append(hit[0])
    nrms.append(hit[1])
  near_all = float(max(-shape.bbox[0] @ approach, -shape.bbox[1] @ approach))
  return HandContacts(np.stack(pts), np.stack(nrms), approach.astype(np.float64), near_all)
