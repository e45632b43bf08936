"""The HOI environment config (``config.env`` of expert / distill / finetune configs).

Variants: ``smpl`` (default), ``smplx``, ``g1``, ``smoke`` (smpl, CPU-sized: short episodes).
Other configs embed it with ``config.env = env_config(variant)``.  Every number of the env lives
here; the code reads it through :mod:`interprior_jax.envs.hoi_env` (misspelt keys fail there).
"""

from __future__ import annotations

import ml_collections

from interprior_jax import config as config_lib

VARIANTS = ("smoke", "smpl", "smplx", "g1")


def env_config(variant: str = "smpl") -> ml_collections.ConfigDict:
  """The full env ConfigDict for ``variant`` (ValueError on an unknown variant)."""
  if variant not in VARIANTS:
    raise ValueError(f"configs/env.py: unknown variant {variant!r}; valid: {VARIANTS}")
  humanoid = "smpl" if variant == "smoke" else variant
  c = ml_collections.ConfigDict()
  c.variant = variant
  # Scene: ``objects=()`` means "the object named by the clips" (make_env fills it in).
  c.scene = config_lib.scene_config(humanoid=humanoid, objects=(), object_xy=(), object_yaw=())
  # Physics backend: "jax" (MJX, also ""), "warp" (MJX-Warp) on accelerators; "c" (MuJoCo C in
  # batch on the CPU threads, envs/c_physics.py: 10x+ faster on CPUs).  c_threads: 0 = the CPUs
  # this process may use ($INTERPRIOR_C_THREADS overrides).
  c.impl = ""
  c.c_threads = 0
  c.substeps = 4  # physics steps per policy step: 4 x 1/120 s = 30 Hz policy
  # PD targets (HOIEnv.targets_from_ref): "residual" = the next reference frame's hinge angles +
  # action_scale * clip(a, -1, 1) (zero action follows the reference; docs/results.md);
  # "absolute" = joint mid-range + action_scale * clip(a, -1, 1), where action_scale 0 means half
  # the joint range (method.md's exact form: on SMPL's +-180 deg hinges one unit is pi rad).
  # action_scale is in radians per action unit.
  c.action_mode = "residual"
  c.action_scale = 0.5
  # "residual" only, PD velocity feed-forward: True adds kv/kp x the reference's joint velocity to
  # the residual's base (HOIEnv.reference_targets), so kp (q* - q) - kv qdot = kp (q_ref - q) +
  # kv (qdot_ref - qdot) and zero action tracks the reference's velocity instead of trailing it by
  # kv/kp (0.1 s at every SMPL gain).  False: the angles alone (every committed bundle).  In
  # "absolute" mode it only sets the base a residual expert is relabelled from (distillation).
  c.pd_lead = False
  c.max_episode_steps = 300  # truncation (bootstrapped), besides the clip end
  # NaN guard: a step whose |qvel| exceeds this (m/s, rad/s) has diverged (seen in training on the
  # C backend: one object flung ~10^5 m in one step); it is reset like a non-finite one.
  c.max_qvel = 1e3
  c.contact_dist = 1e-3  # a contact counts as touching when its distance is below this (m)
  # The same for humanoid-object contacts (hand-contact termination, contact reward and
  # observation).  Reference hands rest up to ~2 cm off the surfaces they are labelled to touch
  # (synthetic clips: palm margin + IK residual), so a threshold below that flags perfect tracking
  # as contact loss; the CPU experts (configs/expert.py) use 0.02.
  c.obj_contact_dist = 1e-3
  # info['final_obs']: exact pre-reset observation for PPO's truncation bootstrap (one more
  # kinematics pass + observation per step; False -> V(s_T) ~ V(s_{T-1}), see training/rollout.py).
  c.final_obs = True

  c.obs = ml_collections.ConfigDict({
      "future_offsets": (1, 16),  # reference frames t + k (policy steps) fed as residual goals
      "num_surface_points": 256,  # object surface samples for the interaction field (strided)
      "clip": 1e3,  # safety clip of raw observations (normalisation happens in the trainer)
  })

  # r = r_track * r_energy * r_hand + r_term (method.md).  Each factor is exp(-w * error);
  # a weight of 0 switches a term off (its metric is then 1).
  c.reward = ml_collections.ConfigDict({
      "track": ml_collections.ConfigDict({
          "body_pos": 5.0,  # weighted mean squared body position error (m^2)
          # mean squared key-body position error (m^2), unweighted; 0 = off (envs/rewards.py)
          "key_pos": 0.0,
          "body_rot": 0.5,  # weighted mean squared body angle error (rad^2)
          "body_lin_vel": 0.01,
          "body_ang_vel": 0.005,
          "obj_pos": 10.0,
          "obj_rot": 1.0,
          "obj_lin_vel": 0.1,
          "obj_ang_vel": 0.02,
          "ig": 10.0,  # interaction graph: key-body -> object-anchor vectors vs reference
          "contact": 2.0,  # ternary contact guidance (fraction of violated labels)
      }),
      "energy": ml_collections.ConfigDict({
          "joint_acc": 2e-6,  # mean squared hinge acceleration over a policy step ((rad/s^2)^2)
          "obj_acc": 1e-4,  # squared object linear acceleration ((m/s^2)^2)
          "contact_force": 1.0,  # (humanoid-object normal force / humanoid weight)^2
      }),
      "hand": ml_collections.ConfigDict({
          "enabled": True,
          "dist_scale": 10.0,  # exp(-dist_scale * max(d - margin, 0)), d = hand -> surface (m)
          "margin": 0.03,  # hand-point to palm-surface offset tolerated (m)
          "facing_weight": 0.3,  # share of the score given by palm facing the surface
          "contact_weight": 0.4,  # share given by an actual simulated hand-object contact
          # 0: that contact is the 0/1 flag (within obj_contact_dist); > 0 (m, at most
          # obj_contact_dist): the grip clip(1 - gap / grip_dist, 0, 1) of the hand's distance
          # to the object, 1 only on the surface (envs/rewards.py:hand_grip)
          "grip_dist": 0.0,
      }),
      "near_decay": 5.0,  # body weights exp(-near_decay * d_obj) (positions) and 1 - that (rot.)
      "ig_num_anchors": 16,  # object surface points used as interaction-graph anchors
      "ig_eps": 0.05,  # inverse-distance weights 1 / (|v_ref| + ig_eps)
      "term_penalty": -1.0,  # r_term on early termination
  })

  c.termination = ml_collections.ConfigDict({
      "enabled": ("fall", "body_dev", "obj_dev", "ig_ratio", "hand_contact_loss"),
      "min_root_height": 0.3,  # m (g1: scaled below)
      "max_body_err": 0.5,  # mean key-body position error (m)
      "max_obj_err": 0.5,  # mean object surface-point error (m)
      "max_ig_ratio": 1.0,  # weighted |ig_sim - ig_ref| / weighted |ig_ref|, while in contact
      "max_hand_loss_steps": 10,  # policy steps a required hand contact may be missing
      "grace_steps": 2,  # no termination during the first steps after a reset
  })

  c.init = ml_collections.ConfigDict({
      "start_prob": 0.2,  # clip start (the rest: random frame or PSI)
      # Random-frame starts leave at least this many policy steps of the clip after the start
      # frame (the goal tasks: their whole horizon, so every goal frame lies inside the clip).
      "start_margin_steps": 2,
      "psi_prob": 0.2,  # from the per-env buffer of good simulated states (when filled)
      "root_pos_noise": 0.02,  # m, perturbed initial states (uniform +-)
      "joint_pos_noise": 0.05,  # rad
      "vel_noise": 0.1,  # m/s, rad/s
      # rad (uniform +-): the humanoid turned about its pelvis away from the reference (steering
      # augmentation of the locomotion student; envs/init_states.py:perturb_state)
      "root_yaw_noise": 0.0,
      # m (uniform +- per horizontal axis): the humanoid displaced from its reference (the
      # expert learns to close a position offset; envs/init_states.py:perturb_state)
      "root_xy_noise": 0.0,
      "psi_capacity": 4,  # slots per env
      "psi_min_track": 0.5,  # r_track needed for a state to enter the buffer
      "psi_insert_prob": 0.05,  # chance per good step to store the state
      # "good": the buffer keeps well-tracked states (r_track > psi_min_track, scored by
      # r_track); "failure": it harvests states drifting from the reference, not yet terminated
      # (r_track < psi_max_track, scored by 1 - r_track: dropped object, missed grasp, falling),
      # Stage 3's failure-state starts (method.md).
      "psi_harvest": "good",
      "psi_max_track": 0.3,
      # Random-pose starts (the random_init goal task, method.md): the humanoid takes the pose of
      # a random reference frame, its root placed this far (m, uniform) from the object in a
      # random direction with a random heading, at rest; the object keeps the episode's frame.
      "random_pose_prob": 0.0,
      # Share of the random-frame starts drawn among frames where the reference touches the
      # object (a curriculum weight on the interaction phase; 0: uniform over the clip).
      "contact_start_prob": 0.0,
      "random_pose_dist": (1.0, 2.0),
      # Fallen starts (Stage 3's get-up skill, method.md): the start pose tipped over by a
      # uniform angle in this range (deg) about a random horizontal axis through the floor below
      # the pelvis, lowest body origin fallen_clearance m above the floor, at rest
      # (envs/init_states.py:fallen_state).
      "fallen_prob": 0.0,
      "fallen_tilt_deg": (30.0, 90.0),
      "fallen_clearance": 0.12,
  })

  c.perturb = ml_collections.ConfigDict({
      "mode": "random",  # "off" | "random" (training) | "fixed" (robustness evaluation)
      "rate_hz": 0.2,  # expected impulses per second (random mode), for pelvis and object each
      "pelvis_impulse": (20.0, 60.0),  # N s, uniform range
      "object_impulse": (2.0, 8.0),  # N s
      "vertical_share": 0.2,  # max |z| component of the random unit direction
      "fixed_period_steps": 60,  # fixed mode: one impulse every period, heading rotates
      "fixed_pelvis_impulse": 40.0,
      "fixed_object_impulse": 5.0,
  })

  # Per-episode object randomisation (sampled at every reset; scale 1 = off).  Size scaling
  # needs primitive geoms (MJX mesh collision data cannot be rescaled per env).
  c.randomize = ml_collections.ConfigDict({
      "enabled": True,
      "mass_scale": (0.8, 1.2),
      "inertia_scale": (0.8, 1.2),
      "com_offset": 0.02,  # m, uniform +- per axis
      "friction_scale": (0.7, 1.3),
      "size_scale": (1.0, 1.0),
  })

  if humanoid == "g1":
    c.termination.min_root_height = 0.25
  if variant == "smoke":
    c.max_episode_steps = 64
    c.obs.num_surface_points = 64
    c.reward.ig_num_anchors = 8
  return c


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return env_config(arg or "smpl")
