"""The MuJoCo C physics backend (``config.env.impl = "c"``): ``mujoco.batch`` behind ``pure_callback``.

On CPUs MuJoCo C is ~25x faster than MJX-JAX per physics step (docs/benchmarks.md).  This backend
keeps the env's pure, vmap-able step: :meth:`CPhysics.step` is a ``jax.pure_callback``
(``vmap_method="broadcast_all"``), so under ``vmap`` / ``scan`` / ``jit`` one host call receives
the whole batch ``(N, ...)`` and steps it on a :class:`mujoco.batch.Batch` thread pool (one
``Batch`` per batch size, created on first use).  Results are bit-identical at any thread count
(``mujoco.batch``'s guarantee; tested).

What crosses the boundary per policy step, per env:

* in: the integration state (qpos, qvel, act, warm start), the PD targets (ctrl), the external
  forces (``xfrc_applied``, impulses) and the object's randomised model rows
  (:func:`perturbations.object_values`: mass, inertia, centre of mass, friction, primitive sizes),
  written into per-simulation model fields (``Batch.expand``);
* out: the new integration state, the kinematics MuJoCo leaves after ``mj_step`` (``xpos``,
  ``xquat``, ``cvel``, ``subtree_com``: the last substep's start, as on MJX) and fixed-size contact
  summaries read from contact sensors added to a private copy of the model (sensors do not change
  the physics): per layout body ``found`` + ``mindist`` against the object body and against the
  floor geom, and the ``maxforce``-sorted normal forces of up to :data:`MAX_FORCE_CONTACTS`
  humanoid-subtree / object contacts.  A body touches the object when its geoms' distance to the
  object's (a distance sensor: ``mj_geomDistance``, cut off at the threshold) is below
  ``config.env.obj_contact_dist``, and the floor when a floor contact was found with distance below
  ``contact_dist`` (MJX: the same thresholds over its candidate list; MuJoCo C lists only
  penetrating contacts at zero margins, so floor flags can differ for gaps in [0, 1 mm)).

Divergence: MuJoCo C resets a simulation whose state goes bad (``mj_checkPos/Vel/Acc``) instead of
returning NaN, and the reset restarts its time at 0.  Each call sets the simulations' ``time`` to
1 s and checks it advanced by exactly ``substeps`` steps; a reset (or a ``SimulationError``, or a non-finite output) marks the env not
``ok`` and the env keeps its previous state and resets the episode (the NaN guard), the others go
on.

The observation's kinematics refresh (:meth:`CPhysics.refresh`) is a second host call
(``Batch.forward`` to the velocity stage), measured ~5x cheaper than the same pass in JAX
(``mjx.kinematics`` + ``com_pos`` + ``com_vel``, :meth:`CPhysics.refresh_jax`) on CPU
(docs/benchmarks.md).  Refused on accelerators (use "jax" or "warp" there).
"""

from __future__ import annotations

import os
import threading

import jax
import jax.numpy as jnp
import mujoco
import mujoco.batch as mj_batch
import numpy as np
from flax import struct

from interprior_jax.assets.scene import Scene
from interprior_jax.envs import perturbations
from interprior_jax.envs.sim_frame import (ContactDist, SimFrame, SimIndex, as_contact_dist,
                                           sim_frame_from_arrays)
from interprior_jax.sim import mjx_sim

# Humanoid-object contacts whose normal forces are summed (largest first); more are dropped.
MAX_FORCE_CONTACTS = 32
THREADS_ENV_VAR = "INTERPRIOR_C_THREADS"

# Simulation time set before each call: MuJoCo's reset of a diverged simulation restarts time at
# 0, so a time short of _T0 + substeps * dt after the call reveals it (whichever substep it was).
_T0 = 1.0
_FOUND, _FORCE, _DIST = 1, 2, 8  # mjtConDataField bits of a contact sensor's data
_REDUCE_MINDIST, _REDUCE_MAXFORCE = 1, 2


@struct.dataclass
class CData:
  """Pipeline state of the MuJoCo C backend (one env; float32).

  Integration state (``time`` (), ``qpos`` (nq,), ``qvel`` (nv,), ``act`` (na,),
  ``qacc_warmstart`` (nv,), ``ctrl`` (nu,)), the body kinematics the env reads (``xpos`` (nbody,
  3), ``xquat`` (nbody, 4), ``cvel`` (nbody, 6), ``subtree_com`` (nbody, 3)) and the contact
  summaries of the last physics step (``body_obj_contact``, ``body_floor_contact`` (B,) in {0, 1},
  ``obj_contact_force`` () N, ``body_obj_dist`` (B,) m).
  """
  time: jax.Array
  qpos: jax.Array
  qvel: jax.Array
  act: jax.Array
  qacc_warmstart: jax.Array
  ctrl: jax.Array
  xpos: jax.Array
  xquat: jax.Array
  cvel: jax.Array
  subtree_com: jax.Array
  body_obj_contact: jax.Array
  body_floor_contact: jax.Array
  obj_contact_force: jax.Array
  body_obj_dist: jax.Array


def default_threads(threads: int = 0) -> int:
  """``threads`` if > 0, else ``$INTERPRIOR_C_THREADS``, else the CPUs this process may use."""
  if threads and int(threads) > 0:
    return int(threads)
  env = os.environ.get(THREADS_ENV_VAR, "")
  if env:
    try:
      n = int(env)
    except ValueError:
      raise ValueError(f"${THREADS_ENV_VAR}={env!r}: expected a positive integer") from None
    if n < 1:
      raise ValueError(f"${THREADS_ENV_VAR}={env!r}: expected a positive integer")
    return n
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # not Linux
    return os.cpu_count() or 1


def sensor_model(scene: Scene, idx: SimIndex, obj_cutoff: float
                 ) -> tuple[mujoco.MjModel, dict[str, np.ndarray]]:
  """A copy of the scene's model with the sensors this backend reads (``obj_cutoff``: the
  distance sensors' cutoff, m).

  Returns ``(model, layout)``; ``layout`` holds sensordata addresses: ``obj`` (B,) (each body's
  distance to the object, capped at ``obj_cutoff``), ``floor`` (B,) (found, mindist pairs) and
  ``force`` (the first of ``MAX_FORCE_CONTACTS`` (3,) contact-frame
  forces, normal first).
  """
  spec = scene.mjspec.copy()
  m0 = scene.model
  name = lambda t, i: mujoco.mj_id2name(m0, t, int(i))  # noqa: E731
  obj_body = name(mujoco.mjtObj.mjOBJ_BODY, idx.obj_body_id)
  floor = name(mujoco.mjtObj.mjOBJ_GEOM, scene.spec.floor_geom_id)
  if not obj_body or not floor:
    raise ValueError("c backend: the object body and the floor geom need names in the scene")
  contact = mujoco.mjtSensor.mjSENS_CONTACT
  body, geom, xbody = mujoco.mjtObj.mjOBJ_BODY, mujoco.mjtObj.mjOBJ_GEOM, mujoco.mjtObj.mjOBJ_XBODY
  first = len(spec.sensors)
  for bid in idx.body_ids:
    spec.add_sensor(type=mujoco.mjtSensor.mjSENS_GEOMDIST, objtype=body, objname=name(body, bid),
                    reftype=body, refname=obj_body, cutoff=float(obj_cutoff))
  for bid in idx.body_ids:
    spec.add_sensor(type=contact, objtype=body, objname=name(body, bid), reftype=geom,
                    refname=floor, intprm=[_FOUND | _DIST, _REDUCE_MINDIST, 1])
  spec.add_sensor(type=contact, objtype=xbody, objname=name(body, scene.spec.root_body_id),
                  reftype=body, refname=obj_body,
                  intprm=[_FORCE, _REDUCE_MAXFORCE, MAX_FORCE_CONTACTS])
  model = spec.compile()
  if (model.nbody, model.ngeom, model.nq, model.nv, model.nu) != (
      m0.nbody, m0.ngeom, m0.nq, m0.nv, m0.nu):
    raise RuntimeError("c backend: adding contact sensors changed the model's layout")
  adr = model.sensor_adr[first:]
  B = len(idx.body_ids)
  return model, {"obj": adr[:B], "floor": adr[B:2 * B], "force": adr[2 * B]}


def contact_summaries(sensordata: np.ndarray, layout: dict, threshold: ContactDist):
  """``(body_obj (N, B), body_floor (N, B), obj_force (N,), body_obj_dist (N, B))`` float32 from
  ``(N, nsensordata)`` (the distances in +-``threshold.obj``: the sensors clip to their cutoff)."""
  sd = np.asarray(sensordata)

  fl = layout["floor"]
  floor = (sd[:, fl] > 0) & (sd[:, fl + 1] < threshold.floor)
  dist = np.minimum(sd[:, layout["obj"]], threshold.obj)
  obj = dist < threshold.obj
  f = layout["force"]
  force = sd[:, f:f + 3 * MAX_FORCE_CONTACTS].reshape(-1, MAX_FORCE_CONTACTS, 3)[:, :, 0]
  return (obj.astype(np.float32), floor.astype(np.float32), force.sum(-1).astype(np.float32),
          dist.astype(np.float32))


class _Pool:
  """One :class:`mujoco.batch.Batch` per batch size, with its bound views (host side)."""

  STATE = ("time", "qpos", "qvel", "act", "qacc_warmstart", "ctrl", "xfrc_applied")
  DERIVED = ("xpos", "xquat", "cvel", "subtree_com", "sensordata")

  def __init__(self, model: mujoco.MjModel, threads: int, fields: tuple[str, ...]):
    self.model, self.threads, self.fields = model, threads, fields
    self._batches: dict[int, tuple] = {}
    self._lock = threading.Lock()

  def get(self, n: int):
    with self._lock:
      if n not in self._batches:
        b = mj_batch.Batch(self.model, n, nthread=min(self.threads, n))
        views = {f: b.bind(f) for f in self.STATE + self.DERIVED}
        expanded = {f: b.expand(f) for f in self.fields}
        self._batches[n] = (b, views, expanded, threading.Lock())
      return self._batches[n]


class CPhysics:
  """MuJoCo C in batch (see the module docstring); same methods as ``physics.MjxPhysics``."""

  name = "c"

  def __init__(self, scene: Scene, idx: SimIndex, substeps: int,
               contact_dist: ContactDist | float, threads: int = 0):
    backend = jax.default_backend()
    if backend != "cpu":
      raise ValueError(f'config.env.impl="c" steps MuJoCo C on the host CPU, but JAX runs on '
                       f'{backend!r}: use impl "jax" or "warp" on accelerators')
    self.idx = idx
    self.substeps = int(substeps)
    self.contact_dist = as_contact_dist(contact_dist)
    self.threads = default_threads(threads)
    self.model, self.layout = sensor_model(scene, idx, obj_cutoff=self.contact_dist.obj)
    self.dt = float(self.model.opt.timestep)
    self.obj_base = perturbations.object_base(scene.model, scene.spec.objects[0].body_id,
                                              scene.spec.objects[0].geom_ids)
    self.value_fields = tuple(perturbations.object_values(
        self.obj_base, perturbations.nominal_params()).keys())
    self._pool = _Pool(self.model, self.threads, self.value_fields)
    # The observation's kinematics refresh runs in JAX on a template MJX model / data.
    self.sys = mjx_sim.put_model(scene.model)
    self._template = mjx_sim.initial_data(scene.model, scene.spec)
    d = mujoco.MjData(self.model)
    d.qpos[:] = scene.spec.init_qpos
    d.ctrl[scene.spec.actuator_ids] = scene.spec.action_offset
    mujoco.mj_forward(self.model, d)
    obj, floor, force, dist = contact_summaries(d.sensordata[None], self.layout, self.contact_dist)
    f32 = lambda a: jnp.asarray(a, jnp.float32)  # noqa: E731
    self._d0 = CData(
        time=f32(0.0), qpos=f32(d.qpos), qvel=f32(d.qvel), act=f32(d.act),
        qacc_warmstart=f32(d.qacc_warmstart), ctrl=f32(d.ctrl), xpos=f32(d.xpos),
        xquat=f32(d.xquat), cvel=f32(d.cvel), subtree_com=f32(d.subtree_com),
        body_obj_contact=f32(obj[0]), body_floor_contact=f32(floor[0]),
        obj_contact_force=f32(force[0]), body_obj_dist=f32(dist[0]))

  # -- the contract ------------------------------------------------------------------------------

  def init_data(self) -> CData:
    return self._d0

  def step(self, d: CData, params, ctrl, xfrc):
    vals = perturbations.object_values(self.obj_base, params)
    m = self.model
    B = len(self.idx.body_ids)
    f32 = jnp.float32
    shapes = (
        jax.ShapeDtypeStruct((m.nq,), f32), jax.ShapeDtypeStruct((m.nv,), f32),
        jax.ShapeDtypeStruct((m.na,), f32), jax.ShapeDtypeStruct((m.nv,), f32),
        jax.ShapeDtypeStruct((m.nbody, 3), f32), jax.ShapeDtypeStruct((m.nbody, 4), f32),
        jax.ShapeDtypeStruct((m.nbody, 6), f32), jax.ShapeDtypeStruct((m.nbody, 3), f32),
        jax.ShapeDtypeStruct((B,), f32), jax.ShapeDtypeStruct((B,), f32),
        jax.ShapeDtypeStruct((), f32), jax.ShapeDtypeStruct((B,), f32),
        jax.ShapeDtypeStruct((), jnp.bool_))
    args = (d.qpos, d.qvel, d.act, d.qacc_warmstart, ctrl, xfrc) + tuple(
        jnp.asarray(vals[k], f32) for k in self.value_fields)
    out = jax.pure_callback(self._host_step, shapes, *args, vmap_method="broadcast_all")
    qpos, qvel, act, warm, xpos, xquat, cvel, com, obj, floor, force, dist, ok = out
    new = d.replace(time=d.time + self.substeps * self.dt, qpos=qpos, qvel=qvel, act=act,
                    qacc_warmstart=warm, ctrl=ctrl, xpos=xpos, xquat=xquat, cvel=cvel,
                    subtree_com=com, body_obj_contact=obj, body_floor_contact=floor,
                    obj_contact_force=force, body_obj_dist=dist)
    return new, ok

  def frame(self, d: CData) -> SimFrame:
    frame = sim_frame_from_arrays(d.qpos, d.qvel, d.xpos, d.xquat, d.cvel, d.subtree_com,
                                  jnp.zeros((1, 2), jnp.int32), jnp.full((1,), jnp.inf),
                                  self.idx, 0.0)
    return frame.replace(body_obj_contact=d.body_obj_contact,
                         body_floor_contact=d.body_floor_contact,
                         obj_contact_force=d.obj_contact_force,
                         body_obj_dist=d.body_obj_dist)

  def reset_state(self, d: CData, qpos, qvel, mask) -> CData:
    return d.replace(qpos=jnp.where(mask, qpos, d.qpos), qvel=jnp.where(mask, qvel, d.qvel),
                     qacc_warmstart=jnp.where(mask, 0.0, d.qacc_warmstart))

  def refresh(self, d: CData, params) -> CData:
    """Kinematics of the current qpos / qvel, computed in C (``Batch.forward`` to the velocity
    stage: ~5x cheaper than the same pass in JAX on CPU, docs/benchmarks.md)."""
    vals = perturbations.object_values(self.obj_base, params)
    m = self.model
    f32 = jnp.float32
    shapes = (jax.ShapeDtypeStruct((m.nbody, 3), f32), jax.ShapeDtypeStruct((m.nbody, 4), f32),
              jax.ShapeDtypeStruct((m.nbody, 6), f32), jax.ShapeDtypeStruct((m.nbody, 3), f32))
    args = (d.qpos, d.qvel) + tuple(jnp.asarray(vals[k], f32) for k in self.value_fields)
    xpos, xquat, cvel, com = jax.pure_callback(self._host_refresh, shapes, *args,
                                               vmap_method="broadcast_all")
    return d.replace(xpos=xpos, xquat=xquat, cvel=cvel, subtree_com=com)

  def refresh_jax(self, d: CData, params) -> CData:
    """:meth:`refresh` in JAX (``mjx.kinematics`` on a template; kept for the benchmark)."""
    mx = perturbations.apply_object_params(self.sys, self.obj_base, params)
    k = mjx_sim.refresh_kinematics(mx, self._template.replace(qpos=d.qpos, qvel=d.qvel))
    return d.replace(xpos=k.xpos, xquat=k.xquat, cvel=k.cvel, subtree_com=k.subtree_com)

  # -- host side ---------------------------------------------------------------------------------

  def _write_object(self, expanded, vals, lead, n):
    base = self.obj_base
    for name, val in zip(self.value_fields, vals):
      val = np.asarray(val, np.float64)
      rows = base.body_id if name.startswith("body_") else base.geom_ids
      expanded[name][:, rows] = val.reshape((n,) + val.shape[len(lead):])

  def _host_refresh(self, qpos, qvel, *vals):
    m = self.model
    lead = np.shape(qpos)[:-1]
    n = int(np.prod(lead, dtype=np.int64))
    b, v, expanded, lock = self._pool.get(n)
    with lock:
      v["qpos"][:] = np.asarray(qpos, np.float64).reshape(n, m.nq)
      v["qvel"][:] = np.asarray(qvel, np.float64).reshape(n, m.nv)
      self._write_object(expanded, vals, lead, n)
      b.forward(stage=mujoco.mjtStage.mjSTAGE_VEL)
      out = [np.asarray(v[f], np.float32) for f in ("xpos", "xquat", "cvel", "subtree_com")]
    return tuple(a.reshape(lead + a.shape[1:]) for a in out)

  def _host_step(self, qpos, qvel, act, warm, ctrl, xfrc, *vals):
    m = self.model
    lead = np.shape(qpos)[:-1]
    n = int(np.prod(lead, dtype=np.int64))
    b, v, expanded, lock = self._pool.get(n)
    rows = lambda a, tail: np.asarray(a, np.float64).reshape((n,) + tail)  # noqa: E731
    with lock:
      v["time"][:] = _T0
      v["qpos"][:] = rows(qpos, (m.nq,))
      v["qvel"][:] = rows(qvel, (m.nv,))
      if m.na:
        v["act"][:] = rows(act, (m.na,))
      v["qacc_warmstart"][:] = rows(warm, (m.nv,))
      v["ctrl"][:] = rows(ctrl, (m.nu,))
      v["xfrc_applied"][:] = rows(xfrc, (m.nbody, 6))
      self._write_object(expanded, vals, lead, n)
      failed = np.zeros(n, bool)
      try:
        b.step(nstep=self.substeps)
      except mj_batch.SimulationError as e:
        failed[np.asarray(e.ids, np.int64)] = True
      ok = (np.abs(v["time"] - (_T0 + self.substeps * self.dt)) < 0.5 * self.dt) & ~failed
      f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
      out = [f32(v["qpos"]), f32(v["qvel"]), f32(v["act"]), f32(v["qacc_warmstart"]),
             f32(v["xpos"]), f32(v["xquat"]), f32(v["cvel"]), f32(v["subtree_com"])]
      obj, floor, force, dist = contact_summaries(v["sensordata"], self.layout, self.contact_dist)
    for a in out:
      ok &= np.all(np.isfinite(a.reshape(n, -1)), axis=1)
    out += [obj, floor, force, dist]
    out = [a.reshape(lead + a.shape[1:]) for a in out]
    return tuple(out) + (ok.reshape(lead),)
