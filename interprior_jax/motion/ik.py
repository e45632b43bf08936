"""Batched keypoint inverse kinematics in JAX over MuJoCo-model kinematics (any of our humanoid models).

Problem, per frame ``t`` (one free root + ``A`` hinges, ``K`` keypoints)::

    min_q  sum_k w_k^2 |FK_k(q) - p_k|^2                        keypoints (body + local offset)
         + w_rp^2 |root_pos - r_t|^2 + w_rr^2 |log(R_t^T R)|^2   root pose (optional, w = 0 off)
         + sum_j v_j^2 (q_j - qref_j)^2                          posture regulariser
    s.t.   lo <= q_hinge <= hi                                   joint limits (by clipping)

solved by damped least squares (Levenberg-Marquardt with a fixed damping ``lambda``):
``(J^T J + lambda I) dx = -J^T r`` over :class:`TreeFK` (the model's kinematic tree in JAX, equal
to ``mj_kinematics``); the Jacobian is analytic (hinge column ``axis x (point - anchor)`` from
one FK pass), ``jax.jacfwd`` through the FK being the tested reference (``IKSettings.jacobian``).
The root rotation is updated on the manifold (``R <- exp(dw) R``), hinges are clipped to their
limits after each step and every step is clipped to ``max_step`` per coordinate.

Frames are solved in sequence with ``lax.scan``, each warm-started from the previous frame's
solution (temporal coherence, few iterations per frame); the first frame gets more iterations.
Independent sequences (clips) are batched with ``vmap``: :meth:`IKSolver.solve` for equal-length
batches (one program per shape), :meth:`IKSolver.solve_many` for any number of sequences of any
lengths with two programs (fixed lanes x frame chunks, continuous batching).

Why this and not mink (QP-based differential IK over MuJoCo C): this solver runs batched over many
clips in one XLA program (CPU or accelerator), has no QP/solver dependency, is differentiable
end-to-end, and works unchanged for every free+hinge MuJoCo tree (smpl, smplx, g1): it only needs body
ids, local offsets and qpos addresses, all taken from :class:`~interprior_jax.assets.scene.SceneSpec`.
Joint limits are handled by projection (clipping) instead of QP inequality constraints; with
warm starts and small steps that is sufficient for kinematic data generation.
"""

from __future__ import annotations

import dataclasses
import functools
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
FK_FRAME_BUCKET = 64  # forward_kinematics / keypoint_positions pad T to a multiple of this


@dataclasses.dataclass(frozen=True)
class IKSettings:
  """Solver knobs.

  Attributes:
    iterations: LM iterations per frame (warm-started from the previous frame).
    first_frame_iterations: LM iterations for the first frame of a sequence.
    damping: Levenberg-Marquardt damping added to the normal equations' diagonal (the root's
      6 coordinates, and the hinges unless ``hinge_damping`` is given).
    hinge_damping: per-hinge damping (A,) replacing ``damping`` on the hinges (None: all
      ``damping``).  Frames are warm-started from the previous one, so the damping is also a
      temporal smoothing (e.g. of a redundant trunk chain that would otherwise flip between
      near-equivalent solutions from frame to frame).
    max_step: per-coordinate step clip (rad for hinges and root rotation, m for root position).
    jacobian: 'analytic' (hinge columns ``axis x (x - anchor)`` from one FK pass; default) or
      'autodiff' (``jax.jacfwd`` through FK: one tangent per dof, ~7x the FK work; the reference
      the analytic one is tested against).
  """
  iterations: int = 4
  first_frame_iterations: int = 60
  damping: float = 1e-3
  hinge_damping: tuple[float, ...] | None = None
  max_step: float = 0.35
  jacobian: str = "analytic"


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
    body_pos / body_quat: (..., T, B, 3) / (..., T, B, 4) FK of the scene's body layout at the
      solution (filled by :meth:`IKSolver.solve_many`; None from :meth:`IKSolver.solve`).
  """
  root_pos: np.ndarray
  root_quat: np.ndarray
  joint_pos: np.ndarray
  keypoint_pos: np.ndarray
  keypoint_err: np.ndarray
  body_pos: np.ndarray | None = None
  body_quat: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class IKProblem:
  """One sequence for :meth:`IKSolver.solve_many` (same meaning as :meth:`IKSolver.solve`'s args).

  Attributes:
    targets: (T, K, 3); weights: (T, K); posture_ref: (T, A); posture_weights: (A,) or (T, A);
    root_pos_target: (T, 3); root_quat_target: (T, 4); root_weights: (2,) or (T, 2).
  """
  targets: np.ndarray
  weights: np.ndarray
  posture_ref: np.ndarray
  posture_weights: np.ndarray
  root_pos_target: np.ndarray
  root_quat_target: np.ndarray
  root_weights: np.ndarray


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
    xpos, xmat, _, _ = self.frames(qpos)
    return xpos, xmat

  def frames(self, qpos):
    """``qpos (nq,) -> (xpos (nb, 3), xmat (nb, 3, 3), hinge_axis (nb, S, 3), hinge_anchor (nb, S, 3))``.

    ``hinge_axis`` / ``hinge_anchor``: world axis and anchor of hinge slot ``S`` of each body (as
    MuJoCo's ``xaxis`` / ``xanchor``; padded slots hold finite junk), the ingredients of the
    analytic Jacobian ``d x / d q_j = axis_j x (x - anchor_j)``.
    """
    angle = (qpos[self.adr] - self.q0) * self.active  # (nb, S)
    rot = jnp.broadcast_to(jnp.asarray(self.body_mat), (self.nbody, 3, 3))
    pos = jnp.asarray(self.body_pos)
    axes, anchors = [], []
    for k in range(self.adr.shape[1]):
      a = self.anchor[:, k]
      axes.append(_mv(rot, jnp.asarray(self.axis[:, k])))  # parent frame, before this hinge
      anchors.append(pos + _mv(rot, a))
      rj = _axis_rotation(self.axis[:, k], angle[:, k])
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
    pmat, ppos = xmat[self.parent], xpos[self.parent]  # (nb, 3, 3), (nb, 3); world: own parent 0
    axis = jnp.stack([_mv(pmat, x) for x in axes], 1)
    anchor = jnp.stack([ppos + _mv(pmat, x) for x in anchors], 1)
    return xpos, xmat, axis, anchor


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
    if settings.jacobian not in ("analytic", "autodiff"):
      raise ValueError(f"IKSettings.jacobian: {settings.jacobian!r}, expected 'analytic' or 'autodiff'")
    # Analytic Jacobian tables: hinge -> (body, slot) of TreeFK; keypoint x hinge ancestry mask.
    slot_of = {int(self._fk.adr[b, k]): (b, k) for b, k in zip(*np.nonzero(self._fk.active))}
    try:
      bs = np.asarray([slot_of[int(a)] for a in spec.qpos_adr], np.int32).reshape(-1, 2)
    except KeyError as e:
      raise ValueError(f"IKSolver: actuated qpos address {e} is not a hinge of the model") from None
    self._h_body, self._h_slot = bs[:, 0], bs[:, 1]
    mask = np.zeros((len(self.keypoints), spec.action_size), np.float32)
    parent = model.body_parentid
    for i, b in enumerate(np.asarray(self._kp_body)):
      chain = {int(b)}
      while b != 0:
        b = parent[b]
        chain.add(int(b))
      mask[i] = np.isin(self._h_body, list(chain))
    self._kp_hinge_mask = mask
    self._first_batch = jax.jit(jax.vmap(self._first_frame))
    self._chunk_batch = jax.jit(jax.vmap(self._chunk))
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

  def _residual_jacobian(self, state, tgt):
    """Residual at ``delta = 0`` (M,) and its Jacobian (M, 6 + A) w.r.t. ``delta``."""
    if self.settings.jacobian == "autodiff":
      zero = jnp.zeros((ROOT_DOF + self.spec.action_size,), jnp.float32)
      return self._residual(zero, state, tgt), jax.jacfwd(self._residual)(zero, state, tgt)
    root_pos, root_quat, hinges = state
    xpos, xmat, axis, anchor = self._fk.frames(self._qpos(root_pos, root_quat, hinges))
    kp = xpos[self._kp_body] + _mv(xmat[self._kp_body], self._kp_off)  # (K, 3)
    K, A = kp.shape[0], self.spec.action_size
    eye3 = jnp.eye(3, dtype=kp.dtype)
    d_pos = jnp.broadcast_to(eye3, (K, 3, 3))  # d kp / d root translation
    # R <- exp(dw) R rotates every point about the root: d kp / d dw_i = e_i x (kp - root_pos).
    d_rot = jnp.swapaxes(jnp.cross(eye3[None], (kp - root_pos)[:, None, :]), 1, 2)
    h_axis, h_anchor = axis[self._h_body, self._h_slot], anchor[self._h_body, self._h_slot]
    d_hinge = jnp.cross(h_axis[None], kp[:, None] - h_anchor[None]) * self._kp_hinge_mask[..., None]
    j_kp = tgt["w"][:, None, None] * jnp.concatenate(
        [d_pos, d_rot, jnp.swapaxes(d_hinge, 1, 2)], -1)  # (K, 3, 6 + A)

    def root_rot(dw):
      return tgt["root_w"][1] * geo.quat_diff_expmap(
          tgt["root_quat"], geo.quat_mul(geo.quat_from_expmap(dw), root_quat))

    zero3 = jnp.zeros((3,), kp.dtype)
    r_rr, j_rr = root_rot(zero3), jax.jacfwd(root_rot)(zero3)
    z = functools.partial(jnp.zeros, dtype=kp.dtype)
    jac = jnp.concatenate([
        j_kp.reshape(3 * K, ROOT_DOF + A),
        jnp.concatenate([tgt["root_w"][0] * eye3, z((3, 3 + A))], 1),
        jnp.concatenate([z((3, 3)), j_rr, z((3, A))], 1),
        jnp.concatenate([z((A, ROOT_DOF)), jnp.diag(tgt["post_w"])], 1)], 0)
    res = jnp.concatenate([(tgt["w"][:, None] * (kp - tgt["p"])).reshape(-1),
                           tgt["root_w"][0] * (root_pos - tgt["root_pos"]), r_rr,
                           tgt["post_w"] * (hinges - tgt["post_ref"])])
    return res, jac

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
    r, jac = self._residual_jacobian(state, tgt)
    hinge = (jnp.full((self.spec.action_size,), self.settings.damping, jac.dtype)
             if self.settings.hinge_damping is None
             else jnp.asarray(self.settings.hinge_damping, jac.dtype))
    eye = jnp.diag(jnp.concatenate([jnp.full((ROOT_DOF,), self.settings.damping, jac.dtype),
                                    hinge]))

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

  def _first_frame(self, tg0, init):
    """Frame 0 of a sequence: ``first_frame_iterations`` LM steps from ``init`` (static count)."""
    return jax.lax.fori_loop(0, self.settings.first_frame_iterations,
                             lambda _, st: self._lm_step(st, tg0), init)

  def _chunk(self, state, tgt):
    """``C`` consecutive frames (tgt: dict of (C, ...)) warm-started from ``state``, each with
    ``iterations`` LM steps; returns the last state and per-frame outputs incl. body FK."""

    def body(s, tg):
      s = jax.lax.fori_loop(0, self.settings.iterations, lambda _, st: self._lm_step(st, tg), s)
      return s, s

    last, (rp, rq, hq) = jax.lax.scan(body, state, tgt)
    kp = jax.vmap(self._keypoints)(rp, rq, hq)
    err = jnp.linalg.norm(kp - tgt["p"], axis=-1)
    bpos, bquat = jax.vmap(self._fk_bodies)(rp, rq, hq)
    return last, (rp, rq, hq, kp, err, bpos, bquat)

  def _pack(self, targets, weights, posture_ref, posture_weights, root_pos_target,
            root_quat_target, root_weights, init):
    """Validated, broadcast numpy float32 targets dict (..., T, ...) and first-frame init."""
    targets = np.asarray(targets, np.float32)
    batch = targets.shape[:-3]
    if len(batch) > 1:
      raise ValueError(f"targets: shape {targets.shape}, expected (T, K, 3) or (N, T, K, 3)")
    T, K = targets.shape[-3], targets.shape[-2]
    A = self.spec.action_size
    if K != len(self.keypoints) or targets.shape[-1] != 3:
      raise ValueError(f"targets: shape {targets.shape}, expected (..., T, {len(self.keypoints)}, 3)")
    lead = batch + (T,)

    def full(x, tail, name):
      x = np.asarray(x, np.float32)
      try:
        return np.broadcast_to(x, lead + tail)
      except ValueError:
        raise ValueError(f"{name}: shape {x.shape} does not broadcast to {lead + tail}") from None

    root_q0 = self.spec.init_qpos[self._root + 3:self._root + 7]
    if root_pos_target is None:
      root_pos_target = np.zeros(lead + (3,), np.float32)
    if root_quat_target is None:
      root_quat_target = np.broadcast_to(np.asarray(root_q0, np.float32), lead + (4,))
    tgt = {"p": targets, "w": full(weights, (K,), "weights"),
           "root_pos": full(root_pos_target, (3,), "root_pos_target"),
           "root_quat": full(root_quat_target, (4,), "root_quat_target"),
           "root_w": full(root_weights, (2,), "root_weights"),
           "post_ref": full(posture_ref, (A,), "posture_ref"),
           "post_w": full(posture_weights, (A,), "posture_weights")}
    if init is None:
      use_root = tgt["root_w"][..., 0, :1] > 0
      kp_xy = targets[..., 0, :, :2].mean(-2)
      guess = np.concatenate(
          [kp_xy, np.full(batch + (1,), self.spec.standing_root_height, np.float32)], -1)
      init = (np.where(use_root, tgt["root_pos"][..., 0, :], guess),
              tgt["root_quat"][..., 0, :], tgt["post_ref"][..., 0, :])
    else:
      init = tuple(np.broadcast_to(np.asarray(x, np.float32), batch + (n,))
                   for x, n in zip(init, (3, 4, A)))
    return tgt, tuple(np.asarray(x, np.float32) for x in init)

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
      :class:`IKResult` as numpy arrays.  One compilation per input shape; for many sequences
      of different lengths use :meth:`solve_many`.
    """
    tgt, init = self._pack(targets, weights, posture_ref, posture_weights, root_pos_target,
                           root_quat_target, root_weights, init)
    fn = self._solve_batch if tgt["p"].ndim == 4 else self._solve_seq
    rp, rq, hq, kp, err = fn(tgt, init)
    return IKResult(*(np.asarray(x) for x in (rp, rq, hq, kp, err)))

  def solve_many(self, problems: Sequence[IKProblem], slots: int = 8,
                 chunk: int = 32) -> list[IKResult]:
    """Solves sequences of any lengths with two compiled programs (continuous batching).

    ``slots`` lanes advance ``chunk`` frames per call of one jitted ``vmap`` x ``scan``; a lane
    whose sequence ends takes the next one (longest first), so padding is at most ``chunk - 1``
    frames per sequence plus the idle lanes of the last calls.  Frame 0 of every sequence gets
    ``first_frame_iterations`` LM steps in a batched call before (then ``iterations`` more like
    every frame).  A sequence's result does not depend on the others (lanes are independent).

    Returns one :class:`IKResult` per problem (shapes ``(T, ...)``, ``body_pos`` / ``body_quat``
    filled), in the order of ``problems``.
    """
    if slots < 1 or chunk < 1:
      raise ValueError(f"solve_many: slots={slots}, chunk={chunk}; both must be >= 1")
    packed = []
    for i, pr in enumerate(problems):
      try:
        packed.append(self._pack(pr.targets, pr.weights, pr.posture_ref, pr.posture_weights,
                                 pr.root_pos_target, pr.root_quat_target, pr.root_weights, None))
      except ValueError as e:
        raise ValueError(f"solve_many: problem {i}: {e}") from None
      if packed[-1][0]["p"].ndim != 3:
        raise ValueError(f"solve_many: problem {i}: targets must be (T, K, 3)")
    n = len(packed)
    if not n:
      return []
    keys = tuple(packed[0][0])
    lengths = [p[0]["p"].shape[0] for p in packed]

    def stack(idx, frames):
      """(slots, len(frames), ...) targets of problems ``idx`` (frames clipped to each end)."""
      return {k: np.stack([packed[i][0][k][np.minimum(frames, lengths[i] - 1)] for i in idx])
              for k in keys}

    # First frames of all problems, ``slots`` at a time (padded with the last problem).
    first = []
    for s0 in range(0, n, slots):
      idx = [min(i, n - 1) for i in range(s0, s0 + slots)]
      tg0 = {k: v[:, 0] for k, v in stack(idx, np.zeros(1, np.int64)).items()}
      init = tuple(np.stack([packed[i][1][j] for i in idx]) for j in range(3))
      out = jax.device_get(self._first_batch(tg0, init))
      first += [tuple(x[b] for x in out) for b in range(min(slots, n - s0))]

    queue = sorted(range(n), key=lambda i: -lengths[i])
    lane_prob, lane_t = [-1] * slots, [0] * slots
    state = [np.stack([first[queue[0]][j]] * slots) for j in range(3)]
    parts: list[list] = [[] for _ in range(n)]
    steps = np.arange(chunk)
    while True:
      for s in range(slots):
        if lane_prob[s] < 0 or lane_t[s] >= lengths[lane_prob[s]]:
          lane_prob[s], lane_t[s] = (queue.pop(0), 0) if queue else (-1, 0)
          if lane_prob[s] >= 0:
            for j in range(3):
              state[j][s] = first[lane_prob[s]][j]
      active = [s for s in range(slots) if lane_prob[s] >= 0]
      if not active:
        break
      src = [s if lane_prob[s] >= 0 else active[0] for s in range(slots)]  # idle lanes copy one
      for j in range(3):
        state[j] = state[j][src]
      probs = [lane_prob[s] for s in src]
      tgt = {k: np.stack([packed[p][0][k][np.minimum(lane_t[s] + steps, lengths[p] - 1)]
                          for s, p in zip(src, probs)]) for k in keys}
      last, out = jax.device_get(self._chunk_batch(tuple(state), tgt))
      state = [np.array(x) for x in last]
      for s in active:
        p, t = lane_prob[s], lane_t[s]
        parts[p].append(tuple(x[s, :lengths[p] - t] for x in out))
        lane_t[s] += chunk
    return [IKResult(*(np.concatenate(c, 0) for c in zip(*pp))) for pp in parts]

  def _padded(self, fn, root_pos, root_quat, joint_pos):
    """Runs a frame-wise jitted ``fn`` on (T, ...) inputs padded to a multiple of ``FK_FRAME_BUCKET``
    frames (a handful of compilations for any T instead of one per length)."""
    T = np.shape(root_pos)[0]
    n = max(FK_FRAME_BUCKET, -(-T // FK_FRAME_BUCKET) * FK_FRAME_BUCKET)
    args = [np.asarray(x, np.float32) for x in (root_pos, root_quat, joint_pos)]
    args = [np.concatenate([x, np.repeat(x[-1:] if T else np.zeros((1,) + x.shape[1:], np.float32),
                                         n - T, 0)]) for x in args]
    return [np.asarray(x)[:T] for x in jax.tree_util.tree_leaves(fn(*args))]

  def forward_kinematics(self, root_pos, root_quat, joint_pos) -> tuple[np.ndarray, np.ndarray]:
    """(T, 3), (T, 4), (T, A) -> body_pos (T, B, 3), body_quat (T, B, 4) in the body layout."""
    pos, quat = self._padded(self._fk_batch, root_pos, root_quat, joint_pos)
    return pos, quat

  def keypoint_positions(self, root_pos, root_quat, joint_pos) -> np.ndarray:
    """(T, 3), (T, 4), (T, A) -> (T, K, 3) FK of the keypoints."""
    return self._padded(self._kp_batch, root_pos, root_quat, joint_pos)[0]
