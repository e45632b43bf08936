"""Probe: the turn keys' target heading (``commands.TURN_ANGLE``) and speed (``MOVE_SPEED``) set
from the command line, on a student bundle: w / a / d as in tests/test_play.py (previous key
active through each reset), forward displacement, wrapped heading change, final pelvis height.
The comparison of docs/results.md ("The steering student, found") ran the turn as this form
(walk along a heading THETA off) for THETA 45 / 60 / 90 deg.

  python experiments/probes/steer_variants.py BUNDLE CLIP LEAD_S THETA_DEG SPEED
"""
import pathlib
import sys

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import geometry  # noqa: E402
from interprior_jax import runtime  # noqa: E402
from interprior_jax.control import commands as C  # noqa: E402
from interprior_jax.control import session as S  # noqa: E402

bundle, clip, lead = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
C.TURN_ANGLE, C.MOVE_SPEED = float(np.radians(float(sys.argv[4]))), float(sys.argv[5])
runtime.enable_compilation_cache()
s = S.PlaySession(bundle, clip=clip, latent_mean=True, move_lead_s=lead)
for key in ["w", "a", "d"]:
  s.reset()
  for _ in range(15): st = s.tick()
  sim = s.env.physics.frame(s.state.pipeline_state)
  head = np.array(geometry.quat_rotate(sim.root_quat, jnp.array([1.0, 0, 0])))[:2]; head /= np.linalg.norm(head)
  p0 = st.root_pos.copy()
  s.press(key)
  for _ in range(90): st = s.tick()
  d = st.root_pos[:2] - p0[:2]
  sim = s.env.physics.frame(s.state.pipeline_state)
  h1 = np.asarray(geometry.quat_rotate(sim.root_quat, jnp.array([1.0, 0, 0])))[:2]
  turn = np.degrees(np.arctan2(head[0]*h1[1]-head[1]*h1[0], head @ h1))
  print(f"clip {clip} lead {lead} theta {sys.argv[4]} v {sys.argv[5]}: {key} fwd {d@head:+.2f} "
        f"turn {turn:+.0f} z {st.root_pos[2]:.2f}", flush=True)
