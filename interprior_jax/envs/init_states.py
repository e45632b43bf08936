"""Initial states: reference state initialisation (RSI), perturbations and a per-env PSI buffer.

* :func:`reference_state` turns a :class:`RefFrame` into ``(qpos, qvel)`` (free-joint angular
  velocities are body-frame in MuJoCo, so the world-frame reference rates are rotated in).
* :func:`perturb_state` adds the "randomly perturbed initial states" of InterMimic+.
* :class:`PSIBuffer` is a small per-env ring of good simulated states (qpos, qvel, clip, time,
  score).  Keeping it *per env* (in ``state.info``) makes it a pure pytree that vmaps with the env
  and needs no cross-env communication; across thousands of envs the union still covers the
  dataset.  States enter when their tracking reward exceeds ``psi_min_track`` (replacing the
  lowest-scored slot) and are sampled with probability proportional to their score.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from interprior_jax import geometry
from interprior_jax.envs.sim_frame import SimIndex


def reference_state(ref, base_qpos: jax.Array, idx: SimIndex, nv: int
                    ) -> tuple[jax.Array, jax.Array]:
  """``(qpos (nq,), qvel (nv,))`` matching one reference frame (other entries from base_qpos)."""
  r, o = idx.root_qpos_adr, idx.obj_qpos_adr
  qpos = jnp.asarray(base_qpos, jnp.float32)
  qpos = qpos.at[r:r + 3].set(ref.root_pos).at[r + 3:r + 7].set(ref.root_quat)
  qpos = qpos.at[jnp.asarray(idx.qpos_adr)].set(ref.joint_pos)
  qpos = qpos.at[o:o + 3].set(ref.obj_pos).at[o + 3:o + 7].set(ref.obj_quat)
  rv, ov = idx.root_qvel_adr, idx.obj_qvel_adr
  qvel = jnp.zeros((nv,), jnp.float32)
  qvel = qvel.at[rv:rv + 3].set(ref.body_lin_vel[0])
  qvel = qvel.at[rv + 3:rv + 6].set(geometry.quat_rotate_inv(ref.root_quat, ref.body_ang_vel[0]))
  qvel = qvel.at[jnp.asarray(idx.qvel_adr)].set(ref.joint_vel)
  qvel = qvel.at[ov:ov + 3].set(ref.obj_lin_vel)
  qvel = qvel.at[ov + 3:ov + 6].set(geometry.quat_rotate_inv(ref.obj_quat, ref.obj_ang_vel))
  return qpos, qvel


def random_pose_state(key: jax.Array, qpos: jax.Array, pose_ref, obj_pos: jax.Array,
                      idx: SimIndex, nv: int, dist_range) -> tuple[jax.Array, jax.Array]:
  """``(qpos, qvel)``: ``qpos``'s object, the humanoid in ``pose_ref``'s joint angles and
  heading-free root orientation, its root ``U(dist_range)`` m from ``obj_pos`` (xy) in a random
  direction with a random heading, at ``pose_ref``'s root height; all velocities zero."""
  k_dir, k_dist, k_yaw = jax.random.split(key, 3)
  r = idx.root_qpos_adr
  angle = jax.random.uniform(k_dir, (), minval=-jnp.pi, maxval=jnp.pi)
  dist = jax.random.uniform(k_dist, (), minval=dist_range[0], maxval=dist_range[1])
  xy = obj_pos[:2] + dist * jnp.stack([jnp.cos(angle), jnp.sin(angle)])
  yaw = jax.random.uniform(k_yaw, (), minval=-jnp.pi, maxval=jnp.pi)
  q_yaw = geometry.quat_from_axis_angle(jnp.array([0.0, 0.0, 1.0]), yaw)
  root_quat = geometry.quat_mul(q_yaw, geometry.remove_heading(pose_ref.root_quat,
                                                               pose_ref.root_quat))
  qpos = qpos.at[r:r + 2].set(xy).at[r + 2].set(pose_ref.root_pos[2])
  qpos = qpos.at[r + 3:r + 7].set(root_quat)
  qpos = qpos.at[jnp.asarray(idx.qpos_adr)].set(pose_ref.joint_pos)
  return qpos, jnp.zeros((nv,), qpos.dtype)


def perturb_state(key: jax.Array, qpos: jax.Array, qvel: jax.Array, idx: SimIndex,
                  cfg) -> tuple[jax.Array, jax.Array]:
  """Uniform noise on the root position, hinge angles and all velocities (``config.init``).

  ``cfg.root_yaw_noise`` (rad, optional, default 0): the humanoid is also turned about the
  vertical through its pelvis by ``U(-a, a)`` (root orientation and world-frame linear velocity;
  the object stays), so it faces away from its reference by that angle: the steering
  augmentation of the locomotion student (docs/results.md), whose pelvis goals then carry
  information its own state does not.  Drawn from its own stream: with 0 the other draws and the
  result are unchanged.  ``cfg.root_xy_noise`` (m, optional, default 0): the humanoid also
  starts displaced horizontally by ``U(-a, a)`` per world axis (behind, ahead or beside its
  reference, never into the floor as ``root_pos_noise``'s vertical part can), its own stream too:
  the expert then learns to close a position offset, which its labels on a lagging student's
  states need (docs/results.md)."""
  k1, k2, k3 = jax.random.split(key, 3)
  r = idx.root_qpos_adr
  u = lambda k, s, a: jax.random.uniform(k, s, minval=-a, maxval=a)  # noqa: E731
  qpos = qpos.at[r:r + 3].add(u(k1, (3,), cfg.root_pos_noise))
  qa = jnp.asarray(idx.qpos_adr)
  qpos = qpos.at[qa].add(u(k2, qa.shape, cfg.joint_pos_noise))
  qvel = qvel + u(k3, qvel.shape, cfg.vel_noise)
  yaw_noise = float(cfg.get("root_yaw_noise", 0.0))
  if yaw_noise > 0:
    yaw = u(jax.random.fold_in(key, _YAW_STREAM), (), yaw_noise)
    qpos, qvel = turn_root(qpos, qvel, idx, yaw)
  xy_noise = float(cfg.get("root_xy_noise", 0.0))
  if xy_noise > 0:
    qpos = qpos.at[r:r + 2].add(u(jax.random.fold_in(key, _XY_STREAM), (2,), xy_noise))
  return qpos, qvel


_YAW_STREAM = 0x9A3  # fold_in stream of the heading noise (independent of the other draws)
_XY_STREAM = 0x9A4  # fold_in stream of the horizontal offset

# The ``config.init`` keys of :func:`perturb_state`'s noise (zeroed where starts must be exact).
START_NOISE_KEYS = ("root_pos_noise", "joint_pos_noise", "vel_noise", "root_yaw_noise",
                    "root_xy_noise")


def turn_root(qpos: jax.Array, qvel: jax.Array, idx: SimIndex, yaw: jax.Array
              ) -> tuple[jax.Array, jax.Array]:
  """The humanoid turned by ``yaw`` (rad) about the vertical through its root: root quaternion
  and world-frame root linear velocity rotated; the free joint's angular velocity is body-frame
  in MuJoCo, so it and the hinges are unchanged; the object is untouched."""
  r, rv = idx.root_qpos_adr, idx.root_qvel_adr
  q_yaw = geometry.quat_from_axis_angle(jnp.array([0.0, 0.0, 1.0]), yaw)
  qpos = qpos.at[r + 3:r + 7].set(geometry.quat_mul(q_yaw, qpos[r + 3:r + 7]))
  qvel = qvel.at[rv:rv + 3].set(geometry.quat_rotate(q_yaw, qvel[rv:rv + 3]))
  return qpos, qvel


def check_tilt_range(tilt_deg, where: str) -> tuple[float, float]:
  """``(lo, hi)`` of a fallen-start tilt range in degrees (``config.init.fallen_tilt_deg``):
  ValueError naming ``where`` unless ``0 <= lo <= hi <= 90``."""
  lo, hi = (float(x) for x in tilt_deg)
  if not 0.0 <= lo <= hi <= 90.0:
    raise ValueError(f"{where}={tuple(tilt_deg)}: need 0 <= lo <= hi <= 90 (degrees)")
  return lo, hi


def fallen_state(key: jax.Array, qpos: jax.Array, body_pos: jax.Array, idx: SimIndex, nv: int,
                 tilt_range, clearance: float) -> tuple[jax.Array, jax.Array]:
  """A start of the get-up skill (method.md, Stage 3): the humanoid of ``qpos`` (its joint
  angles kept) tipped over by ``U(tilt_range)`` rad about a random horizontal axis through the
  floor point below its root, its head moving *away* from the object of ``qpos`` (falling onto
  the box crushed it against the floor and blew the solver up: NaN resets in ~3 % of starts),
  then raised until its lowest body origin is ``clearance`` m above the floor (``body_pos (B,
  3)``: the world positions of the pose's bodies, e.g. the reference frame's, used for that
  height only); all velocities zero, the object untouched.  At a tilt past ~30 deg the episode
  starts with a fall; near 90 deg the humanoid starts lying."""
  k_axis, k_tilt = jax.random.split(key)
  r, o = idx.root_qpos_adr, idx.obj_qpos_adr
  heading = jax.random.uniform(k_axis, (), minval=-jnp.pi, maxval=jnp.pi)
  axis = jnp.stack([jnp.cos(heading), jnp.sin(heading), 0.0])
  tilt = jax.random.uniform(k_tilt, (), minval=tilt_range[0], maxval=tilt_range[1])
  # a positive tilt about the axis moves the head along axis x z = (sin h, -cos h): flip it when
  # that points at the object
  toward = jnp.sin(heading) * (qpos[o] - qpos[r]) - jnp.cos(heading) * (qpos[o + 1] - qpos[r + 1])
  tilt = jnp.where(toward > 0, -tilt, tilt)
  q = geometry.quat_from_axis_angle(axis, tilt)
  pivot = jnp.concatenate([qpos[r:r + 2], jnp.zeros((1,), qpos.dtype)])
  bodies = jax.vmap(lambda p: pivot + geometry.quat_rotate(q, p - pivot))(body_pos)
  root = pivot + geometry.quat_rotate(q, qpos[r:r + 3] - pivot)
  root = root.at[2].add(clearance - jnp.min(bodies[:, 2]))
  qpos = qpos.at[r:r + 3].set(root)
  qpos = qpos.at[r + 3:r + 7].set(geometry.quat_mul(q, qpos[r + 3:r + 7]))
  return qpos, jnp.zeros((nv,), qpos.dtype)


@struct.dataclass
class PSIBuffer:
  qpos: jax.Array  # (K, nq)
  qvel: jax.Array  # (K, nv)
  clip: jax.Array  # (K,) int32
  time: jax.Array  # (K,) float32
  score: jax.Array  # (K,) float32, 0 = empty


def psi_empty(capacity: int, nq: int, nv: int) -> PSIBuffer:
  return PSIBuffer(qpos=jnp.zeros((capacity, nq)), qvel=jnp.zeros((capacity, nv)),
                   clip=jnp.zeros((capacity,), jnp.int32), time=jnp.zeros((capacity,)),
                   score=jnp.zeros((capacity,)))


def psi_insert(buf: PSIBuffer, key: jax.Array, qpos, qvel, clip, time, score,
               ok: jax.Array, prob: float) -> PSIBuffer:
  """Stores the state in the lowest-scored slot with probability ``prob`` when ``ok``."""
  take = ok & jax.random.bernoulli(key, prob) & (score > jnp.min(buf.score))
  slot = jnp.argmin(buf.score)

  def put(arr, v):
    return jnp.where(take, arr.at[slot].set(v), arr)

  return PSIBuffer(qpos=put(buf.qpos, qpos), qvel=put(buf.qvel, qvel), clip=put(buf.clip, clip),
                   time=put(buf.time, time), score=put(buf.score, score))


def psi_sample(buf: PSIBuffer, key: jax.Array):
  """``(qpos, qvel, clip, time, available)``: one stored state, drawn proportional to score."""
  available = jnp.any(buf.score > 0)
  logits = jnp.where(buf.score > 0, jnp.log(jnp.maximum(buf.score, 1e-12)), -jnp.inf)
  logits = jnp.where(available, logits, 0.0)
  j = jax.random.categorical(key, logits)
  return buf.qpos[j], buf.qvel[j], buf.clip[j], buf.time[j], available
