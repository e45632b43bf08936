"""Reward: ``r = r_track * r_energy * r_hand + r_term`` as named terms (method.md).

Every factor is ``exp(-w * error)`` with its weight in ``config.reward``; each term is returned
(and logged by the env as metric ``r_<name>``).  Errors are computed once per step in
:func:`step_errors` (shared with terminations and the E_h / E_o metrics).

Tracking terms (registry :data:`TRACK_TERMS`, all world frame):

* ``body_pos``: ``sum_b w_b |p - p_ref|^2`` with ``w_b ~ exp(-near_decay d_b)`` (bodies near the
  object, ``d_b = |ref body_obj_vec_b|``), normalised to sum 1;
* ``key_pos``: ``mean_k |p - p_ref|^2`` over the key bodies (those of E_h), unweighted: the
  global placement ``body_pos`` leaves loose, since its weights follow the bodies nearest the
  object (on the embedded clips the pelvis gets 2-6 % of them while the hands touch the box,
  the feet ~1 % during a carry), so the pelvis may drift off its reference almost for free.
  Weight 0 (the default) turns it off. Tried at 20 (docs/results.md, "A key-body position
  term"): it held the carry's pelvis near its reference, but neither the carry nor the push
  expert's E_h improved;
* ``body_rot``: ``sum_b w'_b angle_b^2`` with ``w'_b ~ 1 - exp(-near_decay d_b)`` (far bodies);
  ``angle_b`` is the shortest relative angle (>= 0 for any quaternion sign);
* ``body_lin_vel`` / ``body_ang_vel``: mean squared velocity errors;
* ``obj_pos`` / ``obj_rot`` / ``obj_lin_vel`` / ``obj_ang_vel``;
* ``ig``: interaction graph, key-body -> object-anchor vectors vs reference, weights
  ``1 / (|v_ref| + ig_eps)`` normalised; squared vector error;
* ``contact``: fraction of violated ternary labels over the contact bodies (label 1 and not
  touching, label -1 and touching; 0 = unknown, ignored).

Energy (:data:`ENERGY_TERMS`): mean squared hinge acceleration and squared object acceleration
over the policy step (velocity differences / control dt), and ``contact_force``: the squared total
normal force between humanoid and object in units of the humanoid's weight,
``(F_ho / (m g))^2`` (penalises slamming / crushing the object; a carry needs ~0.1 m g).  ``F_ho``
is the solver's force of the policy step's *last* physics substep (``SimFrame.obj_contact_force``),
not an average over substeps.

Hand reward (InterMimic+, reference-free given the current state; :func:`hand_reward`): for each
hand whose reference label says "touching" (``g_h = 1``), a score
``s_h = exp(-k max(d_h - margin, 0)) * ((1 - a) + a * facing_h) * ((1 - c) + c * contact_h)``
where ``d_h`` is how much farther the hand point (mean of the hand's bodies) is from the
simulated object surface than the reference hand is from the reference surface (``max(0, d_sim -
d_ref)``), ``facing_h = 1 - max(0, f_ref - f_sim)`` with ``f = max(0, n_palm . v/|v|)`` (palm facing
its nearest surface point), and ``contact_h`` the simulated hand-object contact: the 0/1 flag
(a hand body within ``config.env.obj_contact_dist`` of the object) by default, or, with
``config.reward.hand.grip_dist`` > 0, the grip ``clip(1 - gap_h / grip_dist, 0, 1)`` with
``gap_h`` the hand bodies' smallest geom distance to the object (``SimFrame.body_obj_dist``; <= 0
when touching), so that only a palm on the surface scores 1 and a palm hovering 1-2 cm off, which
the flag counts as touching, scores little (docs/results.md, "the carry with a grip term": the
carry policy it was tried on already pressed its palms into the box; the carry did not improve);
``r_hand = prod_h (1 - g_h + g_h s_h)`` (1 when no grasp is required).  Measured against the
reference's own hand geometry because the hand point is a body origin (the wrist on SMPL) that
stays ~5-8 cm from a gripped surface: in absolute terms the exact reference scored r_hand 0.19
during a carry (docs/results.md, "Reward factors on the reference").
"""

from __future__ import annotations


import jax
import jax.numpy as jnp
from flax import struct

from interprior_jax import geometry


@struct.dataclass
class StepErrors:
  """Per-env errors of one step (scalars unless noted)."""
  body_pos: jax.Array
  key_pos: jax.Array  # mean squared key-body position error (m^2), unweighted
  body_rot: jax.Array
  body_lin_vel: jax.Array
  body_ang_vel: jax.Array
  obj_pos: jax.Array
  obj_rot: jax.Array
  obj_lin_vel: jax.Array
  obj_ang_vel: jax.Array
  ig: jax.Array
  contact: jax.Array
  joint_acc: jax.Array
  obj_acc: jax.Array
  contact_force: jax.Array  # (F_ho / body_weight)^2
  e_h: jax.Array  # mean key-body position error (m)
  e_o: jax.Array  # mean object surface-point error (m)
  ig_ratio: jax.Array  # weighted |ig_sim - ig_ref| / weighted |ig_ref|
  hand_dist: jax.Array  # (2,) hand point -> surface distance (m)
  hand_facing: jax.Array  # (2,) in [0, 1]
  hand_contact: jax.Array  # (2,) simulated hand-object contact {0, 1}
  hand_gap: jax.Array  # (2,) hand bodies' least distance to the object (m, +-obj_contact_dist)
  hand_required: jax.Array  # (2,) reference says the hand touches {0, 1}


def _normalize(w):
  return w / jnp.maximum(jnp.sum(w, axis=-1, keepdims=True), 1e-8)


def step_errors(sim, ref, *, sim_points, ref_points, sim_anchors, ref_anchors, joint_vel_prev,
                obj_lin_vel_prev, dt, key_body_idx, contact_body_idx,
                hand_groups, palm_axis, near_decay, ig_eps, body_weight) -> StepErrors:
  """All errors of one env at one step.

  Args:
    sim: ``SimFrame``; ref: ``RefFrame`` at the same time (same layouts).
    sim_points, ref_points: (P, 3) object surface points placed at the sim / reference pose.
    sim_anchors, ref_anchors: (M, 3) interaction-graph anchors (a subset of the points).
    joint_vel_prev: (A,), obj_lin_vel_prev: (3,) velocities before the step; dt: control step (s).
    key_body_idx (K,), contact_body_idx (C,), hand_groups (2, H): body-layout indices.
    palm_axis: (2, 3) palm normal of each hand in its body frame.
    near_decay, ig_eps: weighting constants (config).
    body_weight: humanoid weight m g (N), the unit of the contact-force term.
  """
  d_ref = geometry.safe_norm(ref.body_obj_vec)  # (B,)
  near = jnp.exp(-near_decay * d_ref)
  w_pos, w_rot = _normalize(near), _normalize(1.0 - near)
  dp = jnp.sum((sim.body_pos - ref.body_pos) ** 2, axis=-1)
  ang = geometry.quat_angle_diff(sim.body_quat, ref.body_quat)
  sq = lambda a, b: jnp.sum((a - b) ** 2, axis=-1)  # noqa: E731

  # Interaction graph: key bodies x anchors.
  v_sim = sim_anchors[None, :, :] - sim.body_pos[key_body_idx][:, None, :]  # (K, M, 3)
  v_ref = ref_anchors[None, :, :] - ref.body_pos[key_body_idx][:, None, :]
  n_ref = geometry.safe_norm(v_ref)
  w_ig = 1.0 / (n_ref + ig_eps)
  w_ig = w_ig / jnp.sum(w_ig)
  dv = geometry.safe_norm(v_sim - v_ref)
  ig_sq = jnp.sum(w_ig * dv ** 2)
  ig_ratio = jnp.sum(w_ig * dv) / jnp.maximum(jnp.sum(w_ig * n_ref), 1e-6)

  # Ternary contact guidance over the contact bodies.
  label = ref.body_contact[contact_body_idx]
  touch = sim.body_obj_contact[contact_body_idx]
  violated = jnp.where(label > 0.5, 1.0 - touch, 0.0) + jnp.where(label < -0.5, touch, 0.0)
  contact_err = jnp.mean(violated)

  # Hands, relative to the reference's own hand geometry (zero error on the reference itself).
  sim_dist, sim_facing = hand_geometry(sim.body_pos, sim.body_quat, sim_points, hand_groups,
                                       palm_axis)
  ref_dist, ref_facing = hand_geometry(ref.body_pos, ref.body_quat, ref_points, hand_groups,
                                       palm_axis)
  hand_dist = jnp.maximum(sim_dist - ref_dist, 0.0)
  facing = 1.0 - jnp.maximum(ref_facing - sim_facing, 0.0)
  hand_contact = jnp.max(sim.body_obj_contact[hand_groups], axis=-1)
  hand_gap = jnp.min(sim.body_obj_dist[hand_groups], axis=-1)
  hand_required = (jnp.max(ref.body_contact[hand_groups], axis=-1) > 0.5).astype(jnp.float32)

  A = jnp.maximum(joint_vel_prev.shape[-1], 1)
  return StepErrors(
      body_pos=jnp.sum(w_pos * dp), key_pos=jnp.mean(dp[key_body_idx]),
      body_rot=jnp.sum(w_rot * ang ** 2),
      body_lin_vel=jnp.mean(sq(sim.body_lin_vel, ref.body_lin_vel)),
      body_ang_vel=jnp.mean(sq(sim.body_ang_vel, ref.body_ang_vel)),
      obj_pos=sq(sim.obj_pos, ref.obj_pos),
      obj_rot=geometry.quat_angle_diff(sim.obj_quat, ref.obj_quat) ** 2,
      obj_lin_vel=sq(sim.obj_lin_vel, ref.obj_lin_vel),
      obj_ang_vel=sq(sim.obj_ang_vel, ref.obj_ang_vel),
      ig=ig_sq, contact=contact_err,
      joint_acc=jnp.sum(((sim.joint_vel - joint_vel_prev) / dt) ** 2) / A,
      obj_acc=sq(sim.obj_lin_vel, obj_lin_vel_prev) / dt ** 2,
      contact_force=(sim.obj_contact_force / body_weight) ** 2,
      e_h=jnp.mean(jnp.sqrt(dp[key_body_idx] + 1e-12)),
      e_o=jnp.mean(geometry.safe_norm(sim_points - ref_points)),
      ig_ratio=ig_ratio, hand_dist=hand_dist, hand_facing=facing, hand_contact=hand_contact,
      hand_gap=hand_gap, hand_required=hand_required)


def hand_geometry(body_pos, body_quat, points, hand_groups, palm_axis):
  """``(dist (2,), facing (2,))``: each hand point's (mean of the hand's bodies, (B, 3) layout
  positions) distance to its nearest surface point of ``points`` (P, 3) world, and how much the
  palm normal (``palm_axis`` (2, 3) in the hand body frame, ``body_quat`` (B, 4)) faces that point:
  ``max(0, n . v / |v|)``."""
  hand_pt = jnp.mean(body_pos[hand_groups], axis=-2)  # (2, 3)
  diff = points[None, :, :] - hand_pt[:, None, :]  # (2, P, 3)
  j = jnp.argmin(jnp.sum(diff * diff, axis=-1), axis=-1)
  to_surf = jnp.take_along_axis(diff, j[:, None, None], axis=1)[:, 0]  # (2, 3)
  dist = geometry.safe_norm(to_surf)
  normal = geometry.quat_rotate(body_quat[hand_groups[:, 0]], palm_axis)
  facing = jnp.maximum(0.0, jnp.sum(normal * to_surf, axis=-1) / jnp.maximum(dist, 1e-6))
  return dist, facing


TRACK_TERMS: tuple[str, ...] = ("body_pos", "key_pos", "body_rot", "body_lin_vel", "body_ang_vel",
                                "obj_pos", "obj_rot", "obj_lin_vel", "obj_ang_vel", "ig",
                                "contact")
ENERGY_TERMS: tuple[str, ...] = ("joint_acc", "obj_acc", "contact_force")


def _check_names(weights, allowed, where):
  unknown = sorted(set(weights) - set(allowed))
  if unknown:
    raise ValueError(f"config.reward.{where}: unknown terms {unknown}; valid: {list(allowed)}")


def hand_grip(e: StepErrors, grip_dist: float) -> jax.Array:
  """(2,) ``contact_h`` of the hand score: the 0/1 contact flag when ``grip_dist`` is 0, else
  ``clip(1 - gap_h / grip_dist, 0, 1)`` (1 on the surface, 0 at ``grip_dist`` or farther)."""
  if grip_dist <= 0:
    return e.hand_contact
  return jnp.clip(1.0 - e.hand_gap / grip_dist, 0.0, 1.0)


def hand_reward(e: StepErrors, dist_scale: float, margin: float, facing_weight: float,
                contact_weight: float, grip_dist: float = 0.0) -> jax.Array:
  """``prod_h (1 - g_h + g_h s_h)`` (see the module docstring). Scalar."""
  s = (jnp.exp(-dist_scale * jnp.maximum(e.hand_dist - margin, 0.0))
       * ((1.0 - facing_weight) + facing_weight * e.hand_facing)
       * ((1.0 - contact_weight) + contact_weight * hand_grip(e, grip_dist)))
  g = e.hand_required
  return jnp.prod(1.0 - g + g * s)


def compute_reward(e: StepErrors, terminated: jax.Array, cfg) -> tuple[jax.Array, dict]:
  """Total reward and every term. ``cfg`` = ``config.reward``.

  Returns:
    ``(reward (), {"r_<term>": (), "r_track": (), "r_energy": (), "r_hand": (), "r_term": ()})``.
  """
  track_w, energy_w = dict(cfg.track), dict(cfg.energy)
  _check_names(track_w, TRACK_TERMS, "track")
  _check_names(energy_w, ENERGY_TERMS, "energy")
  terms = {}
  r_track = jnp.ones(())
  for name in TRACK_TERMS:
    r = jnp.exp(-float(track_w.get(name, 0.0)) * getattr(e, name))
    terms[f"r_{name}"] = r
    r_track = r_track * r
  r_energy = jnp.ones(())
  for name in ENERGY_TERMS:
    r = jnp.exp(-float(energy_w.get(name, 0.0)) * getattr(e, name))
    terms[f"r_{name}"] = r
    r_energy = r_energy * r
  h = cfg.hand
  r_hand = (hand_reward(e, h.dist_scale, h.margin, h.facing_weight, h.contact_weight,
                        float(h.get("grip_dist", 0.0)))
            if h.enabled else jnp.ones(()))
  r_term = cfg.term_penalty * terminated.astype(jnp.float32)
  terms.update(r_track=r_track, r_energy=r_energy, r_hand=r_hand, r_term=r_term)
  return r_track * r_energy * r_hand + r_term, terms


# Every reward metric name (for metric dict construction at reset).
def reward_metric_names() -> tuple[str, ...]:
  return tuple(f"r_{n}" for n in TRACK_TERMS + ENERGY_TERMS) + (
      "r_track", "r_energy", "r_hand", "r_term")

