"""Tests for interprior_jax.geometry (quaternions are (w, x, y, z); scipy uses (x, y, z, w))."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from scipy.spatial.transform import Rotation, Slerp

from interprior_jax import geometry as G

ATOL = 2e-5


def _rand_quats(n, seed=0):
  """(n, 4) random unit quaternions (w, x, y, z), both signs of w, plus special cases."""
  rng = np.random.default_rng(seed)
  q = rng.normal(size=(n, 4))
  q /= np.linalg.norm(q, axis=-1, keepdims=True)
  special = np.array([
      [1, 0, 0, 0], [-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1],
      [np.cos(np.pi / 2 - 1e-4), np.sin(np.pi / 2 - 1e-4), 0, 0],  # angle ~ pi
      [np.cos(1e-6), 0, np.sin(1e-6), 0],  # tiny angle
  ], dtype=np.float64)
  special /= np.linalg.norm(special, axis=-1, keepdims=True)
  return np.concatenate([q, special], axis=0).astype(np.float32)


def _scipy(q_wxyz):
  return Rotation.from_quat(np.asarray(G.wxyz_to_xyzw(q_wxyz), np.float64))


def _same_rot(qa, qb, atol=ATOL):
  """Quaternions equal up to sign."""
  qa, qb = np.asarray(qa), np.asarray(qb)
  d = np.minimum(np.abs(qa - qb).max(-1), np.abs(qa + qb).max(-1))
  return np.all(d < atol), d.max()


def test_order_converters_round_trip():
  q = _rand_quats(10)
  np.testing.assert_array_equal(G.xyzw_to_wxyz(G.wxyz_to_xyzw(q)), q)
  np.testing.assert_array_equal(np.asarray(G.wxyz_to_xyzw(q))[:, 3], q[:, 0])
  assert isinstance(G.xyzw_to_wxyz(q), np.ndarray)  # numpy stays numpy (I/O)
  assert isinstance(G.xyzw_to_wxyz(jnp.asarray(q)), jax.Array)
  np.testing.assert_array_equal(jax.jit(G.xyzw_to_wxyz)(q), G.xyzw_to_wxyz(q))
  np.testing.assert_array_equal(G.xyzw_to_wxyz([0.1, 0.2, 0.3, 0.9]), [0.9, 0.1, 0.2, 0.3])


def test_quat_to_mat_matches_scipy():
  q = _rand_quats(200)
  np.testing.assert_allclose(G.quat_to_mat(q), _scipy(q).as_matrix(), atol=ATOL)


def test_mat_to_quat_round_trip_and_scipy():
  q = _rand_quats(200, seed=1)
  m = _scipy(q).as_matrix()
  q2 = np.asarray(G.mat_to_quat(m.astype(np.float32)))
  ok, err = _same_rot(q2, q, atol=5e-5)
  assert ok, err
  assert np.all(q2[:, 0] >= 0)
  np.testing.assert_allclose(np.linalg.norm(q2, axis=-1), 1.0, atol=1e-6)
  # 180 degree rotations about each axis and a diagonal (trace = -1: the hard case)
  for axis in np.eye(3).tolist() + [[1, 1, 0], [1, 1, 1]]:
    r = Rotation.from_rotvec(np.pi * np.asarray(axis, float) / np.linalg.norm(axis))
    q3 = G.mat_to_quat(r.as_matrix().astype(np.float32))
    ok, err = _same_rot(q3, G.xyzw_to_wxyz(r.as_quat()), atol=1e-6)
    assert ok, (axis, err)


def test_quat_mul_conj_rotate_match_scipy():
  a, b = _rand_quats(100, 2), _rand_quats(100, 3)
  ab = G.quat_mul(a, b)
  np.testing.assert_allclose(G.quat_to_mat(ab), (_scipy(a) * _scipy(b)).as_matrix(), atol=ATOL)
  ok, err = _same_rot(G.quat_mul(a, G.quat_conj(a)), np.tile([1, 0, 0, 0], (len(a), 1)))
  assert ok, err
  v = np.random.default_rng(4).normal(size=(len(a), 3)).astype(np.float32)
  np.testing.assert_allclose(G.quat_rotate(a, v), _scipy(a).apply(v), atol=5e-5)
  np.testing.assert_allclose(G.quat_rotate_inv(a, G.quat_rotate(a, v)), v, atol=5e-5)
  # broadcasting: one quaternion per row, several vectors per row
  vv = np.random.default_rng(5).normal(size=(len(a), 7, 3)).astype(np.float32)
  out = G.quat_rotate(a[:, None, :], vv)
  assert out.shape == (len(a), 7, 3)
  np.testing.assert_allclose(out[:, 3], G.quat_rotate(a, vv[:, 3]), atol=1e-6)


def test_normalize_and_canonicalize():
  q = _rand_quats(50) * 3.0
  n = G.quat_normalize(q)
  np.testing.assert_allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-6)
  np.testing.assert_allclose(G.quat_normalize(np.zeros(4, np.float32)), [1, 0, 0, 0])
  c = np.asarray(G.quat_canonicalize(-n))
  assert np.all(c[:, 0] >= 0)
  ok, err = _same_rot(c, n)
  assert ok, err


def test_expmap_round_trip_and_scipy():
  q = _rand_quats(200, seed=6)
  v = np.asarray(G.quat_to_expmap(q))
  ang = np.linalg.norm(v, axis=-1)
  assert np.all(ang <= np.pi + 1e-5)
  ref = _scipy(q).as_rotvec()  # scipy also returns the angle in [0, pi]
  ok = np.abs(v - ref).max(-1) < 5e-5
  near_pi = np.abs(ang - np.pi) < 1e-3  # +-axis*pi are the same rotation
  assert np.all(ok | near_pi)
  ok, err = _same_rot(G.quat_from_expmap(v), q)
  assert ok, err
  # scipy rotvec -> quaternion
  rv = np.random.default_rng(7).uniform(-1.7, 1.7, size=(100, 3))
  ok, err = _same_rot(G.quat_from_expmap(rv.astype(np.float32)),
                      G.xyzw_to_wxyz(Rotation.from_rotvec(rv).as_quat()))
  assert ok, err
  # small angles stay accurate
  tiny = np.array([[1e-7, -2e-7, 3e-8], [0, 0, 0], [1e-3, 0, 0]], np.float32)
  np.testing.assert_allclose(G.quat_to_expmap(G.quat_from_expmap(tiny)), tiny, rtol=1e-4, atol=1e-10)


def test_axis_angle():
  q = G.quat_from_axis_angle(np.array([0.0, 0.0, 2.0]), np.float32(0.7))
  np.testing.assert_allclose(q, [np.cos(0.35), 0, 0, np.sin(0.35)], atol=1e-6)
  axis, ang = G.quat_to_axis_angle(q)
  np.testing.assert_allclose(axis, [0, 0, 1], atol=1e-6)
  np.testing.assert_allclose(ang, 0.7, atol=1e-6)
  axis0, ang0 = G.quat_to_axis_angle(G.quat_identity())
  assert float(ang0) == 0.0 and np.all(np.isfinite(axis0))


def test_angle_diff_and_diff_expmap():
  a, b = _rand_quats(100, 8), _rand_quats(100, 9)
  d = np.asarray(G.quat_angle_diff(a, b))
  ref = (_scipy(a) * _scipy(b).inv()).magnitude()
  np.testing.assert_allclose(d, ref, atol=1e-4)
  assert np.all(d >= 0)
  np.testing.assert_allclose(G.quat_angle_diff(a, -b), d, atol=1e-5)  # sign-invariant
  np.testing.assert_allclose(G.quat_angle_diff(b, a), d, atol=1e-5)
  np.testing.assert_allclose(G.quat_angle_diff(a, a), 0.0, atol=1e-3)
  # world order: q_a = exp(d) * q_b ; local order: q_a = q_b * exp(d)
  dw = G.quat_diff_expmap(a, b)
  ok, err = _same_rot(G.quat_mul(G.quat_from_expmap(dw), b), a, atol=5e-5)
  assert ok, err
  dl = G.quat_diff_expmap(a, b, local=True)
  ok, err = _same_rot(G.quat_mul(b, G.quat_from_expmap(dl)), a, atol=5e-5)
  assert ok, err
  np.testing.assert_allclose(np.linalg.norm(dw, axis=-1), d, atol=1e-4)


def test_euler_xyz_matches_scipy_intrinsic():
  rng = np.random.default_rng(10)
  e = np.stack([rng.uniform(-np.pi, np.pi, 300), rng.uniform(-np.pi / 2, np.pi / 2, 300),
                rng.uniform(-np.pi, np.pi, 300)], -1)
  q = G.quat_from_euler_xyz(e.astype(np.float32))
  ok, err = _same_rot(q, G.xyzw_to_wxyz(Rotation.from_euler("XYZ", e).as_quat()))
  assert ok, err
  # the lowercase (extrinsic) convention is a different rotation
  ok_ext, _ = _same_rot(q, G.xyzw_to_wxyz(Rotation.from_euler("xyz", e).as_quat()))
  assert not ok_ext
  e2 = np.asarray(G.quat_to_euler_xyz(q))
  np.testing.assert_allclose(e2, e, atol=5e-4)
  # round trip from arbitrary quaternions (euler not unique: compare rotations)
  qr = _rand_quats(200, 11)
  ok, err = _same_rot(G.quat_from_euler_xyz(G.quat_to_euler_xyz(qr)), qr, atol=5e-5)
  assert ok, err
  # gimbal lock
  for b in (np.pi / 2, -np.pi / 2):
    el = np.array([0.3, b, -0.4], np.float32)
    ql = G.quat_from_euler_xyz(el)
    ok, err = _same_rot(G.quat_from_euler_xyz(G.quat_to_euler_xyz(ql)), ql, atol=1e-4)
    assert ok, err


def test_euler_xyz_matches_mujoco_three_hinges():
  xml = """
  <mujoco>
    <worldbody>
      <body name="parent" quat="0.9 0.1 -0.3 0.2">
        <body name="child" pos="0 0 0.1">
          <joint name="jx" type="hinge" axis="1 0 0"/>
          <joint name="jy" type="hinge" axis="0 1 0"/>
          <joint name="jz" type="hinge" axis="0 0 1"/>
          <geom type="sphere" size="0.05"/>
        </body>
      </body>
    </worldbody>
  </mujoco>"""
  model = mujoco.MjModel.from_xml_string(xml)
  data = mujoco.MjData(model)
  pid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "parent")
  cid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, "child")
  rng = np.random.default_rng(12)
  for _ in range(20):
    e = rng.uniform(-3.0, 3.0, size=3)
    data.qpos[:] = e
    mujoco.mj_kinematics(model, data)
    local = G.quat_mul(G.quat_conj(data.xquat[pid]), data.xquat[cid])
    ok, err = _same_rot(G.quat_from_euler_xyz(e), local, atol=1e-5)
    assert ok, (e, err)
    # and back: quat_to_euler gives hinge angles that reproduce the same body rotation
    e2 = np.asarray(G.quat_to_euler_xyz(np.asarray(local, np.float32)), np.float64)
    data.qpos[:] = e2
    mujoco.mj_kinematics(model, data)
    ok, err = _same_rot(G.quat_mul(G.quat_conj(data.xquat[pid]), data.xquat[cid]), local, 1e-4)
    assert ok, err


def test_slerp():
  a, b = _rand_quats(50, 13), _rand_quats(50, 14)
  ok, err = _same_rot(G.quat_slerp(a, b, 0.0), a)
  assert ok, err
  ok, err = _same_rot(G.quat_slerp(a, b, 1.0), b, atol=5e-5)
  assert ok, err
  mid = G.quat_slerp(a, b, 0.5)
  np.testing.assert_allclose(G.quat_angle_diff(mid, a), G.quat_angle_diff(mid, b), atol=1e-4)
  np.testing.assert_allclose(G.quat_angle_diff(mid, a), 0.5 * np.asarray(G.quat_angle_diff(a, b)),
                             atol=1e-4)
  # matches scipy's Slerp (shortest path), also when b's sign is flipped
  for i in range(5):
    s = Slerp([0.0, 1.0], Rotation.concatenate([_scipy(a[i]), _scipy(b[i])]))
    ts = np.array([0.25, 0.5, 0.8])
    ref = G.xyzw_to_wxyz(s(ts).as_quat())
    ok, err = _same_rot(G.quat_slerp(a[i], -b[i], ts.astype(np.float32)), ref, atol=5e-5)
    assert ok, err
  # per-element t with batch dims
  t = np.linspace(0, 1, len(a)).astype(np.float32)
  assert G.quat_slerp(a, b, t).shape == (len(a), 4)
  # identical endpoints: finite
  assert np.all(np.isfinite(G.quat_slerp(a, a, 0.3)))


def test_angular_velocity_constant_rate():
  dt = 1.0 / 30.0
  omega = np.array([0.4, -1.3, 2.2], np.float32)  # rad/s, |omega| * dt well below pi
  q0 = G.quat_normalize(np.array([0.7, 0.1, -0.5, 0.3], np.float32))
  t = np.arange(40, dtype=np.float32) * dt
  # world-frame constant rate: q(t) = exp(omega t) q0
  qw = G.quat_mul(G.quat_from_expmap(t[:, None] * omega), q0)
  qw = qw * np.where(np.arange(40) % 3 == 0, -1.0, 1.0)[:, None]  # random sign flips are harmless
  w = G.quat_series_angvel(qw, dt)
  assert w.shape == (39, 3)
  np.testing.assert_allclose(w, np.broadcast_to(omega, (39, 3)), atol=2e-3)
  # body-frame constant rate: q(t) = q0 exp(omega t)
  qb = G.quat_mul(q0, G.quat_from_expmap(t[:, None] * omega))
  wb = G.quat_series_angvel(qb, dt, local=True, pad=True)
  assert wb.shape == (40, 3)
  np.testing.assert_allclose(wb, np.broadcast_to(omega, (40, 3)), atol=2e-3)
  # world velocity of that motion = body velocity rotated by the current orientation
  ww = G.quat_series_angvel(qb, dt)
  np.testing.assert_allclose(ww, G.quat_rotate(qb[:-1], np.broadcast_to(omega, (39, 3))), atol=2e-3)
  # time on another axis: (batch, T, 4)
  wbat = G.quat_series_angvel(jnp.stack([qw, qw]), dt, axis=1)
  assert wbat.shape == (2, 39, 3)


def test_gradients_finite_at_identity():
  ident = jnp.array([1.0, 0.0, 0.0, 0.0])
  zero3 = jnp.zeros(3)
  fns = {
      "safe_norm": (lambda v: G.safe_norm(v), zero3),
      "from_expmap": (lambda v: jnp.sum(G.quat_from_expmap(v)), zero3),
      "to_expmap": (lambda q: jnp.sum(G.quat_to_expmap(q)), ident),
      "angle_diff": (lambda q: G.quat_angle_diff(q, ident), ident),
      "diff_expmap": (lambda q: jnp.sum(G.quat_diff_expmap(q, ident)), ident),
      "slerp": (lambda q: jnp.sum(G.quat_slerp(ident, q, 0.3)), ident),
      "mat_to_quat": (lambda m: jnp.sum(G.mat_to_quat(m)), jnp.eye(3)),
      "to_euler": (lambda q: jnp.sum(G.quat_to_euler_xyz(q)), ident),
      "heading": (lambda q: G.quat_heading(q), ident),
      "angvel": (lambda q: jnp.sum(G.quat_angvel(ident, q, 0.1)), ident),
      "axis_angle": (lambda q: jnp.sum(G.quat_to_axis_angle(q)[1]), ident),
      "normalize": (lambda q: jnp.sum(G.quat_normalize(q)), jnp.zeros(4)),
  }
  for name, (f, x) in fns.items():
    g = jax.grad(f)(x)
    assert np.all(np.isfinite(np.asarray(g))), name
  # gradient of the log map at identity is the correct linearization (d log / d xyz = 2 I)
  jac = jax.jacobian(G.quat_to_expmap)(ident)
  np.testing.assert_allclose(jac[:, 1:], 2.0 * np.eye(3), atol=1e-6)
  jac = jax.jacobian(G.quat_from_expmap)(zero3)
  np.testing.assert_allclose(jac[1:], 0.5 * np.eye(3), atol=1e-6)


def test_heading_frame_removes_yaw():
  rng = np.random.default_rng(15)
  yaw = rng.uniform(-np.pi, np.pi, 64).astype(np.float32)
  tilt = rng.uniform(-0.6, 0.6, (64, 2)).astype(np.float32)  # roll/pitch well below 90 degrees
  qy = G.quat_from_axis_angle(np.array([0.0, 0.0, 1.0], np.float32), yaw)
  # pitch about y then roll about x (Ry * Rx) keeps the x axis in the vertical plane of the yaw
  qt = G.quat_mul(
      G.quat_from_axis_angle(np.array([0.0, 1.0, 0.0], np.float32), tilt[:, 0]),
      G.quat_from_axis_angle(np.array([1.0, 0.0, 0.0], np.float32), tilt[:, 1]))
  q = G.quat_mul(qy, qt)
  np.testing.assert_allclose(G.quat_heading(qy), yaw, atol=1e-5)
  dyaw = np.angle(np.exp(1j * (np.asarray(G.quat_heading(q)) - yaw)))
  np.testing.assert_allclose(dyaw, 0.0, atol=1e-5)
  ok, err = _same_rot(G.heading_quat(q), qy, atol=1e-5)
  assert ok, err
  # the rotated x axis, expressed in the heading frame, has no y component (points forward)
  fwd = G.to_heading_frame(q, G.quat_rotate(q, np.array([1.0, 0.0, 0.0], np.float32)))
  np.testing.assert_allclose(np.asarray(fwd)[:, 1], 0.0, atol=1e-5)
  assert np.all(np.asarray(fwd)[:, 0] > 0)
  # rotations in the heading frame have zero yaw; z components are untouched
  np.testing.assert_allclose(G.quat_heading(G.remove_heading(q, q)), 0.0, atol=1e-5)
  v = rng.normal(size=(64, 5, 3)).astype(np.float32)
  hv = np.asarray(G.to_heading_frame(q[:, None, :], v))
  np.testing.assert_allclose(hv[..., 2], v[..., 2], atol=1e-6)
  np.testing.assert_allclose(np.linalg.norm(hv, axis=-1), np.linalg.norm(v, axis=-1), atol=1e-5)
  # invariance: a yawed copy of a scene looks identical in the heading frame
  extra = G.quat_from_axis_angle(np.array([0.0, 0.0, 1.0], np.float32), np.float32(1.1))
  hv2 = G.to_heading_frame(G.quat_mul(extra, q)[:, None, :], G.quat_rotate(extra, v))
  np.testing.assert_allclose(hv2, hv, atol=1e-5)
  np.testing.assert_allclose(G.heading_quat_inv(q), G.quat_conj(G.heading_quat(q)))


def test_6d_and_tan_norm():
  q = _rand_quats(100, 16)
  d6 = G.quat_to_6d(q)
  assert d6.shape == (len(q), 6)
  m = _scipy(q).as_matrix()
  np.testing.assert_allclose(d6, np.concatenate([m[:, :, 0], m[:, :, 1]], -1), atol=ATOL)
  ok, err = _same_rot(G.sixd_to_quat(d6), q, atol=5e-5)
  assert ok, err
  np.testing.assert_allclose(G.sixd_to_mat(np.asarray(d6) * 2.0), m, atol=5e-5)
  tn = G.quat_to_tan_norm(q)
  np.testing.assert_allclose(tn, np.concatenate([m[:, :, 0], m[:, :, 2]], -1), atol=ATOL)


def test_batch_dims_jit_vmap_numpy():
  q = _rand_quats(24, 17)[:24].reshape(2, 3, 4, 4)
  out = G.quat_to_expmap(q)
  assert out.shape == (2, 3, 4, 3)
  jitted = jax.jit(lambda a, b: G.quat_diff_expmap(a, b))(q, q[::-1])
  vm = jax.vmap(G.quat_diff_expmap)(q, q[::-1])
  np.testing.assert_allclose(jitted, vm, atol=1e-6)
  assert G.quat_to_mat(q).shape == (2, 3, 4, 3, 3)
  assert G.mat_to_quat(G.quat_to_mat(q)).shape == (2, 3, 4, 4)
  assert G.quat_to_euler_xyz(q).shape == (2, 3, 4, 3)
  assert G.quat_heading(q).shape == (2, 3, 4)
  assert isinstance(G.quat_mul(q, q), jax.Array)


@pytest.mark.parametrize("fn", [G.quat_to_expmap, G.quat_to_euler_xyz, G.quat_to_6d])
def test_single_quaternion_no_batch(fn):
  out = fn(np.array([1.0, 0.0, 0.0, 0.0], np.float32))
  assert out.ndim == 1 and np.all(np.isfinite(np.asarray(out)))
