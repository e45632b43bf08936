"""Batched keypoint inverse kinematics in JAX over MuJoCo-model kinematics (any of our humanoid models).

Problem, per frame ``t`` (one free root + ``A`` hinges, ``K`` keypoints)::

    min_q  sum_k w_k^2 |FK_k(q) - p_k|^2                        keypoints (body + local offset)
         + w_rp^2 |root_pos - r_t|^2 + w_rr^2 |log(R_t^T R)|^2   root pose (optional, w = 0 off)
         + sum_j v_j^2 (q_j - qref_j)^2                          posture regulariser
    s.t.   lo <= q_hinge <= hi                                   joint limits (by clipping)

solved by damped least squares (Levenberg-Marquardt with a fixed damping ``lambda``):
``(J^T J + lambda I) dx = -J^T r``, the Jacobian of the stacked residual from ``jax.jacfwd``
through :class:`TreeFK` (the model's kinematic tree in JAX, equal to ``mj_kinematics``).  The root rotation is updated on the manifold
(``R <- exp(dw) R``), hinges are clipped to their limits after each step and every step is
clipped to ``max_step`` per coordinate.

Frames are solved in sequence with ``lax.scan``, each warm-started from the previous frame's
solution (temporal coherence, few iterations per frame); the first frame gets more iterations.
Independent sequences (clips) are batched with ``vmap``.  One jitted program per solver instance
and input shape: callers pad to a fixed frame count / batch size to keep the compile count at one.

Why this and not mink (QP-based differential IK over MuJoCo C): this solver runs batched over many
clips in one XLA program (CPU or accelerator), has no QP/solver dependency, is differentiable
end-to-end, and works unchanged for every free+hinge MuJoCo tree (smpl, smplx, g1): it only needs body
ids, local offsets and qpos addresses, all taken from :class:`~interprior_jax.assets.scene.SceneSpec`.
Joint limits are handled by projection (clipping) instead of QP inequality constraints; with
warm starts and small steps that is sufficient for kinematic data generation.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from interprior_jax import geometry as geo
from interprior_jax.assets.scene import SceneSpec

ROOT_POS_DIM = 3
ROOT_QUAT_DIM = 4
ROOT_DOF = 6  # tangent space of the free root: translation + rotation vector
LINE_SEARCH = (1.0, 0.5, 0.25, 0.0)  # step fractions tried by each LM iteration


@dataclasses.dataclass(frozen=True)
class IKSettings:
  """Solver knobs.

  Attributes:
    iterations: LM iterations per frame (warm-started from the previous frame).
    first_frame_iterations: LM iterations for the first frame of a sequence.
    damping: Levenberg-Marquardt damping added to the normal equations' diagonal.
    max_step: per-coordinate step clip (rad for hinges and root rotation, m for root position).
  """
  iterations: int = 4
  first_frame_iterations: int = 60
  damping: float = 1e-3
  max_step: float = 0.35


@dataclasses.dataclass(frozen=True)
class Keypoint:
  """A point fixed in a body: ``body`` (name in the scene's body layout) and ``offset`` (3,) m."""
  body: str
  offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclasses.dataclass(frozen=True)
class IKResult:
  """Solution of a sequence (leading batch dims ``...`` when batched).

  Attributes:
    root_pos: (..., T, 3); root_quat: (..., T, 4) (w, x, y, z); joint_pos: (..., T, A) hinges
      in the scene's action order.
    keypoint_pos: (..., T, K, 3) FK of the keypoints at the solution.
    keypoint_err: (..., T, K) distance |FK_k - target_k| in metres (unweighted).
  """
  root_pos: np.ndarray
  root_quat: np.ndarray
  joint_pos: np.ndarray
  keypoint_pos: np.ndarray
  keypoint_err: np.ndarray


def _axis_rotation(axis, angle):
  """Rodrigues: (..., 3) unit axes, (...) angles -> (..., 3, 3)."""
  x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
  c, s = jnp.cos(angle), jnp.sin(angle)
  t = 1.0 - c
  return jnp.stack([
      jnp.stack([c + x * x * t, x * y * t - z * s, x * z * t + y * s], -1),
      jnp.stack([y * x * t + z * s, c + y * y * t, y * z * t - x * s], -1),
      jnp.stack([z * x * t - y * s, z * y * t + x * s, c + z * z * t], -1)], -2)


def _mm(a, b):
  """(..., 3, 3) @ (..., 3, 3) as a broadcast multiply-sum (tiny matrices: no dot_general, which
  also sidesteps an XLA CPU layout bug seen with nested vmaps of batched 3x3 dots)."""
  return jnp.sum(a[..., :, :, None] * b[..., None, :, :], axis=-2)


def _mv(a, v):
  """(..., 3, 3) @ (..., 3) as a multiply-sum."""
  return jnp.sum(a * v[..., None, :], axis=-1)


class TreeFK:
  """Forward kinematics of a MuJoCo kinematic tree of free and hinge joints, in JAX.

  Same convention as ``mj_kinematics`` (body frame = parent frame * (body_pos, body_quat), then
  each joint in order: a free joint sets the pose from qpos; a hinge rotates by
  ``qpos - qpos0`` about its axis through its anchor ``jnt_pos``).  Vectorised: the local
  transforms of all bodies are computed at once (hinge slots padded to the largest hinge count
  per body), then composed level by level of the tree (depth ~10 gathers).  This compiles far
  faster than ``mjx.kinematics`` (measured on smpl: ``jacfwd`` through ``mjx.kinematics`` took
  11.6 s to compile on 2 CPU cores) and is checked against ``mujoco.mj_kinematics`` in
  tests/test_ik.py.

  Call: ``qpos (nq,) -> (xpos (nbody, 3), xmat (nbody, 3, 3))`` (world body at index 0).
  """

  def __init__(self, model: mujoco.MjModel):
    free, hinge = int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_HINGE)
    nb = model.nbody
    slots = int(max(1, model.body_jntnum.max()))
    adr = np.zeros((nb, slots), np.int32)
    axis = np.tile(np.array([1.0, 0.0, 0.0], np.float32), (nb, slots, 1))
    anchor = np.zeros((nb, slots, 3), np.float32)
    q0 = np.zeros((nb, slots), np.float32)
    active = np.zeros((nb, slots), np.float32)
    free_adr = np.full((nb,), -1, np.int32)
    for b in range(nb):
      for k, j in enumerate(range(model.body_jntadr[b], model.body_jntadr[b] + model.body_jntnum[b])):
        kind = int(model.jnt_type[j])
        if kind == free:
          if model.body_jntnum[b] != 1:
            raise ValueError(f"TreeFK: body {model.body(b).name!r} mixes a free joint with others")
          free_adr[b] = model.jnt_qposadr[j]
        elif kind == hinge:
          adr[b, k] = model.jnt_qposadr[j]
          axis[b, k] = model.jnt_axis[j]
          anchor[b, k] = model.jnt_pos[j]
          q0[b, k] = model.qpos0[model.jnt_qposadr[j]]
          active[b, k] = 1.0
        else:
          raise ValueError(f"TreeFK: joint {model.joint(j).name!r} of type {kind} is not supported "
                           "(free and hinge only)")
    self.nbody = nb
    self.parent = model.body_parentid.astype(np.int32)
    depth = np.zeros(nb, np.int32)
    for b in range(1, nb):
      depth[b] = depth[self.parent[b]] + 1
    self.levels = [np.flatnonzero(depth == d).astype(np.int32) for d in range(1, depth.max() + 1)]
    self.free_bodies = np.flatnonzero(free_adr >= 0).astype(np.int32)
    self.free_adr = free_adr[self.free_bodies]
    self.body_pos = np.asarray(model.body_pos, np.float32)
    self.body_mat = np.asarray(geo.quat_to_mat(np.asarray(model.body_quat, np.float32)))
    self.adr, self.axis, self.anchor, self.q0, self.active = adr, axis, anchor, q0, active

  def __call__(self, qpos):
    angle = (qpos[self.adr] - self.q0) * self.active  # (nb, S)
    rot = jnp.broadcast_to(jnp.asarray(self.body_mat), (self.nbody, 3, 3))
    pos = jnp.asarray(self.body_pos)
    for k in range(self.adr.shape[1]):
      rj = _axis_rotation(self.axis[:, k], angle[:, k])
      a = self.anchor[:, k]
      pos = pos + _mv(rot, a - _mv(rj, a))
      rot = _mm(rot, rj)
    if len(self.free_bodies):
      fp = jnp.stack([qpos[a:a + 3] for a in self.free_adr])
      fq = jnp.stack([qpos[a + 3:a + 7] for a in self.free_adr])
      pos = pos.at[self.free_bodies].set(fp)
      rot = rot.at[self.free_bodies].set(geo.quat_to_mat(geo.quat_normalize(fq)))
    xpos = jnp.zeros((self.nbody, 3), qpos.dtype)
    xmat = jnp.broadcast_to(jnp.eye(3, dtype=qpos.dtype), (self.nbody, 3, 3))
    for lv in self.levels:
      p = self.parent[lv]
      xpos = xpos.at[lv].set(xpos[p] + _mv(xmat[p], pos[lv]))
      xmat = xmat.at[lv].set(_mm(xmat[p], rot[lv]))
    return xpos, xmat


class IKSolver:
  """Keypoint IK for one compiled model (humanoid scene) and one keypoint set.

  Args:
    model: compiled MuJoCo model (e.g. ``build_scene(SceneOptions(humanoid=..., objects=()))``).
    spec: its :class:`SceneSpec` (root and hinge qpos addresses, body layout).
    keypoints: the K keypoints whose targets :meth:`solve` receives.
    joint_limits: (A, 2) radians; default the model's ranges (``spec.joint_range``).
    settings: :class:`IKSettings`.
  """

  def __init__(self, model: mujoco.MjModel, spec: SceneSpec, keypoints: Sequence[Keypoint],
               joint_limits: np.ndarray | None = None, settings: IKSettings = IKSettings()):
    self.spec = spec
    self.settings = settings
    self.keypoints = tuple(keypoints)
    if not self.keypoints:
      raise ValueError("IKSolver needs at least one keypoint")
    limits = spec.joint_range if joint_limits is None else np.asarray(joint_limits)
    if limits.shape != (spec.action_size, 2):
      raise ValueError(f"joint_limits: shape {limits.shape}, expected ({spec.action_size}, 2)")
    self.joint_limits = limits.astype(np.float32)
    self._fk = TreeFK(model)
    self._qpos0 = jnp.asarray(spec.init_qpos, jnp.float32)
    self._kp_body = jnp.asarray([spec.body_ids[spec.body_index(k.body)] for k in self.keypoints])
    self._kp_off = jnp.asarray([k.offset for k in self.keypoints], jnp.float32)
    self._root = spec.root_qpos_adr
    self._hinge = jnp.asarray(spec.qpos_adr)
    self._layout_ids = jnp.asarray(spec.body_ids)
    self._solve_seq = jax.jit(self._sequence)
    self._solve_batch = jax.jit(jax.vmap(self._sequence))
    self._fk_batch = jax.jit(jax.vmap(self._fk_bodies))
    self._kp_batch = jax.jit(jax.vmap(self._keypoints))

  # -- kinematics --------------------------------------------------------------------------------

  def _qpos(self, root_pos, root_quat, hinges):
    q = self._qpos0.at[self._root:self._root + ROOT_POS_DIM].set(root_pos)
    q = q.at[self._root + ROOT_POS_DIM:self._root + ROOT_POS_DIM + ROOT_QUAT_DIM].set(root_quat)
    return q.at[self._hinge].set(hinges)

  def _kinematics(self, root_pos, root_quat, hinges):
    xpos, xmat = self._fk(self._qpos(root_pos, root_quat, hinges))
    return xpos, xmat

  def _keypoints(self, root_pos, root_quat, hinges):
    xpos, xmat = self._kinematics(root_pos, root_quat, hinges)
    rot = xmat[self._kp_body]  # (K, 3, 3)
    return xpos[self._kp_body] + _mv(rot, self._kp_off)

  def _fk_bodies(self, root_pos, root_quat, hinges):
    xpos, xmat = self._kinematics(root_pos, root_quat, hinges)
    ids = self._layout_ids
    return xpos[ids], geo.quat_canonicalize(geo.mat_to_quat(xmat[ids]))

  # -- one frame ---------------------------------------------------------------------------------

  def _residual(self, delta, state, tgt):
    root_pos, root_quat, hinges = state
    rp = root_pos + delta[:3]
    rq = geo.quat_mul(geo.quat_from_expmap(delta[3:ROOT_DOF]), root_quat)
    hq = hinges + delta[ROOT_DOF:]
    kp = self._keypoints(rp, rq, hq)
    r_kp = (tgt["w"][:, None] * (kp - tgt["p"])).reshape(-1)
    r_rp = tgt["root_w"][0] * (rp - tgt["root_pos"])
    r_rr = tgt["root_w"][1] * geo.quat_diff_expmap(tgt["root_quat"], rq)
    r_post = tgt["post_w"] * (hq - tgt["post_ref"])
    return jnp.concatenate([r_kp, r_rp, r_rr, r_post])

  def _apply(self, state, dx):
    root_pos, root_quat, hinges = state
    lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
    return (root_pos + dx[:3],
            geo.quat_normalize(geo.quat_mul(geo.quat_from_expmap(dx[3:ROOT_DOF]), root_quat)),
            jnp.clip(hinges + dx[ROOT_DOF:], lo, hi))

  def _lm_step(self, state, tgt):
    """One projected LM step with a short backtracking line search.

    Hinges at a limit whose step would leave the range are frozen (their Jacobian columns
    zeroed) and the step is re-solved, so the projection does not undo the other coordinates'
    compensation.  The step length is the best of ``LINE_SEARCH`` fractions (0 included), so
    the cost never increases.
    """
    n = ROOT_DOF + self.spec.action_size
    zero = jnp.zeros((n,), jnp.float32)
    r = self._residual(zero, state, tgt)
    jac = jax.jacfwd(self._residual)(zero, state, tgt)
    eye = self.settings.damping * jnp.eye(n, dtype=jac.dtype)

    def step(j):
      dx = -jnp.linalg.solve(j.T @ j + eye, j.T @ r)
      return jnp.clip(dx, -self.settings.max_step, self.settings.max_step)

    dx = step(jac)
    hinges = state[2]
    lo, hi = self.joint_limits[:, 0], self.joint_limits[:, 1]
    blocked = ((hinges <= lo) & (dx[ROOT_DOF:] < 0)) | ((hinges >= hi) & (dx[ROOT_DOF:] > 0))
    free = jnp.concatenate([jnp.ones((ROOT_DOF,), bool), ~blocked])
    dx = step(jac * free[None, :]) * free
    alphas = jnp.asarray(LINE_SEARCH, jnp.float32)
    costs = jax.vmap(lambda a: jnp.sum(self._residual(a * dx, state, tgt) ** 2))(alphas)
    return self._apply(state, alphas[jnp.argmin(costs)] * dx)

  def _sequence(self, tgt, init):
    """tgt: dict of (T, ...) arrays; init: (root_pos (3,), root_quat (4,), hinges (A,)).

    One scan over frames; frame 0 runs ``first_frame_iterations`` LM steps, the others
    ``iterations`` (a dynamic loop bound, so the LM step is traced and compiled once).
    """
    T = tgt["p"].shape[0]
    iters = jnp.full((T,), self.settings.iterations, jnp.int32).at[0].set(
        self.settings.first_frame_iterations)

    def body(s, xs):
      tg, n = xs
      s = jax.lax.fori_loop(0, n, lambda _, st: self._lm_step(st, tg), s)
      return s, s

    _, (rp, rq, hq) = jax.lax.scan(body, init, (tgt, iters))
    kp = jax.vmap(self._keypoints)(rp, rq, hq)
    err = jnp.linalg.norm(kp - tgt["p"], axis=-1)
    return rp, rq, hq, kp, err

  def solve(self, targets, weights, posture_ref, posture_weights, root_pos_target=None,
            root_quat_target=None, root_weights=(0.0, 0.0), init=None) -> IKResult:
    """Solves one sequence ``(T, ...)`` or a batch of sequences ``(N, T, ...)``.

    Args:
      targets: (..., T, K, 3) keypoint targets (world, m).
      weights: (..., T, K) keypoint weights (0 disables a keypoint on a frame).
      posture_ref: (..., T, A) hinge reference (rad); posture_weights: (A,) or (..., T, A).
      root_pos_target: (..., T, 3) or None; root_quat_target: (..., T, 4) or None.
      root_weights: (2,) or (..., T, 2): weights of the root position / rotation terms.
      init: optional (root_pos (..., 3), root_quat (..., 4), hinges (..., A)) first-frame guess;
        default: the scene's standing pose moved to the first root target (or the first
        keypoint target's horizontal position).
    Returns:
      :class:`IKResult` as numpy arrays.
    """
    targets = jnp.asarray(targets, jnp.float32)
    batch = targets.shape[:-3]
    if len(batch) > 1:
      raise ValueError(f"targets: shape {targets.shape}, expected (T, K, 3) or (N, T, K, 3)")
    T, K = targets.shape[-3], targets.shape[-2]
    A = self.spec.action_size
    if K != len(self.keypoints) or targets.shape[-1] != 3:
      raise ValueError(f"targets: shape {targets.shape}, expected (..., T, {len(self.keypoints)}, 3)")
    lead = batch + (T,)

    def full(x, tail, name, dtype=jnp.float32):
      x = jnp.asarray(x, dtype)
      try:
        return jnp.broadcast_to(x, lead + tail)
      except ValueError:
        raise ValueError(f"{name}: shape {x.shape} does not broadcast to {lead + tail}") from None

    root_q0 = self.spec.init_qpos[self._root + 3:self._root + 7]
    if root_pos_target is None:
      root_pos_target = jnp.zeros(lead + (3,))
    if root_quat_target is None:
      root_quat_target = jnp.broadcast_to(jnp.asarray(root_q0, jnp.float32), lead + (4,))
    tgt = {"p": targets, "w": full(weights, (K,), "weights"),
           "root_pos": full(root_pos_target, (3,), "root_pos_target"),
           "root_quat": full(root_quat_target, (4,), "root_quat_target"),
           "root_w": full(root_weights, (2,), "root_weights"),
           "post_ref": full(posture_ref, (A,), "posture_ref"),
           "post_w": full(posture_weights, (A,), "posture_weights")}
    if init is None:
      use_root = tgt["root_w"][..., 0, :1] > 0
      kp_xy = targets[..., 0, :, :2].mean(-2)
      guess = jnp.concatenate(
          [kp_xy, jnp.full(batch + (1,), self.spec.standing_root_height, jnp.float32)], -1)
      init = (jnp.where(use_root, tgt["root_pos"][..., 0, :], guess),
              tgt["root_quat"][..., 0, :], tgt["post_ref"][..., 0, :])
    else:
      init = tuple(jnp.broadcast_to(jnp.asarray(x, jnp.float32), batch + (n,))
                   for x, n in zip(init, (3, 4, A)))
    fn = self._solve_batch if batch else self._solve_seq
    rp, rq, hq, kp, err = fn(tgt, init)
    return IKResult(*(np.asarray(x) for x in (rp, rq, hq, kp, err)))

  def forward_kinematics(self, root_pos, root_quat, joint_pos) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3), (T, 4), (T, A) -> body_pos (T, B, 3), body_quat (T, B, 4) in the body layout."""
    pos, quat = self._fk_batch(jnp.asarray(root_pos, jnp.float32),
                               jnp.asarray(root_quat, jnp.float32),
                               jnp.asarray(joint_pos, jnp.float32))
    return np.asarray(pos), np.asarray(quat)

  def keypoint_positions(self, root_pos, root_quat, joint_pos) -> np.ndarray:
    """(T, 3), (T, 4), (T, A) -> (T, K, 3) FK of the keypoints."""
    return np.asarray(self._kp_batch(
        jnp.asarray(root_pos, jnp.float32), jnp.asarray(root_quat, jnp.float32),
        jnp.asarray(joint_pos, jnp.float32)))
