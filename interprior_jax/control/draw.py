"""Drawing a play session: the scene at the simulated ``qpos`` plus the active goal's markers
(:func:`interprior_jax.control.session.goal_markers`), offscreen (browser frames) or into a
viewer's ``user_scn`` (desktop).  One place for the marker look and the camera."""

from __future__ import annotations

import io

import numpy as np

#: Marker colour (RGBA) per :data:`~interprior_jax.control.session.MARKER_NAMES` entry.
MARKER_RGBA = {"pelvis_path": (0.2, 0.75, 1.0, 0.8), "pelvis": (0.15, 0.35, 1.0, 0.8),
               "object": (1.0, 0.55, 0.1, 0.8)}
MARKER_RADIUS = 0.06  # m
#: Tracking camera of the browser frames: (distance m, azimuth deg, elevation deg).
CAMERA = (4.0, 135.0, -20.0)


def add_markers(scn, markers) -> int:
  """Appends one sphere per ``(name, world position)`` to an ``MjvScene``; returns how many fit."""
  import mujoco

  n = 0
  for name, pos in markers:
    if scn.ngeom >= scn.maxgeom:
      break
    mujoco.mjv_initGeom(scn.geoms[scn.ngeom], int(mujoco.mjtGeom.mjGEOM_SPHERE),
                        np.array([MARKER_RADIUS, 0.0, 0.0]), np.asarray(pos, np.float64),
                        np.eye(3).ravel(), np.asarray(MARKER_RGBA[name], np.float32))
    scn.ngeom += 1
    n += 1
  return n


class FrameRenderer:
  """Offscreen frames of ``model`` at a given ``qpos`` with markers, camera tracking the pelvis.

  Owns a GL context: create and use it on one thread.  ``fast`` turns off shadows, reflections
  and the skybox: under a software GL (llvmpipe, CPU machines) a 480x360 frame then costs ~26 ms
  instead of ~115 ms (docs/play.md)."""

  def __init__(self, model, width: int = 480, height: int = 360, track_body: int = 1,
               fast: bool = True):
    import mujoco

    self.model = model
    self.data = mujoco.MjData(model)
    self.cam = mujoco.MjvCamera()
    self.cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    self.cam.trackbodyid = track_body
    self.cam.distance, self.cam.azimuth, self.cam.elevation = CAMERA
    self.renderer = mujoco.Renderer(model, height=height, width=width)
    if fast:
      for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                   mujoco.mjtRndFlag.mjRND_SKYBOX):
        self.renderer.scene.flags[flag] = 0

  def render(self, qpos, markers=()) -> np.ndarray:
    """(height, width, 3) uint8."""
    import mujoco

    self.data.qpos[:] = qpos
    mujoco.mj_forward(self.model, self.data)
    self.renderer.update_scene(self.data, camera=self.cam)
    add_markers(self.renderer.scene, markers)
    return self.renderer.render()

  def frames(self, qpos_seq, markers_seq) -> np.ndarray:
    """(T, height, width, 3) uint8 of a recorded episode (one marker list per step)."""
    return np.stack([self.render(q, m) for q, m in zip(qpos_seq, markers_seq)])

  def jpeg(self, qpos, markers=(), quality: int = 80) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(self.render(qpos, markers)).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()

  def close(self) -> None:
    self.renderer.close()


__all__ = ["FrameRenderer", "add_markers", "MARKER_RGBA", "MARKER_RADIUS", "CAMERA"]
