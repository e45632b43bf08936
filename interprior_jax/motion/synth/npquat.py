"""Float64 numpy twins of :func:`interprior_jax.geometry.quat_mul` / ``quat_to_mat`` for the host-side
generator.

:mod:`interprior_jax.geometry` is written with ``jax.numpy``: called on numpy arrays it dispatches
jax ops one by one, compiles them for every new shape (each clip length) and returns float32.  In
the generator that cost ~0.2 s per clip; these two functions are the same formulas in numpy
(tests/test_synth.py checks them against :mod:`geometry`).  (w, x, y, z) order.
"""

from __future__ import annotations

import numpy as np


def quat_mul(a, b) -> np.ndarray:
  """Hamilton product ``a * b`` (apply b first). (..., 4), (..., 4) -> (..., 4) float64."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
  bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
  return np.stack([
      aw * bw - ax * bx - ay * by - az * bz,
      aw * bx + ax * bw + ay * bz - az * by,
      aw * by - ax * bz + ay * bw + az * bx,
      aw * bz + ax * by - ay * bx + az * bw,
  ], axis=-1)


def quat_to_mat(q) -> np.ndarray:
  """Rotation matrix of q (need not be unit: uses ``2 / |q|^2``). (..., 4) -> (..., 3, 3) float64."""
  q = np.asarray(q, np.float64)
  w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
  n2 = w * w + x * x + y * y + z * z
  s = 2.0 / np.where(n2 > 0, n2, 1.0)
  xx, yy, zz = s * x * x, s * y * y, s * z * z
  xy, xz, yz = s * x * y, s * x * z, s * y * z
  wx, wy, wz = s * w * x, s * w * y, s * w * z
  return np.stack([
      np.stack([1.0 - yy - zz, xy - wz, xz + wy], axis=-1),
      np.stack([xy + wz, 1.0 - xx - zz, yz - wx], axis=-1),
      np.stack([xz - wy, yz + wx, 1.0 - xx - yy], axis=-1),
  ], axis=-2)
