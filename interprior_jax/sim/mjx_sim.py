"""Thin, pure MJX helpers over a compiled scene: device model, initial state, stepping, rollouts.

Every function is a pure function of its inputs (jit/vmap-able); batching is done with ``vmap``
over :class:`mujoco.mjx.Data`, never with Python loops over environments.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx
import numpy as np

from interprior_jax.assets.scene import SceneSpec


def put_model(model: mujoco.MjModel, impl: str | None = None) -> mjx.Model:
  """Device copy of ``model`` (``impl``: None/'jax' for the JAX MJX backend, 'warp' if available)."""
  return mjx.put_model(model, impl=impl) if impl else mjx.put_model(model)


def initial_mj_data(model: mujoco.MjModel, spec: SceneSpec) -> mujoco.MjData:
  """MuJoCo C data at the standing pose with ctrl at the PD offset (zero action), forwarded."""
  d = mujoco.MjData(model)
  d.qpos[:] = spec.init_qpos
  d.ctrl[spec.actuator_ids] = spec.action_offset
  mujoco.mj_forward(model, d)
  return d


def initial_data(model: mujoco.MjModel, spec: SceneSpec, impl: str | None = None) -> mjx.Data:
  """MJX data at the standing pose (forwarded in MuJoCo C, then put on device: no JAX compile)."""
  d = initial_mj_data(model, spec)
  return mjx.put_data(model, d, impl=impl) if impl else mjx.put_data(model, d)


def set_action(d: mjx.Data, spec: SceneSpec, action: jax.Array) -> mjx.Data:
  """``action`` (A,) in [-1, 1] -> ctrl (PD targets) in the scene's actuator order."""
  target = spec.pd_target(jnp.asarray(action))
  return d.replace(ctrl=d.ctrl.at[spec.actuator_ids].set(target))


def step_n(mx: mjx.Model, d: mjx.Data, num_steps: int) -> mjx.Data:
  """``num_steps`` physics steps at fixed ctrl (a ``fori_loop``; no per-step outputs)."""
  return jax.lax.fori_loop(0, num_steps, lambda _, x: mjx.step(mx, x), d)


def rollout(mx: mjx.Model, d: mjx.Data, num_steps: int,
            record: tuple[str, ...] = ("qpos",)) -> tuple[mjx.Data, dict[str, jax.Array]]:
  """Steps ``num_steps`` times at fixed ctrl; returns the final data and ``{field: (T, ...)}``."""
  def body(x, _):
    x = mjx.step(mx, x)
    return x, {k: getattr(x, k) for k in record}
  return jax.lax.scan(body, d, None, length=num_steps)


def refresh_kinematics(mx: mjx.Model, d: mjx.Data) -> mjx.Data:
  """Body poses, centres of mass and velocities of the current qpos / qvel (no collision, no
  solver: ``mj_kinematics`` + ``mj_comPos`` + ``mj_comVel``)."""
  d = mjx.kinematics(mx, d)
  d = mjx.com_pos(mx, d)
  return mjx.com_vel(mx, d)


def batch_data(d: mjx.Data, batch_size: int) -> mjx.Data:
  """Replicates one Data into a batch (leading axis ``batch_size``)."""
  return jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (batch_size,) + x.shape), d)


def data_is_finite(d: mjx.Data) -> jax.Array:
  """Scalar bool: qpos, qvel and qacc are all finite."""
  return jnp.all(jnp.isfinite(d.qpos)) & jnp.all(jnp.isfinite(d.qvel)) & jnp.all(
      jnp.isfinite(d.qacc))


def to_mujoco_data(model: mujoco.MjModel, d: Any) -> mujoco.MjData:
  """A plain MuJoCo MjData with qpos/qvel/ctrl/act copied from an (unbatched) MJX Data."""
  out = mujoco.MjData(model)
  out.time = float(d.time)
  out.qpos[:] = np.asarray(d.qpos)
  out.qvel[:] = np.asarray(d.qvel)
  out.ctrl[:] = np.asarray(d.ctrl)
  if model.na:
    out.act[:] = np.asarray(d.act)
  mujoco.mj_forward(model, out)
  return out
