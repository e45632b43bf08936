"""Real-time keyboard play of a policy bundle in plain MuJoCo (sim-to-sim: JAX inference, MuJoCo C
physics), on the desktop or in the browser.

  python experiments/play.py --bundle pretrained/embedded_student              # desktop viewer
  python experiments/play.py --bundle pretrained/embedded_student --web 8000   # browser page
  python experiments/play.py --bundle pretrained/embedded_expert --bench 300   # headless figure

``--bundle``: a Stage-2/3 student (keys become goals: interprior_jax/control/commands.py has the
key map; ``h`` shows it) or a Stage-1 expert (replays its clip, for debugging).  ``--web PORT``
serves http://127.0.0.1:PORT/ (localhost only; the page needs nothing from outside the package).
``--bench N`` runs N policy steps with no display and no pacing and prints the loop's rate as JSON
(``--keys w,a,...`` presses those keys first, one per step).  ``--record OUT.mp4 --script
w:2,a:3,d:3`` plays a timed key script headless and renders it.  docs/play.md: what the page shows,
the measured latency and cost.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

flags.DEFINE_string("bundle", None, "Policy bundle (a workdir holding policy/, or policy/ itself).",
                    required=True)
flags.DEFINE_integer("web", None, "Serve the browser page on 127.0.0.1:PORT instead of the "
                     "desktop viewer.")
flags.DEFINE_integer("clip", 0, "Clip of the bundle's data to start from.")
flags.DEFINE_integer("seed", 0, "Seed of the latent noise and resets.")
flags.DEFINE_bool("latent_mean", False, "Student: act on the prior's mean latent (deterministic) "
                  "instead of a per-episode prior sample.")
flags.DEFINE_float("move_lead", None, "Student: move / turn keys also give a pelvis target this "
                   "many seconds ahead in the snapshot token (0: trajectory tokens only; default "
                   "commands.MOVE_LEAD_S; docs/play.md).")
flags.DEFINE_float("seconds", None, "Stop after this many seconds (default: until closed).")
flags.DEFINE_integer("bench", None, "Headless: run N policy steps unpaced, print the rate.")
flags.DEFINE_list("keys", [], "Keys pressed before the first --bench steps, one per step.")
flags.DEFINE_string("screenshot", None, "Desktop: save a PNG of the screen after "
                    "SCREENSHOT_AFTER_S of play (for docs and the Xvfb test).")
flags.DEFINE_string("record", None, "Headless: play --script and write an MP4 of it here (the "
                    "goal markers drawn), then exit.")
flags.DEFINE_string("script", "w:2,a:3,d:3", "--record's keys: KEY:SECONDS, comma separated "
                    "('space' for the space bar).")
flags.DEFINE_integer("width", 480, "Browser / --record frame width (px).")
flags.DEFINE_integer("height", 360, "Browser / --record frame height (px).")
FLAGS = flags.FLAGS
SCREENSHOT_AFTER_S = 1.5


def main(_):
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  if FLAGS.web is not None or FLAGS.bench is not None or FLAGS.record is not None:
    from interprior_jax import render
    render.default_gl_backend()  # offscreen frames (EGL) unless a display is set
  from interprior_jax import runtime
  from interprior_jax.control import commands as cmd_lib
  from interprior_jax.control import session as session_lib

  runtime.enable_compilation_cache()
  lead = cmd_lib.MOVE_LEAD_S if FLAGS.move_lead is None else FLAGS.move_lead
  t0 = time.perf_counter()
  session = session_lib.PlaySession(FLAGS.bundle, clip=FLAGS.clip, seed=FLAGS.seed,
                                    latent_mean=FLAGS.latent_mean, move_lead_s=lead)
  session.tick()  # compile
  session.reset()
  print(f"play: {session.kind} bundle {FLAGS.bundle} ready in {time.perf_counter() - t0:.1f} s "
        f"(clip {FLAGS.clip}, policy step {1e3 * float(session.env.dt):.1f} ms)")

  if FLAGS.bench is not None:
    print(json.dumps(bench(session, FLAGS.bench, FLAGS.keys)))
    return
  if FLAGS.record is not None:
    print(json.dumps(record(session, FLAGS.script, FLAGS.record, FLAGS.width, FLAGS.height)))
    return
  if FLAGS.web is not None:
    from interprior_jax.control import web

    server = web.PlayServer(session, port=FLAGS.web, width=FLAGS.width,
                            height=FLAGS.height).start()
    print(f"play: open {server.url} (Ctrl-C stops)")
    try:
      end = None if FLAGS.seconds is None else time.monotonic() + FLAGS.seconds
      while end is None or time.monotonic() < end:
        time.sleep(1.0)
        s = server.status()
        print(f"\rstep {s.get('step', 0):6d}  {s.get('command', ''):10s}  real time "
              f"x{s.get('rtf', 0.0):.2f}  {s.get('notice', '')[:60]}", end="", flush=True)
    except KeyboardInterrupt:
      pass
    server.stop()
    print()
    return
  from interprior_jax.control import desktop

  shot_step = int(round(SCREENSHOT_AFTER_S / float(session.env.dt)))

  def screenshot(st, rtf):
    if st.step == shot_step:
      from PIL import ImageGrab
      ImageGrab.grab(xdisplay=os.environ.get("DISPLAY")).save(FLAGS.screenshot)
      print(f"play: screenshot {FLAGS.screenshot} at step {st.step} (real time x{rtf:.2f})")
    return True

  stats = desktop.run_desktop(session, seconds=FLAGS.seconds,
                              on_tick=screenshot if FLAGS.screenshot else None)
  print(f"play: {stats['ticks']} steps, {stats['ticks_per_s']:.1f} steps/s, real time "
        f"x{stats['rtf']:.2f}")


def record(session, script: str, path: str, width: int, height: int) -> dict:
  """Plays the key script headless and renders it (markers of the active goal) to ``path``."""
  from interprior_jax import render
  from interprior_jax.control import draw
  from interprior_jax.control import session as session_lib

  keys = session_lib.parse_key_script(script, float(session.env.dt))
  rec = session_lib.record_key_script(session, keys)

  def frames():
    r = draw.FrameRenderer(session.model, width, height)
    try:
      return r.frames(rec["qpos"], rec["markers"])
    finally:
      r.close()

  out = render.render_with(frames, path, fps=1.0 / float(session.env.dt))
  segments = session_lib.script_segments(rec, keys)
  return {"video": out, "steps": len(rec["qpos"]), "script": script, "segments": segments}


def bench(session, steps: int, keys) -> dict:
  """Unpaced ticks: what the loop could sustain (policy steps/s) on this machine."""
  for k in keys:
    session.press(k)
    session.tick()
  t0 = time.perf_counter()
  for _ in range(steps):
    session.tick()
  wall = time.perf_counter() - t0
  return {"kind": session.kind, "steps": steps, "wall_s": round(wall, 3),
          "policy_steps_per_s": round(steps / wall, 1),
          "real_time_factor": round(steps * float(session.env.dt) / wall, 2),
          "command": session.command, "notice": session.notice}


if __name__ == "__main__":
  app.run(main)
