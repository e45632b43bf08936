"""Cheaper physics settings on the MuJoCo C backend: speed, stability and tracking, one JSON line
per setting.

  python experiments/bench_physics_settings.py --num_envs 64

Settings (physics timestep, substeps per 30 Hz policy step, Newton iterations / line-search
iterations): the default 1/120 s x 4 (4/8), 1/60 s x 2 (4/8), 1/120 s x 4 (2/4), 1/60 s x 2 (2/4).
For each: full env steps/s (random +-0.2 residual actions on a standing clip), NaN resets over
those steps, and tracking with zero residual action on the embedded clips from their first frames
(mean E_h over the first 20 steps, steps survived): a setting that is unstable or tracks worse
than the default shows it here.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_integer("num_envs", 64, "Envs for the speed measurement.")
flags.DEFINE_integer("steps", 32, "Timed env steps.")
flags.DEFINE_integer("num_clips", 4, "Embedded synthetic clips for the tracking check.")
FLAGS = flags.FLAGS

SETTINGS = (("default 120 Hz x4, Newton 4/8", 1 / 120, 4, 4, 8),
            ("60 Hz x2, Newton 4/8", 1 / 60, 2, 4, 8),
            ("120 Hz x4, Newton 2/4", 1 / 120, 4, 2, 4),
            ("60 Hz x2, Newton 2/4", 1 / 60, 2, 2, 4))


def main(_):
  import jax
  import jax.numpy as jnp
  import ml_collections
  import numpy as np

  from interprior_jax import launch, runtime
  from interprior_jax.envs import load_env_config, make_env
  from interprior_jax.envs.standing import standing_clip
  from interprior_jax.training import evaluation
  from interprior_jax.motion import sources

  runtime.enable_compilation_cache()
  data = ml_collections.ConfigDict({"seed": 0, "env": {"scene": {"humanoid": "smpl"}}, "data": {
      "source": "synthetic", "num_clips": FLAGS.num_clips, "families": ("carry", "push"),
      "object": "box", "max_clips": 0}})
  clips = sources.load_clips(data)
  for name, dt, substeps, iters, ls in SETTINGS:
    cfg = load_env_config("smpl")
    cfg.update(impl="c", substeps=substeps)
    cfg.scene.physics.update(timestep=dt, iterations=iters, ls_iterations=ls)
    cfg.obs.num_surface_points = 64
    cfg.perturb.mode = "off"
    cfg.randomize.enabled = False
    # Speed and stability under random residual actions.
    env = make_env(cfg, [standing_clip("smpl", num_frames=300)])
    n = FLAGS.num_envs
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n))

    @jax.jit
    def loop(s, key):
      def body(carry, k):
        s, nan = carry
        a = jax.random.uniform(k, (n, env.action_size), minval=-0.2, maxval=0.2)
        s = jax.vmap(env.step)(s, a)
        return (s, nan + jnp.sum(s.metrics["nan_reset"])), None
      return jax.lax.scan(body, (s, 0.0), jax.random.split(key, FLAGS.steps))[0]

    out = jax.block_until_ready(loop(state, jax.random.PRNGKey(1)))
    t0 = time.perf_counter()
    out = jax.block_until_ready(loop(out[0], jax.random.PRNGKey(2)))
    rate = n * FLAGS.steps / (time.perf_counter() - t0)
    # Tracking with zero residual action on the embedded clips.
    cfg.max_episode_steps = 20
    tenv = make_env(cfg, clips)
    reset, _, _ = evaluation.hoi_reset_states(tenv, clips, jax.random.PRNGKey(0), 1)
    stats = jax.device_get(evaluation.first_episode_stats(
        tenv, reset, lambda o, k: jnp.zeros((o.shape[0], tenv.action_size)),
        jax.random.PRNGKey(3), 21, ("e_h",)))
    print(json.dumps({
        "benchmark": "physics_settings", "setting": name, "timestep": dt, "substeps": substeps,
        "iterations": iters, "ls_iterations": ls, "num_envs": n,
        "env_steps_per_s": round(rate, 1), "nan_resets": float(out[1]),
        "zero_residual_e_h_20_steps": round(float(np.mean(stats["e_h"])), 4),
        "zero_residual_steps_survived": float(np.mean(stats["length"])),
        **launch.provenance()}), flush=True)


if __name__ == "__main__":
  app.run(main)
