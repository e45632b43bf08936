"""Can the box be held? Steps until the carried box is 0.15 m off its reference, from starts at
the top of each carry clip's lift and 20 frames later.

  python experiments/probes/carry_hold.py BUNDLE [policy=1] [margin=M] [hand_friction=F]
      [clear_rounds=N] [phys.<PhysicsOptions field>=V ...]

BUNDLE: an expert inference bundle of the embedded clips (e.g. pretrained/embedded_expert/policy);
its config rebuilds the env and the clips (``margin`` regenerates them with another
``HandConfig.palm_margin``: negative puts the palms' PD targets inside the box faces).  Actions:
zero residual (PD to the reference) unless ``policy=1`` (the bundle's deterministic policy).
Only the fall termination is on; 60 steps at most (">60": held).  docs/results.md, "the carry:
the box is never held".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from interprior_jax.envs import registry  # noqa: E402
from interprior_jax.motion import sources  # noqa: E402
from interprior_jax.training import checkpoint as ckpt_lib  # noqa: E402
from interprior_jax.training.ppo import train as ppo  # noqa: E402

DROP = 0.15  # m below / above the reference box height: "dropped"
STEPS = 60
LATER = 20  # frames after the top of the lift (mid-carry start)


def main(bundle_dir: str, *overrides: str):
  bundle = ckpt_lib.load_bundle(bundle_dir)
  config = ml_collections.ConfigDict(bundle.config)
  config.env.perturb.mode = "off"
  config.env.randomize.enabled = False
  config.env.termination.enabled = ("fall",)
  use_policy = False
  for a in overrides:
    k, _, v = a.partition("=")
    if k == "margin":
      config.data.synth_hand = {"palm_margin": float(v)}
    elif k == "clear_rounds":  # the IK's clearance passes (IKConfig.clear_rounds)
      config.data.synth_ik = {**config.data.get("synth_ik", {}), "clear_rounds": int(v)}
    elif k == "hand_friction":
      config.env.scene.friction = (float(v),) + tuple(config.env.scene.friction)[1:]
    elif k.startswith("phys."):
      cur = config.env.scene.physics.get(k[5:], 0)  # a field newer than the bundle: int
      config.env.scene.physics[k[5:]] = type(cur)(v)
    elif k == "policy":
      use_policy = v == "1"
    else:
      raise SystemExit(f"carry_hold.py: unknown argument {a!r}")
  clips = sources.load_clips(config, None)
  env = registry.make_env(config, clips)
  act_fn = ppo.bundle_policy(bundle, deterministic=True)
  step = jax.jit(env.step)
  zero = jnp.zeros(env.action_size)
  held = []
  for ci, c in enumerate(clips):
    if "carry" not in c.name:
      continue
    oz = c.obj_pos[:, 2]
    top = int(np.argmax(oz > oz.max() - 0.02))
    for f0 in (top, top + LATER):
      s = env.reset_to(jax.random.PRNGKey(0), jnp.int32(ci), jnp.float32(f0 / c.fps), False)
      n = f">{STEPS}"
      for i in range(STEPS):
        s = step(s, act_fn(s.obs[None])[0] if use_policy else zero)
        z = float(s.pipeline_state.qpos[env.idx.obj_qpos_adr + 2])
        if not np.isfinite(z) or abs(z - np.interp(f0 + i + 1, np.arange(len(oz)), oz)) > DROP:
          n = str(i + 1)
          break
      held.append(f"{c.name} from frame {f0}: {n}")
  print(" ".join(overrides) or "zero residual, as trained", "-> steps held:")
  print("\n".join("  " + h for h in held))


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit(__doc__)
  main(*sys.argv[1:])
