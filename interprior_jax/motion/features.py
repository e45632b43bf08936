"""Reusable pure feature functions of motion data (numpy at build time, jax at lookup time).

Build-time helpers (time on axis 0 of a series, axes (clip, time) of padded stacks):

* :func:`neighbour_indices` + :func:`padded_central_diff` / :func:`padded_quat_angvel` --
  velocities of many padded series at once (one compiled call per library build); angular
  velocities on the rotation group, never by differencing exp-maps or Euler angles.
* :func:`central_diff` / :func:`quat_series_angvel_central` -- the same for one series.
* :func:`canonical_quat_series` -- w >= 0 quaternions (safe: every consumer uses shortest-path
  slerp / log maps, which do not depend on the sign).

Lookup-time helpers (jax, jittable, vmappable, any leading batch dims):

* :func:`object_points_world` -- object-frame surface points -> world points at a pose.
* :func:`nearest_surface_vec` / :func:`nearest_surface_vec_posed` -- vector from query points to
  their nearest surface point (the latter for object-frame points at a pose).
* :func:`encode_surface_vec` -- InterMimic's bounded encoding ``v / |v| * exp(-k |v|)``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from interprior_jax import geometry

#: Decay rate ``k`` of InterMimic's nearest-surface-vector encoding ``v/|v| * exp(-k |v|)`` (1/m).
SURFACE_VEC_DECAY = 5.0


# ----------------------------------------------------------------------------------------------
# Build time (numpy)
# ----------------------------------------------------------------------------------------------

def wrap_angle(a: np.ndarray) -> np.ndarray:
  """Angles mapped to [-pi, pi). Any shape."""
  return (np.asarray(a) + np.pi) % (2.0 * np.pi) - np.pi


def neighbour_indices(lengths: np.ndarray, num_frames: int) -> tuple[np.ndarray, np.ndarray]:
  """Frame indices for central differences of padded series, one-sided at each real end.

  Args:
    lengths: (N,) real frame counts (each >= 2).
    num_frames: T, the padded length.
  Returns:
    prev, next: (N, T) int32, ``prev = max(t-1, 0)``, ``next = min(t+1, L-1)`` with t clamped to
    ``L-1`` first, so padded frames repeat the last real frame's stencil.  The derivative at t is
    ``(x[next] - x[prev]) / ((next - prev) dt)`` (``next - prev`` is 2 inside, 1 at the ends).
  """
  lengths = np.asarray(lengths, np.int64)
  if np.any(lengths < 2):
    raise ValueError(f"central differences need at least 2 frames per series, got {lengths}")
  last = (lengths - 1)[:, None]
  t = np.minimum(np.arange(num_frames)[None, :], last)
  return (np.maximum(t - 1, 0).astype(np.int32), np.minimum(t + 1, last).astype(np.int32))


def _gather_time(x, idx):
  """x (N, T, ...), idx (N, T) -> x[n, idx[n, t]] (N, T, ...)."""
  n = jnp.arange(x.shape[0])[:, None]
  return x[n, idx]


@functools.partial(jax.jit, static_argnames="periodic_angles")
def padded_central_diff(x: jax.Array, prev: jax.Array, nxt: jax.Array, dt: jax.Array,
                        periodic_angles: bool = False) -> jax.Array:
  """Central differences of padded series (see :func:`neighbour_indices`).

  Args:
    x: (N, T, ...) values; prev, nxt: (N, T) from :func:`neighbour_indices`; dt: (N,) time steps.
    periodic_angles: difference modulo 2 pi (hinge angles crossing +-pi give no spike).
  Returns:
    (N, T, ...) derivative.
  """
  d = _gather_time(x, nxt) - _gather_time(x, prev)
  if periodic_angles:
    d = (d + jnp.pi) % (2.0 * jnp.pi) - jnp.pi
  span = ((nxt - prev) * dt[:, None]).astype(x.dtype)
  return d / span.reshape(span.shape + (1,) * (x.ndim - 2))


@jax.jit
def padded_quat_angvel(q: jax.Array, prev: jax.Array, nxt: jax.Array, dt: jax.Array) -> jax.Array:
  """World-frame angular velocity of padded quaternion series by central differences on SO(3).

  ``omega[t] = log(q[next] * conj(q[prev])) / ((next - prev) dt)`` (via
  :func:`geometry.quat_angvel`): exact for a constant-rate rotation, sign-flip safe, never a
  finite difference of exp-maps.  Rotations faster than ``pi / (2 dt)`` alias (30 fps: 47 rad/s).

  Args:
    q: (N, T, ..., 4) unit quaternions (w, x, y, z); prev, nxt: (N, T); dt: (N,).
  Returns:
    (N, T, ..., 3) rad/s.
  """
  span = ((nxt - prev) * dt[:, None]).astype(q.dtype)
  span = span.reshape(span.shape + (1,) * (q.ndim - 3))
  return geometry.quat_angvel(_gather_time(q, prev), _gather_time(q, nxt), span[..., None])


def central_diff(x: np.ndarray, dt: float, periodic_angles: bool = False) -> np.ndarray:
  """Time derivative of one series by central differences (one-sided at the two ends).

  Args:
    x: (T, ...) samples, T >= 2.
    dt: time step between samples (s).
    periodic_angles: treat values as angles and difference them modulo 2 pi.
  Returns:
    (T, ...) numpy array: ``(x[t+1] - x[t-1]) / (2 dt)`` inside, forward/backward at the ends.
  """
  x = np.asarray(x)
  prev, nxt = neighbour_indices(np.array([x.shape[0]]), x.shape[0])
  return np.asarray(padded_central_diff(jnp.asarray(x[None]), prev, nxt, jnp.array([dt]),
                                        periodic_angles))[0]


def quat_series_angvel_central(q: np.ndarray, dt: float) -> np.ndarray:
  """World-frame angular velocity of one quaternion series: (T, ..., 4) -> (T, ..., 3) numpy.

  Central differences on SO(3), one-sided at the ends (see :func:`padded_quat_angvel`).
  """
  q = np.asarray(q)
  prev, nxt = neighbour_indices(np.array([q.shape[0]]), q.shape[0])
  return np.asarray(padded_quat_angvel(jnp.asarray(q[None]), prev, nxt, jnp.array([dt])))[0]


def canonical_quat_series(q: np.ndarray) -> np.ndarray:
  """Quaternions with w >= 0 (q and -q are the same rotation). (..., 4) -> (..., 4) numpy."""
  q = np.asarray(q)
  return np.where(q[..., :1] < 0, -q, q)


# ----------------------------------------------------------------------------------------------
# Lookup time (jax)
# ----------------------------------------------------------------------------------------------

def object_points_world(obj_pos: jax.Array, obj_quat: jax.Array, points: jax.Array) -> jax.Array:
  """Object-frame points placed at a pose: ``obj_pos + R(obj_quat) p``.

  Args:
    obj_pos: (..., 3); obj_quat: (..., 4) (w, x, y, z); points: (..., P, 3) object frame.
  Returns:
    (..., P, 3) world points.
  """
  return obj_pos[..., None, :] + geometry.quat_rotate(obj_quat[..., None, :], points)


def nearest_surface_vec(query: jax.Array, points: jax.Array) -> jax.Array:
  """Vector from each query point to its nearest surface point (brute force over all points).

  Squared distances as ``|q|^2 - 2 q.p + |p|^2`` (a matmul; best with both in the object frame,
  where magnitudes are ~1 m and float32 cancellation is ~1e-7 m^2), then the winning point is
  gathered and ``p - q`` computed exactly.  Cost per query set: ``Q * P`` dot products and a
  ``(..., Q, P)`` float32 temporary (smplx, P = 1024: 53k entries, 213 KB per sample).  No
  gradient flows through the argmin choice.

  Args:
    query: (..., Q, 3) points (e.g. body positions).
    points: (..., P, 3) surface points, same frame.
  Returns:
    (..., Q, 3) ``points[argmin_j |points_j - query_i|] - query_i``.
  """
  sq = (jnp.sum(query * query, axis=-1)[..., :, None]
        - 2.0 * jnp.einsum("...qd,...pd->...qp", query, points)
        + jnp.sum(points * points, axis=-1)[..., None, :])  # (..., Q, P)
  j = jnp.argmin(sq, axis=-1)  # (..., Q)
  nearest = jnp.take_along_axis(points, j[..., None], axis=-2)  # (..., Q, 3)
  return nearest - query


def nearest_surface_vec_posed(query: jax.Array, obj_pos: jax.Array, obj_quat: jax.Array,
                              points: jax.Array) -> jax.Array:
  """:func:`nearest_surface_vec` to object-frame ``points`` placed at a pose, in the world frame.

  The Q queries are moved into the object frame (cheaper than moving the P points), matched
  there, and the vectors rotated back.

  Args:
    query: (..., Q, 3) world points; obj_pos: (..., 3); obj_quat: (..., 4) (w, x, y, z);
    points: (..., P, 3) object frame.
  Returns:
    (..., Q, 3) world-frame vectors from each query to its nearest surface point.
  """
  q = obj_quat[..., None, :]
  local = geometry.quat_rotate_inv(q, query - obj_pos[..., None, :])
  return geometry.quat_rotate(q, nearest_surface_vec(local, points))


def encode_surface_vec(v: jax.Array, decay: float = SURFACE_VEC_DECAY) -> jax.Array:
  """InterMimic's bounded encoding ``v / |v| * exp(-decay |v|)`` (0 for v = 0). (..., 3) -> (..., 3).

  Large vectors fade to 0, touching bodies approach the unit direction; values and gradients are
  finite at ``v = 0`` (safe norm).
  """
  n = geometry.safe_norm(v, keepdims=True)
  ok = n > 0
  return jnp.where(ok, v / jnp.where(ok, n, 1.0), 0.0) * jnp.exp(-decay * n)


__all__ = [
    "SURFACE_VEC_DECAY", "wrap_angle", "neighbour_indices", "padded_central_diff",
    "padded_quat_angvel", "central_diff", "quat_series_angvel_central",
    "canonical_quat_series", "object_points_world", "nearest_surface_vec",
    "nearest_surface_vec_posed", "encode_surface_vec",
]
