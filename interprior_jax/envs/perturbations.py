"""Physical perturbations: per-episode object randomisation and random / scheduled impulses.

Object randomisation is a small per-env pytree :class:`ObjectParams` (sampled at reset from the
clip's ``object_scale`` / ``object_density_scale`` times random factors, kept in ``state.info``)
applied to the shared ``mjx.Model`` inside the vmapped step with :func:`apply_object_params`: under
``vmap`` only the touched fields (object geom sizes / positions / friction / bounds, body mass,
inertia, centre of mass) become per-env arrays.  :func:`domain_randomize` offers the same transform
MuJoCo-Playground style, ``(mjx.Model, keys (N, 2)) -> (batched Model, in_axes)``, for brax's
``DomainRandomizationVmapWrapper``.

Scaling rules (uniform size factor s, density factor rho): geom sizes / positions / bounding
radii and the body's centre of mass scale by s, mass by ``rho s^3``, inertia by ``rho s^5``.  MJX
mesh geoms carry precomputed convex data that cannot be rescaled per env, so size factors other
than 1 require primitive-only objects (checked by :func:`check_size_scalable`).

Impulses are applied as a constant external force ``impulse / control_dt`` on the pelvis and the
object (``xfrc_applied``) during one policy step: ``mode="random"`` draws them at ``rate_hz``;
``mode="fixed"`` (robustness evaluation) applies fixed magnitudes every ``fixed_period_steps`` with
a deterministic, rotating heading.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
from flax import struct

GOLDEN_ANGLE = np.pi * (3.0 - np.sqrt(5.0))  # heading increment of the fixed impulse schedule


@struct.dataclass
class ObjectParams:
  """Per-env object physics factors (all scalars except ``com_offset`` (3,))."""
  size_scale: jax.Array
  mass_scale: jax.Array  # includes the density factor
  inertia_scale: jax.Array
  friction_scale: jax.Array
  com_offset: jax.Array


@dataclasses.dataclass(frozen=True)
class ObjectBase:
  """Nominal model values of the active object (numpy)."""
  body_id: int
  geom_ids: np.ndarray  # (G,)
  geom_size: np.ndarray  # (G, 3)
  geom_pos: np.ndarray  # (G, 3)
  geom_rbound: np.ndarray  # (G,)
  geom_aabb: np.ndarray  # (G, 6)
  geom_friction: np.ndarray  # (G, 3)
  mass: float
  inertia: np.ndarray  # (3,)
  ipos: np.ndarray  # (3,)
  has_mesh: bool


def object_base(model: mujoco.MjModel, body_id: int, geom_ids: np.ndarray) -> ObjectBase:
  g = np.asarray(geom_ids, np.int32)
  return ObjectBase(
      body_id=int(body_id), geom_ids=g, geom_size=model.geom_size[g].copy(),
      geom_pos=model.geom_pos[g].copy(), geom_rbound=model.geom_rbound[g].copy(),
      geom_aabb=model.geom_aabb[g].copy(), geom_friction=model.geom_friction[g].copy(),
      mass=float(model.body_mass[body_id]), inertia=model.body_inertia[body_id].copy(),
      ipos=model.body_ipos[body_id].copy(),
      has_mesh=bool(np.any(model.geom_type[g] == mujoco.mjtGeom.mjGEOM_MESH)))


def check_size_scalable(base: ObjectBase, scales, where: str) -> None:
  """ValueError when size factors != 1 are requested for an object with mesh geoms."""
  s = np.asarray(scales, np.float64)
  if base.has_mesh and np.any(np.abs(s - 1.0) > 1e-9):
    raise ValueError(f"{where}: size scale {sorted(set(s.ravel().tolist()))} requested but the "
                     "object has mesh geoms, which MJX cannot rescale per env; use scale 1 or a "
                     "primitive object")


def nominal_params() -> ObjectParams:
  one = jnp.ones(())
  return ObjectParams(size_scale=one, mass_scale=one, inertia_scale=one, friction_scale=one,
                      com_offset=jnp.zeros(3))


def sample_object_params(key: jax.Array, clip_scale: jax.Array, clip_density: jax.Array,
                         cfg) -> ObjectParams:
  """Per-episode factors: the clip's scale / density times random factors (``config.randomize``)."""
  k = jax.random.split(key, 5)

  def u(kk, rng, shape=()):
    lo, hi = rng
    return jax.random.uniform(kk, shape, minval=lo, maxval=hi)

  if not cfg.enabled:
    return nominal_params().replace(size_scale=jnp.asarray(clip_scale, jnp.float32),
                                    mass_scale=jnp.asarray(clip_density, jnp.float32))
  return ObjectParams(
      size_scale=clip_scale * u(k[0], cfg.size_scale),
      mass_scale=clip_density * u(k[1], cfg.mass_scale),
      inertia_scale=u(k[2], cfg.inertia_scale), friction_scale=u(k[3], cfg.friction_scale),
      com_offset=u(k[4], (-cfg.com_offset, cfg.com_offset), (3,)))


def object_values(base: ObjectBase, p: ObjectParams) -> dict:
  """The object's rows of each randomised model field, ``{field: values}`` (one env).

  ``body_*`` values are the object body's row ((), (3,) or (3,)); ``geom_*`` values are the rows of
  ``base.geom_ids`` ((G, 3), (G,), (G, 6)).  Sizes only for primitive objects (MJX mesh collision
  ignores ``geom_size``; mesh objects keep nominal sizes on every backend).  The single place that
  maps :class:`ObjectParams` to model values: MJX (:func:`apply_object_params`) and the MuJoCo C
  backend (:mod:`interprior_jax.sim.c_physics`) both write these.
  """
  s = p.size_scale
  out = {
      "geom_friction": jnp.asarray(base.geom_friction) * p.friction_scale,
      "body_mass": base.mass * p.mass_scale * s ** 3,
      "body_inertia": jnp.asarray(base.inertia) * p.mass_scale * p.inertia_scale * s ** 5,
      "body_ipos": jnp.asarray(base.ipos) * s + p.com_offset,
  }
  if not base.has_mesh:
    out.update({
        "geom_size": jnp.asarray(base.geom_size) * s,
        "geom_pos": jnp.asarray(base.geom_pos) * s,
        "geom_rbound": jnp.asarray(base.geom_rbound) * s,
        "geom_aabb": jnp.asarray(base.geom_aabb) * s,
    })
  return out


def _object_fields(mx, base: ObjectBase, p: ObjectParams) -> dict:
  g, b = jnp.asarray(base.geom_ids), base.body_id
  return {k: getattr(mx, k).at[b if k.startswith("body_") else g].set(v)
          for k, v in object_values(base, p).items()}


def apply_object_params(mx, base: ObjectBase, p: ObjectParams):
  """The model with the object's fields replaced (pure; vmap over ``p`` for per-env models)."""
  return mx.tree_replace(_object_fields(mx, base, p))


def domain_randomize(mx, rng: jax.Array, base: ObjectBase, cfg):
  """Playground-style transform: ``rng (N, 2)`` -> ``(batched mjx.Model, in_axes)``.

  Samples :class:`ObjectParams` per key with clip factors 1; ``in_axes`` is 0 on the replaced
  fields and None elsewhere.
  """
  params = jax.vmap(lambda k: sample_object_params(k, 1.0, 1.0, cfg))(rng)
  fields = jax.vmap(lambda p: _object_fields(mx, base, p))(params)
  in_axes = jax.tree_util.tree_map(lambda _: None, mx).tree_replace({f: 0 for f in fields})
  return mx.tree_replace(fields), in_axes


def _unit_dir(key, vertical_share):
  k1, k2 = jax.random.split(key)
  yaw = jax.random.uniform(k1, (), minval=-jnp.pi, maxval=jnp.pi)
  z = jax.random.uniform(k2, (), minval=-vertical_share, maxval=vertical_share)
  v = jnp.stack([jnp.cos(yaw), jnp.sin(yaw), z])
  return v / jnp.linalg.norm(v)


def impulse_forces(key: jax.Array, step: jax.Array, control_dt: float,
                   cfg) -> tuple[jax.Array, jax.Array]:
  """External forces ``(pelvis (3,), object (3,))`` (N) held during this policy step.

  ``cfg`` = ``config.perturb``; the impulse (N s) is spread over ``control_dt``.
  """
  zero = jnp.zeros(3)
  if cfg.mode == "off":
    return zero, zero
  if cfg.mode == "fixed":
    period = int(cfg.fixed_period_steps)
    hit = (step % period == period - 1).astype(jnp.float32)
    yaw = GOLDEN_ANGLE * (step // period).astype(jnp.float32)
    d = jnp.stack([jnp.cos(yaw), jnp.sin(yaw), jnp.zeros(())])
    return (hit * cfg.fixed_pelvis_impulse / control_dt * d,
            hit * cfg.fixed_object_impulse / control_dt * -d)
  if cfg.mode != "random":
    raise ValueError(f"config.perturb.mode={cfg.mode!r}; valid: off, random, fixed")
  k = jax.random.split(key, 6)
  p = cfg.rate_hz * control_dt
  out = []
  for i, rng in enumerate((cfg.pelvis_impulse, cfg.object_impulse)):
    hit = jax.random.bernoulli(k[3 * i], p).astype(jnp.float32)
    mag = jax.random.uniform(k[3 * i + 1], (), minval=rng[0], maxval=rng[1])
    out.append(hit * mag / control_dt * _unit_dir(k[3 * i + 2], cfg.vertical_share))
  return out[0], out[1]
