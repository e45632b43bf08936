"""Training throughput: our PPO vs brax's ``brax.training.agents.ppo.train`` on the same env.

  python experiments/bench_train.py --config=configs/expert.py:toy
  python experiments/bench_train.py --config=configs/expert.py:smpl --bench_iterations=20

Both run the config's env, num_envs, horizon, minibatches, epochs and network sizes. Ours: one
warm-up iteration (compile), then ``--bench_iterations`` timed iterations. Brax: ``ppo.train`` for
``(1 + bench_iterations)`` iterations' worth of env steps with evaluations off; its own reported
``training/sps`` (mean of its reports after the first two: the one before training and the one
that includes compilation) and the total wall time are recorded.
Prints one JSON line and writes ``--out`` when given.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from interprior_jax import launch  # noqa: E402

launch.define_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "expert.py"),
                    workdir_required=False)
flags.DEFINE_integer("bench_iterations", 5, "Timed PPO iterations per implementation.")
flags.DEFINE_bool("brax", True, "Also run brax's ppo.train.")
flags.DEFINE_string("out", None, "Optional JSON output path.")
FLAGS = flags.FLAGS


def bench_ours(config, base_env, iters):
  import jax

  from interprior_jax.training import expert

  algo = expert.build(config, env=base_env)
  t0 = time.perf_counter()
  state = algo.init(jax.random.PRNGKey(int(config.seed)))
  step = algo.jit_train_step(state)
  state, m = step(state, jax.random.fold_in(state.key, state.step))
  jax.block_until_ready(m)
  first = time.perf_counter() - t0
  t0 = time.perf_counter()
  for _ in range(iters):
    state, m = step(state, jax.random.fold_in(state.key, state.step))
  jax.block_until_ready(m)
  wall = time.perf_counter() - t0
  return {"first_iteration_s": first, "timed_s": wall,
          "env_steps_per_s": iters * algo.env_steps_per_iteration / wall,
          "env_steps_per_iteration": algo.env_steps_per_iteration}


def _jax_compat_for_brax():
  """brax 0.14's ppo.train calls ``jax.device_put_replicated`` (removed in JAX 0.10): provide
  the documented drop-in (stack one copy per device; pmap takes stacked host arrays)."""
  import jax
  import jax.numpy as jnp

  try:
    jax.device_put_replicated  # noqa: B018
  except AttributeError:
    jax.device_put_replicated = lambda x, devices: jax.tree.map(  # noqa: E731
        lambda a: jnp.stack([jnp.asarray(a)] * len(devices)), x)


def bench_brax(config, base_env, iters, self_resetting):
  import functools

  from brax.training.agents.ppo import networks as ppo_networks
  from brax.training.agents.ppo import train as ppo_train

  from interprior_jax.training.ppo import train as ppo

  _jax_compat_for_brax()
  c = ppo.PPOConfig.from_config(config.ppo)
  if c.num_envs % c.num_minibatches:
    raise ValueError(f"brax ppo needs num_envs ({c.num_envs}) divisible by num_minibatches "
                     f"({c.num_minibatches})")
  factory = functools.partial(ppo_networks.make_ppo_networks,
                              policy_hidden_layer_sizes=tuple(c.network.actor_hidden),
                              value_hidden_layer_sizes=tuple(c.network.critic_hidden))
  kwargs = {}
  episode_length = int(config.episode_length) or 1000
  if self_resetting:
    from interprior_jax.envs import wrappers

    kwargs["wrap_env_fn"] = wrappers.wrap_for_training
    episode_length = int(config.env.max_episode_steps)
  sps = []

  def progress(step, metrics):
    if "training/sps" in metrics:
      sps.append(float(metrics["training/sps"]))

  steps_per_iter = c.batch_size
  t0 = time.perf_counter()
  ppo_train.train(
      environment=base_env, num_timesteps=(iters + 1) * steps_per_iter, num_envs=c.num_envs,
      episode_length=episode_length, unroll_length=c.unroll_length,
      batch_size=c.num_envs // c.num_minibatches, num_minibatches=c.num_minibatches,
      num_updates_per_batch=c.num_epochs, learning_rate=c.learning_rate,
      discounting=c.gamma, gae_lambda=c.gae_lambda, clipping_epsilon=c.clip_eps,
      normalize_observations=c.normalize_obs, entropy_cost=c.entropy_coef,
      network_factory=factory, seed=int(config.seed), num_evals=iters + 1, run_evals=False,
      log_training_metrics=True, progress_fn=progress, **kwargs)  # brax default: no timeout bootstrap
  wall = time.perf_counter() - t0
  # brax reports once before training and once after its first (compiling) epoch: both are
  # excluded from the steady-state mean.
  steady = sps[2:]
  return {"total_s": wall, "reported_sps": sps,
          "env_steps_per_s": (sum(steady) / len(steady)) if steady else None}


def main(_):
  from interprior_jax import runtime
  from interprior_jax.envs import registry

  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  runtime.enable_compilation_cache()
  config = FLAGS.config
  entry = registry.entry(config)
  base = entry.build(config)
  rec = {"job": "bench_train", "variant": config.variant, **launch.provenance(),
         "num_envs": int(config.ppo.num_envs), "unroll_length": int(config.ppo.unroll_length),
         "iterations": FLAGS.bench_iterations,
         "ours": bench_ours(config, base, FLAGS.bench_iterations)}
  if FLAGS.brax:
    rec["brax"] = bench_brax(config, base, FLAGS.bench_iterations, entry.self_resetting)
  line = json.dumps(rec, sort_keys=True, default=float)
  print(line)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      f.write(line + "\n")


if __name__ == "__main__":
  app.run(main)
