"""Offscreen rendering of qpos sequences to MP4 (MuJoCo renderer + imageio/ffmpeg).

Headless machines need an OpenGL backend: scripts call :func:`default_gl_backend` *before*
importing mujoco (``MUJOCO_GL=egl`` unless set).  When no backend works, :func:`try_render_video`
returns a status naming the reason instead of failing the whole run.
"""

from __future__ import annotations

import os
import pathlib
from typing import Sequence

import numpy as np


def default_gl_backend() -> str:
  """Sets ``MUJOCO_GL=egl`` when unset and there is no display; returns the value."""
  if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
    os.environ["MUJOCO_GL"] = "egl"
  return os.environ.get("MUJOCO_GL", "")


def render_frames(model, qpos: np.ndarray, width: int = 320, height: int = 240,
                  track_body: int = 1, distance: float = 3.5, azimuth: float = 135.0,
                  elevation: float = -20.0) -> np.ndarray:
  """``qpos`` (T, nq) -> frames (T, height, width, 3) uint8, camera tracking ``track_body``."""
  import mujoco

  data = mujoco.MjData(model)
  cam = mujoco.MjvCamera()
  cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
  cam.trackbodyid, cam.distance, cam.azimuth, cam.elevation = (
      track_body, distance, azimuth, elevation)
  frames = []
  with mujoco.Renderer(model, height=height, width=width) as r:
    for q in np.asarray(qpos):
      data.qpos[:] = q
      mujoco.mj_forward(model, data)
      r.update_scene(data, camera=cam)
      frames.append(r.render())
  return np.stack(frames)


def write_video(path: str | pathlib.Path, frames: Sequence[np.ndarray], fps: float) -> None:
  import imageio.v2 as imageio

  with imageio.get_writer(str(path), fps=fps, codec="libx264", quality=7,
                          macro_block_size=1) as w:
    for f in frames:
      w.append_data(np.asarray(f))


def _render_and_write(render, path: str | pathlib.Path, fps: float) -> dict:
  """``render() -> frames`` then the MP4; ``{"status": "ok"|"skipped", "path"|"reason": ...}``."""
  try:
    frames = render()
  except Exception as e:  # no GL backend on this machine
    return {"status": "skipped", "reason": f"renderer unavailable: {type(e).__name__}: {e}"}
  try:
    write_video(path, frames, fps)
  except Exception as e:  # no ffmpeg
    np.save(pathlib.Path(path).with_suffix(".npy"), frames)
    return {"status": "skipped", "reason": f"video writer unavailable ({e}); frames saved as .npy"}
  return {"status": "ok", "path": str(path), "frames": int(len(frames))}


def render_with(render, path: str | pathlib.Path, fps: float) -> dict:
  """``render() -> frames`` written to an MP4; a missing GL backend or ffmpeg gives a
  ``{"status": "skipped", "reason"}`` instead of an error (as :func:`try_render_video`)."""
  return _render_and_write(render, path, fps)


def try_render_video(model, qpos: np.ndarray, path: str | pathlib.Path, fps: float,
                     **kw) -> dict:
  """Renders and writes a video; returns ``{"status": "ok"|"skipped", "path"|"reason": ...}``."""
  return _render_and_write(lambda: render_frames(model, qpos, **kw), path, fps)


#: RGBA of the reference ghost drawn over the simulated scene.
GHOST_RGBA = (0.35, 0.65, 1.0, 0.35)


def render_ghost_frames(model, sim_qpos: np.ndarray, ref_qpos: np.ndarray, width: int = 480,
                        height: int = 360, track_body: int = 1, distance: float = 4.0,
                        azimuth: float = 135.0, elevation: float = -20.0,
                        ghost_offset: Sequence[float] = (0.0, 0.0, 0.0)) -> np.ndarray:
  """Frames (T, height, width, 3) of ``sim_qpos`` (T, nq) with the pose ``ref_qpos`` (T, nq) drawn
  as a translucent ghost (``GHOST_RGBA``; moved by ``ghost_offset`` m to put it beside)."""
  import mujoco

  sim_qpos, ref_qpos = np.asarray(sim_qpos), np.asarray(ref_qpos)
  if sim_qpos.shape != ref_qpos.shape:
    raise ValueError(f"sim_qpos {sim_qpos.shape} and ref_qpos {ref_qpos.shape} differ")
  data, ghost = mujoco.MjData(model), mujoco.MjData(model)
  cam = mujoco.MjvCamera()
  cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
  cam.trackbodyid, cam.distance, cam.azimuth, cam.elevation = (
      track_body, distance, azimuth, elevation)
  opt, pert = mujoco.MjvOption(), mujoco.MjvPerturb()
  offset = np.asarray(ghost_offset, np.float64)
  frames = []
  with mujoco.Renderer(model, height=height, width=width) as r:
    for q, g in zip(sim_qpos, ref_qpos):
      data.qpos[:] = q
      ghost.qpos[:] = g
      mujoco.mj_forward(model, data)
      mujoco.mj_kinematics(model, ghost)
      r.update_scene(data, camera=cam)
      first = r.scene.ngeom
      mujoco.mjv_addGeoms(model, ghost, opt, pert, mujoco.mjtCatBit.mjCAT_DYNAMIC, r.scene)
      for k in range(first, r.scene.ngeom):
        r.scene.geoms[k].rgba[:] = GHOST_RGBA
        r.scene.geoms[k].pos[:] = r.scene.geoms[k].pos + offset
      frames.append(r.render())
  return np.stack(frames)


def try_render_ghost_video(model, sim_qpos: np.ndarray, ref_qpos: np.ndarray,
                           path: str | pathlib.Path, fps: float, **kw) -> dict:
  """:func:`try_render_video` with the reference ghost (:func:`render_ghost_frames`)."""
  return _render_and_write(lambda: render_ghost_frames(model, sim_qpos, ref_qpos, **kw), path,
                           fps)
