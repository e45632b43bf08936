"""Does a student steer?  For each key: reset, 15 steps, press it, 90 steps; prints the pelvis
displacement along / across the initial heading, the heading change and the notices
(docs/results.md and docs/play.md, "Stage 2 on the CPU").

  python experiments/probes/steer_probe.py STUDENT_BUNDLE_DIR [CLIP] [MOVE_LEAD_S]
      (prior-mean latent; MOVE_LEAD_S: PlaySession's move_lead_s, default 0)
"""
import pathlib
import sys

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import geometry  # noqa: E402
from interprior_jax import runtime  # noqa: E402
from interprior_jax.control import session as S  # noqa: E402

runtime.enable_compilation_cache()
s = S.PlaySession(sys.argv[1], clip=int(sys.argv[2]) if len(sys.argv) > 2 else 0, latent_mean=True,
                  move_lead_s=float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
for key in ["space", "w", "s", "a", "d", "f", "n"]:
  s.reset()
  for _ in range(15): st = s.tick()
  sim = s.env.physics.frame(s.state.pipeline_state)
  head = np.array(geometry.quat_rotate(sim.root_quat, jnp.array([1.0, 0, 0])))[:2]; head = head / np.linalg.norm(head)
  p0 = st.root_pos.copy()
  msg = s.press(" " if key == "space" else key)
  for _ in range(90): st = s.tick()
  d = st.root_pos[:2] - p0[:2]
  sim = s.env.physics.frame(s.state.pipeline_state)
  h1 = np.asarray(geometry.quat_rotate(sim.root_quat, jnp.array([1.0, 0, 0])))[:2]
  turn = np.degrees(np.arctan2(head[0]*h1[1]-head[1]*h1[0], head @ h1))
  print(f"{key:6s} fwd {d@head:+.2f} m  lat {head[0]*d[1]-head[1]*d[0]:+.2f} m  turn {turn:+.0f} deg  z {st.root_pos[2]:.2f}  notice {st.notice[:40]!r} reached {st.goals_reached} markers {[m[0] for m in st.markers]}")
