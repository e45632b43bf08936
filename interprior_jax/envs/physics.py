"""Physics backends behind one contract: what the HOI env asks of a simulator.

``config.env.impl`` picks one (:func:`make_physics`):

* ``"jax"`` / ``""`` (default) and ``"warp"``: MJX (:class:`MjxPhysics`); the pipeline state is an
  ``mjx.Data``.  Use these on GPUs / TPUs.
* ``"c"``: MuJoCo C in batch on the host's CPU threads (:class:`~interprior_jax.envs.c_physics.
  CPhysics`), called from inside the jitted env step through ``jax.pure_callback``; the pipeline
  state is a small :class:`~interprior_jax.envs.c_physics.CData`.  Use it on CPUs (10x+ faster than MJX there, docs/benchmarks.md).

Every backend is a set of pure functions of *one* env (vmap / scan / jit them like the env):

==========================================  ================================================
``init_data()``                              pipeline state at the standing pose (unbatched)
``step(d, params, ctrl, xfrc) -> (d, ok)``   ``substeps`` physics steps with PD targets ``ctrl``
                                             (nu,), external forces ``xfrc`` (nbody, 6) held for
                                             the whole policy step, the object's per-episode
                                             :class:`ObjectParams`; ``ok`` is False when the
                                             simulation diverged (the env then keeps ``d``)
``frame(d) -> SimFrame``                     body / object state and contacts as the physics left
                                             them (after ``mj_step``: kinematics of the last
                                             substep's start, its contacts and contact forces)
``reset_state(d, qpos, qvel, mask) -> d``    new integration state where ``mask`` (warm start
                                             zeroed, ctrl kept)
``refresh(d, params) -> d``                  kinematics (body poses, com, velocities) of the
                                             current qpos / qvel: what the observation reads
==========================================  ================================================

Contacts: ``SimFrame.body_obj_contact`` / ``body_floor_contact`` flag a layout body whose geoms touch
the object / floor (signed distance below ``config.env.obj_contact_dist`` / ``contact_dist``:
:class:`~interprior_jax.envs.sim_frame.ContactDist`), ``obj_contact_force`` is the total
humanoid-object normal force of the physics' last substep.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
from mujoco import mjx

from interprior_jax.assets.scene import Scene
from interprior_jax.envs import c_physics, perturbations
from interprior_jax.envs.sim_frame import (ContactDist, SimFrame, SimIndex, as_contact_dist,
                                           sim_frame_from_mjx)
from interprior_jax.sim import mjx_sim

IMPLS = ("jax", "warp", "c")


def check_impl(impl: str) -> str:
  """The canonical backend name of ``config.env.impl`` (ValueError naming the valid ones)."""
  name = impl or "jax"
  if name not in IMPLS:
    raise ValueError(f"config.env.impl={impl!r}; valid: {IMPLS} ('' = 'jax')")
  return name


class MjxPhysics:
  """MJX (JAX or Warp implementation): see the module docstring."""

  def __init__(self, scene: Scene, idx: SimIndex, substeps: int,
               contact_dist: ContactDist | float, impl: str = "jax"):
    self.name = impl
    self.idx = idx
    self.substeps = int(substeps)
    self.contact_dist = as_contact_dist(contact_dist)
    mjx_impl = None if impl == "jax" else impl
    if scene.model.opt.noslip_iterations:  # MJX accepts the field and ignores it
      raise ValueError(f"config.env.scene.physics.noslip_iterations="
                       f"{scene.model.opt.noslip_iterations}: MJX ({impl}) has no no-slip "
                       "solver; use config.env.impl='c' or 0")
    self.sys = mjx_sim.put_model(scene.model, impl=mjx_impl)
    self._d0 = mjx_sim.initial_data(scene.model, scene.spec, impl=mjx_impl)
    self.obj_base = perturbations.object_base(scene.model, scene.spec.objects[0].body_id,
                                              scene.spec.objects[0].geom_ids)

  def init_data(self):
    return self._d0

  def model(self, params) -> mjx.Model:
    return perturbations.apply_object_params(self.sys, self.obj_base, params)

  def step(self, d, params, ctrl, xfrc):
    d = d.replace(ctrl=ctrl, xfrc_applied=xfrc)
    d = mjx_sim.step_n(self.model(params), d, self.substeps)
    d = d.replace(xfrc_applied=jnp.zeros_like(xfrc))
    return d, mjx_sim.data_is_finite(d) & jnp.all(jnp.isfinite(d.xpos))

  def frame(self, d) -> SimFrame:
    return sim_frame_from_mjx(d, self.idx, self.contact_dist)

  def reset_state(self, d, qpos, qvel, mask):
    return d.replace(qpos=jnp.where(mask, qpos, d.qpos), qvel=jnp.where(mask, qvel, d.qvel),
                     qacc_warmstart=jnp.where(mask, 0.0, d.qacc_warmstart))

  def refresh(self, d, params):
    return mjx_sim.refresh_kinematics(self.model(params), d)


def make_physics(impl: str, scene: Scene, idx: SimIndex, substeps: int,
                 contact_dist: ContactDist | float, threads: int = 0) -> Any:
  """The backend named by ``impl`` (``config.env.impl``) for ``scene``."""
  name = check_impl(impl)
  if name == "c":
    return c_physics.CPhysics(scene, idx, substeps, contact_dist, threads=threads)
  return MjxPhysics(scene, idx, substeps, contact_dist, impl=name)
