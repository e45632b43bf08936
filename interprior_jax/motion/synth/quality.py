"""Quality figures of a (synthetic or converted) smpl/smplx clip: skating, penetration, labels.

All distances use the object's exact collision geometry (:class:`.shape.ObjectShape` SDF of the
library object scaled by ``clip.object_scale``) and the humanoid's collision geoms (sample points
per geom, from the scene model).
"""

from __future__ import annotations

import numpy as np

from interprior_jax.assets import objects as objects_lib
from interprior_jax.motion import clip as clip_lib
from interprior_jax.motion.synth import generator as gen
from interprior_jax.motion.synth import npquat
from interprior_jax.motion.synth import shape as shape_lib
from interprior_jax.motion.synth.config import SynthConfig


PENETRATION_DEPTH = 0.005  # m: deeper counts as a penetrating frame (body_penetration_frac)


def quality_report(clip: clip_lib.Clip, config: SynthConfig = SynthConfig()) -> dict[str, float]:
  """Quality figures of one clip (metres, m/s, fractions).

  Keys:
    foot_skate_mean / foot_skate_p95 / foot_skate_max: horizontal speed (m/s) of foot bodies on
      frames where they are on the ground (below their lowest height in the clip +
      ``label.foot_ground_height``) at both ends of the frame step.
    hand_penetration_max: deepest hand-geom sample inside the object (m, >= 0).
    body_penetration_max: the same over all body geoms.
    body_penetration_frac: fraction of frames with a body-geom sample more than
      ``PENETRATION_DEPTH`` inside the object.
    contact_consistency: fraction of label-1 (hand) entries within ``label.contact_tol`` of the
      surface; far_consistency: fraction of label -1 entries farther than ``label.far``.
    hand_residual_max: max over holding frames of |palm-surface distance - palm_margin| (how far
      the IK left the holding hands from their targets, m).
    hand_slip_p95 / hand_slip_max: speed (m/s) of the palm points in the object's frame between
      consecutive holding frames (both hands; 0 for a rigid grasp: a hand that moves on the held
      object opens or shifts the grip, which simulated hands cannot follow).
    object_min_z: lowest object point over the clip (m; < 0 means below the floor).
    object_unheld_speed_max: max object speed (m/s) on frames without hand contact.
  """
  kit = gen._kit(clip.humanoid, config)  # pylint: disable=protected-access
  if tuple(clip.body_names) != kit.spec.body_names:
    raise clip_lib.ClipError(f"{clip.source}: field 'body_names': not the {clip.humanoid} layout")
  lc = config.label
  asset = objects_lib.make_object(objects_lib.object_def(clip.object_name).scaled(clip.object_scale))
  shape = shape_lib.ObjectShape(asset)
  fps = clip.fps
  # Foot skating.
  feet = clip.body_pos[:, kit.spec.foot_idx]  # (T, F, 3)
  ground = feet[..., 2] < feet[..., 2].min(0) + lc.foot_ground_height
  both = ground[1:] & ground[:-1]
  speed = np.linalg.norm(np.diff(feet[..., :2], axis=0), axis=-1) * fps
  sk = speed[both] if both.any() else np.zeros(1)
  # Distances.
  d = gen._distances(kit, shape, clip.body_pos, clip.body_quat, clip.obj_pos, clip.obj_quat)
  body_d = gen._body_min(kit, d, len(clip.body_names))
  hand_d = d[:, kit.hand_geom_mask]
  lab = clip.body_contact
  pos_lab = lab == 1
  neg_lab = lab == -1
  # Palm keypoint distance to the surface on holding frames.
  holding = np.any(lab[:, kit.spec.hand_idx] == 1, axis=1)
  res = 0.0
  slip = np.zeros(1)
  if holding.any():
    palms = kit.solver.keypoint_positions(clip.root_pos[holding], clip.root_quat[holding],
                                          clip.joint_pos[holding])[:, kit.hand_kp[:, 0]]
    pd = shape.sdf_world(palms, clip.obj_pos[holding], clip.obj_quat[holding])
    res = float(np.abs(pd - config.hand.palm_margin).max())
    # Palm points in the object frame; speeds between consecutive frames that both hold.
    local = np.einsum("tji,tkj->tki", npquat.quat_to_mat(clip.obj_quat[holding]),
                      palms - clip.obj_pos[holding][:, None])
    idx = np.flatnonzero(holding)
    consecutive = np.diff(idx) == 1
    if consecutive.any():
      slip = (np.linalg.norm(np.diff(local, axis=0), axis=-1) * fps)[consecutive].ravel()
  low = shape.lowest_z(clip.obj_pos, clip.obj_quat)
  ov = np.linalg.norm(np.diff(clip.obj_pos, axis=0), axis=-1) * fps
  free = (clip.obj_contact[1:] == 0) & (clip.obj_contact[:-1] == 0)
  return {
      "foot_skate_mean": float(sk.mean()),
      "foot_skate_p95": float(np.percentile(sk, 95)),
      "foot_skate_max": float(sk.max()),
      "hand_penetration_max": float(np.maximum(-hand_d, 0.0).max()),
      "body_penetration_max": float(np.maximum(-d, 0.0).max()),
      "body_penetration_frac": float((d < -PENETRATION_DEPTH).any(-1).mean()),
      "contact_consistency": float((body_d[pos_lab] <= lc.contact_tol).mean()) if pos_lab.any()
                             else 1.0,
      "far_consistency": float((body_d[neg_lab] > lc.far).mean()) if neg_lab.any() else 1.0,
      "hand_residual_max": res,
      "hand_slip_p95": float(np.percentile(slip, 95)),
      "hand_slip_max": float(slip.max()),
      "object_min_z": float(low.min()),
      "object_unheld_speed_max": float(ov[free].max()) if free.any() else 0.0,
  }
