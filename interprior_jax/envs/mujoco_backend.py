"""Sim-to-sim: one HOI env stepped in plain MuJoCo (C, CPU) with the env's own logic.

Physics runs in ``mujoco.mj_step`` on an ``MjModel`` carrying the episode's object parameters;
observation, errors, reward and terminations are the *same* jitted functions the MJX env uses
(:meth:`HOIEnv.observe_frame`, :meth:`HOIEnv.errors`, :func:`rewards.compute_reward`,
:func:`terminations.terminations`) applied to a :class:`SimFrame` read from ``MjData``.  Like the
MJX step, rewards read the post-``mj_step`` kinematics and the observation reads a refreshed
kinematics pass (``mj_kinematics``, ``mj_comPos``, ``mj_comVel``).  No auto-reset: ``done`` is
reported and the caller decides.  Impulses are not applied (replay a policy under nominal
conditions, or set ``xfrc_applied`` on :attr:`data` yourself).
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from interprior_jax.envs import perturbations, rewards, terminations
from interprior_jax.envs.hoi_env import HOIEnv
from interprior_jax.envs.sim_frame import (SimFrame, mujoco_contact_normal_forces,
                                           sim_frame_from_arrays)


class MujocoReplay:
  """Single-env MuJoCo C stepping of an :class:`HOIEnv` (see the module docstring)."""

  def __init__(self, env: HOIEnv):
    self.env = env
    self.model = copy.deepcopy(env.scene.model)
    self.data = mujoco.MjData(self.model)
    self._max_contacts = 256
    self._obs = jax.jit(env.observe_frame)
    self._errors = jax.jit(env.errors)
    self._points = jax.jit(env.surface_points)
    self._frame = jax.jit(env.library.frame)
    self._targets = jax.jit(env.pd_targets)
    self.clip = 0
    self.time = 0.0
    self.steps = 0
    self.params = perturbations.nominal_params()
    self.hand_loss = jnp.zeros(2, jnp.int32)

  # -- state -------------------------------------------------------------------------------------

  def _apply_params(self, p: perturbations.ObjectParams) -> None:
    """Writes the object parameters into the MjModel (numpy mirror of apply_object_params)."""
    b = self.env.obj_base
    m, g = self.model, b.geom_ids
    s, ms = float(p.size_scale), float(p.mass_scale)
    m.geom_friction[g] = b.geom_friction * float(p.friction_scale)
    m.body_mass[b.body_id] = b.mass * ms * s ** 3
    m.body_inertia[b.body_id] = b.inertia * ms * float(p.inertia_scale) * s ** 5
    m.body_ipos[b.body_id] = b.ipos * s + np.asarray(p.com_offset)
    if not b.has_mesh:
      m.geom_size[g] = b.geom_size * s
      m.geom_pos[g] = b.geom_pos * s
      m.geom_rbound[g] = b.geom_rbound * s
      m.geom_aabb[g] = b.geom_aabb * s

  def set_state(self, qpos, qvel, clip: int, time_s: float, params, ctrl=None) -> np.ndarray:
    """Starts from an explicit state (e.g. one env of an MJX ``State``); returns the obs."""
    self.params = jax.tree_util.tree_map(jnp.asarray, params)
    self._apply_params(self.params)
    d = self.data
    mujoco.mj_resetData(self.model, d)
    d.qpos[:] = np.asarray(qpos)
    d.qvel[:] = np.asarray(qvel)
    d.ctrl[:] = np.asarray(ctrl) if ctrl is not None else np.asarray(self.env._d0.ctrl)
    mujoco.mj_forward(self.model, d)
    self.clip, self.time, self.steps = int(clip), float(time_s), 0
    self.hand_loss = jnp.zeros(2, jnp.int32)
    return self._observe(contacts_valid=False)

  def set_from_mjx(self, state, index: int | None = None) -> np.ndarray:
    """Copies env ``index`` of a (batched) MJX ``State`` (or the unbatched state)."""
    pick = (lambda x: x) if index is None else (lambda x: x[index])
    s = jax.tree_util.tree_map(pick, state)
    return self.set_state(s.pipeline_state.qpos, s.pipeline_state.qvel, int(s.info["clip"]),
                          float(s.info["time"]), s.info["obj_params"], s.pipeline_state.ctrl)

  # -- stepping ----------------------------------------------------------------------------------

  def frame(self) -> SimFrame:
    d, n = self.data, self.data.ncon
    geom = np.zeros((self._max_contacts, 2), np.int32)
    dist = np.full((self._max_contacts,), np.inf, np.float32)
    force = np.zeros((self._max_contacts,), np.float32)
    k = min(n, self._max_contacts)
    if k:
      geom[:k] = d.contact.geom[:k]
      dist[:k] = d.contact.dist[:k]
      force[:k] = mujoco_contact_normal_forces(d, self.env.idx)[:k]
    return sim_frame_from_arrays(d.qpos, d.qvel, d.xpos, d.xquat, d.cvel, d.subtree_com, geom,
                                 dist, self.env.idx, self.env.cfg.contact_dist, force)

  def _observe(self, contacts_valid: bool) -> np.ndarray:
    return np.asarray(self._obs(self.frame(), jnp.int32(self.clip), jnp.float32(self.time),
                                self.params, jnp.bool_(contacts_valid)))

  def step(self, action) -> tuple[np.ndarray, float, bool, dict]:
    """One policy step: ``(obs, reward, done, metrics)``."""
    env, m, d = self.env, self.model, self.data
    qvel_prev = d.qvel.copy()
    d.ctrl[env.spec.actuator_ids] = np.asarray(
        self._targets(jnp.asarray(action), jnp.int32(self.clip), jnp.float32(self.time)),
        np.float64)
    for _ in range(int(env.cfg.substeps)):
      mujoco.mj_step(m, d)
    self.time += env.dt
    self.steps += 1
    clip = jnp.int32(self.clip)
    ref = self._frame(clip, jnp.float32(self.time))
    sim = self.frame()
    e = self._errors(sim, ref, self._points(clip, self.params), jnp.asarray(qvel_prev))
    self.hand_loss = terminations.update_hand_loss(self.hand_loss, e)
    tin = terminations.TermInputs(root_height=sim.root_pos[2], errors=e,
                                  ref_obj_contact=ref.obj_contact, hand_loss_steps=self.hand_loss)
    term, flags = terminations.terminations(tin, env.cfg.termination)
    term = bool(term) and self.steps > int(env.cfg.termination.grace_steps)
    reward, terms = rewards.compute_reward(e, jnp.bool_(term), env.cfg.reward)
    ended = (self.time + env.dt > float(env.library.duration(clip))
             or self.steps >= int(env.cfg.max_episode_steps))
    mujoco.mj_kinematics(m, d)
    mujoco.mj_comPos(m, d)
    mujoco.mj_comVel(m, d)
    metrics = {k: float(v) for k, v in terms.items()}
    metrics.update({k: float(v) * term for k, v in flags.items()})
    metrics.update(e_h=float(e.e_h), e_o=float(e.e_o), terminated=float(term),
                   truncated=float(ended and not term))
    return self._observe(contacts_valid=True), float(reward), term or ended, metrics
