"""Desktop play: MuJoCo's passive viewer over a :class:`PlaySession`.

The session runs on this thread at real time (:func:`session.run_realtime`); the viewer renders
on its own thread, so drawing never stalls the simulation.  Keys arrive through the viewer's key
callback (GLFW key codes, mapped onto the browser key names of :data:`commands.KEYMAP`) and are
applied between ticks.  The viewer's own shortcuts still act on its display (e.g. ``c``/``f``
toggle contact points / forces, ``space`` is its pause: harmless here, the loop drives the
simulation), and the help, status and real-time factor are drawn as overlay text.
"""

from __future__ import annotations

import queue
import threading

from interprior_jax.control import commands as cmd_lib
from interprior_jax.control import draw
from interprior_jax.control import session as session_lib

# GLFW key codes of the non-letter keys in the key map (letters and digits are their ASCII code).
GLFW_KEYS = {32: " ", 259: "Backspace", 262: "ArrowRight", 263: "ArrowLeft", 264: "ArrowDown",
             265: "ArrowUp"}


OVERLAY_HZ = 4.0  # refreshes of the overlay text per second


def key_name(code: int) -> str:
  """A GLFW key code -> the browser key name used by the key map (``?<code>`` when unknown)."""
  if code in GLFW_KEYS:
    return GLFW_KEYS[code]
  if 48 <= code <= 57 or 65 <= code <= 90:
    return chr(code).lower()
  return f"?{code}"


def run_desktop(session: session_lib.PlaySession, seconds: float | None = None,
                on_tick=None) -> dict:
  """Plays ``session`` in the passive viewer until the window closes (or ``seconds``);
  returns :func:`session.run_realtime`'s figures.  Needs a display (GLFW)."""
  import mujoco
  import mujoco.viewer

  model = session.model
  data = mujoco.MjData(model)
  keys: queue.Queue = queue.Queue()
  message = [cmd_lib.help_text()]

  with mujoco.viewer.launch_passive(model, data, key_callback=lambda c: keys.put(c),
                                   show_left_ui=False, show_right_ui=False) as v:
    v.cam.type = mujoco.mjtCamera.mjCAMERA_TRACKING
    v.cam.trackbodyid = 1
    v.cam.distance, v.cam.azimuth, v.cam.elevation = draw.CAMERA

    overlay = [("", message[0])]
    done = threading.Event()

    def texts():
      # set_texts waits for the viewer's next frame (~80 ms under a software GL): on its own
      # thread, at most OVERLAY_HZ, so the simulation loop never waits for it.
      shown = None
      while not done.wait(1.0 / OVERLAY_HZ):
        if overlay[0] != shown and v.is_running():
          shown = overlay[0]
          v.set_texts([(None, mujoco.mjtGridPos.mjGRID_TOPLEFT, *shown)])

    threading.Thread(target=texts, daemon=True).start()

    def tick(st: session_lib.Status, rtf: float) -> bool:
      while not keys.empty():
        message[0] = session.press(key_name(keys.get()))
      with v.lock():
        data.qpos[:] = session.qpos()
        mujoco.mj_forward(model, data)
        v.user_scn.ngeom = 0
        draw.add_markers(v.user_scn, st.markers)
      overlay[0] = (f"{st.kind}  command {session.command}  step {st.step}  real time "
                    f"x{rtf:.2f}\n{st.notice}", message[0])
      v.sync()
      if on_tick is not None and on_tick(st, rtf) is False:
        return False
      return v.is_running()

    try:
      return session_lib.run_realtime(session, seconds=seconds, on_tick=tick)
    finally:
      done.set()


__all__ = ["run_desktop", "key_name", "GLFW_KEYS"]
