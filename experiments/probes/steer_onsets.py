"""How much does steering depend on when the key comes?  On one clip: reset, stand for K steps
(K = 10, 15, ..., 60 by default), then the key for 90 steps (``session.record_key_script``);
heading change summed per step (deg), displacement along the heading at the key (m), F: the
episode was reset by a fall (``session.script_segments``).

  python experiments/probes/steer_onsets.py BUNDLE CLIP KEY...
      (ONSETS=FROM:TO:STEP in the environment: other onsets, default 10:61:5)
"""
import os
import pathlib
import sys

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
      script = [(" ", k), (key, 90)]
      seg = S.script_segments(S.record_key_script(s, script), script)[1]
      row.append(f"{k}:{seg['turn_deg']:+.0f}{'F' if seg['fall_steps'] else ''}/"
                 f"{seg['forward_m']:+.1f}")
    print(f"clip {clip} key {key}: " + " ".join(row), flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
