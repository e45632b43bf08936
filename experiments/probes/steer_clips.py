"""Does a student steer on every clip?  The procedure of tests/test_play.py for w / a / d on each
clip (``session.record_key_script``: reset, space for 15 steps, the key for 90 steps):
displacement along the heading at the key (m), heading change summed step by step (deg, + = left),
fall steps (``session.script_segments``).

  python experiments/probes/steer_clips.py BUNDLE CLIP...
      LATENT=sample in the environment: a prior sample per reset (play.py's default) instead of
      the prior mean
"""
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import runtime  # noqa: E402
from interprior_jax.control import session as S  # noqa: E402


def main(bundle, *clips):
  runtime.enable_compilation_cache()
  for clip in map(int, clips):
    s = S.PlaySession(bundle, clip=clip, latent_mean=os.environ.get("LATENT", "mean") == "mean")
    out = []
    for key in ("w", "a", "d"):
      script = [(" ", 15), (key, 90)]
      seg = S.script_segments(S.record_key_script(s, script), script)[1]
      out.append(f"{key} {seg['forward_m']:+.2f} m {seg['turn_deg']:+5.0f} deg"
                 f"{' fell ' + str(seg['fall_steps']) if seg['fall_steps'] else ''}")
    print(f"clip {clip:2d}: " + " | ".join(out), flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
