"""Constant reference clips from a scene's standing pose (MuJoCo FK): env tests and benchmarks."""

from __future__ import annotations

import mujoco
import numpy as np

from interprior_jax import config as config_lib
from interprior_jax.assets import scene as scene_lib
from interprior_jax.motion.clip import Clip


def standing_clip(humanoid: str, object_name: str = "box", num_frames: int = 90,
                  fps: float = 30.0, obj_xy=(0.6, 0.0), name: str = "stand",
                  hand_label: int = 0, **kw) -> Clip:
  """A constant clip: the standing pose (MuJoCo FK) with the object resting at ``obj_xy``.

  ``hand_label`` is written to the hands' contact labels (1 = the reference grasps).
  """
  opts = config_lib.scene_options(config_lib.scene_config(
      humanoid=humanoid, objects=(object_name,), object_xy=(tuple(obj_xy),), object_yaw=(0.0,)))
  scene = scene_lib.build_scene(opts)
  m, s = scene.model, scene.spec
  d = mujoco.MjData(m)
  d.qpos[:] = s.init_qpos
  mujoco.mj_forward(m, d)
  T = num_frames
  rep = lambda x: np.repeat(np.asarray(x, np.float64)[None], T, axis=0)  # noqa: E731
  ob = s.objects[0].body_id
  contact = np.zeros((T, s.num_bodies), np.int8)
  contact[:, s.hand_idx] = hand_label
  return Clip(
      name=name, source=f"test:{name}", humanoid=humanoid, object_name=object_name, fps=fps,
      body_names=s.body_names, joint_names=s.joint_names,
      root_pos=rep(d.xpos[s.root_body_id]), root_quat=rep(d.xquat[s.root_body_id]),
      joint_pos=rep(s.init_qpos[s.qpos_adr]), body_pos=rep(d.xpos[s.body_ids]),
      body_quat=rep(d.xquat[s.body_ids]), obj_pos=rep(d.xpos[ob]), obj_quat=rep(d.xquat[ob]),
      body_contact=contact, obj_contact=np.zeros(T, np.int8), **kw)
