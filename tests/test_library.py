"""MotionLibrary: interpolation, slerp, velocities, nearest-surface vectors, batching, padding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from interprior_jax import geometry
from interprior_jax.motion import features
from interprior_jax.motion.clip import Clip, ClipError
from interprior_jax.motion.library import TRACK_NAMES, MotionLibrary

BODIES = ("Pelvis", "Arm", "Hand")
JOINTS = ("Arm_x", "Arm_y", "Hand_z")
FPS = 30.0
RATE = np.array([0.3, -0.5, 1.2])  # rad/s, constant angular velocity of body 1 and the object
SQUARE = np.array([[0.5, 0.0, 0.0], [-0.5, 0.0, 0.0], [0.0, 0.5, 0.0], [0.0, -0.5, 0.0]],
                  np.float32)  # 4 "surface points", object frame


def make_clip(name: str, num_frames: int, seed: int, object_name: str = "square",
              body_names=BODIES, joint_names=JOINTS) -> Clip:
  """Random-walk positions; body 1 and the object rotate at the constant rate RATE."""
  rng = np.random.default_rng(seed)
  T, B, A = num_frames, len(body_names), len(joint_names)
  t = np.arange(T) / FPS
  body_pos = np.cumsum(rng.normal(0, 0.01, (T, B, 3)), axis=0).astype(np.float32)
  q0 = np.asarray(geometry.quat_from_expmap(rng.normal(0, 0.5, (B, 3))))
  body_quat = np.repeat(q0[None], T, axis=0)
  spin = np.asarray(geometry.quat_from_expmap(t[:, None] * RATE))  # (T, 4)
  body_quat[:, 1] = np.asarray(geometry.quat_mul(spin, q0[1]))
  body_quat[::3, 2] *= -1.0  # sign flips must not matter
  obj_quat = np.asarray(geometry.quat_mul(spin, q0[0]))
  contact = rng.integers(-1, 2, (T, B)).astype(np.int8)
  return Clip(
      name=name, source=f"synthetic:{name}", humanoid="toy", object_name=object_name, fps=FPS,
      body_names=tuple(body_names), joint_names=tuple(joint_names),
      root_pos=body_pos[:, 0].copy(), root_quat=body_quat[:, 0].astype(np.float32).copy(),
      joint_pos=np.cumsum(rng.normal(0, 0.05, (T, A)), axis=0).astype(np.float32),
      body_pos=body_pos, body_quat=body_quat.astype(np.float32),
      obj_pos=(np.array([1.0, 0.0, 0.5]) + 0.01 * t[:, None]).astype(np.float32),
      obj_quat=obj_quat.astype(np.float32), body_contact=contact,
      obj_contact=rng.integers(0, 2, T).astype(np.int8))


@pytest.fixture(scope="module")
def clips():
  return [make_clip("a", 40, 0), make_clip("b", 25, 1)]


@pytest.fixture(scope="module")
def lib(clips):
  return MotionLibrary.from_clips(clips, surface_points={"square": SQUARE})


# Compiled once per shape with the library as an argument (eager lookups compile op by op).
_vmapped_frame = jax.jit(lambda lib, c, t: jax.vmap(lib.frame)(c, t))
_direct_frame = jax.jit(lambda lib, c, t: lib.frame(c, t))
_at_index = jax.jit(lambda lib, c, i: lib.frame_at_index(c, i))


@pytest.fixture(scope="module")
def batched_frame(lib):
  return lambda c, t: _vmapped_frame(lib, c, t)


def test_shapes_and_metadata(lib, clips):
  assert lib.num_clips == 2 and lib.max_frames == 40
  assert lib.body_pos.shape == (2, 40, 3, 3) and lib.joint_vel.shape == (2, 40, 3)
  assert lib.obj_points.shape == (1, 4, 3)
  np.testing.assert_array_equal(np.asarray(lib.lengths), [40, 25])
  np.testing.assert_allclose(np.asarray(lib.duration(jnp.array([0, 1]))), [39 / FPS, 24 / FPS])
  assert lib.clip_index("b") == 1
  assert all(getattr(lib, k).dtype == jnp.float32 for k in TRACK_NAMES)


def test_interpolation_at_frame_times_equals_frame(lib, clips, batched_frame):
  c = clips[1]
  k = np.arange(c.num_frames)
  f = batched_frame(jnp.ones_like(k), jnp.asarray(k / FPS, jnp.float32))
  g = _at_index(lib, jnp.ones_like(k), jnp.asarray(k))
  np.testing.assert_allclose(np.asarray(f.body_pos), c.body_pos, atol=1e-5)
  np.testing.assert_allclose(np.asarray(f.joint_pos), c.joint_pos, atol=1e-5)
  np.testing.assert_allclose(np.asarray(f.obj_pos), c.obj_pos, atol=1e-5)
  # Rotations equal up to sign; output canonical (w >= 0).
  ang = geometry.quat_angle_diff(f.body_quat, c.body_quat)
  assert float(jnp.max(ang)) < 1e-3
  assert float(jnp.min(f.body_quat[..., 0])) >= 0.0
  np.testing.assert_array_equal(np.asarray(f.body_contact), c.body_contact)
  np.testing.assert_array_equal(np.asarray(f.obj_contact), c.obj_contact > 0)
  for name in TRACK_NAMES:
    np.testing.assert_allclose(np.asarray(getattr(f, name)), np.asarray(getattr(g, name)),
                               atol=1e-4, err_msg=name)


def test_midpoint_linear_slerp_and_nearest_contact(lib, clips, batched_frame):
  c = clips[0]
  k = np.arange(c.num_frames - 1)
  t = (k + 0.5) / FPS
  f = batched_frame(jnp.zeros_like(k), jnp.asarray(t, jnp.float32))
  np.testing.assert_allclose(np.asarray(f.body_pos), 0.5 * (c.body_pos[:-1] + c.body_pos[1:]),
                             atol=1e-5)
  # Body 1 spins at a constant rate: the slerp midpoint is the rotation at the midpoint time.
  q0 = c.body_quat[0, 1]
  want = geometry.quat_mul(geometry.quat_from_expmap(t[:, None] * RATE), q0)
  assert float(jnp.max(geometry.quat_angle_diff(f.body_quat[:, 1], want))) < 1e-3
  # Body 2 is constant but stored with sign flips every third frame: slerp stays constant.
  assert float(jnp.max(geometry.quat_angle_diff(f.body_quat[:, 2], c.body_quat[0, 2]))) < 1e-3
  # Slightly before the midpoint: the label of frame k; slightly after: frame k + 1.
  before = batched_frame(jnp.zeros_like(k), jnp.asarray((k + 0.4) / FPS, jnp.float32))
  after = batched_frame(jnp.zeros_like(k), jnp.asarray((k + 0.6) / FPS, jnp.float32))
  np.testing.assert_array_equal(np.asarray(before.body_contact), c.body_contact[:-1])
  np.testing.assert_array_equal(np.asarray(after.body_contact), c.body_contact[1:])


def test_angular_velocity_of_constant_rate_rotation(lib):
  w = np.asarray(lib.body_ang_vel[0, :40, 1])  # every frame, ends included
  np.testing.assert_allclose(w, np.broadcast_to(RATE, w.shape), atol=2e-3)
  np.testing.assert_allclose(np.asarray(lib.obj_ang_vel[1, :25]),
                             np.broadcast_to(RATE, (25, 3)), atol=2e-3)
  np.testing.assert_allclose(np.asarray(lib.body_ang_vel[0, :40, 2]), 0.0, atol=2e-3)
  # Linear velocity of the object moving at 1 cm/s along every axis.
  np.testing.assert_allclose(np.asarray(lib.obj_lin_vel[0, :40]), 0.01, atol=1e-4)


def test_central_diff_and_wrapped_angles():
  x = np.array([0.0, 1.0, 4.0, 9.0])
  np.testing.assert_allclose(features.central_diff(x, 0.5), [2.0, 4.0, 8.0, 10.0])
  a = np.array([np.pi - 0.1, -np.pi + 0.1, -np.pi + 0.3])  # crossing +-pi forward
  np.testing.assert_allclose(features.central_diff(a, 1.0, periodic_angles=True),
                             [0.2, 0.2, 0.2], atol=1e-5)


def test_body_obj_vec_known_offset():
  """Body 0.3 m outside the +x face of a rotated object: vector = -0.3 along the face normal."""
  c = make_clip("k", 3, 2)
  yaw = np.pi / 2  # object rotated 90 deg about z: its +x face points along world +y
  oq = np.tile(np.array([np.cos(yaw / 2), 0, 0, np.sin(yaw / 2)], np.float32), (3, 1))
  op = np.tile(np.array([1.0, 2.0, 0.5], np.float32), (3, 1))
  bp = c.body_pos.copy()
  bp[:, 1] = op + np.array([0.0, 0.5 + 0.3, 0.0])
  c = c.replace(obj_quat=oq, obj_pos=op, body_pos=bp)
  lib = MotionLibrary.from_clips([c], surface_points={"square": SQUARE})
  v = _at_index(lib, jnp.int32(0), jnp.int32(1)).body_obj_vec
  np.testing.assert_allclose(np.asarray(v[1]), [0.0, -0.3, 0.0], atol=1e-5)
  # Library box (1024 sampled points): a body 0.2 m above the top face centre.
  from interprior_jax.assets import objects as objects_lib
  box = objects_lib.make_object("box")
  top = float(box.bounding_box[1, 2])
  bp[:, 1] = op + np.array([0.0, 0.0, top + 0.2])
  c = c.replace(object_name="box", body_pos=bp,
                obj_quat=np.tile([1.0, 0, 0, 0], (3, 1)).astype(np.float32))
  lib = MotionLibrary.from_clips([c])
  v = np.asarray(_at_index(lib, jnp.int32(0), jnp.int32(0)).body_obj_vec[1])
  spacing = np.sqrt(4 * np.prod(box.half_extents[:2]) / (box.num_points / 6))  # ~ point spacing
  assert abs(v[2] + 0.2) < 1e-4 and np.linalg.norm(v[:2]) < spacing, v
  enc = np.asarray(features.encode_surface_vec(jnp.asarray(v)))
  np.testing.assert_allclose(enc, v / np.linalg.norm(v) * np.exp(-5 * np.linalg.norm(v)),
                             rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(features.encode_surface_vec(jnp.zeros(3))), 0.0)


def test_jit_vmap_batch_matches_single(lib, batched_frame):
  key = jax.random.PRNGKey(0)
  k1, k2 = jax.random.split(key)
  idx = lib.sample_clips(k1, (16,))
  t = lib.sample_times(k2, idx)
  assert idx.shape == (16,) and t.shape == (16,)
  assert bool(jnp.all((t >= 0) & (t <= lib.duration(idx))))
  f = batched_frame(idx, t)
  assert f.body_obj_vec.shape == (16, 3, 3) and f.body_quat.shape == (16, 3, 4)
  direct = _direct_frame(lib, idx, t)  # leading batch dims work without vmap too
  for i in (0, 7, 15):
    single = _direct_frame(lib, idx[i], t[i])
    for name in ("body_pos", "body_quat", "joint_vel", "body_obj_vec", "body_contact"):
      np.testing.assert_allclose(np.asarray(getattr(f, name)[i]),
                                 np.asarray(getattr(single, name)), atol=1e-5, err_msg=name)
      np.testing.assert_allclose(np.asarray(getattr(direct, name)[i]),
                                 np.asarray(getattr(single, name)), atol=1e-5, err_msg=name)


def test_padding_never_leaks(lib, clips, batched_frame):
  # Poison the padded region of the short clip; lookups past its end must ignore it.
  poisoned = lib.replace(**{k: getattr(lib, k).at[1, 25:].set(1e6) for k in TRACK_NAMES})
  f = _direct_frame(poisoned, jnp.array([1, 1, 1]), jnp.array([24 / FPS, 30.0, 1e9]))
  g = _at_index(poisoned, jnp.array([1, 1, 1]), jnp.array([24, 1000, 2**30]))
  for name in TRACK_NAMES:
    last = np.asarray(getattr(lib, name)[1, 24])
    for arr in (f, g):
      np.testing.assert_allclose(np.asarray(getattr(arr, name)),
                                 np.broadcast_to(last, getattr(arr, name).shape), atol=1e-5,
                                 err_msg=name)
  # Negative time clamps to the first frame.
  h = _direct_frame(lib, jnp.int32(1), jnp.float32(-3.0))
  np.testing.assert_allclose(np.asarray(h.body_pos), clips[1].body_pos[0], atol=1e-6)


def test_mismatched_names_raise_naming_the_clip(clips):
  bad = make_clip("bad_clip", 5, 3, body_names=("Pelvis", "Arm", "Foot"))
  with pytest.raises(ClipError, match=r"synthetic:bad_clip.*body_names.*'Foot'"):
    MotionLibrary.from_clips([clips[0], bad], surface_points={"square": SQUARE})
  bad = make_clip("bad_joints", 5, 3, joint_names=("Arm_x", "Arm_y"))
  with pytest.raises(ClipError, match=r"bad_joints.*joint_names"):
    MotionLibrary.from_clips([clips[0], bad], surface_points={"square": SQUARE})
  with pytest.raises(ClipError, match=r"synthetic:a.*object_name.*'square'"):
    MotionLibrary.from_clips([clips[0]], surface_points={"other": SQUARE})


def test_spec_names_checked():
  """A clip whose names differ from the scene's spec is rejected, naming the clip."""
  from interprior_jax.assets.scene import ObjectPlacement, SceneOptions, build_scene
  spec = build_scene(SceneOptions(humanoid="smpl", objects=(ObjectPlacement("box"),))).spec
  c = make_clip("toy_vs_smpl", 4, 4, object_name="box").replace(humanoid="smpl")
  with pytest.raises(ClipError, match=r"toy_vs_smpl.*body_names"):
    MotionLibrary.from_clips([c], spec=spec)


def test_sample_contact_times_only_on_contact_frames(lib, clips):
  keys = jax.random.split(jax.random.PRNGKey(0), 400)
  for ci, clip in enumerate(clips):
    t = np.asarray(jax.vmap(lambda k: lib.sample_contact_times(k, ci))(keys))
    frames = np.rint(t * clip.fps).astype(int)
    touching = np.flatnonzero(np.asarray(clip.obj_contact) > 0)
    assert set(frames) <= set(touching)  # never a free frame, never padding
    assert len(set(frames)) > len(touching) // 2  # spread over them
