"""Unitree G1 from MuJoCo Menagerie (``g1_mjx``), offline via ``$MENAGERIE_ROOT``.

The Menagerie MJX model disables all contacts and uses explicit foot-floor pairs.  For HOI we
need hand/arm/body contact with objects, so :func:`load_g1_spec` re-enables its named collision
geoms (capsules/spheres, group 3) with our collision bits and ``condim`` 3, keeps its own position
actuators (its PD gains) and drops nothing else.  Visual meshes stay non-colliding.
"""

from __future__ import annotations

import mujoco

from interprior_jax import paths
from interprior_jax.assets.humanoid import HumanoidDef

G1_ROBOT = "unitree_g1"
G1_ENTRY = "g1_mjx"
# Collision geoms kept active: named "*_collision" in group 3 (the foot boxes, group 4, stay off;
# the three foot capsules per foot carry the ground contact as in Menagerie's scene_mjx).
G1_COLLISION_GROUP = 3

G1_DEF = HumanoidDef(
    name="g1",
    rows=(),  # bodies come from the Menagerie model, in its order
    key_bodies=("pelvis", "left_ankle_roll_link", "right_ankle_roll_link", "left_knee_link",
                "right_knee_link", "torso_link", "left_elbow_link", "right_elbow_link",
                "left_wrist_yaw_link", "right_wrist_yaw_link", "left_shoulder_roll_link",
                "right_shoulder_roll_link"),
    contact_bodies=(),  # filled from the model: every body with an active collision geom
    hands=("left_wrist_yaw_link", "right_wrist_yaw_link"),
    hand_bodies=("left_wrist_roll_link", "left_wrist_pitch_link", "left_wrist_yaw_link",
                 "right_wrist_roll_link", "right_wrist_pitch_link", "right_wrist_yaw_link"),
    feet=("left_ankle_roll_link", "right_ankle_roll_link"),
    head="torso_link",
    # wrist links with the arms down: palms facing the body
    palm_axes=((0.0, -1.0, 0.0), (0.0, 1.0, 0.0)),
    interact_convertible=False,  # retargeted (motion/retarget.py), not converted
    root="pelvis",
    action_offset_mode="home",
)
# Menagerie keyframe used as the G1 standing pose and PD offset. Measured (MuJoCo C, 120 Hz, zero
# action): from "stand" (straight legs) the G1 stands ~2.6 s before tipping forward; from
# scene_mjx "home" (knees bent) it tips after ~1.2 s. Neither balances without a policy.
HOME_KEY = ("g1", "stand")


def load_g1_spec(contype: int, conaffinity: int, condim: int = 3,
                 friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)) -> mujoco.MjSpec:
  """The Menagerie ``g1_mjx`` spec with its collision geoms switched on for HOI contact.

  Raises a RuntimeError naming ``MENAGERIE_ROOT`` when the model cannot be found offline.
  """
  import mujoco_menagerie

  paths.ensure_menagerie_root()
  try:
    spec = mujoco_menagerie.get(G1_ROBOT).spec(G1_ENTRY)
  except Exception as e:  # download/not-found errors of the menagerie package
    raise RuntimeError(
        f"could not load Menagerie {G1_ROBOT}/{G1_ENTRY} (MENAGERIE_ROOT="
        f"{paths.ensure_menagerie_root()!r}); set MENAGERIE_ROOT to a mujoco_menagerie "
        f"checkout: {e}") from e
  for g in spec.geoms:
    if g.name.endswith("_collision") and g.group == G1_COLLISION_GROUP:
      g.contype, g.conaffinity, g.condim = contype, conaffinity, condim
      g.friction = list(friction)
  return spec


def g1_home_pose() -> dict[str, float]:
  """Hinge name -> angle of the Menagerie keyframe :data:`HOME_KEY` (the G1 standing pose)."""
  import mujoco_menagerie

  paths.ensure_menagerie_root()
  entry, key = HOME_KEY
  model = mujoco_menagerie.get(G1_ROBOT).model(entry)
  qpos = model.key(key).qpos
  return {model.joint(j).name: float(qpos[model.jnt_qposadr[j]]) for j in range(model.njnt)
          if model.jnt_type[j] == mujoco.mjtJoint.mjJNT_HINGE}
