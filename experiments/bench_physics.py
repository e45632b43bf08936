"""Physics-only MJX throughput: vmapped zero-action PD hold; prints one JSON line.

  python experiments/bench_physics.py --humanoid smpl --num_envs 4096
  python experiments/bench_physics.py --config=configs/bench_physics.py:smplx --config.steps=100

``physics_steps_per_s`` = num_envs * steps / wall time of the timed (already compiled) loop.
Record GPU results in docs/benchmarks.md with the printed commit, device and date.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app
from absl import flags

from interprior_jax import launch

launch.define_flags(
    os.path.join(os.path.dirname(__file__), "..", "configs", "bench_physics.py"),
    workdir_required=False)
flags.DEFINE_string("humanoid", None, "Shortcut for --config.scene.humanoid.")
flags.DEFINE_integer("num_envs", None, "Shortcut for --config.num_envs.")
FLAGS = flags.FLAGS


def main(_):
  import jax
  import numpy as np

  from interprior_jax import config as config_lib
  from interprior_jax.assets import scene as scene_lib
  from interprior_jax.sim import mjx_sim

  cfg = FLAGS.config
  with cfg.unlocked():
    if FLAGS.humanoid:
      cfg.scene.humanoid = FLAGS.humanoid
    if FLAGS.num_envs:
      cfg.num_envs = FLAGS.num_envs
  launch.start(cfg)
  scene = scene_lib.build_scene(config_lib.scene_options(cfg.scene))
  impl = cfg.impl or None
  mx = mjx_sim.put_model(scene.model, impl=impl)
  d = mjx_sim.batch_data(mjx_sim.initial_data(scene.model, scene.spec, impl=impl), cfg.num_envs)
  run = jax.jit(jax.vmap(lambda x: mjx_sim.step_n(mx, x, cfg.steps)))
  t0 = time.perf_counter()
  d = jax.block_until_ready(run(d))
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(cfg.repeats):
    t0 = time.perf_counter()
    d = jax.block_until_ready(run(d))
    times.append(time.perf_counter() - t0)
  finite = bool(np.all(np.isfinite(np.asarray(d.qpos))))
  best = min(times)
  out = {
      "benchmark": "physics",
      "humanoid": cfg.scene.humanoid,
      "num_envs": cfg.num_envs,
      "nv": int(scene.model.nv),
      "physics_hz": round(1.0 / scene.spec.timestep, 3),
      "solver": cfg.scene.physics.solver,
      "iterations": cfg.scene.physics.iterations,
      "ls_iterations": cfg.scene.physics.ls_iterations,
      "steps_timed": cfg.steps * cfg.repeats,
      "physics_steps_per_s": round(cfg.num_envs * cfg.steps / best, 1),
      "first_call_s": round(compile_s, 2),
      "all_finite": finite,
      **launch.provenance(),
  }
  print(json.dumps(out))


if __name__ == "__main__":
  app.run(main)
