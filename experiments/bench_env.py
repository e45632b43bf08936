"""Full env-step throughput vs physics only (same substeps), one JSON line.

  python experiments/bench_env.py --humanoid smpl --num_envs 8192
  python experiments/bench_env.py --variant smoke --num_envs 8 --steps 5   # CPU sanity run

``env_steps_per_s`` = num_envs * steps / wall time of a jitted ``lax.scan`` of vmapped
``HOIEnv.step`` (physics + observation + reward + termination + auto-reset, random actions);
``physics_env_steps_per_s`` = the same number of ``substeps`` MJX steps per env step with no env
logic; ``overhead`` = physics time share missing: ``1 - env / physics`` rate.  Clips: a constant
standing reference (the env cost does not depend on the motion content).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string("humanoid", "smpl", "smpl | smplx | g1")
flags.DEFINE_string("variant", None, "configs/env.py variant (default: the humanoid's)")
flags.DEFINE_integer("num_envs", 8192, "parallel envs")
flags.DEFINE_integer("steps", 32, "timed env steps per repeat")
flags.DEFINE_integer("repeats", 3, "timed repeats (best is reported)")
FLAGS = flags.FLAGS


def main(_):
  import jax
  import jax.numpy as jnp

  from interprior_jax import launch, runtime
  from interprior_jax.envs import load_env_config, make_env
  from interprior_jax.envs.standing import standing_clip
  from interprior_jax.sim import mjx_sim

  runtime.enable_compilation_cache()
  cfg = load_env_config(FLAGS.variant or FLAGS.humanoid)
  env = make_env(cfg, [standing_clip(FLAGS.humanoid, num_frames=300)])
  n, steps = FLAGS.num_envs, FLAGS.steps
  state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n))

  def env_loop(s, key):
    def body(s, k):
      a = jax.random.uniform(k, (n, env.action_size), minval=-0.2, maxval=0.2)
      return jax.vmap(env.step)(s, a), None
    return jax.lax.scan(body, s, jax.random.split(key, steps))[0]

  def phys_loop(d):
    return jax.lax.fori_loop(
        0, steps, lambda _, x: jax.vmap(lambda y: mjx_sim.step_n(env.sys, y, cfg.substeps))(x), d)

  def bench(fn, x, keyed):
    run = jax.jit(fn)
    args = (x, jax.random.PRNGKey(1)) if keyed else (x,)
    t0 = time.perf_counter()
    out = jax.block_until_ready(run(*args))
    first = time.perf_counter() - t0
    best = float("inf")
    for r in range(FLAGS.repeats):
      args = (out, jax.random.PRNGKey(2 + r)) if keyed else (out,)
      t0 = time.perf_counter()
      out = jax.block_until_ready(run(*args))
      best = min(best, time.perf_counter() - t0)
    return n * steps / best, first, out

  env_rate, env_first, out = bench(env_loop, state, True)
  phys_rate, phys_first, _ = bench(phys_loop, state.pipeline_state, False)
  print(json.dumps({
      "benchmark": "env",
      "humanoid": FLAGS.humanoid,
      "variant": cfg.variant,
      "num_envs": n,
      "substeps": int(cfg.substeps),
      "physics_hz": round(1.0 / env.spec.timestep, 3),
      "obs_size": env.observation_size,
      "env_steps_per_s": round(env_rate, 1),
      "physics_env_steps_per_s": round(phys_rate, 1),
      "overhead": round(1.0 - env_rate / phys_rate, 3),
      "env_first_call_s": round(env_first, 1),
      "physics_first_call_s": round(phys_first, 1),
      "nan_resets_last_step": float(jnp.sum(out.metrics["nan_reset"])),
      **launch.provenance(),
  }))


if __name__ == "__main__":
  app.run(main)
