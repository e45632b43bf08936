"""Full env-step throughput vs physics only (same substeps), per physics backend, side by side.

  python experiments/bench_env.py --humanoid smpl --num_envs 256 --impl jax,c   # CPU: both
  python experiments/bench_env.py --humanoid smpl --num_envs 8192 --impl jax    # accelerator
  python experiments/bench_env.py --variant smoke --num_envs 8 --steps 5        # CPU sanity run

One JSON line per backend (``config.env.impl``), then one ``speedup`` line when several ran:
``env_steps_per_s`` = num_envs * steps / wall time of a jitted ``lax.scan`` of vmapped
``HOIEnv.step`` (physics + observation + reward + termination + auto-reset, random actions);
``physics_env_steps_per_s`` = the same number of ``substeps`` physics steps per env step through
the backend's own ``physics.step`` with no env logic; ``overhead`` = ``1 - env / physics`` rate
(the observation / reward / reset share of a step).  ``*_first_call_s``: compile + first run.
Clips: a constant standing reference (the env cost does not depend on the motion content).
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
flags.DEFINE_list("impl", None, "physics backends (config.env.impl), e.g. jax,c; default: jax,c "
                  "on a CPU, jax elsewhere")
FLAGS = flags.FLAGS


def bench_impl(impl: str) -> dict:
  import jax
  import jax.numpy as jnp

  from interprior_jax import launch
  from interprior_jax.envs import load_env_config, make_env, perturbations
  from interprior_jax.envs.standing import standing_clip

  cfg = load_env_config(FLAGS.variant or FLAGS.humanoid)
  cfg.impl = impl
  env = make_env(cfg, [standing_clip(FLAGS.humanoid, num_frames=300)])
  n, steps = FLAGS.num_envs, FLAGS.steps
  state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), n))
  nominal = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n,) + x.shape),
                                   perturbations.nominal_params())
  xfrc = jnp.zeros((n, env.scene.model.nbody, 6))

  def env_loop(s, key):
    def body(s, k):
      a = jax.random.uniform(k, (n, env.action_size), minval=-0.2, maxval=0.2)
      return jax.vmap(env.step)(s, a), None
    return jax.lax.scan(body, s, jax.random.split(key, steps))[0]

  def phys_loop(d):
    def body(d, _):
      return jax.vmap(env.physics.step)(d, nominal, d.ctrl, xfrc)[0], None
    return jax.lax.scan(body, d, None, length=steps)[0]

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
  return {
      "benchmark": "env",
      "impl": env.backend,
      "threads": getattr(env.physics, "threads", None),
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
  }


def main(_):
  import jax

  from interprior_jax import runtime

  runtime.enable_compilation_cache()
  impls = FLAGS.impl or (["jax", "c"] if jax.default_backend() == "cpu" else ["jax"])
  rows = []
  for impl in impls:
    rows.append(bench_impl(impl))
    print(json.dumps(rows[-1]), flush=True)
  if len(rows) > 1:
    base = rows[0]
    print(json.dumps({
        "benchmark": "env_speedup", "baseline": base["impl"], "humanoid": FLAGS.humanoid,
        "num_envs": FLAGS.num_envs,
        **{r["impl"]: {"env_x": round(r["env_steps_per_s"] / base["env_steps_per_s"], 2),
                       "physics_x": round(r["physics_env_steps_per_s"]
                                          / base["physics_env_steps_per_s"], 2),
                       "first_call_x": round(base["env_first_call_s"]
                                             / max(r["env_first_call_s"], 1e-9), 2)}
           for r in rows[1:]}}))


if __name__ == "__main__":
  app.run(main)
