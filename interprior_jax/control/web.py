"""Browser play: a localhost HTTP server streaming rendered frames of a :class:`PlaySession`
and taking its keys.

Why frames and not poses: the page then needs no 3-D renderer and no script from outside the
package (one static HTML file, :data:`PAGE`), and what it shows is exactly MuJoCo's own render
(meshes, markers) of the simulated state.  Measured cost and latency: docs/play.md.

Threads: the *loop* thread owns the session: it ticks it at real time
(:func:`session.run_realtime`), applies queued keys between ticks and publishes the latest
simulated ``qpos`` and goal markers.  The *render* thread owns the renderer's GL context and turns
the latest published state into a JPEG only while a client is waiting for one (the cost follows
the page's frame rate, and a slow software GL never stalls the simulation: rendering inside the
loop dropped it to 0.24 x real time on 2 busy cores).  The HTTP server (stdlib
``ThreadingHTTPServer``, bound to 127.0.0.1 only) answers from shared state.

Routes: ``GET /`` the page; ``GET /status`` JSON (step, command, rtf, notice, message, root and
object positions, frame cost); ``GET /frame.jpg?after=N`` the first frame of a tick > N (ticks
count policy steps since the server started; waits up to 1 s; headers ``X-Step``: its tick,
``X-Key-Seq``: the last key applied before it); ``POST /key``
``{"key": KeyboardEvent.key}`` -> ``{"seq", "message"}`` once the loop has applied it;
``GET /help`` the key map.
"""

from __future__ import annotations

import collections
import http.server
import json
import pathlib
import queue
import threading
import time
import traceback
import urllib.parse

from interprior_jax.control import commands as cmd_lib
from interprior_jax.control import session as session_lib

PAGE = pathlib.Path(__file__).with_name("static") / "play.html"
HOST = "127.0.0.1"  # never another interface: the page drives a simulation on this machine
FRAME_WAIT_S = 1.0
KEY_WAIT_S = 2.0


class PlayServer:
  """Serves ``session`` on ``http://127.0.0.1:port`` (``port=0``: a free one, see
  :attr:`port` after :meth:`start`)."""

  def __init__(self, session: session_lib.PlaySession, port: int = 0, width: int = 480,
               height: int = 360, quality: int = 80):
    self.session = session
    self.size = (width, height)
    self.quality = quality
    self._keys: queue.Queue = queue.Queue()
    self._key_seq = 0
    self._applied_seq = 0
    self._seq_lock = threading.Lock()
    self._cond = threading.Condition()
    self._frame: tuple[int, int, bytes] | None = None  # (tick, key seq, jpeg)
    self._latest: tuple | None = None  # (tick, key seq, qpos, markers) of the last tick
    self._ticks = 0
    self._want_frame = threading.Event()
    self._stop = threading.Event()
    self._status: dict = {"step": 0, "command": session.command, "kind": session.kind}
    self._message = ""
    self._frame_ms: collections.deque = collections.deque(maxlen=100)
    self._frame_bytes: collections.deque = collections.deque(maxlen=100)
    self._httpd = http.server.ThreadingHTTPServer((HOST, port), _handler(self))
    self._httpd.daemon_threads = True
    self.port = self._httpd.server_address[1]
    self._threads: list[threading.Thread] = []
    self.loop_error: str | None = None

  @property
  def url(self) -> str:
    return f"http://{HOST}:{self.port}/"

  # ------------------------------------------------------------------------------ loop thread
  def _render(self) -> None:
    from interprior_jax.control import draw

    try:
      renderer = draw.FrameRenderer(self.session.model, *self.size)
    except Exception as e:  # no GL backend: the page shows the status only
      self._message = f"renderer unavailable ({type(e).__name__}: {e}); status only"
      return
    done = -1
    while not self._stop.is_set():
      with self._cond:
        while not self._stop.is_set() and (
            self._latest is None or self._latest[0] == done or not self._want_frame.is_set()):
          self._cond.wait(0.1)
        if self._stop.is_set():
          break
        step, seq, qpos, markers = self._latest
      self._want_frame.clear()
      t0 = time.perf_counter()
      jpg = renderer.jpeg(qpos, markers, self.quality)
      self._frame_ms.append(1e3 * (time.perf_counter() - t0))
      self._frame_bytes.append(len(jpg))
      done = step
      with self._cond:
        self._frame = (step, seq, jpg)
        self._cond.notify_all()
    renderer.close()

  def _loop(self) -> None:
    def on_tick(st: session_lib.Status, rtf: float) -> bool:
      while True:
        try:
          seq, key, box, done = self._keys.get_nowait()
        except queue.Empty:
          break
        box["message"] = self.session.press(key)
        self._message = box["message"]
        self._applied_seq = seq
        done.set()
      self._status = {
          "step": st.step, "command": self.session.command, "kind": st.kind,
          "rtf": round(rtf, 3), "notice": st.notice, "message": self._message,
          "root_pos": [round(float(v), 4) for v in st.root_pos],
          "root_yaw": round(float(st.root_yaw), 4),
          "obj_pos": [round(float(v), 4) for v in st.obj_pos],
          "goals_reached": st.goals_reached, "markers": [n for n, _ in st.markers],
          "key_seq": self._applied_seq, "frame_ms": _mean(self._frame_ms),
          "frame_bytes": _mean(self._frame_bytes)}
      self._ticks += 1  # frames are numbered by tick: the episode step restarts at a reset
      with self._cond:
        self._latest = (self._ticks, self._applied_seq, self.session.qpos(), st.markers)
        self._cond.notify_all()
      return not self._stop.is_set()

    while not self._stop.is_set():
      try:
        self.stats = session_lib.run_realtime(self.session, on_tick=on_tick)
      except Exception as e:  # keep serving: report, reset, go on
        self.loop_error = "".join(traceback.format_exception_only(type(e), e)).strip()
        self._message = f"simulation error ({self.loop_error}); the episode was reset"
        try:
          self.session.reset()
        except Exception:
          time.sleep(0.5)

  # ------------------------------------------------------------------------------ HTTP side
  def press(self, key: str) -> dict:
    """Queues ``key`` for the loop and waits until it is applied: ``{"seq", "message"}``."""
    with self._seq_lock:
      self._key_seq += 1
      seq = self._key_seq
    box: dict = {}
    done = threading.Event()
    self._keys.put((seq, key, box, done))
    if not done.wait(KEY_WAIT_S):
      return {"seq": seq, "message": "the simulation did not answer in time"}
    return {"seq": seq, "message": box["message"]}

  def frame_after(self, step: int) -> tuple[int, int, bytes] | None:
    deadline = time.monotonic() + FRAME_WAIT_S
    with self._cond:
      while self._frame is None or self._frame[0] <= step:
        self._want_frame.set()
        self._cond.notify_all()
        left = deadline - time.monotonic()
        if left <= 0:
          break
        self._cond.wait(min(left, 0.1))
      return self._frame

  def status(self) -> dict:
    return dict(self._status)

  # ------------------------------------------------------------------------------ lifecycle
  def start(self) -> "PlayServer":
    for target in (self._loop, self._render, self._httpd.serve_forever):
      t = threading.Thread(target=target, daemon=True)
      t.start()
      self._threads.append(t)
    return self

  def stop(self) -> None:
    self._stop.set()
    self._httpd.shutdown()
    self._httpd.server_close()
    for t in self._threads:
      t.join(timeout=5)


def _mean(xs) -> float:
  return round(sum(xs) / len(xs), 2) if xs else 0.0


def _handler(server: PlayServer):
  class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet: the loop prints its own status
      pass

    def _send(self, code: int, body: bytes, ctype: str, headers: dict | None = None):
      self.send_response(code)
      self.send_header("Content-Type", ctype)
      self.send_header("Content-Length", str(len(body)))
      self.send_header("Cache-Control", "no-store")
      for k, v in (headers or {}).items():
        self.send_header(k, str(v))
      self.end_headers()
      try:
        self.wfile.write(body)
      except (BrokenPipeError, ConnectionResetError):  # the page went away mid-frame
        pass

    def _json(self, obj, code: int = 200):
      self._send(code, json.dumps(obj).encode(), "application/json")

    def do_GET(self):
      url = urllib.parse.urlparse(self.path)
      if url.path in ("/", "/index.html"):
        self._send(200, PAGE.read_bytes(), "text/html; charset=utf-8")
      elif url.path == "/status":
        self._json(server.status())
      elif url.path == "/help":
        self._json({"help": cmd_lib.help_text(), "keys": sorted(cmd_lib.KEYMAP)})
      elif url.path == "/frame.jpg":
        q = urllib.parse.parse_qs(url.query)
        try:
          after = int(q.get("after", ["-1"])[0])
        except ValueError:
          return self._json({"error": "after: not an integer"}, 400)
        f = server.frame_after(after)
        if f is None:
          return self._json({"error": "no frame yet", "message": server.status().get("message")},
                            503)
        step, seq, jpg = f
        self._send(200, jpg, "image/jpeg", {"X-Step": step, "X-Key-Seq": seq})
      else:
        self._json({"error": f"no route {url.path}"}, 404)

    def do_POST(self):
      if urllib.parse.urlparse(self.path).path != "/key":
        return self._json({"error": "POST /key only"}, 404)
      try:
        n = int(self.headers.get("Content-Length", "0"))
        key = json.loads(self.rfile.read(n) or b"{}")["key"]
        if not isinstance(key, str):
          raise TypeError("key must be a string")
      except (ValueError, KeyError, TypeError) as e:
        return self._json({"error": f'body must be {{"key": "<KeyboardEvent.key>"}} ({e})'}, 400)
      self._json(server.press(key))

  return Handler


__all__ = ["PlayServer", "PAGE", "HOST"]
