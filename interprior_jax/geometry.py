"""Rotation math: the ONE place in the library for quaternions, matrices, exp-maps and frames.

Conventions (everywhere in the library):

* Quaternions are **(w, x, y, z)** (MuJoCo order), Hamilton product, active rotations:
  ``quat_rotate(q, v) = q * (0, v) * conj(q)``.  Unit norm is assumed unless a docstring says
  otherwise.  Use :func:`xyzw_to_wxyz` / :func:`wxyz_to_xyzw` at I/O boundaries (files, scipy).
* Rotation matrices act on column vectors: ``v_world = R @ v_local``.
* An exp-map (rotation vector) is ``axis * angle`` with the angle in radians.
* World frame is z up; "heading" is the yaw about world z.

Every function takes ``jax`` or ``numpy`` arrays with arbitrary leading batch dimensions (shapes are
written ``(..., 4)`` etc.; the leading dims of several arguments broadcast), returns jax arrays
(except the order converters, which keep the input's array type), and is jittable, vmappable and
differentiable.  Near-singular points (zero angle, zero-length vectors)
use small-angle branches selected with ``jnp.where`` on *safe* inputs (the "double where" trick), so
values and gradients stay finite there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

# Below these squared magnitudes the closed forms switch to Taylor expansions.
_SMALL_SQ = 1e-8  # |v|^2 threshold for exp-map / log-map series (|v| < 1e-4)


# ----------------------------------------------------------------------------------------------
# Basic helpers
# ----------------------------------------------------------------------------------------------

def _arr(x):
  return jnp.asarray(x)


def safe_norm(x, axis: int = -1, keepdims: bool = False, eps: float = 0.0):
  """Euclidean norm along ``axis`` whose gradient is finite (zero) at ``x == 0``.

  Args:
    x: (..., n) array.
    axis: the reduced axis.
    keepdims: keep the reduced axis with size 1.
    eps: norms with squared value ``<= eps`` are reported as 0 (gradient 0).
  Returns:
    (...) norms (or (..., 1) with ``keepdims``).
  """
  x = _arr(x)
  sq = jnp.sum(x * x, axis=axis, keepdims=keepdims)
  ok = sq > eps
  return jnp.where(ok, jnp.sqrt(jnp.where(ok, sq, 1.0)), 0.0)


def xyzw_to_wxyz(q):
  """(..., 4) quaternion in (x, y, z, w) order (scipy, Isaac, InterAct files) -> (w, x, y, z).

  A pure reordering that keeps the array type: numpy in -> numpy out (so file readers need no
  device round trip), jax in -> jax out (jittable).
  """
  q = q if isinstance(q, jax.Array) else np.asarray(q)
  return q[..., [3, 0, 1, 2]]


def wxyz_to_xyzw(q):
  """(..., 4) quaternion in (w, x, y, z) order -> (x, y, z, w); keeps the array type like
  :func:`xyzw_to_wxyz`."""
  q = q if isinstance(q, jax.Array) else np.asarray(q)
  return q[..., [1, 2, 3, 0]]


def quat_identity(shape=(), dtype=jnp.float32):
  """Identity quaternions (1, 0, 0, 0) of shape ``shape + (4,)``."""
  shape = (shape,) if isinstance(shape, int) else tuple(shape)
  return jnp.zeros(shape + (4,), dtype).at[..., 0].set(1.0)


def quat_conj(q):
  """Conjugate (= inverse for unit quaternions). (..., 4) -> (..., 4)."""
  q = _arr(q)
  return jnp.concatenate([q[..., 0:1], -q[..., 1:4]], axis=-1)


def quat_normalize(q, eps: float = 1e-12):
  """Unit quaternion along q. (..., 4) -> (..., 4); a (near-)zero input gives the identity."""
  q = _arr(q)
  n = safe_norm(q, keepdims=True, eps=eps)
  ok = n > 0
  return jnp.where(ok, q / jnp.where(ok, n, 1.0), quat_identity(dtype=q.dtype))


def quat_canonicalize(q):
  """Sign-flips q so that w >= 0 (q and -q are the same rotation). (..., 4) -> (..., 4)."""
  q = _arr(q)
  return jnp.where(q[..., 0:1] < 0, -q, q)


def quat_mul(a, b):
  """Hamilton product ``a * b`` (apply b first, then a). (..., 4), (..., 4) -> (..., 4)."""
  a, b = _arr(a), _arr(b)
  aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
  bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
  return jnp.stack([
      aw * bw - ax * bx - ay * by - az * bz,
      aw * bx + ax * bw + ay * bz - az * by,
      aw * by - ax * bz + ay * bw + az * bx,
      aw * bz + ax * by - ay * bx + az * bw,
  ], axis=-1)


def quat_rotate(q, v):
  """Rotates vectors v by unit quaternions q. (..., 4), (..., 3) -> (..., 3) (broadcasting).

  Uses ``v + 2 w (u x v) + 2 u x (u x v)`` with ``u = q.xyz``.
  """
  q, v = _arr(q), _arr(v)
  w, u = q[..., 0:1], q[..., 1:4]
  u, v = jnp.broadcast_arrays(u, v)
  w = jnp.broadcast_to(w, u.shape[:-1] + (1,))
  t = 2.0 * jnp.cross(u, v)
  return v + w * t + jnp.cross(u, t)


def quat_rotate_inv(q, v):
  """Rotates v by the inverse of unit q (world -> local). (..., 4), (..., 3) -> (..., 3)."""
  return quat_rotate(quat_conj(q), v)


# ----------------------------------------------------------------------------------------------
# Matrices
# ----------------------------------------------------------------------------------------------

def quat_to_mat(q):
  """Rotation matrix of q (need not be unit: uses ``2 / |q|^2``). (..., 4) -> (..., 3, 3)."""
  q = _arr(q)
  w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
  n2 = w * w + x * x + y * y + z * z
  s = 2.0 / jnp.where(n2 > 0, n2, 1.0)
  xx, yy, zz = s * x * x, s * y * y, s * z * z
  xy, xz, yz = s * x * y, s * x * z, s * y * z
  wx, wy, wz = s * w * x, s * w * y, s * w * z
  rows = [
      jnp.stack([1.0 - yy - zz, xy - wz, xz + wy], axis=-1),
      jnp.stack([xy + wz, 1.0 - xx - zz, yz - wx], axis=-1),
      jnp.stack([xz - wy, yz + wx, 1.0 - xx - yy], axis=-1),
  ]
  return jnp.stack(rows, axis=-2)


def mat_to_quat(m):
  """Unit quaternion (w >= 0) of a rotation matrix, robust for all angles (Shepperd's method).

  The four candidate formulas are evaluated and the one built from the largest of
  ``(trace, m00, m11, m22)`` is kept, so no division by a small number happens; near-orthonormal
  input gives the nearest-ish rotation.  (..., 3, 3) -> (..., 4).
  """
  m = _arr(m)
  m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
  m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
  m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
  tr = m00 + m11 + m22
  cands = jnp.stack([
      jnp.stack([1.0 + tr, m21 - m12, m02 - m20, m10 - m01], axis=-1),
      jnp.stack([m21 - m12, 1.0 + m00 - m11 - m22, m01 + m10, m02 + m20], axis=-1),
      jnp.stack([m02 - m20, m01 + m10, 1.0 - m00 + m11 - m22, m12 + m21], axis=-1),
      jnp.stack([m10 - m01, m02 + m20, m12 + m21, 1.0 - m00 - m11 + m22], axis=-1),
  ], axis=-2)  # (..., 4 candidates, 4)
  choice = jnp.argmax(jnp.stack([tr, m00, m11, m22], axis=-1), axis=-1)
  q = jnp.take_along_axis(cands, choice[..., None, None], axis=-2)[..., 0, :]
  return quat_canonicalize(quat_normalize(q))


# ----------------------------------------------------------------------------------------------
# Axis-angle / exp-map / log-map
# ----------------------------------------------------------------------------------------------

def quat_from_expmap(v):
  """Quaternion of a rotation vector ``axis * angle``. (..., 3) -> (..., 4), w >= 0 for |v| <= pi.

  Small-angle branch: ``sin(|v|/2)/|v| ~ 1/2 - |v|^2/48 + |v|^4/3840``.
  """
  v = _arr(v)
  sq = jnp.sum(v * v, axis=-1, keepdims=True)
  small = sq < _SMALL_SQ
  sq_safe = jnp.where(small, 1.0, sq)
  ang = jnp.sqrt(sq_safe)
  k = jnp.where(small, 0.5 - sq / 48.0 + sq * sq / 3840.0, jnp.sin(0.5 * ang) / ang)
  w = jnp.where(small, 1.0 - sq / 8.0 + sq * sq / 384.0, jnp.cos(0.5 * ang))
  return jnp.concatenate([w, v * k], axis=-1)


def quat_from_axis_angle(axis, angle):
  """Rotation of ``angle`` radians about ``axis`` (normalized here). (..., 3), (...) -> (..., 4)."""
  axis, angle = _arr(axis), _arr(angle)
  n = safe_norm(axis, keepdims=True)
  unit = axis / jnp.where(n > 0, n, 1.0)
  half = 0.5 * angle[..., None]
  unit, half = jnp.broadcast_arrays(unit, half)
  return jnp.concatenate([jnp.cos(half[..., :1]), unit * jnp.sin(half)], axis=-1)


def quat_to_expmap(q):
  """Log map: rotation vector ``axis * angle`` of q, angle in [0, pi] (q canonicalized w >= 0).

  q is normalized first.  Small-angle branch: ``angle/|u| ~ (2/w)(1 - s^2/3)`` with
  ``s = |u|/w``.  (..., 4) -> (..., 3).
  """
  q = quat_canonicalize(quat_normalize(q))
  w, u = q[..., 0:1], q[..., 1:4]
  sq = jnp.sum(u * u, axis=-1, keepdims=True)
  small = sq < _SMALL_SQ
  s = jnp.sqrt(jnp.where(small, 1.0, sq))
  big_k = 2.0 * jnp.arctan2(s, w) / s
  w_safe = jnp.where(small, w, 1.0)  # w ~ 1 on the small branch
  x2 = sq / (w_safe * w_safe)
  small_k = (2.0 / w_safe) * (1.0 - x2 / 3.0 + x2 * x2 / 5.0)
  return u * jnp.where(small, small_k, big_k)


def quat_to_axis_angle(q):
  """(axis, angle) of q: (..., 4) -> ((..., 3) unit axis, (...) angle in [0, pi]).

  The axis is arbitrary (x) for a zero rotation.
  """
  v = quat_to_expmap(q)
  ang = safe_norm(v)
  ok = ang[..., None] > 0
  axis = jnp.where(ok, v / jnp.where(ok, ang[..., None], 1.0), jnp.array([1.0, 0.0, 0.0], v.dtype))
  return axis, ang


def quat_angle(q):
  """Rotation angle of q in [0, pi] (always >= 0). (..., 4) -> (...)."""
  q = _arr(q)
  s = safe_norm(q[..., 1:4])
  return 2.0 * jnp.arctan2(s, jnp.abs(q[..., 0]))


def quat_angle_diff(q_a, q_b):
  """Angle in [0, pi] of the relative rotation between q_a and q_b (>= 0, sign-invariant).

  (..., 4), (..., 4) -> (...).
  """
  return quat_angle(quat_mul(q_a, quat_conj(q_b)))


def quat_diff_expmap(q_a, q_b, local: bool = False):
  """Log-map difference ``q_a (-) q_b``: the rotation vector d with ``q_a = exp(d) * q_b``.

  ``local=False`` (default): ``d = log(q_a * conj(q_b))``, expressed in the world frame.
  ``local=True``: ``d = log(conj(q_b) * q_a)``, so ``q_a = q_b * exp(d)`` (expressed in q_b's frame).
  The angle |d| is in [0, pi] (shortest path).  (..., 4), (..., 4) -> (..., 3).
  """
  if local:
    return quat_to_expmap(quat_mul(quat_conj(q_b), q_a))
  return quat_to_expmap(quat_mul(q_a, quat_conj(q_b)))


def quat_slerp(q0, q1, t):
  """Shortest-path spherical interpolation; t=0 -> q0, t=1 -> q1 (up to sign).

  Computed as ``exp(t * log(q1 * conj(q0))) * q0``, which is exact slerp on the shorter arc and
  finite (with gradients) when q0 == q1.  (..., 4), (..., 4), t broadcastable to (...) -> (..., 4).
  """
  t = _arr(t)
  d = quat_diff_expmap(q1, q0)
  return quat_normalize(quat_mul(quat_from_expmap(t[..., None] * d), q0))


# ----------------------------------------------------------------------------------------------
# Euler angles (intrinsic XYZ == three sequential MuJoCo hinges x, y, z in one body)
# ----------------------------------------------------------------------------------------------

def quat_from_euler_xyz(e):
  """``q = Rx(a) * Ry(b) * Rz(c)`` for ``e = (a, b, c)`` (intrinsic X-Y-Z, scipy 'XYZ').

  This is the rotation produced by three hinges with axes x, y, z (in that order) in one MuJoCo
  body with qpos ``(a, b, c)``.  (..., 3) -> (..., 4).
  """
  e = _arr(e)
  h = 0.5 * e
  c, s = jnp.cos(h), jnp.sin(h)
  z = jnp.zeros_like(h[..., 0])
  qx = jnp.stack([c[..., 0], s[..., 0], z, z], axis=-1)
  qy = jnp.stack([c[..., 1], z, s[..., 1], z], axis=-1)
  qz = jnp.stack([c[..., 2], z, z, s[..., 2]], axis=-1)
  return quat_mul(quat_mul(qx, qy), qz)


def quat_to_euler_xyz(q):
  """Inverse of :func:`quat_from_euler_xyz`: (a, b, c) with a, c in (-pi, pi], b in [-pi/2, pi/2].

  With ``R = Rx(a) Ry(b) Rz(c)``: ``b = atan2(R02, hypot(R00, R01))``, ``a = atan2(-R12, R22)``,
  ``c = atan2(-R01, R00)``.  At gimbal lock (|b| = pi/2) c is set to 0 and
  ``a = atan2(R21, R11)``.  (..., 4) -> (..., 3).
  """
  m = quat_to_mat(q)
  r00, r01, r02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
  r11, r12 = m[..., 1, 1], m[..., 1, 2]
  r21, r22 = m[..., 2, 1], m[..., 2, 2]
  cb = safe_norm(jnp.stack([r00, r01], axis=-1))
  b = jnp.arctan2(r02, cb)
  lock = cb < 1e-6
  a = jnp.where(lock, _safe_atan2(r21, r11), _safe_atan2(-r12, r22))
  c = jnp.where(lock, 0.0, _safe_atan2(-r01, r00))
  return jnp.stack([a, b, c], axis=-1)


def _safe_atan2(y, x):
  """atan2 with value 0 and zero gradient at (0, 0)."""
  zero = (y == 0) & (x == 0)
  return jnp.where(zero, 0.0, jnp.arctan2(y, jnp.where(zero, 1.0, x)))


# ----------------------------------------------------------------------------------------------
# Heading (yaw about world z) and the heading frame
# ----------------------------------------------------------------------------------------------

def quat_heading(q):
  """Yaw angle (radians, (-pi, pi]) of q: direction of the rotated x axis projected on the xy plane.

  (..., 4) -> (...).  0 when the rotated x axis is vertical.
  """
  q = _arr(q)
  w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
  return _safe_atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def heading_quat(q):
  """Yaw-only quaternion (rotation about world z by :func:`quat_heading`). (..., 4) -> (..., 4)."""
  half = 0.5 * quat_heading(q)
  z = jnp.zeros_like(half)
  return jnp.stack([jnp.cos(half), z, z, jnp.sin(half)], axis=-1)


def heading_quat_inv(q):
  """Inverse yaw-only quaternion: rotates world vectors into the heading frame. (..., 4) -> (..., 4)."""
  return quat_conj(heading_quat(q))


def to_heading_frame(q_root, v):
  """Expresses world vectors v in the yaw-only frame of q_root (yaw removed; no translation).

  (..., 4), (..., 3) -> (..., 3).  For per-body vectors of shape (..., N, 3) pass
  ``q_root[..., None, :]``.
  """
  return quat_rotate(heading_quat_inv(q_root), v)


def remove_heading(q_root, q):
  """Rotations q expressed in the heading frame of q_root: ``heading_inv(q_root) * q``.

  ``remove_heading(q, q)`` has zero yaw.  (..., 4), (..., 4) -> (..., 4).
  """
  return quat_mul(heading_quat_inv(q_root), q)


# ----------------------------------------------------------------------------------------------
# Continuous rotation representations
# ----------------------------------------------------------------------------------------------

def quat_to_6d(q):
  """6-D rotation representation (Zhou et al. 2019): first two matrix columns, concatenated.

  Returns ``[R[:, 0], R[:, 1]]`` = rotated x axis then rotated y axis.  (..., 4) -> (..., 6).
  """
  m = quat_to_mat(q)
  return jnp.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def sixd_to_mat(d):
  """Gram-Schmidt inverse of :func:`quat_to_6d` (input need not be orthonormal). (..., 6) -> (..., 3, 3)."""
  d = _arr(d)
  a, b = d[..., 0:3], d[..., 3:6]
  na = safe_norm(a, keepdims=True)
  c0 = a / jnp.where(na > 0, na, 1.0)
  b = b - jnp.sum(c0 * b, axis=-1, keepdims=True) * c0
  nb = safe_norm(b, keepdims=True)
  c1 = b / jnp.where(nb > 0, nb, 1.0)
  c2 = jnp.cross(c0, c1)
  return jnp.stack([c0, c1, c2], axis=-1)


def sixd_to_quat(d):
  """(..., 6) -> (..., 4) unit quaternion, w >= 0."""
  return mat_to_quat(sixd_to_mat(d))


def quat_to_tan_norm(q):
  """InterMimic/ASE "tan-norm" 6-D encoding: rotated x axis (tangent) then rotated z axis (normal).

  Differs from :func:`quat_to_6d` in the second column (z instead of y).  (..., 4) -> (..., 6).
  """
  m = quat_to_mat(q)
  return jnp.concatenate([m[..., :, 0], m[..., :, 2]], axis=-1)


# ----------------------------------------------------------------------------------------------
# Angular velocity from quaternions
# ----------------------------------------------------------------------------------------------

def quat_angvel(q_prev, q_next, dt, local: bool = False):
  """Angular velocity that takes q_prev to q_next in time dt (constant rate, shortest path).

  World frame (default): ``omega = log(q_next * conj(q_prev)) / dt`` (log = rotation vector, i.e.
  ``2 * log`` of the quaternion).  Body frame (``local=True``): ``log(conj(q_prev) * q_next) / dt``
  (= the world omega rotated into q_prev's frame).  Exact for a constant-rate rotation; robust to
  sign flips of q between frames.  (..., 4), (..., 4), dt -> (..., 3).
  """
  return quat_diff_expmap(q_next, q_prev, local=local) / dt


def quat_series_angvel(q, dt, axis: int = 0, local: bool = False, pad: bool = False):
  """Angular velocities of a quaternion time series (forward differences on the rotation group).

  Args:
    q: array with quaternions on the last axis and time on ``axis``, e.g. (T, ..., 4).
    dt: time step between samples.
    axis: the time axis (must not be the quaternion axis).
    local: body-frame angular velocity instead of world frame.
    pad: repeat the last velocity so the output has T samples instead of T - 1.
  Returns:
    (T-1, ..., 3) (time kept on ``axis``), or T samples with ``pad``.  Entry t is the velocity
    from sample t to t + 1.
  """
  q = _arr(q)
  ax = axis % q.ndim
  if ax == q.ndim - 1:
    raise ValueError("time axis cannot be the quaternion axis")
  n = q.shape[ax]
  q0 = jnp.take(q, jnp.arange(0, n - 1), axis=ax)
  q1 = jnp.take(q, jnp.arange(1, n), axis=ax)
  w = quat_angvel(q0, q1, dt, local=local)
  if pad:
    w = jnp.concatenate([w, jnp.take(w, jnp.array([n - 2]), axis=ax)], axis=ax)
  return w


__all__ = [
    "safe_norm", "xyzw_to_wxyz", "wxyz_to_xyzw", "quat_identity", "quat_conj", "quat_normalize",
    "quat_canonicalize", "quat_mul", "quat_rotate", "quat_rotate_inv", "quat_to_mat",
    "mat_to_quat", "quat_from_expmap", "quat_from_axis_angle", "quat_to_expmap",
    "quat_to_axis_angle", "quat_angle", "quat_angle_diff", "quat_diff_expmap", "quat_slerp",
    "quat_from_euler_xyz", "quat_to_euler_xyz", "quat_heading", "heading_quat", "heading_quat_inv",
    "to_heading_frame", "remove_heading", "quat_to_6d", "sixd_to_mat", "sixd_to_quat",
    "quat_to_tan_norm", "quat_angvel", "quat_series_angvel",
]
