"""Sim-to-sim: one HOI env stepped in plain MuJoCo C, one state at a time.

A thin single-env front end over the env's MuJoCo C physics backend (``config.env.impl = "c"``,
:mod:`interprior_jax.envs.c_physics`): the physics is ``mj_step`` (through ``mujoco.batch``), and
observation, errors, reward and terminations are the env's own functions, so there is one C path
and one :class:`SimFrame` contract for every backend.  An MJX env is mirrored by a copy of it on the
"c" backend (same scene, clips and config otherwise).  Like the env, a finished episode auto-resets:
``step`` reports ``done`` and the next call continues from the fresh episode.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import mujoco
import numpy as np

from interprior_jax.envs import contract
from interprior_jax.envs.hoi_env import HOIEnv
from interprior_jax.envs.sim_frame import SimFrame


class MujocoReplay:
  """Single-env MuJoCo C stepping of an :class:`HOIEnv` (see the module docstring)."""

  def __init__(self, env: HOIEnv):
    if env.backend != "c":
      cfg = ml_collections.ConfigDict(env.cfg.to_dict())
      cfg.impl = "c"
      env = HOIEnv(cfg, env.scene, env.library, np.asarray(env.clip_scale),
                   np.asarray(env.clip_density))
    self.env = env
    self.model = env.scene.model
    self._reset_to = jax.jit(env.reset_to)
    self._step = jax.jit(env.step)
    self._frame = jax.jit(env.physics.frame)
    self._start = jax.jit(self._start_state)
    self.state = self._reset_to(jax.random.PRNGKey(0), jnp.int32(0), jnp.float32(0.0))

  def _start_state(self, key, qpos, qvel, clip, time, params, ctrl):
    env = self.env
    s = env.reset_to(key, clip, time)
    d = env._reset_data(qpos, qvel, params).replace(ctrl=ctrl)
    info = dict(s.info, obj_params=params)
    obs = env._observe(d, clip, time, params, contacts_valid=jnp.zeros((), bool))
    if "final_obs" in info:
      info["final_obs"] = obs
    return s.replace(pipeline_state=d, obs=obs, info=info)

  # -- state -------------------------------------------------------------------------------------

  def set_state(self, qpos, qvel, clip: int, time_s: float, params, ctrl=None,
                seed: int = 0) -> np.ndarray:
    """Starts from an explicit state (e.g. one env of an MJX ``State``); returns the obs."""
    ctrl = self.env.init_data().ctrl if ctrl is None else ctrl
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    self.state = self._start(jax.random.PRNGKey(seed), f32(qpos), f32(qvel), jnp.int32(clip),
                             f32(time_s), jax.tree_util.tree_map(f32, params), f32(ctrl))
    return np.asarray(self.state.obs)

  def set_from_mjx(self, state, index: int | None = None) -> np.ndarray:
    """Copies env ``index`` of a (batched) MJX ``State`` (or the unbatched state)."""
    pick = (lambda x: x) if index is None else (lambda x: x[index])
    s = jax.tree_util.tree_map(pick, state)
    return self.set_state(s.pipeline_state.qpos, s.pipeline_state.qvel, int(s.info[contract.INFO_CLIP]),
                          float(s.info[contract.INFO_TIME]), s.info[contract.INFO_OBJ_PARAMS], s.pipeline_state.ctrl)

  @property
  def data(self) -> mujoco.MjData:
    """An ``MjData`` at the current state (forwarded; for rendering or inspection)."""
    d = mujoco.MjData(self.model)
    ps = self.state.pipeline_state
    d.qpos[:] = np.asarray(ps.qpos, np.float64)
    d.qvel[:] = np.asarray(ps.qvel, np.float64)
    d.ctrl[:] = np.asarray(ps.ctrl, np.float64)
    mujoco.mj_forward(self.model, d)
    return d

  # -- stepping ----------------------------------------------------------------------------------

  def frame(self) -> SimFrame:
    return self._frame(self.state.pipeline_state)

  def step(self, action) -> tuple[np.ndarray, float, bool, dict]:
    """One policy step: ``(obs, reward, done, metrics)``."""
    self.state = self._step(self.state, jnp.asarray(action, jnp.float32))
    metrics = {k: float(v) for k, v in self.state.metrics.items()}
    return (np.asarray(self.state.obs), float(self.state.reward), bool(self.state.done),
            metrics)
