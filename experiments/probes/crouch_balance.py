"""Where the reference's centre of mass lies over the feet, and what zero residual action does from
just before the carry lift.

  python experiments/probes/crouch_balance.py [SIT_BACK_GAIN]   # default: the embedded config's

For each synthetic carry clip of the embedded expert's data (generator ``sit_back_gain`` from the
argument, else ``configs/expert.py:embedded``): the whole-body centre of mass relative to the ankle
and toe joints along the pelvis heading at the standing, deepest and lifting frames (reference
placed kinematically, ``mj_kinematics`` + ``mj_comPos``); then, from a reference-state start 15
frames before the lift, the root height reached by zero residual action (PD to the reference) with
only the fall termination on (docs/results.md, "the carry lift").
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from configs import expert  # noqa: E402
from interprior_jax.envs import init_states  # noqa: E402
from interprior_jax.envs import registry  # noqa: E402
from interprior_jax.motion import sources  # noqa: E402

FEET = ("L_Ankle", "R_Ankle", "L_Toe", "R_Toe")
LIFT_RISE = 0.02  # m the object must rise above its rest height for the lift to have started
ZERO_STEPS = 45


def main(gain: str | None = None):
  c = expert.get_config("embedded")
  if gain is not None:
    c.data.synth_rand = {"sit_back_gain": float(gain)}
  c.env.termination.enabled = ("fall",)
  print("sit_back_gain", dict(c.data.synth_rand).get("sit_back_gain", 0.0))
  clips = sources.load_clips(c, None)
  env = registry.make_env(c, clips)
  m, lib = env.scene.model, env.library
  d = mujoco.MjData(m)
  root = env.spec.root_body_id
  feet = [mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, n) for n in FEET]
  base = env.physics.init_data().qpos
  step = jax.jit(env.step)
  zero = jnp.zeros(env.action_size)
  for ci, cl in enumerate(clips):
    if "carry" not in cl.name:
      continue
    oz = cl.obj_pos[:, 2]
    lift = int(np.argmax(oz > oz[0] + LIFT_RISE))
    deep = int(np.argmin(cl.root_pos[:lift + 1, 2]))
    print(f"{cl.name}: lift starts at frame {lift}, deepest pelvis at frame {deep}")
    for t in (0, deep, lift + 15):
      qpos, _ = init_states.reference_state(lib.frame_at_index(ci, t), base, env.idx,
                                            env.spec.nv)
      d.qpos[:] = np.asarray(qpos)
      mujoco.mj_kinematics(m, d)
      mujoco.mj_comPos(m, d)
      fwd = d.xmat[root].reshape(3, 3)[:2, 0]
      fwd = fwd / np.linalg.norm(fwd)
      rel = [float(np.dot(d.xpos[b][:2] - d.subtree_com[root][:2], fwd)) for b in feet]
      print(f"  frame {t:3d}: pelvis z {d.xpos[root][2]:.2f} m; centre of mass "
            f"{-np.mean(rel[:2]):+.2f} m ahead of the ankles, {-np.mean(rel[2:]):+.2f} m ahead "
            "of the toe joints")
    s = env.reset_to(jax.random.PRNGKey(0), ci, (lift - 15) / float(lib.fps[ci]))
    zs = []
    for _ in range(ZERO_STEPS):
      s = step(s, zero)
      if float(s.done):
        break
      zs.append(float(env.physics.frame(s.pipeline_state).root_pos[2]))
    ref = [float(lib.frame_at_index(ci, lift - 15 + k).root_pos[2]) for k in (15, 30, 45)]
    got = [zs[k - 1] if k <= len(zs) else float("nan") for k in (15, 30, 45)]
    print(f"  zero residual from frame {lift - 15}: {len(zs)} steps before a fall or the end; "
          f"root z at +15/+30/+45 steps {np.round(got, 2).tolist()} (reference "
          f"{np.round(ref, 2).tolist()})")


if __name__ == "__main__":
  main(*sys.argv[1:2])
