"""Keypoint IK: tree FK equals MuJoCo, analytic Jacobian equals autodiff, reaches reachable targets,
respects limits, batches (fixed shapes and continuous batching of mixed lengths)."""

import dataclasses

import jax
import mujoco
import numpy as np
import pytest

from interprior_jax.assets.scene import SceneOptions, build_scene
from interprior_jax.motion import ik

KEYPOINTS = ("L_Ankle", "R_Ankle", "L_Toe", "R_Toe", "L_Wrist", "R_Wrist", "Head", "L_Elbow",
             "R_Elbow", "L_Knee", "R_Knee")
T = 6


@pytest.fixture(scope="module")
def setup():
  scene = build_scene(SceneOptions(humanoid="smpl", objects=()))
  spec = scene.spec
  limits = np.tile(np.radians([-60.0, 60.0]).astype(np.float32), (spec.action_size, 1))
  solver = ik.IKSolver(scene.model, spec, [ik.Keypoint(n) for n in KEYPOINTS], limits,
                       ik.IKSettings(iterations=8, first_frame_iterations=30))
  rng = np.random.default_rng(0)
  # A smooth reachable trajectory: FK of smoothly varying joints within the limits.
  base = rng.uniform(-0.4, 0.4, spec.action_size)
  drift = rng.uniform(-0.02, 0.02, spec.action_size)
  q = (base + np.arange(T)[:, None] * drift).astype(np.float32)
  rp = np.tile(spec.init_qpos[:3], (T, 1)) + np.arange(T)[:, None] * [0.01, 0.0, 0.0]
  rq = np.tile([1.0, 0.0, 0.0, 0.0], (T, 1))
  targets = solver.keypoint_positions(rp, rq, q)
  return scene, solver, q, rp, rq, targets


def _solve(solver, spec, targets, rp, rq):
  lead = targets.shape[:-2]
  return solver.solve(targets, np.ones(lead + (len(KEYPOINTS),)), np.zeros(lead + (spec.action_size,)),
                      1e-3 * np.ones(spec.action_size), root_pos_target=rp, root_quat_target=rq,
                      root_weights=(1.0, 1.0))


def test_tree_fk_matches_mujoco(setup):
  scene, solver, *_ = setup
  m, d = scene.model, mujoco.MjData(scene.model)
  rng = np.random.default_rng(1)
  q = scene.spec.init_qpos.copy()
  q[scene.spec.qpos_adr] = rng.normal(0, 0.6, scene.spec.action_size)
  quat = rng.normal(size=4)
  q[3:7] = quat / np.linalg.norm(quat)
  d.qpos[:] = q
  mujoco.mj_kinematics(m, d)
  xpos, xmat = ik.TreeFK(m)(np.asarray(q, np.float32))
  np.testing.assert_allclose(np.asarray(xpos), d.xpos, atol=1e-5)
  np.testing.assert_allclose(np.asarray(xmat).reshape(-1, 9), d.xmat, atol=1e-5)


def test_reaches_reachable_targets_and_limits(setup):
  scene, solver, q, rp, rq, targets = setup
  res = _solve(solver, scene.spec, targets, rp, rq)
  assert res.keypoint_err.max() < 1e-3, res.keypoint_err.max()
  lo, hi = solver.joint_limits[:, 0], solver.joint_limits[:, 1]
  assert np.all(res.joint_pos >= lo - 1e-6) and np.all(res.joint_pos <= hi + 1e-6)
  # Unreachable demand (a wrist 3 m away): the solution still stays inside the limits.
  far = targets.copy()
  far[:, KEYPOINTS.index("L_Wrist"), 2] += 3.0
  res2 = _solve(solver, scene.spec, far, rp, rq)
  assert np.all(res2.joint_pos >= lo - 1e-6) and np.all(res2.joint_pos <= hi + 1e-6)
  assert res2.keypoint_err[:, KEYPOINTS.index("L_Wrist")].min() > 1.0


def test_batched_equals_single(setup):
  scene, solver, q, rp, rq, targets = setup
  single = _solve(solver, scene.spec, targets, rp, rq)
  shifted = targets + np.array([0.3, -0.2, 0.0])
  batch = _solve(solver, scene.spec, np.stack([targets, shifted]),
                 np.stack([rp, rp + [0.3, -0.2, 0.0]]), np.stack([rq, rq]))
  np.testing.assert_allclose(batch.joint_pos[0], single.joint_pos, atol=1e-4)
  np.testing.assert_allclose(batch.root_pos[1] - batch.root_pos[0], np.tile([0.3, -0.2, 0.0], (T, 1)),
                             atol=1e-4)
  body_pos, body_quat = solver.forward_kinematics(single.root_pos, single.root_quat,
                                                  single.joint_pos)
  assert body_pos.shape == (T, scene.spec.num_bodies, 3)
  np.testing.assert_allclose(np.linalg.norm(body_quat, axis=-1), 1.0, atol=1e-5)


def test_analytic_jacobian_matches_autodiff(setup):
  scene, solver, q, rp, rq, targets = setup
  auto = ik.IKSolver(scene.model, scene.spec, solver.keypoints, solver.joint_limits,
                     dataclasses.replace(solver.settings, jacobian="autodiff"))
  rng = np.random.default_rng(2)
  A = scene.spec.action_size
  quat = rng.normal(size=4)
  state = (rp[0] + [0.1, -0.2, 0.05], quat / np.linalg.norm(quat), q[0] + rng.normal(0, 0.3, A))
  state = tuple(np.asarray(x, np.float32) for x in state)
  tgt = {"p": targets[0] + rng.normal(0, 0.05, targets[0].shape), "w": rng.uniform(1, 3, len(KEYPOINTS)),
         "root_pos": rp[0], "root_quat": np.array([0.8, 0.0, 0.6, 0.0]), "root_w": np.array([2.0, 1.5]),
         "post_ref": np.zeros(A), "post_w": np.full(A, 0.1)}
  tgt = {k: np.asarray(v, np.float32) for k, v in tgt.items()}
  r_a, j_a = jax.jit(solver._residual_jacobian)(state, tgt)  # pylint: disable=protected-access
  r_d, j_d = jax.jit(auto._residual_jacobian)(state, tgt)  # pylint: disable=protected-access
  np.testing.assert_allclose(r_a, r_d, atol=1e-5)
  np.testing.assert_allclose(j_a, j_d, atol=1e-4)
  assert np.abs(j_d).max() > 0.5  # a real, non-trivial Jacobian


def test_solve_many_lengths_and_lane_independence(setup):
  scene, solver, q, rp, rq, targets = setup
  A, K = scene.spec.action_size, len(KEYPOINTS)

  def problem(n, shift):
    return ik.IKProblem(targets[:n] + shift, np.ones((n, K)), np.zeros((n, A)),
                        1e-3 * np.ones(A), rp[:n] + shift, rq[:n], np.ones(2))

  shift = np.array([0.3, -0.2, 0.0])
  probs = [problem(T, 0.0), problem(T - 3, shift), problem(T - 1, -shift)]
  res = solver.solve_many(probs, slots=2, chunk=4)
  assert [r.joint_pos.shape[0] for r in res] == [T, T - 3, T - 1]
  for r in res:
    assert r.keypoint_err.max() < 1e-3, r.keypoint_err.max()
    pos, quat = solver.forward_kinematics(r.root_pos, r.root_quat, r.joint_pos)
    np.testing.assert_allclose(r.body_pos, pos, atol=1e-5)
    np.testing.assert_allclose(r.body_quat, quat, atol=1e-5)
  # A sequence's result does not depend on what shares the batch (or on its lane).
  alone = solver.solve_many(probs[1:2], slots=2, chunk=4)[0]
  np.testing.assert_array_equal(alone.joint_pos, res[1].joint_pos)
  with pytest.raises(ValueError, match="problem 0: targets"):
    solver.solve_many([dataclasses.replace(probs[0], targets=targets[:, :2])])
