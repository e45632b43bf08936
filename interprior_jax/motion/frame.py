"""The reference frame: what the motion library returns for one (clip, time) sample.

This is the contract between the motion library (producer) and the environment, rewards, goals and
evaluation (consumers).  Layout (documented once, here).  All arrays float32, world frame, z up,
metres, quaternions (w, x, y, z); B bodies in the scene's body layout (``SceneSpec.body_names``),
A actuated hinges in the scene's action order (``SceneSpec.joint_names``); any number of leading
batch dimensions (e.g. ``(num_envs,)`` under ``vmap``):

==============  =========  =====================================================================
field           shape      meaning
==============  =========  =====================================================================
root_pos        (3,)       root (pelvis) position (== body_pos[0])
root_quat       (4,)       root orientation (== body_quat[0])
joint_pos       (A,)       hinge angles (radians)
joint_vel       (A,)       hinge angular velocities (rad/s)
body_pos        (B, 3)     body positions
body_quat       (B, 4)     body orientations (canonical: w >= 0)
body_lin_vel    (B, 3)     body linear velocities (m/s)
body_ang_vel    (B, 3)     body angular velocities (rad/s, world frame), from quaternions
obj_pos         (3,)       object position
obj_quat        (4,)       object orientation
obj_lin_vel     (3,)       object linear velocity
obj_ang_vel     (3,)       object angular velocity (world frame)
body_contact    (B,)       ternary contact label: 1 touching, -1 surely not, 0 unknown
obj_contact     ()         1.0 when the object is in contact with the human, else 0.0
body_obj_vec    (B, 3)     vector from each body position to its nearest object-surface point
==============  =========  =====================================================================
"""

from __future__ import annotations

import jax
from flax import struct

FIELDS = ("root_pos", "root_quat", "joint_pos", "joint_vel", "body_pos", "body_quat",
          "body_lin_vel", "body_ang_vel", "obj_pos", "obj_quat", "obj_lin_vel", "obj_ang_vel",
          "body_contact", "obj_contact", "body_obj_vec")


@struct.dataclass
class RefFrame:
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
  body_contact: jax.Array
  obj_contact: jax.Array
  body_obj_vec: jax.Array
