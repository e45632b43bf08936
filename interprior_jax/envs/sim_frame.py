"""What the env reads from the simulator: a backend-neutral :class:`SimFrame` (MJX or MuJoCo C).

The same observation / reward / termination code runs on both backends because both are first
reduced to a :class:`SimFrame` with the *same field names and layout as*
:class:`~interprior_jax.motion.frame.RefFrame` (B bodies in the scene's body layout, A hinges in
action order, world frame, quaternions (w, x, y, z)), plus simulated contact flags:

==================  ======  ===================================================================
field               shape   meaning
==================  ======  ===================================================================
root_pos, root_quat (3,4)   root body pose
joint_pos/vel       (A,)    hinge angles / velocities
body_pos/quat       (B,.)   body origins and orientations (``xpos``, ``xquat``)
body_lin_vel        (B,3)   linear velocity of the body origin, from ``cvel``
body_ang_vel        (B,3)   angular velocity (world frame)
obj_*               .       active object pose and velocities (same conventions)
body_obj_contact    (B,)    1.0 when a geom of the body touches the object (a contact closer than
                            ``ContactDist.obj``: ``config.env.obj_contact_dist``)
body_obj_dist       (B,)    the body's geoms' smallest signed distance to the object (m; < 0:
                            penetrating), clipped to +-``ContactDist.obj`` (as MuJoCo's distance
                            sensor clips to its cutoff; no pair that close: the cap);
                            ``body_obj_contact`` is ``body_obj_dist < ContactDist.obj``
body_floor_contact  (B,)    1.0 when a geom of the body touches the floor (``contact_dist``)
obj_contact_force   ()      total normal contact force between humanoid and object (N), from the
                            constraint solver's last physics step (``efc_force``)
==================  ======  ===================================================================

Contacts are gathered with precomputed geom -> body-layout maps (:class:`SimIndex`): one
scatter-max per flag, no loop over bodies or contacts.  Contact normal forces come from the
solver's constraint forces: with MuJoCo's pyramidal cone a contact of dimension ``dim`` owns
``2 (dim - 1)`` rows from ``efc_address`` whose forces sum to its normal force (elliptic cone:
the first row); ``mj_contactForce`` gives the same numbers (checked in the tests).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct

from interprior_jax.assets.scene import SceneSpec


@struct.dataclass
class SimFrame:
  root_pos: jax.Array
  root_quat: jax.Array
  joint_pos: jax.Array
  joint_vel: jax.Array
  body_pos: jax.Array
  body_quat: jax.Array
  body_lin_vel: jax.Array
  body_ang_vel: jax.Array
  obj_pos: jax.Array
  obj_quat: jax.Array
  obj_lin_vel: jax.Array
  obj_ang_vel: jax.Array
  body_obj_contact: jax.Array
  body_floor_contact: jax.Array
  obj_contact_force: jax.Array
  body_obj_dist: jax.Array


@dataclasses.dataclass(frozen=True)
class SimIndex:
  """Static index arrays (numpy) from a scene: which rows of the simulator state mean what."""
  body_ids: np.ndarray  # (B,) MuJoCo ids of the layout bodies
  body_root_ids: np.ndarray  # (B,) kinematic-tree root id of each (for cvel offsets)
  obj_body_id: int
  obj_root_id: int
  obj_qpos_adr: int
  obj_qvel_adr: int
  root_qpos_adr: int
  root_qvel_adr: int
  qpos_adr: np.ndarray  # (A,)
  qvel_adr: np.ndarray  # (A,)
  geom_body_idx: np.ndarray  # (ngeom,) layout index of humanoid geoms, B (= dropped) otherwise
  geom_is_obj: np.ndarray  # (ngeom,) bool
  geom_is_floor: np.ndarray  # (ngeom,) bool
  num_bodies: int
  elliptic_cone: bool  # model.opt.cone == mjCONE_ELLIPTIC (one efc row per contact normal)


def sim_index(model: mujoco.MjModel, spec: SceneSpec, object_slot: int = 0) -> SimIndex:
  """Index arrays for ``spec`` (the active object is ``spec.objects[object_slot]``)."""
  if not spec.objects:
    raise ValueError(f"scene {spec.humanoid}: the HOI env needs an object in the scene")
  obj = spec.objects[object_slot]
  B = spec.num_bodies
  geom_body_idx = np.full(model.ngeom, B, np.int32)
  geom_body_idx[spec.humanoid_geom_ids] = spec.humanoid_geom_body_idx
  is_obj = np.zeros(model.ngeom, bool)
  is_obj[obj.geom_ids] = True
  is_floor = np.zeros(model.ngeom, bool)
  is_floor[spec.floor_geom_id] = True
  return SimIndex(
      body_ids=np.asarray(spec.body_ids, np.int32),
      body_root_ids=np.asarray(model.body_rootid[spec.body_ids], np.int32),
      obj_body_id=int(obj.body_id), obj_root_id=int(model.body_rootid[obj.body_id]),
      obj_qpos_adr=int(obj.qpos_adr), obj_qvel_adr=int(obj.qvel_adr),
      root_qpos_adr=int(spec.root_qpos_adr), root_qvel_adr=int(spec.root_qvel_adr),
      qpos_adr=np.asarray(spec.qpos_adr, np.int32), qvel_adr=np.asarray(spec.qvel_adr, np.int32),
      geom_body_idx=geom_body_idx, geom_is_obj=is_obj, geom_is_floor=is_floor, num_bodies=B,
      elliptic_cone=int(model.opt.cone) == int(mujoco.mjtCone.mjCONE_ELLIPTIC))


def _point_lin_vel(cvel, subtree_com, ids, root_ids, points):
  """Linear velocity of world ``points`` rigidly attached to bodies ``ids`` (mj_objectVelocity)."""
  ang, lin = cvel[ids, :3], cvel[ids, 3:]
  return lin + jnp.cross(ang, points - subtree_com[root_ids])


class ContactDist(NamedTuple):
  """Touching thresholds (m): a body touches the object (the floor) when one of its contacts with
  it has a signed distance below ``obj`` (``floor``).  ``config.env.obj_contact_dist`` /
  ``contact_dist`` (:func:`contact_dist_from_config`)."""
  obj: float
  floor: float


def as_contact_dist(threshold: ContactDist | float) -> ContactDist:
  """A :class:`ContactDist`; a plain number is used for both."""
  if isinstance(threshold, ContactDist):
    return threshold
  return ContactDist(float(threshold), float(threshold))


def contact_dist_from_config(env_cfg) -> ContactDist:
  """``config.env.obj_contact_dist`` (default: ``contact_dist``) and ``contact_dist``."""
  floor = float(env_cfg.contact_dist)
  return ContactDist(float(env_cfg.get("obj_contact_dist", floor)), floor)


def contact_flags(geom: jax.Array, dist: jax.Array, idx: SimIndex,
                  threshold: ContactDist | float) -> tuple[jax.Array, jax.Array]:
  """Per-body touching flags from a contact list.

  Args:
    geom: (N, 2) int geom ids of each contact; dist: (N,) signed distances (MJX keeps every
      candidate pair, so inactive ones have large distances).
    idx: scene indices; threshold: :class:`ContactDist` (or one number for both): touching when
      ``dist < threshold`` (m).
  Returns:
    ``(body_obj (B,), body_floor (B,))`` float32 in {0, 1}.
  """
  t = as_contact_dist(threshold)
  g1, g2 = geom[:, 0], geom[:, 1]
  gb = jnp.asarray(idx.geom_body_idx)
  is_obj, is_floor = jnp.asarray(idx.geom_is_obj), jnp.asarray(idx.geom_is_floor)
  B = idx.num_bodies
  zeros = jnp.zeros((B,), jnp.float32)

  def scatter(other, limit):
    touch = dist < limit
    a = (touch & other[g2]).astype(jnp.float32)
    b = (touch & other[g1]).astype(jnp.float32)
    out = zeros.at[gb[g1]].max(a, mode="drop")
    return out.at[gb[g2]].max(b, mode="drop")

  return scatter(is_obj, t.obj), scatter(is_floor, t.floor)


def object_distances(geom: jax.Array, dist: jax.Array, idx: SimIndex, cap: float) -> jax.Array:
  """(B,) each layout body's smallest contact distance to the object, clipped to +-``cap`` (m).

  Args: ``geom`` (N, 2), ``dist`` (N,) as :func:`contact_flags`; ``cap``: the value of a body
  with no humanoid-object pair closer than it, and minus the deepest penetration reported
  (``ContactDist.obj``: the C backend's distance sensors clip to their cutoff the same way).
  """
  g1, g2 = geom[:, 0], geom[:, 1]
  gb = jnp.asarray(idx.geom_body_idx)
  is_obj = jnp.asarray(idx.geom_is_obj)
  out = jnp.full((idx.num_bodies,), cap, jnp.float32)
  d = jnp.clip(dist, -cap, cap).astype(jnp.float32)
  out = out.at[gb[g1]].min(jnp.where(is_obj[g2], d, cap), mode="drop")
  return out.at[gb[g2]].min(jnp.where(is_obj[g1], d, cap), mode="drop")


# Largest number of efc rows of one contact normal (pyramidal cone, contact dimension 6).
MAX_CONTACT_ROWS = 2 * (6 - 1)


def contact_normal_forces(efc_force, efc_address, dim, elliptic: bool) -> jax.Array:
  """(N,) normal force of each contact from the constraint forces (0 where ``efc_address < 0``).

  Args:
    efc_force: (nefc,) constraint forces; efc_address (N,) first row of each contact (-1: none);
    dim (N,) contact dimensions; elliptic: the model uses the elliptic friction cone.
  """
  efc_force = jnp.asarray(efc_force)
  adr, dim = jnp.asarray(efc_address), jnp.asarray(dim)
  if efc_force.shape[0] == 0:
    return jnp.zeros(adr.shape, efc_force.dtype)
  rows = jnp.arange(1 if elliptic else MAX_CONTACT_ROWS)
  n_rows = jnp.ones_like(dim) if elliptic else jnp.where(dim > 1, 2 * (dim - 1), 1)
  take = jnp.clip(adr[:, None] + rows[None, :], 0, efc_force.shape[0] - 1)
  mask = (rows[None, :] < n_rows[:, None]) & (adr[:, None] >= 0)
  return jnp.sum(jnp.where(mask, efc_force[take], 0.0), axis=-1)


def human_object_force(contact_geom, normal_force, idx: SimIndex) -> jax.Array:
  """Scalar: sum of the normal forces of contacts between a humanoid geom and the object."""
  g = jnp.asarray(contact_geom)
  is_obj, is_hum = jnp.asarray(idx.geom_is_obj), jnp.asarray(idx.geom_body_idx < idx.num_bodies)
  pair = (is_obj[g[:, 0]] & is_hum[g[:, 1]]) | (is_obj[g[:, 1]] & is_hum[g[:, 0]])
  return jnp.sum(jnp.where(pair, normal_force, 0.0))


def sim_frame_from_arrays(qpos, qvel, xpos, xquat, cvel, subtree_com, contact_geom, contact_dist,
                          idx: SimIndex, threshold: ContactDist | float,
                          contact_normal_force=None) -> SimFrame:
  """:class:`SimFrame` from raw simulator arrays (jax or numpy; one env, no batch dims).

  ``contact_normal_force``: (N,) per contact (:func:`contact_normal_forces`); None -> 0.
  """
  qpos, qvel = jnp.asarray(qpos), jnp.asarray(qvel)
  xpos, xquat = jnp.asarray(xpos), jnp.asarray(xquat)
  cvel, subtree_com = jnp.asarray(cvel), jnp.asarray(subtree_com)
  ids, rids = jnp.asarray(idx.body_ids), jnp.asarray(idx.body_root_ids)
  body_pos = xpos[ids]
  oid = jnp.asarray([idx.obj_body_id])
  obj_pos = xpos[idx.obj_body_id]
  obj_lin = _point_lin_vel(cvel, subtree_com, oid, jnp.asarray([idx.obj_root_id]),
                           obj_pos[None])[0]
  body_obj, body_floor = contact_flags(jnp.asarray(contact_geom), jnp.asarray(contact_dist), idx,
                                       threshold)
  body_obj_dist = object_distances(jnp.asarray(contact_geom), jnp.asarray(contact_dist), idx,
                                   as_contact_dist(threshold).obj)
  return SimFrame(
      root_pos=qpos[idx.root_qpos_adr:idx.root_qpos_adr + 3],
      root_quat=qpos[idx.root_qpos_adr + 3:idx.root_qpos_adr + 7],
      joint_pos=qpos[jnp.asarray(idx.qpos_adr)], joint_vel=qvel[jnp.asarray(idx.qvel_adr)],
      body_pos=body_pos, body_quat=xquat[ids],
      body_lin_vel=_point_lin_vel(cvel, subtree_com, ids, rids, body_pos),
      body_ang_vel=cvel[ids, :3],
      obj_pos=obj_pos, obj_quat=xquat[idx.obj_body_id], obj_lin_vel=obj_lin,
      obj_ang_vel=cvel[idx.obj_body_id, :3],
      body_obj_contact=body_obj, body_floor_contact=body_floor,
      obj_contact_force=(jnp.zeros((), xpos.dtype) if contact_normal_force is None else
                         human_object_force(contact_geom, contact_normal_force, idx)),
      body_obj_dist=body_obj_dist)


def _mjx_impl(d):
  impl = getattr(d, "_impl", None)
  return impl if impl is not None and hasattr(impl, "contact") else d


def mjx_contact(d) -> tuple[jax.Array, jax.Array]:
  """``(geom (N, 2), dist (N,))`` of an MJX Data (JAX implementation)."""
  con = _mjx_impl(d).contact
  return con.geom, con.dist


def mjx_contact_normal_forces(d, idx: SimIndex) -> jax.Array:
  """(N,) normal force of every MJX contact candidate (0 for inactive ones)."""
  impl = _mjx_impl(d)
  return contact_normal_forces(impl.efc_force, impl.contact.efc_address, impl.contact.dim,
                               idx.elliptic_cone)


def sim_frame_from_mjx(d, idx: SimIndex, threshold: ContactDist | float) -> SimFrame:
  """:class:`SimFrame` of one (unbatched) MJX Data whose kinematics are current."""
  geom, dist = mjx_contact(d)
  return sim_frame_from_arrays(d.qpos, d.qvel, d.xpos, d.xquat, d.cvel, d.subtree_com, geom,
                               dist, idx, threshold, mjx_contact_normal_forces(d, idx))


def sim_frame_from_mujoco(d: mujoco.MjData, idx: SimIndex,
                          threshold: ContactDist | float) -> SimFrame:
  """:class:`SimFrame` of a MuJoCo C MjData (after ``mj_forward`` / ``mj_step``)."""
  n = d.ncon
  geom = np.asarray(d.contact.geom[:n]).reshape(n, 2) if n else np.zeros((1, 2), np.int32)
  dist = np.asarray(d.contact.dist[:n]) if n else np.full((1,), np.inf)
  force = mujoco_contact_normal_forces(d, idx) if n else np.zeros(1)
  return sim_frame_from_arrays(d.qpos, d.qvel, d.xpos, d.xquat, d.cvel, d.subtree_com, geom,
                               dist, idx, threshold, force)


def mujoco_contact_normal_forces(d: mujoco.MjData, idx: SimIndex) -> np.ndarray:
  """(ncon,) normal force of every active MuJoCo C contact."""
  n = d.ncon
  return np.asarray(contact_normal_forces(np.asarray(d.efc_force), d.contact.efc_address[:n],
                                          d.contact.dim[:n], idx.elliptic_cone))
