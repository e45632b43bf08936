"""Does a student steer on every clip?  The procedure of tests/test_play.py (reset, 15 steps,
a key, 90 steps) for w / a / d on each clip: forward displacement along the initial heading (m),
heading change unwrapped step by step (deg, + = left: a turn past 180 deg stays a turn), the
final and the lowest pelvis height (m).

  python experiments/probes/steer_clips.py BUNDLE MODE CLIP...
      MODE: "carry" (the test's old order: the previous key stays active through the reset and
      the 15 steps; before reset() cleared the command) or "stand" (space pressed after each
      reset); LATENT=sample in the environment: a prior sample per reset (play.py's default)
      instead of the prior mean
"""
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import runtime  # noqa: E402
from interprior_jax.control import session as S  # noqa: E402


def main(bundle, mode, *clips):
  runtime.enable_compilation_cache()
  for clip in map(int, clips):
    s = S.PlaySession(bundle, clip=clip, latent_mean=os.environ.get("LATENT", "mean") == "mean")
    out = []
    for key in ("w", "a", "d"):
      s.reset()
      if mode == "stand":
        s.press(" ")
      for _ in range(15):
        st = s.tick()
      y0 = y = st.root_yaw
      turned, p0, zmin = 0.0, np.asarray(st.root_pos[:2]), 9.0
      s.press(key)
      for _ in range(90):
        st = s.tick()
        y1 = st.root_yaw
        turned += (y1 - y + np.pi) % (2 * np.pi) - np.pi
        y, zmin = y1, min(zmin, float(st.root_pos[2]))
      fwd = float((np.asarray(st.root_pos[:2]) - p0) @ np.array([np.cos(y0), np.sin(y0)]))
      out.append(f"{key} {fwd:+.2f} m {np.degrees(turned):+5.0f} deg z {st.root_pos[2]:.2f}/{zmin:.2f}")
    print(f"{mode} clip {clip:2d}: " + " | ".join(out), flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
