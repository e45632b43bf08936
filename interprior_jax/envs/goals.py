"""HOI state features and masked residual goals (shared by the expert, Stage 2 and Stage 3).

method.md: the state ``x_t`` = human (body positions, rotations, linear / angular velocities),
object (pose, velocities) and interaction (body-to-surface field ``D``, contacts ``C``), all in
the heading frame of the *current simulated root* (yaw removed, root-relative).  A goal frame
``y`` is expressed in the same frame (same anchor), and fed as the masked residual
``m * (y (-) x)``: log-map difference for rotations, plain difference otherwise.

Shapes (B bodies, C contact bodies, any leading batch dims):

=================  ===========  ==================================================================
field              features     residual
=================  ===========  ==================================================================
root_height        (1,)         (1,)   goal - state
body_pos           (B, 3)       (B, 3) relative to the anchor root position, heading frame
body_rot           (B, 4) quat  (B, 3) log-map ``y.q * conj(x.q)`` (heading frame)
body_lin_vel       (B, 3)       (B, 3)
body_ang_vel       (B, 3)       (B, 3)
obj_pos            (3,)         (3,)
obj_rot            (4,) quat    (3,)
obj_lin_vel        (3,)         (3,)
obj_ang_vel        (3,)         (3,)
interaction        (B, 3)       (B, 3) encoded ``v/|v| exp(-5|v|)`` nearest-surface vectors
contact            (C,)         (C,)   sim {0, 1}; reference ternary {-1, 0, 1}
=================  ===========  ==================================================================

A :class:`Features` / residual is a flax struct; a mask is a struct of the same type whose leaves
broadcast against the residual (1 = given, 0 = hidden), see :func:`apply_mask` and
:data:`MASK_FAMILIES`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from interprior_jax import geometry
from interprior_jax.motion import features as mfeatures

FIELDS = ("root_height", "body_pos", "body_rot", "body_lin_vel", "body_ang_vel", "obj_pos",
          "obj_rot", "obj_lin_vel", "obj_ang_vel", "interaction", "contact")
ROTATION_FIELDS = ("body_rot", "obj_rot")


@struct.dataclass
class Features:
  root_height: jax.Array
  body_pos: jax.Array
  body_rot: jax.Array
  body_lin_vel: jax.Array
  body_ang_vel: jax.Array
  obj_pos: jax.Array
  obj_rot: jax.Array
  obj_lin_vel: jax.Array
  obj_ang_vel: jax.Array
  interaction: jax.Array
  contact: jax.Array


def hoi_features(frame, anchor_pos: jax.Array, anchor_quat: jax.Array, body_obj_vec: jax.Array,
                 contact: jax.Array) -> Features:
  """Features of a frame (a ``SimFrame`` or ``RefFrame``: any object with the RefFrame field names)
  in the heading frame of the anchor root.

  Args:
    frame: body_pos (..., B, 3), body_quat (..., B, 4), body_lin_vel / body_ang_vel (..., B, 3),
      obj_pos (..., 3), obj_quat (..., 4), obj_lin_vel / obj_ang_vel (..., 3).
    anchor_pos: (..., 3) and anchor_quat: (..., 4) the simulated root pose.
    body_obj_vec: (..., B, 3) world vectors from each body to its nearest object-surface point.
    contact: (..., C) contact values of the contact bodies.
  """
  hq = geometry.heading_quat_inv(anchor_quat)  # (..., 4)
  hqb = hq[..., None, :]

  def vec(v, q):
    return geometry.quat_rotate(q, v)

  return Features(
      root_height=frame.body_pos[..., ROOT_BODY, 2:3],
      body_pos=vec(frame.body_pos - anchor_pos[..., None, :], hqb),
      body_rot=geometry.quat_canonicalize(geometry.quat_mul(hqb, frame.body_quat)),
      body_lin_vel=vec(frame.body_lin_vel, hqb), body_ang_vel=vec(frame.body_ang_vel, hqb),
      obj_pos=vec(frame.obj_pos - anchor_pos, hq),
      obj_rot=geometry.quat_canonicalize(geometry.quat_mul(hq, frame.obj_quat)),
      obj_lin_vel=vec(frame.obj_lin_vel, hq), obj_ang_vel=vec(frame.obj_ang_vel, hq),
      interaction=mfeatures.encode_surface_vec(vec(body_obj_vec, hqb)),
      contact=jnp.asarray(contact, jnp.float32))


def goal_residual(x: Features, y: Features, mask: Features | None = None) -> Features:
  """Masked residual ``m * (y (-) x)``; rotation fields become (..., 3) log maps."""
  out = {}
  for k in FIELDS:
    a, b = getattr(x, k), getattr(y, k)
    out[k] = geometry.quat_diff_expmap(b, a) if k in ROTATION_FIELDS else b - a
  res = Features(**out)
  return apply_mask(res, mask) if mask is not None else res


def apply_mask(res: Features, mask: Features) -> Features:
  """Zeroes the hidden entries: every leaf of ``mask`` broadcasts against ``res``."""
  return jax.tree_util.tree_map(lambda r, m: r * jnp.asarray(m, r.dtype), res, mask)


# ----------------------------------------------------------------------------------------------
# Flattening (the observation / goal vector layout)
# ----------------------------------------------------------------------------------------------

def _rot6d(q):
  return geometry.quat_to_6d(q)


def _flat(x):
  return x


# (field, shape from (B, C), encoder).  Features encode rotations as 6-D, residuals as log maps.
FEATURE_LAYOUT: tuple[tuple[str, Callable[[int, int], tuple[int, ...]], Callable], ...] = (
    ("root_height", lambda B, C: (1,), _flat),
    ("body_pos", lambda B, C: (B, 3), _flat),
    ("body_rot", lambda B, C: (B, 6), _rot6d),
    ("body_lin_vel", lambda B, C: (B, 3), _flat),
    ("body_ang_vel", lambda B, C: (B, 3), _flat),
    ("obj_pos", lambda B, C: (3,), _flat),
    ("obj_rot", lambda B, C: (6,), _rot6d),
    ("obj_lin_vel", lambda B, C: (3,), _flat),
    ("obj_ang_vel", lambda B, C: (3,), _flat),
    ("interaction", lambda B, C: (B, 3), _flat),
    ("contact", lambda B, C: (C,), _flat),
)
RESIDUAL_LAYOUT = tuple(
    (name, (lambda B, C: (B, 3)) if name == "body_rot" else
     (lambda B, C: (3,)) if name == "obj_rot" else shape, _flat)
    for name, shape, _ in FEATURE_LAYOUT)


def layout_size(layout, num_bodies: int, num_contacts: int) -> int:
  """Flat size of a layout for B bodies and C contact bodies."""
  return int(sum(np.prod(shape(num_bodies, num_contacts)) for _, shape, _ in layout))


def flatten(x: Features, layout) -> jax.Array:
  """(..., D) vector in ``layout`` order (D = :func:`layout_size`)."""
  lead = x.root_height.shape[:-1]
  return jnp.concatenate([enc(getattr(x, name)).reshape(lead + (-1,)) for name, _, enc in layout],
                         axis=-1)


# ----------------------------------------------------------------------------------------------
# Masks (Stage 2 / 3 goal families)
# ----------------------------------------------------------------------------------------------

def full_mask(num_bodies: int, num_contacts: int, value: float = 1.0) -> Features:
  """A mask giving (value=1) or hiding (value=0) every component (unbatched shapes)."""
  B, C = num_bodies, num_contacts
  f = lambda *s: jnp.full(s, value, jnp.float32)  # noqa: E731
  return Features(root_height=f(1), body_pos=f(B, 1), body_rot=f(B, 1), body_lin_vel=f(B, 1),
                  body_ang_vel=f(B, 1), obj_pos=f(1), obj_rot=f(1), obj_lin_vel=f(1),
                  obj_ang_vel=f(1), interaction=f(B, 1), contact=f(C))


def _bodies_mask(B: int, C: int, body_idx: np.ndarray) -> Features:
  m = full_mask(B, C, 0.0)
  sel = jnp.zeros((B, 1)).at[jnp.asarray(body_idx)].set(1.0)
  return m.replace(body_pos=sel, body_rot=sel, root_height=jnp.ones(1))


#: Index of the root (pelvis) body in every body axis of :class:`Features` (``root_height`` is
#: its height: :func:`hoi_features`).
ROOT_BODY = 0

# Registry: family name -> mask builder (num_bodies, num_contacts, extremity body indices).
# ``root``: the pelvis pose and height only (what the keyboard's move / turn / stand goals give,
# interprior_jax/control/commands.py).
MASK_FAMILIES: dict[str, Callable[[int, int, np.ndarray], Features]] = {
    "full": lambda B, C, ext: full_mask(B, C),
    "root": lambda B, C, ext: _bodies_mask(B, C, np.array([ROOT_BODY])),
    "object": lambda B, C, ext: full_mask(B, C, 0.0).replace(
        obj_pos=jnp.ones(1), obj_rot=jnp.ones(1)),
    "extremities": lambda B, C, ext: _bodies_mask(B, C, ext),
    "contact": lambda B, C, ext: full_mask(B, C, 0.0).replace(
        contact=jnp.ones(C), interaction=jnp.ones((B, 1))),
}


# ----------------------------------------------------------------------------------------------
# Stage 2 / 3: flat masks, per-episode mask sampling, goal-reached test
# ----------------------------------------------------------------------------------------------

def mask_to_flat(mask: Features, num_bodies: int, num_contacts: int) -> jax.Array:
  """A mask struct (leaves broadcasting against a residual) -> ``(..., D)`` flat 0/1 vector in
  :data:`RESIDUAL_LAYOUT` order (D = ``layout_size(RESIDUAL_LAYOUT, B, C)``), one entry per
  residual component."""
  B, C = num_bodies, num_contacts
  lead = mask.root_height.shape[:-1]
  parts = []
  for name, shape, _ in RESIDUAL_LAYOUT:
    m = jnp.asarray(getattr(mask, name), jnp.float32)
    parts.append(jnp.broadcast_to(m, lead + tuple(shape(B, C))).reshape(lead + (-1,)))
  return jnp.concatenate(parts, axis=-1)


def residual_field_ids(num_bodies: int, num_contacts: int) -> np.ndarray:
  """``(D,)`` int: index into :data:`FIELDS` of every flat residual entry (RESIDUAL_LAYOUT order);
  used to build per-entry tolerances and per-field errors without hand-synced offsets."""
  ids = [np.full(int(np.prod(shape(num_bodies, num_contacts))), FIELDS.index(name), np.int32)
         for name, shape, _ in RESIDUAL_LAYOUT]
  return np.concatenate(ids)


def root_xy_entries(num_bodies: int, num_contacts: int) -> np.ndarray:
  """``(2,)`` int: the flat :data:`RESIDUAL_LAYOUT` entries of the root's horizontal position
  residual (``body_pos[ROOT_BODY, :2]``, goal - state in the heading frame): where a goal asks the
  pelvis to be."""
  start = 0
  for name, shape, _ in RESIDUAL_LAYOUT:
    if name == "body_pos":
      return start + 3 * ROOT_BODY + np.arange(2, dtype=np.int32)
    start += int(np.prod(shape(num_bodies, num_contacts)))
  raise AssertionError("RESIDUAL_LAYOUT has no body_pos")


def _random_body_mask(key: jax.Array, B: int, C: int, keep_prob: float = 0.5) -> Features:
  """Fully random per-body mask: each body's (pos, rot) pair, the object pose and each contact
  slot are given independently with probability ``keep_prob``; velocities hidden."""
  k = jax.random.split(key, 4)
  body = jax.random.bernoulli(k[0], keep_prob, (B, 1)).astype(jnp.float32)
  obj = jax.random.bernoulli(k[1], keep_prob, (1,)).astype(jnp.float32)
  con = jax.random.bernoulli(k[2], keep_prob, (C,)).astype(jnp.float32)
  root = jax.random.bernoulli(k[3], keep_prob, (1,)).astype(jnp.float32)
  return full_mask(B, C, 0.0).replace(root_height=root, body_pos=body, body_rot=body,
                                      obj_pos=obj, obj_rot=obj, contact=con)


# Registry of samplable mask families: name -> (key, B, C, extremity idx) -> Features mask.
# Deterministic :data:`MASK_FAMILIES` ignore the key; ``none`` hides the whole goal token.
MASK_SAMPLERS: dict[str, Callable[[jax.Array, int, int, np.ndarray], Features]] = {
    **{name: (lambda fn: lambda key, B, C, ext: fn(B, C, ext))(fn)
       for name, fn in MASK_FAMILIES.items()},
    "random_body": lambda key, B, C, ext: _random_body_mask(key, B, C),
    "none": lambda key, B, C, ext: full_mask(B, C, 0.0),
}


def family_mask(name: str, key: jax.Array, num_bodies: int, num_contacts: int,
                extremity_idx: np.ndarray) -> Features:
  """Mask of family ``name``; ``"a+b"`` is the union (elementwise max) of families a and b.
  ValueError names an unknown family."""
  parts = name.split("+")
  masks = []
  for i, p in enumerate(parts):
    if p not in MASK_SAMPLERS:
      raise ValueError(f"mask family {name!r}: unknown part {p!r}; known {sorted(MASK_SAMPLERS)}")
    masks.append(MASK_SAMPLERS[p](jax.random.fold_in(key, i), num_bodies, num_contacts,
                                  extremity_idx))
  out = masks[0]
  for m in masks[1:]:
    out = jax.tree_util.tree_map(jnp.maximum, out, m)
  return out


# Contact entries of a residual are ``label - sim`` with the reference label in {-1 (must not
# touch), 0 (unknown), 1 (touch)} and the simulated flag in {0, 1}: the label is met exactly when
# the residual is 0 (1 - 1, 0 - 0) or -1 (-1 - 0, 0 - 1), i.e. within these bounds; a violated
# label gives +1 (should touch, does not) or -2 (must not touch, does).
CONTACT_REACH_BOUNDS = (-1.5, 0.5)


def reach_bounds(field_names, field_ids: np.ndarray, tolerance: dict
                 ) -> tuple[np.ndarray, np.ndarray]:
  """``(lower, upper)`` (D,) per-entry bounds of a reached residual: ``+-tolerance[field]``
  (inf for fields without one), :data:`CONTACT_REACH_BOUNDS` for ``contact``."""
  tol = np.array([float(tolerance.get(n, np.inf)) for n in field_names], np.float32)
  lo, hi = -tol, tol.copy()
  if "contact" in field_names:
    i = list(field_names).index("contact")
    lo[i], hi[i] = CONTACT_REACH_BOUNDS
  ids = np.asarray(field_ids)
  return lo[ids], hi[ids]


def goal_reached(residual: jax.Array, mask: jax.Array, lower: jax.Array,
                 upper: jax.Array) -> jax.Array:
  """``all(lower <= m * residual <= upper)`` over the last axis: ``(..., D)`` x4 -> ``(...)``
  float32 in {0, 1} (hidden entries, ``m = 0``, always pass)."""
  r = residual * mask
  return jnp.all((r >= lower) & (r <= upper), axis=-1).astype(jnp.float32)
