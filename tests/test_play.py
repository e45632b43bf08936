"""Keyboard play (experiments/play.py): goal markers, key names, the play loop on a committed
bundle, the browser page served by ``control.web`` (HTTP, and in a real headless Chromium), and
the desktop viewer under Xvfb.  One env compile for the module (the committed embedded expert; the
committed student when there is one)."""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request

import jax.numpy as jnp
import numpy as np
import pytest

from interprior_jax import geometry
from interprior_jax.control import commands
from interprior_jax.control import desktop
from interprior_jax.control import session as session_lib
from interprior_jax.envs import goals as goals_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXPERT = ROOT / "pretrained" / "embedded_expert"
STUDENT = ROOT / "pretrained" / "embedded_student"
LOCOMOTION = ROOT / "pretrained" / "locomotion_student"
# Steering (set before the first steering student was measured): after 3 s of a key, the pelvis has
# moved >= STEER_MIN_FWD m forward for "w" and turned >= STEER_MIN_TURN_DEG in the key's direction
# for "a" / "d" (the first turn commands asked for 1 rad/s, ~170 deg; since 2026-12-03 a turn is
# a walk along a heading 60 deg off the current one, re-aimed every step).  The first embedded
# student walks the same 1.3 m forward whatever the key (docs/play.md): it fails the turns.
STEER_MIN_FWD = 0.5
STEER_MIN_TURN_DEG = 30.0
STEER_SECONDS = 3.0
# Each key gets up to STEER_TRIES tries, pressed STEER_ONSET + i * STEER_ONSET_STEP steps after a
# reset, and must succeed once: whether this student falls in a turn depends on the phase of its
# gait at the key (the browser test's docstring has the measurement), and which phases fall moves
# with the CPU's float rounding (the headless test's single onset at 15 steps passed on one
# machine and fell in "d" on another, 2026-12-04, same code and bundle).
STEER_TRIES = 4
STEER_ONSET = 15
STEER_ONSET_STEP = 12


def test_goal_markers_are_the_goal_targets_in_the_world():
  B, C, H = 4, 2, 2
  ids = goals_lib.residual_field_ids(B, C)
  D = ids.size
  body = np.flatnonzero(ids == goals_lib.FIELDS.index("body_pos")).reshape(B, 3)[0]
  obj = np.flatnonzero(ids == goals_lib.FIELDS.index("obj_pos"))
  goals, mask = np.zeros((H + 1, D)), np.zeros((H + 1, D))
  goals[H - 1, body] = [1.0, 0.0, 0.0]  # last trajectory token: pelvis 1 m ahead
  mask[H - 1, body] = 1.0
  goals[H, obj] = [0.0, 0.5, 0.3]  # snapshot: object 0.5 m to the left and 0.3 m up
  mask[H, obj] = 1.0
  yaw = np.pi / 2  # the root faces +y
  root_quat = jnp.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])
  root, objp = jnp.array([1.0, 2.0, 0.9]), jnp.array([3.0, 2.0, 0.2])
  pos, given = session_lib.goal_markers(jnp.asarray(goals), jnp.asarray(mask), root, root_quat,
                                        objp, ids, B)
  np.testing.assert_array_equal(given, [1.0, 0.0, 1.0])
  np.testing.assert_allclose(pos[0], [1.0, 3.0, 0.9], atol=1e-6)  # ahead = +y
  np.testing.assert_allclose(pos[2], [2.5, 2.0, 0.5], atol=1e-6)  # left of +y = -x
  # Tilt does not enter: only the heading rotates the goal.
  tilted = geometry.quat_mul(root_quat, jnp.array([np.cos(0.2), np.sin(0.2), 0.0, 0.0]))
  pos2, _ = session_lib.goal_markers(jnp.asarray(goals), jnp.asarray(mask), root, tilted, objp,
                                     ids, B)
  np.testing.assert_allclose(pos2[0], pos[0], atol=1e-5)


def test_glfw_key_codes_map_onto_the_key_map():
  for key, cmd in commands.KEYMAP.items():
    if len(key) == 1 and key != " ":
      assert commands.command_for_key(desktop.key_name(ord(key.upper()))) == cmd, key
  for code, name in desktop.GLFW_KEYS.items():
    assert commands.command_for_key(desktop.key_name(code)) == commands.KEYMAP[name]
  assert commands.command_for_key(desktop.key_name(290)) is None  # F1: not a command


def _bundle_copy(tmp_path, **edits):
  dst = tmp_path / "bundle"
  shutil.copytree(EXPERT / "policy", dst)
  cfg = json.loads((dst / "config.json").read_text())
  for k, v in edits.items():
    cfg[k] = v
  (dst / "config.json").write_text(json.dumps(cfg))
  return dst


def test_wrong_bundles_are_refused_naming_file_and_field(tmp_path):
  bad = _bundle_copy(tmp_path, env_kind="toy")
  with pytest.raises(ValueError, match=r"bundle/config.json: field 'env_kind'"):
    session_lib.PlaySession(bad)
  with pytest.raises(ValueError, match=r"config.json: field 'env.scene.humanoid' is 'smpl', "
                     r"expected 'g1'"):
    session_lib.PlaySession(EXPERT, humanoid="g1")


@pytest.fixture(scope="module")
def expert_session():
  s = session_lib.PlaySession(EXPERT)
  s.tick()  # compile
  s.reset()
  return s


def test_expert_replays_its_clip_and_refuses_goal_keys(expert_session):
  s = expert_session
  s.reset()
  assert "unknown key" in s.press("q")
  assert "needs a Stage-2/3 student" in s.press("w")
  start = s.tick().root_pos
  for _ in range(59):
    st = s.tick()
  moved = st.root_pos[:2] - start[:2]
  clip = s.clips[s.clip]
  want = np.asarray(clip.root_pos[60, :2] - clip.root_pos[1, :2])
  assert np.linalg.norm(want) > 0.3, "the clip's first 2 s walk to the box"
  cos = moved @ want / (np.linalg.norm(moved) * np.linalg.norm(want))
  assert cos > 0.8 and np.linalg.norm(moved) > 0.5 * np.linalg.norm(want), (moved, want)
  assert s.press("0") == "reset" and s.steps == 0


def test_key_script_parses_and_refuses_bad_entries():
  assert session_lib.parse_key_script("w:2, a:0.5,space:1", 1 / 30) == [
      ("w", 60), ("a", 15), (" ", 30)]
  for bad, why in (("q:1", "key of the key map"), ("w", "key of the key map"),
                   ("w:0", "positive"), ("w:x", "positive"), (",", "empty")):
    with pytest.raises(ValueError, match=why):
      session_lib.parse_key_script(bad, 1 / 30)


def test_recorded_key_script_has_one_entry_per_step(expert_session):
  rec = session_lib.record_key_script(expert_session, [("w", 4), ("0", 3)])
  assert rec["qpos"].shape[0] == rec["root_pos"].shape[0] == len(rec["markers"]) == 7
  assert rec["root_yaw"].shape == (7,) and len(rec["commands"]) == 7
  # the expert replays its clip: it moves, and "0" restarted it at the clip's first frame
  assert np.linalg.norm(rec["root_pos"][3, :2] - rec["root_pos"][0, :2]) > 0.0
  np.testing.assert_allclose(rec["root_pos"][4], rec["root_pos"][0], atol=1e-5)
  seg = session_lib.script_segments(rec, [("w", 4), ("0", 3)])
  assert [x["steps"] for x in seg] == [4, 3] and seg[0]["path_m"] > 0.0
  assert seg[0]["fall_steps"] == [] and seg[1]["fall_steps"] == [], "a reset key is no fall"
  expert_session.reset()  # the module's server starts from step 0 (its rate check needs 3 ticks)


def _get(url, timeout=10):
  with urllib.request.urlopen(url, timeout=timeout) as r:
    return r.status, dict(r.headers), r.read()


def _post(url, body: bytes, timeout=10):
  req = urllib.request.Request(url, data=body, method="POST")
  try:
    with urllib.request.urlopen(req, timeout=timeout) as r:
      return r.status, json.loads(r.read())
  except urllib.error.HTTPError as e:
    return e.code, json.loads(e.read())


def _serve(session):
  """A started :class:`web.PlayServer` on ``session`` whose loop has run 3 steps (generator:
  stops the server after the yield)."""
  from interprior_jax.control import web

  srv = web.PlayServer(session, port=0).start()
  deadline = time.monotonic() + 30
  while srv.status().get("step", 0) < 3 and time.monotonic() < deadline:
    time.sleep(0.1)
  yield srv
  srv.stop()


@pytest.fixture(scope="module")
def server(expert_session):
  yield from _serve(expert_session)


def test_web_server_serves_page_status_frames_and_keys(server):
  status, _, page = _get(server.url)
  assert status == 200 and b"window.play" in page
  assert b"http://" not in page and b"https://" not in page, "the page fetches nothing outside"
  _, _, st = _get(server.url + "status")
  st = json.loads(st)
  # Paced, never faster than real time; how close to real time it gets on a loaded 2-core
  # machine is a benchmark (docs/play.md "Loop rate"), not a test: a lower bound here failed
  # under load (rtf 0.44 at the 3rd step of a full suite run).
  assert st["kind"] == "expert" and st["step"] >= 3 and 0.0 < st["rtf"] < 1.5, st
  try:
    status, headers, jpg = _get(server.url + "frame.jpg?after=-1")
  except urllib.error.HTTPError as e:  # 503: no GL backend for offscreen frames
    pytest.skip(f"no offscreen renderer: {e.read()[:200]!r}")
  import io

  from PIL import Image
  img = np.asarray(Image.open(io.BytesIO(jpg)))
  assert img.shape == (360, 480, 3) and img.std() > 10, "a rendered scene, not a blank frame"
  step = int(headers["X-Step"])
  _, headers2, _ = _get(server.url + f"frame.jpg?after={step}")
  assert int(headers2["X-Step"]) > step, "frames follow the simulation"
  code, a = _post(server.url + "key", json.dumps({"key": "F13"}).encode())
  assert code == 200 and "unknown key" in a["message"] and a["seq"] >= 1
  code, a = _post(server.url + "key", b"not json")
  assert code == 400 and "key" in a["error"]
  assert server.loop_error is None


def _chromium():
  for name in ("chromium", "chromium-browser"):
    path = shutil.which(name)
    if path:
      return path
  return None


def _headless_chromium(tmp_path):
  """A selenium driver of Debian's headless Chromium (skips the test when it is missing)."""
  webdriver = pytest.importorskip("selenium.webdriver")
  from selenium.webdriver.chrome.service import Service

  chromium, driver_path = _chromium(), shutil.which("chromedriver")
  if chromium is None or driver_path is None:
    pytest.skip("Debian's chromium and chromium-driver are not installed")
  opts = webdriver.ChromeOptions()
  opts.binary_location = chromium
  for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--window-size=1100,600", f"--user-data-dir={tmp_path / 'chrome'}"):
    opts.add_argument(a)
  return webdriver.Chrome(service=Service(driver_path), options=opts)


def _open_page(drv, url):
  """Loads the play page and waits until it has shown 5 frames; returns ``() -> window.play``."""
  drv.get(url)
  play = lambda: drv.execute_script("return window.play")  # noqa: E731
  deadline = time.monotonic() + 30
  while play()["frames"] < 5 and time.monotonic() < deadline:
    time.sleep(0.2)
  assert play()["frames"] >= 5, f"the page shows frames: {play()}"
  return play


def test_browser_page_in_headless_chromium(server, tmp_path):
  """Loads the page in a real headless Chromium, presses keys, checks the frames and the answers;
  saves a screenshot in the test's temp folder."""
  from selenium.webdriver.common.action_chains import ActionChains

  drv = _headless_chromium(tmp_path)
  try:
    play = _open_page(drv, server.url)
    # the page records each decoded frame's size in its load event (polling the <img> itself
    # read 0 for 10 s in CI under load: it reports 0 while the next frame loads)
    shown = play()
    assert (shown["width"], shown["height"]) == server.size, shown
    assert shown["decodeErrors"] == 0, shown
    for key, want in (("q", "unknown key"), ("w", "needs a Stage-2/3 student")):
      ActionChains(drv).send_keys(key).perform()
      deadline = time.monotonic() + 10
      while want not in play()["lastMessage"] and time.monotonic() < deadline:
        time.sleep(0.1)
      assert want in play()["lastMessage"]
      assert want in drv.find_element("id", "message").text
    deadline = time.monotonic() + 10
    while not play()["latencies"] and time.monotonic() < deadline:
      time.sleep(0.1)
    lat = play()["latencies"]
    assert lat, "a frame after the key arrived"
    print(f"key -> frame latency (ms): {[round(x) for x in lat]}")
    shot = tmp_path / "play_page.png"
    drv.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
  finally:
    drv.quit()


def _free_display() -> int:
  for n in range(90, 120):
    if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
      return n
  raise RuntimeError("no free X display number")


def test_desktop_viewer_under_xvfb(expert_session, tmp_path):
  """experiments/play.py's passive viewer runs at real time under Xvfb; a screenshot shows the
  scene.  A subprocess (GLFW keeps its X connection until the process exits; the module's
  session has filled the compilation cache, so it does not compile again)."""
  if shutil.which("Xvfb") is None:
    pytest.skip("Xvfb is not installed (Debian package xvfb)")
  n = _free_display()
  xvfb = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1024x700x24"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  try:
    # Under the suite's load Xvfb may take seconds to open its socket.
    for _ in range(300):
      if os.path.exists(f"/tmp/.X11-unix/X{n}"):
        break
      time.sleep(0.1)
    else:
      pytest.fail(f"Xvfb :{n} opened no socket in 30 s")
    shot = tmp_path / "desktop.png"
    env = {**os.environ, "DISPLAY": f":{n}", "MUJOCO_GL": "glfw"}
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / "play.py"), "--bundle",
                        str(EXPERT), "--seconds", "3", "--screenshot", str(shot)],
                       env=env, capture_output=True, text=True, timeout=600)
    # A crash's own report (faulthandler's traceback) comes before its list of modules. Seen
    # once (2026-12-07, fresh-clone suite): the viewer's process died of SIGSEGV; not reproduced
    # in 6 runs alone or beside a training run; the message showed only the module list.
    crash = r.stderr.find("Fatal Python error")
    assert r.returncode == 0, r.stderr[crash:crash + 4000] if crash >= 0 else r.stderr[-2000:]
    assert "screenshot" in r.stdout, r.stdout
    from PIL import Image
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (700, 1024) and img.std() > 10, "the window shows a scene"
    steps = [ln for ln in r.stdout.splitlines() if "steps/s" in ln]
    print(steps)
  finally:
    xvfb.terminate()
    xvfb.wait(timeout=10)


@pytest.mark.skipif(not (STUDENT / "policy").is_dir(), reason="no committed student bundle")
def test_student_session_keys_become_the_key_maps_goals():
  """A scripted key sequence on the committed student: after each key, the goal the policy gets is
  exactly the key map's command goal built from the current state, and the markers follow."""
  from interprior_jax.envs import goal_env

  s = session_lib.PlaySession(STUDENT)
  assert s.kind == "student"
  # move / turn: the trajectory tokens' pelvis path and, with the default 1 s lead
  # (commands.MOVE_LEAD_S), the snapshot token's pelvis target
  script = [("w", "forward", ("pelvis_path", "pelvis")),
            ("a", "turn_left", ("pelvis_path", "pelvis")),
            ("r", "lift", ("object",)), (" ", "stand", ("pelvis",)),
            ("x", "release", ()), ("q", "release", ())]
  for key, command, markers in script:
    msg = s.press(key)
    assert s.command == command, (key, msg)
    for _ in range(3):
      st = s.tick()
    assert tuple(n for n, _ in st.markers) == markers, (key, st.markers)
    goals, mask = s.current_goal()
    sim, x = goal_env.hoi_sim_features(s.env, s.state)
    want_g, want_m = commands.command_goal(s.layout, command, x, sim.root_pos[2])
    np.testing.assert_allclose(mask, want_m)
    np.testing.assert_allclose(goals, want_g, atol=1e-5)
  assert "unknown key" in msg
  assert s.press("n").startswith("snapshot") and s.command == "snapshot"
  goals, mask = s.current_goal()
  assert np.all(np.asarray(mask[-1]) == 1) and not np.any(np.asarray(mask[:-1]))


def _heading_yaw(session) -> float:
  sim = session.env.physics.frame(session.state.pipeline_state)
  h = np.asarray(geometry.quat_rotate(sim.root_quat, jnp.array([1.0, 0.0, 0.0])))
  return float(np.arctan2(h[1], h[0]))


def _wrap_deg(a: float) -> float:
  return float((a + 180.0) % 360.0 - 180.0)


@pytest.fixture(scope="module")
def steering_session():
  if not (LOCOMOTION / "policy").is_dir():
    pytest.skip("no committed locomotion student bundle")
  s = session_lib.PlaySession(LOCOMOTION, latent_mean=True)
  s.tick()  # compile
  return s


def _yaw_step_deg(y0: float, y1: float) -> float:
  """Heading change (deg) between two readings taken a short time apart (< 180 deg)."""
  return _wrap_deg(np.degrees(y1 - y0))


def test_locomotion_student_steers_with_the_keys(steering_session):
  """Headless: from the clip's start, STEER_ONSET (+ i * STEER_ONSET_STEP) steps, then each key
  for 3 s: "w" walks forward, "a" turns left and "d" turns right (pelvis displacement; heading
  change summed step by step, so a turn past 180 deg still reads as a turn its way), without
  falling (a fall resets the episode: the step counter would restart); up to STEER_TRIES onsets
  per key, one must succeed (why: the constants' comment). A student that ignores the keys
  follows clip 0's own path, which never turns right by 30 deg: "d" fails from every onset."""
  s = steering_session
  steps = int(round(STEER_SECONDS / s.env.dt))

  def attempt(key, onset):
    s.reset()
    for _ in range(onset):
      st = s.tick()
    yaw0, p0 = st.root_yaw, np.asarray(st.root_pos[:2])
    turned, last, step = 0.0, st.root_yaw, st.step
    s.press(key)
    for _ in range(steps):
      st = s.tick()
      turned += _yaw_step_deg(last, st.root_yaw)
      if st.step != step + 1:
        return None  # fell: the episode was reset
      last, step = st.root_yaw, st.step
    head = np.array([np.cos(yaw0), np.sin(yaw0)])
    return float((np.asarray(st.root_pos[:2]) - p0) @ head), turned

  passed = {"w": lambda fwd, turn: fwd >= STEER_MIN_FWD,
            "a": lambda fwd, turn: turn >= STEER_MIN_TURN_DEG,
            "d": lambda fwd, turn: turn <= -STEER_MIN_TURN_DEG}
  tries = {}
  for key, ok in passed.items():
    tries[key] = []
    for i in range(STEER_TRIES):
      r = attempt(key, STEER_ONSET + STEER_ONSET_STEP * i)
      tries[key].append("fell" if r is None else tuple(round(x, 2) for x in r))
      if r is not None and ok(*r):
        break
  print("headless steering (forward m, turn deg) per onset:", tries)
  for key, ok in passed.items():
    assert any(r != "fell" and ok(*r) for r in tries[key]), tries


@pytest.fixture(scope="module")
def steering_server(steering_session):
  steering_session.reset()
  yield from _serve(steering_session)


def test_browser_keys_steer_the_student_in_headless_chromium(steering_server, tmp_path):
  """In a real headless Chromium on the page served for the locomotion student: "0" (reset),
  then "a" turns the simulated pelvis left; "0", then "d" turns it right (heading from the
  server's status, read while the page shows frames); screenshot in the test's temp folder.

  Each turn starts from a reset, as the headless test's keys do (this student falls when "d"
  follows 3 s of "a"), but at a step the real-time loop decides, and whether this student falls
  depends on the phase of its gait at the key (the loop is deterministic for a given onset).
  Measured on clip 0 (experiments/probes/steer_onsets.py, onsets 14, 16, ..., 50 steps after a
  reset): "a" turned left without a fall from 16 of 19 onsets, "d" right from 13 of 19 (the
  others: a fall).  So each key gets up to STEER_TRIES tries, pressed
  15, 27, 39 and 51 steps (STEER_ONSET + i * STEER_ONSET_STEP, plus the page's latency) after a
  reset, and must succeed once
  (a student that ignores the keys follows clip 0's own path, which never turns right by 30
  deg: "d" fails).
  """
  from selenium.webdriver.common.action_chains import ActionChains

  drv = _headless_chromium(tmp_path)
  srv = steering_server

  def attempt(key, settle):
    """(heading change (deg), fell) of one reset, ``settle`` steps, then 3 s of ``key``."""
    seq0 = srv.status()["key_seq"]
    ActionChains(drv).send_keys("0").perform()
    deadline, was_reset = time.monotonic() + 60, False
    while time.monotonic() < deadline:
      st = srv.status()
      # the status of the tick that applied "0" still shows the old step: wait for the restart
      was_reset |= st["key_seq"] > seq0 and st["step"] < settle
      if was_reset and st["step"] >= settle:
        break
      time.sleep(0.05)
    assert was_reset and st["command"] == "stand" and st["step"] < settle + 30, st
    last, step0, total, fell = st["root_yaw"], st["step"], 0.0, False
    ActionChains(drv).send_keys(key).perform()
    deadline = time.monotonic() + 60
    while st["step"] < step0 + STEER_SECONDS / srv.session.env.dt and \
        time.monotonic() < deadline and not fell:
      time.sleep(0.1)
      prev, st = st, srv.status()
      fell = st["step"] < prev["step"]  # a fall resets the episode
      total += _yaw_step_deg(last, st["root_yaw"])  # polls ~3 policy steps apart
      last = st["root_yaw"]
    assert st["command"] == commands.KEYMAP[key] or fell, st
    if fell:
      print(f"  {key}: onset step {step0}, {st['notice']}")
    return total, fell

  try:
    _open_page(drv, srv.url)
    tries = {}
    for key, sign in (("a", 1.0), ("d", -1.0)):
      tries[key] = []
      for i in range(STEER_TRIES):  # tries at different phases of the gait
        turned, fell = attempt(key, settle=STEER_ONSET + STEER_ONSET_STEP * i)
        tries[key].append((round(turned, 1), fell))
        if not fell and sign * turned >= STEER_MIN_TURN_DEG:
          break
    print("browser steering, heading change (deg), fell:", tries)
    for key, sign in (("a", 1.0), ("d", -1.0)):
      assert any(not f and sign * t >= STEER_MIN_TURN_DEG for t, f in tries[key]), tries
    shot = tmp_path / "steer_page.png"
    drv.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
  finally:
    drv.quit()
  assert srv.loop_error is None


GETUP = ROOT / "pretrained" / "locomotion_getup"


def test_get_up_key_asks_the_finetune_for_its_skill():
  """``u``: a bundle with the get-up skill gets task 1 and no goal, and its session keeps a
  fallen humanoid (no fall termination: the skill is what gets it up); a student without the
  skill refuses the key and keeps its command."""
  if not (GETUP / "policy").is_dir():
    pytest.skip("no committed get-up finetune")
  s = session_lib.PlaySession(GETUP, latent_mean=True)
  assert s.getup and tuple(s.config.env.termination.enabled) == ()
  assert s.press("u") == "get_up" and int(s._goal_args()[3]) == 1
  goals, mask = s.current_goal()
  assert not np.any(np.asarray(mask))
  for _ in range(3):
    st = s.tick()
  assert st.step == 3 and st.command == "get_up"
  s.press(" ")
  assert int(s._goal_args()[3]) == 0
  plain = session_lib.PlaySession(LOCOMOTION, latent_mean=True)
  assert not plain.getup and "needs" in plain.press("u") and plain.command == "stand"
