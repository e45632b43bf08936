"""Distance from the reference's hands to the object on frames labelled "touch" (sim geometry).

  python experiments/probes/reference_hand_gaps.py [embedded|largetable] [ik.F=V | hand.F=V ...]

(``ik.F`` / ``hand.F``: regenerate synthetic clips with those IKConfig / HandConfig fields.)

Places each reference frame kinematically (``mj_forward``) in the env's scene, with the object
scaled as the clip says, and reports per hand the min / median / max of the hand geoms' signed
distance to the object over the frames whose labels require contact (docs/results.md, "Why the
experts stopped at the box").
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from configs import expert  # noqa: E402
from interprior_jax.envs import init_states  # noqa: E402
from interprior_jax.envs import registry  # noqa: E402
from interprior_jax.motion import sources  # noqa: E402


def main(variant: str = "embedded", *overrides: str):
  c = expert.get_config(variant)
  for a in overrides:
    k, _, v = a.partition("=")
    sub, _, field = k.partition(".")
    key = {"ik": "synth_ik", "hand": "synth_hand"}[sub]
    c.data[key] = {**dict(c.data.get(key, None) or {}), field: float(v) if "." in v else int(v)}
  clips = sources.load_clips(c, None)
  env = registry.make_env(c, clips)
  m = env.scene.model
  d = mujoco.MjData(m)
  hg, bids = np.asarray(env.hand_groups), np.asarray(env.spec.body_ids)
  obj_geoms = [int(g) for g in env.scene.spec.objects[0].geom_ids]
  size0, rb0 = m.geom_size[obj_geoms].copy(), m.geom_rbound[obj_geoms].copy()
  hand_geoms = [[g for g in range(m.ngeom) if m.geom_bodyid[g] in set(bids[hg[h]])]
                for h in range(2)]
  base = env.physics.init_data().qpos
  for ci, cl in enumerate(clips):
    m.geom_size[obj_geoms] = size0 * cl.object_scale  # primitives; meshes come pre-scaled
    m.geom_rbound[obj_geoms] = rb0 * cl.object_scale
    req = np.stack([cl.body_contact[:, hg[h]].max(1) == 1 for h in range(2)], 1)
    gaps = []
    for t in np.flatnonzero(req.any(1)):
      q, _ = init_states.reference_state(env.library.frame(ci, t / cl.fps), base, env.idx,
                                         env.spec.nv)
      d.qpos[:] = np.asarray(q)
      mujoco.mj_forward(m, d)
      gaps.append([min(mujoco.mj_geomDistance(m, d, g, og, 0.5, None)
                       for g in hand_geoms[h] for og in obj_geoms) for h in range(2)])
    g = np.asarray(gaps)
    off = np.abs(g).max(1) > 0.02
    print(f"{cl.name}: {len(g)} contact frames; hand gap (m) min {np.round(g.min(0), 3)} "
          f"median {np.round(np.median(g, 0), 3)} max {np.round(g.max(0), 3)}; "
          f"{int(off.sum())} frames with a hand > 2 cm off or in")


if __name__ == "__main__":
  main(*sys.argv[1:])
