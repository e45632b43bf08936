"""Every tunable of the procedural HOI clip generator, in one frozen dataclass :class:`SynthConfig`.

Units: metres, seconds, radians unless a name ends in ``_deg``.  Ranges are ``(low, high)`` and are
sampled uniformly with the clip's ``numpy.random.Generator``.  Directions in the *heading frame* of
the root: x forward, y left, z up.
"""

from __future__ import annotations

import dataclasses

Range = tuple[float, float]


@dataclasses.dataclass(frozen=True)
class GaitConfig:
  """Procedural gait: footsteps from the root trajectory (see ``generator._footsteps``).

  Attributes:
    step_period: seconds between two successive foot lift-offs (one step).
    swing_fraction: swing duration / step period (the rest of a step is double support).
    foot_clearance: apex height of a swinging foot above its straight-line path, m.
    min_step: a step whose footprint moves less than this (and turns less than
      ``min_step_turn_deg``) is skipped -- the foot stays planted.
    min_step_turn_deg: see ``min_step``.
    knee_slack: the pelvis is kept low enough that the hip-ankle distance is at most
      ``knee_slack * leg length`` (keeps the knees from locking; makes the pelvis bob).
    stand_knee_bend: nominal pelvis drop while walking (m) below the straight-leg height.
    pelvis_smooth_frames: Gaussian sigma (frames) smoothing the pelvis height.
    speed: walking speed without object (m/s); carry_speed/push_speed: with it.
    accel_time: duration of the speed ramps at the ends of a walk (s).
    turn_rate_deg: yaw rate of a turn in place (deg/s).
    backstep_speed: speed of backward steps (m/s).
  """
  step_period: Range = (0.48, 0.56)
  swing_fraction: float = 0.76
  foot_clearance: Range = (0.06, 0.10)
  min_step: float = 0.02
  min_step_turn_deg: float = 4.0
  knee_slack: float = 0.985
  stand_knee_bend: float = 0.015
  pelvis_smooth_frames: float = 1.5
  speed: Range = (0.8, 1.05)
  carry_speed: Range = (0.6, 0.85)
  push_speed: Range = (0.4, 0.6)
  accel_time: float = 0.6
  turn_rate_deg: float = 150.0
  backstep_speed: float = 0.45


@dataclasses.dataclass(frozen=True)
class IKConfig:
  """Damped-least-squares IK (see :mod:`interprior_jax.motion.ik`): task weights, damping, iterations, limits.

  Weights multiply the task residual (metres or radians) in the least-squares objective; the
  posture term pulls every non-root hinge toward the per-frame reference posture.

  ``limits_deg`` tightens the model's joint ranges (all ``+-180`` deg for SMPL bodies) to
  anatomical ones for the IK, as ``(body, axis, low, high)`` for the *left* side and the midline;
  right-side ranges are mirrored (x and z axes negate, y is kept).  Joints not listed keep
  ``default_limit_deg`` intersected with the model range.

  ``damping`` / ``upper_damping`` are the Levenberg-Marquardt lambda of the root and leg hinges
  (``leg_bodies``) / of every other hinge (trunk, head, arms).  Each frame starts from the
  previous frame's solution and takes ``iterations`` steps, so lambda is also a temporal
  smoothing: with 1e-3 everywhere (before 2026-12-05) the trunk jittered between frames (a held
  wrist moving 3-8 cm from one frame to the next through 2-6 deg of spine and chest, the grip
  opening by 6 cm at the lift).  ``upper_damping`` 1.0 stops it; on the legs a large lambda lets
  the feet lag their targets and the pelvis swing round its path (a walk's pelvis path 1.76x its
  drawn length), so they keep 1e-3 (docs/results.md, "the held hands jitter").  Bundles trained
  on the old clips record ``data.synth_ik.upper_damping = 0.001``.
  """
  iterations: int = 2
  first_frame_iterations: int = 15
  damping: float = 1e-3  # root and legs (see above)
  upper_damping: float = 1.0  # trunk, head, arms
  leg_bodies: tuple[str, ...] = ("Hip", "Knee", "Ankle", "Toe")  # base names, both sides
  max_step: float = 0.35  # rad (and m for the root) per iteration and dof
  w_root_pos: float = 3.0  # root position (x, y, z) term
  w_root_rot: float = 1.5
  w_foot_pos: float = 40.0
  w_foot_rot: float = 6.0  # the lateral foot point (foot roll)
  w_toe_pos: float = 20.0
  w_hand_pos: float = 30.0
  w_hand_rot: float = 2.0  # the two hand-orientation points
  w_hand_free: float = 2.0
  w_posture: float = 0.08
  w_posture_arm: float = 0.15
  w_posture_toe: float = 1.0
  default_limit_deg: float = 150.0
  limits_deg: tuple[tuple[str, str, float, float], ...] = (
      ("Hip", "x", -30.0, 50.0), ("Hip", "y", -125.0, 30.0), ("Hip", "z", -40.0, 40.0),
      ("Knee", "x", -8.0, 8.0), ("Knee", "y", 0.0, 145.0), ("Knee", "z", -8.0, 8.0),
      ("Ankle", "x", -30.0, 30.0), ("Ankle", "y", -45.0, 50.0), ("Ankle", "z", -30.0, 30.0),
      ("Toe", "x", -10.0, 10.0), ("Toe", "y", -60.0, 30.0), ("Toe", "z", -10.0, 10.0),
      ("Torso", "x", -20.0, 20.0), ("Torso", "y", -15.0, 50.0), ("Torso", "z", -25.0, 25.0),
      ("Spine", "x", -20.0, 20.0), ("Spine", "y", -15.0, 45.0), ("Spine", "z", -25.0, 25.0),
      ("Chest", "x", -15.0, 15.0), ("Chest", "y", -15.0, 35.0), ("Chest", "z", -20.0, 20.0),
      ("Neck", "x", -30.0, 30.0), ("Neck", "y", -30.0, 40.0), ("Neck", "z", -45.0, 45.0),
      ("Head", "x", -20.0, 20.0), ("Head", "y", -30.0, 30.0), ("Head", "z", -30.0, 30.0),
      ("Thorax", "x", -20.0, 20.0), ("Thorax", "y", -20.0, 20.0), ("Thorax", "z", -20.0, 20.0),
      ("Shoulder", "x", -110.0, 60.0), ("Shoulder", "y", -90.0, 90.0),
      ("Shoulder", "z", -130.0, 60.0),
      ("Elbow", "x", -15.0, 15.0), ("Elbow", "y", -90.0, 90.0), ("Elbow", "z", -145.0, 0.0),
      ("Wrist", "x", -70.0, 70.0), ("Wrist", "y", -60.0, 60.0), ("Wrist", "z", -70.0, 70.0),
  )
  # Arms hanging at rest: the posture reference of the shoulders (left side; right mirrored).
  rest_shoulder_deg: tuple[float, float, float] = (-75.0, 0.0, -5.0)
  rest_elbow_deg: tuple[float, float, float] = (0.0, 0.0, -15.0)
  rest_knee_deg: float = 8.0  # posture reference of the knee flexion (y) hinge
  # Clearance passes: after the IK, while the hands reach for the object, the axis points of
  # the ``clear_bodies`` capsules and the corners of their boxes (base body names, both sides)
  # that enter the object get keypoint targets pushed out to ``clearance`` m outside it (weight
  # ``w_clear``), and the clip is solved again; up to ``clear_rounds`` times (0: off, the
  # default, which keeps the clips the committed experts were trained on).  Arm points
  # (``clear_arm_bodies``) move along their hand's contact-face normal (the arm abducts, the hand
  # plate stays flat on the face), the others along the object's surface normal.  Without them a
  # side grasp's forearm capsules lie 3-9 cm inside the held box on every holding frame and the
  # thighs up to 7 cm at the crouch; with 3 rounds a few frames remain (docs/results.md, "the
  # carry"; ``--config.data.synth_ik.clear_rounds=3`` turns them on for a run).
  clear_bodies: tuple[str, ...] = ("Shoulder", "Elbow", "Wrist", "Hip", "Knee")
  clear_arm_bodies: tuple[str, ...] = ("Shoulder", "Elbow", "Wrist")  # along their hand's face
  clearance: float = 0.005
  w_clear: float = 30.0
  clear_rounds: int = 0


@dataclasses.dataclass(frozen=True)
class HandConfig:
  """Where hands go.

  Attributes:
    palm_margin: the palm point is kept this far outside the object surface (m).
    pregrasp_offset: hands approach/leave along the surface normal from this distance (m).
    grasp_finger_tilt_deg: fingers of a side grasp point forward, tilted down by this much.
    push_span: half the lateral spacing of the hands on a pushed face (m).
    push_height: preferred palm height for pushing (m above the floor).
    inset: side grasps hold the object this far behind its near edge (m, capped at its centre).
    span_range: usable distance between the two palms of a side grasp (m).
  """
  palm_margin: float = 0.006
  pregrasp_offset: float = 0.09
  grasp_finger_tilt_deg: float = 35.0
  push_span: float = 0.17
  push_height: Range = (0.75, 0.95)
  inset: float = 0.14
  span_range: Range = (0.18, 0.8)
  grasp_height_frac: Range = (0.45, 0.7)  # side grasps: 0 bottom .. 1 top of the held piece
  push_min_span: float = 0.08  # smallest usable palm half spacing on a pushed face (m)
  push_min_top: float = 0.3  # a pushed piece must rise at least this high (m)
  hand_axis_len: float = 0.08  # lever of the hand-orientation keypoints (m)


@dataclasses.dataclass(frozen=True)
class SceneRandomConfig:
  """Randomisation of the object and of the start; timing of the manipulation phases."""
  scale: Range = (0.8, 1.2)
  density_scale: Range = (0.7, 1.4)
  obj_xy: float = 0.5  # object rest xy uniform in [-obj_xy, obj_xy]^2
  start_dist: Range = (0.6, 1.5)  # start root distance from the approach spot
  start_angle_deg: float = 30.0  # start position within +- this of the approach direction
  start_heading_deg: float = 30.0  # start heading offset from "facing the approach spot"
  stand_time: Range = (0.2, 0.4)
  reach_time: Range = (0.5, 0.7)
  close_time: Range = (0.25, 0.35)
  # Floor to palm height (~0.8 m) on a minimum-jerk ramp: 0.6-0.8 s peaked at 2.5 m/s and 13 m/s^2
  # (a 5 kg box then needs ~70 N of squeeze per hand); 1.4-1.8 s: ~1 m/s, ~2.5 m/s^2.
  lift_time: Range = (1.4, 1.8)
  release_time: Range = (0.3, 0.45)
  carry_dist: Range = (0.6, 1.5)
  carry_turn_deg: Range = (45.0, 150.0)
  push_dist: Range = (0.5, 1.2)
  push_turn_deg: Range = (15.0, 40.0)
  drag_dist: Range = (0.5, 1.0)
  backstep_dist: Range = (0.2, 0.4)
  turn_prob: float = 0.5  # probability of the turning variant (carry / push)
  carry_hand_height: Range = (0.95, 1.1)  # palm height while carrying (m above floor)
  carry_clearance: Range = (0.20, 0.24)  # root to near object face while carrying (m)
  min_carry_bottom: float = 0.05  # carried objects stay at least this far above the floor
  reach_dist: Range = (0.36, 0.44)  # root to near face when grasping/pushing (m)
  crouch_gain: float = 0.55  # pelvis drop per metre the grasp is below ``crouch_ref_height``
  crouch_ref_height: float = 0.95
  max_crouch: float = 0.38
  lean_gain_deg: float = 55.0  # chest pitch per metre below ``crouch_ref_height``
  max_lean_deg: float = 40.0
  push_lean_deg: float = 12.0
  # Balance of crouched poses: the pelvis sits back from the planted feet by ``sit_back_gain`` (m per
  # m) times the pelvis drop beyond ``sit_back_from`` (m), and the humanoid stands as much closer
  # to the object, so the hands' reach is unchanged.  0 (the default, = the clips of earlier
  # releases): the crouch drops the pelvis straight down and a 40 deg lean puts the centre of mass
  # ~17 cm ahead of the toe joints at the deepest carry grasp, a pose no physical humanoid can
  # hold (docs/results.md, "the carry lift").  ~1.1 from 0.15 m brings it back over the feet.
  # Only the families in ``sit_back_families``: a push leans on the object it pushes (the box,
  # held by its floor friction, carries part of the weight), a carry grasps its sides.
  sit_back_gain: float = 0.0
  sit_back_from: float = 0.15
  sit_back_families: tuple[str, ...] = ("carry",)
  # "walk" family (locomotion only: the steering data of the keyboard's move / turn keys): after
  # standing, ``walk_segments`` segments, each an arc of ``walk_dist`` m turning the heading by
  # +-``walk_turn_deg`` or (with ``walk_turn_in_place_prob``) a turn in place by
  # +-``turn_in_place_deg``; then a stop.  The object rests untouched at least
  # ``walk_obj_clearance`` m (plus its own extent) outside the circle that holds the whole path.
  walk_segments: tuple[int, int] = (2, 4)
  walk_dist: Range = (0.8, 2.2)
  walk_turn_deg: Range = (0.0, 120.0)
  walk_turn_in_place_prob: float = 0.3
  turn_in_place_deg: Range = (45.0, 180.0)
  walk_obj_clearance: float = 0.8
  min_duration: float = 4.0
  max_duration: float = 12.0
  max_resample: int = 20  # attempts to draw parameters that fit the duration bounds


@dataclasses.dataclass(frozen=True)
class LabelConfig:
  """Contact labels and quality-report thresholds (metres)."""
  far: float = 0.10  # a body geom farther than this from the object is labelled -1
  contact_tol: float = 0.05  # label-1 hands must be this close to the object surface
  foot_ground_height: float = 0.025  # a foot body below its rest height + this is "on the ground"
  floor_tol: float = 1e-4  # object "below floor" when its lowest point is below -floor_tol


@dataclasses.dataclass(frozen=True)
class SynthConfig:
  """All tunables of the generator (defaults are the measured-good setup).

  Attributes:
    fps: output frame rate.
    families: the default families of :func:`generate_dataset`.
    objects: family -> library object names it draws from.
    max_hand_residual: clips whose max hand IK residual exceeds this (m) are redrawn by
      :func:`generate_dataset` (``generate_clip`` returns them as they are).
  """
  fps: float = 30.0
  families: tuple[str, ...] = ("carry", "push", "drag")  # "walk" on request (no interaction)
  objects: tuple[tuple[str, tuple[str, ...]], ...] = (
      ("carry", ("box", "small_box", "large_box", "cylinder", "chair")),
      ("push", ("box", "large_box", "cylinder", "table", "chair")),
      ("drag", ("box", "large_box", "cylinder", "table", "chair")),
      ("walk", ("box", "large_box", "cylinder", "table", "chair")),
  )
  max_hand_residual: float = 0.05
  ik_batch: int = 8  # IK lanes (clips solved side by side; a fixed size: one compilation)
  ik_chunk: int = 32  # frames each lane advances per IK call
  gait: GaitConfig = GaitConfig()
  ik: IKConfig = IKConfig()
  hand: HandConfig = HandConfig()
  rand: SceneRandomConfig = SceneRandomConfig()
  label: LabelConfig = LabelConfig()

  def objects_for(self, family: str) -> tuple[str, ...]:
    for fam, names in self.objects:
      if fam == family:
        return names
    raise KeyError(f"unknown family {family!r}; known: {[f for f, _ in self.objects]}")
