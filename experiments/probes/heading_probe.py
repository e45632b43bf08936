"""Can a tracking expert follow a reference it starts facing away from?  (steering augmentation)

Starts every clip of the bundle's data from its first frame with the humanoid turned by a fixed
yaw (``init_states.turn_root``; the object and the reference stay) and reports the evaluation
summary per angle: success, episode length, E_h.  The locomotion student's heading noise
(``configs/distill.py``, ``augment.heading_noise``) is only as large as the expert can follow.

  python experiments/probes/heading_probe.py pretrained/locomotion_expert/policy 0,15,30,45
"""

import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from interprior_jax.envs import init_states
from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training import evaluation
from interprior_jax.training.ppo import train as ppo


def main(bundle_dir: str, degrees: str = "0,15,30,45,-30") -> None:
  bundle = ckpt_lib.load_bundle(bundle_dir)
  clips, env = evaluation.hoi_eval_env(ml_collections.ConfigDict(bundle.config))
  act_fn = ppo.bundle_policy(bundle, deterministic=True)
  reset, names, num_steps = evaluation.hoi_reset_states(env, clips, jax.random.PRNGKey(0), 1)

  def turned(s, yaw):
    d = s.pipeline_state
    q, v = init_states.turn_root(d.qpos, d.qvel, env.idx, yaw)
    d = env.physics.refresh(env.physics.reset_state(d, q, v, jnp.ones((), bool)),
                            s.info["obj_params"])
    return s.replace(pipeline_state=d, obs=env._observe(d, s.info["clip"], s.info["time"],
                                                          s.info["obj_params"],
                                                          jnp.zeros((), bool)))

  run = jax.jit(lambda s, k: evaluation.first_episode_stats(
      env, s, lambda o, kk: act_fn(o), k, num_steps, evaluation.HOI_METRICS))
  for deg in (float(x) for x in degrees.split(",")):
    s0 = jax.jit(jax.vmap(lambda s: turned(s, jnp.deg2rad(deg))))(reset)
    r = evaluation.summarize(jax.device_get(run(s0, jax.random.PRNGKey(1))), names,
                             evaluation.HOI_METRICS)
    lens = [e["length"] for e in r["episodes"]]
    print(f"yaw {deg:+5.0f} deg: success {r['success_rate']:.2f}, length {np.mean(lens):.0f} "
          f"(min {min(lens)}), e_h {r['e_h']:.3f}", flush=True)


if __name__ == "__main__":
  main(*sys.argv[1:])
