"""Evaluate an exported expert on tracking: success rate, E_h, E_o (overall and per clip).

  python experiments/evaluate.py --workdir DIR [--clips PATH] [--perturb off|random|fixed]

Loads ``DIR/policy`` (inference bundle) and its config; ``--clips`` replaces the run's data (a
folder of InterAct ``.pt`` files or a native dataset folder). Every clip is played from its first
frame until it ends; success = tracked to the end with no early termination; E_h = mean key-body
position error, E_o = mean object surface-point error (the env's ``e_h`` / ``e_o`` metrics, m).
Writes ``DIR/eval.json``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string("workdir", None, "Training workdir holding policy/ (the bundle).",
                    required=True)
flags.DEFINE_string("clips", None, "Folder of InterAct .pt clips or a native dataset (default: "
                    "the run's data).")
flags.DEFINE_enum("perturb", "off", ["off", "random", "fixed"], "Impulse perturbations.")
flags.DEFINE_bool("randomize", False, "Keep per-episode object randomization.")
flags.DEFINE_integer("episodes_per_clip", 1, "Episodes per clip (different seeds).")
flags.DEFINE_integer("seed", 0, "Evaluation seed.")
flags.DEFINE_bool("stochastic", False, "Sample actions instead of using the mean.")
flags.DEFINE_string("out", None, "Output JSON (default DIR/eval.json).")
FLAGS = flags.FLAGS

METRICS = ("e_h", "e_o")


def _hoi_setup(config, bundle_env_clips, key, episodes):
  """(env, reset_state, names, num_steps) for the HOI env: copy i plays clip i % C from t=0."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  env, clips = bundle_env_clips
  n_clips = len(clips)
  idx = jnp.asarray(np.tile(np.arange(n_clips), episodes), jnp.int32)
  keys = jax.random.split(key, idx.shape[0])
  reset = jax.jit(jax.vmap(lambda k, c: env.reset_to(k, c, jnp.zeros(()), False)))(keys, idx)
  dur = max(c.duration for c in clips)
  num_steps = int(np.ceil(dur / env.dt)) + 2
  names = [clips[int(i)].name for i in np.asarray(idx)]
  return reset, names, num_steps


def main(_):
  import pathlib

  import jax
  import ml_collections
  import numpy as np

  from interprior_jax import launch, runtime
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training import env_factory, evaluation, ppo

  runtime.enable_compilation_cache()
  workdir = pathlib.Path(FLAGS.workdir)
  bundle = ckpt_lib.load_bundle(workdir / ckpt_lib.BUNDLE_DIR)
  config = ml_collections.ConfigDict(bundle.config)
  act_fn = ppo.bundle_policy(bundle, deterministic=not FLAGS.stochastic)
  key = jax.random.PRNGKey(FLAGS.seed)
  k_reset, k_run = jax.random.split(key)
  if config.env_kind == "hoi":
    config.env.perturb.mode = FLAGS.perturb
    config.env.randomize.enabled = bool(FLAGS.randomize)
    config.env.max_episode_steps = 10**9  # the clip end decides
    if FLAGS.clips:
      p = pathlib.Path(FLAGS.clips)
      config.data.source = (f"omomo:{p}" if list(p.glob("*.pt")) else f"native:{p}")
    clips = env_factory.load_clips(config)
    env = env_factory.make_env(config, clips)
    reset, names, num_steps = _hoi_setup(config, (env, clips), k_reset, FLAGS.episodes_per_clip)
    metric_names = METRICS
  else:  # toy / other registry envs: one episode per copy from env.reset
    env = env_factory.make_env(config)
    n = int(config.ppo.num_envs) * FLAGS.episodes_per_clip
    reset = jax.jit(jax.vmap(env.reset))(jax.random.split(k_reset, n))
    names = [f"episode_{i}" for i in range(n)]
    num_steps = int(getattr(env, "cfg").clip_steps) + 2
    metric_names = ("e_pos",)

  act = (lambda obs, k: act_fn(obs, k)) if FLAGS.stochastic else (lambda obs, k: act_fn(obs))
  run = jax.jit(lambda s, k: evaluation.first_episode_stats(env, s, act, k, num_steps,
                                                           metric_names))
  per_env = jax.device_get(run(reset, k_run))
  result = evaluation.summarize(per_env, names, metric_names)
  result.update({"workdir": str(workdir), "perturb": FLAGS.perturb, "seed": FLAGS.seed,
                 "stochastic": FLAGS.stochastic, "num_steps": num_steps,
                 "trained_iterations": bundle.config.get("trained_iterations"),
                 **launch.provenance()})
  for m in METRICS:
    result.setdefault(m, None)  # not measured by this env
  out = pathlib.Path(FLAGS.out) if FLAGS.out else workdir / "eval.json"
  launch.write_json(out, result)
  print(f"evaluate: success_rate={result['success_rate']:.3f} e_h={result['e_h']} "
        f"e_o={result['e_o']} over {len(names)} episodes -> {out}")
  del np


if __name__ == "__main__":
  app.run(main)
