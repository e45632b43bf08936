"""How much does steering depend on when the key comes?  On one clip: reset, stand for K steps
(K = 10, 15, ..., 60 by default), then the key for 90 steps; heading change summed per step (deg), forward
displacement (m), and whether the episode was reset by a fall.

  python experiments/probes/steer_onsets.py BUNDLE CLIP KEY...
      (ONSETS=FROM:TO:STEP in the environment: other onsets, default 10:61:5)
"""
import os
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import runtime  # noqa: E402
from interprior_jax.control import session as S  # noqa: E402


ONSETS = range(*map(int, os.environ.get("ONSETS", "10:61:5").split(":")))


def main(bundle, clip, *keys):
  runtime.enable_compilation_cache()
  s = S.PlaySession(bundle, clip=int(clip), latent_mean=True)
  for key in keys:
    row = []
    for k in ONSETS:
      s.reset()
      for _ in range(k):
        st = s.tick()
      y, y0, p0, step, fell, turned = st.root_yaw, st.root_yaw, np.asarray(st.root_pos[:2]), st.step, False, 0.0
      s.press(key)
      for _ in range(90):
        st = s.tick()
        turned += (st.root_yaw - y + np.pi) % (2 * np.pi) - np.pi
        fell |= st.step != step + 1
        y, step = st.root_yaw, st.step
      fwd = float((np.asarray(st.root_pos[:2]) - p0) @ np.array([np.cos(y0), np.sin(y0)]))
      row.append(f"{k}:{np.degrees(turned):+.0f}{'F' if fell else ''}/{fwd:+.1f}")
    print(f"clip {clip} key {key}: " + " ".join(row), flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
