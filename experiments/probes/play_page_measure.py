"""The browser play path measured in a real headless Chromium (docs/play.md): frames/s the page
receives, key -> frame latency, frame cost, the simulation's real-time factor; saves a screenshot.

  python experiments/probes/play_page_measure.py BUNDLE OUT.png [KEY ...]

Needs Debian's chromium + chromium-driver and selenium.  Prints one JSON line.
"""
import json
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import runtime  # noqa: E402
from interprior_jax.control import session as S  # noqa: E402
from interprior_jax.control import web  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402

runtime.enable_compilation_cache()
bundle, out = sys.argv[1], sys.argv[2]
keys = sys.argv[3:] or ["q", "w"]
s = S.PlaySession(bundle); s.tick(); s.reset()
srv = web.PlayServer(s, port=0).start()
o = webdriver.ChromeOptions(); o.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--window-size=1000,700", "--user-data-dir=" + tempfile.mkdtemp()):
  o.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
d.get(srv.url)
time.sleep(3)


def p():
  return d.execute_script("return window.play")



f0 = p()["frames"]; t0 = time.time(); time.sleep(10); fps = (p()["frames"] - f0) / (time.time() - t0)
roots = []
for k in keys:
  ActionChains(d).send_keys(k).perform()
  time.sleep(2.0)
  st = srv.status(); roots.append((k, st["command"], st["root_pos"], p()["lastMessage"]))
time.sleep(1)
d.save_screenshot(out)
st = srv.status()
res = {"page_fps": round(fps, 1), "latencies_ms": [round(x) for x in p()["latencies"]],
       "frame_ms": st["frame_ms"], "frame_bytes": st["frame_bytes"], "rtf": st["rtf"], "keys": roots}
print(json.dumps(res))
d.quit(); srv.stop()
