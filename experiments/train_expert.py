"""Stage 1: train the imitation expert with PPO (resumes from ``--workdir`` when it has checkpoints).

  python experiments/train_expert.py --config=configs/expert.py:smoke --workdir /tmp/expert
  python experiments/train_expert.py --config=configs/expert.py:smpl --workdir runs/smpl \
      --config.ppo.num_envs=2048 --config.ppo.minibatch_size=8192

Writes ``DIR/config.json``, ``DIR/checkpoints/`` (Orbax, keep-N), ``DIR/tb/`` (TensorBoard),
``DIR/policy/`` (inference bundle for evaluation and later stages), ``DIR/train_summary.json``,
``DIR/history.jsonl`` (logged iterations), ``DIR/evals.json`` (periodic tracking evaluations,
``config.loop.eval_every``) and ``DIR/learning_curve.png``.
Multi-host: set ``INTERPRIOR_DISTRIBUTED=1`` (and JAX's coordinator variables) on every process.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from interprior_jax import launch  # noqa: E402

launch.define_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "expert.py"))
FLAGS = flags.FLAGS


def main(_):
  from interprior_jax.training import sharding

  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every save step at INFO

  sharding.maybe_initialize_distributed()
  from interprior_jax.training import expert

  config = FLAGS.config
  workdir = launch.start(config)
  t0 = time.perf_counter()
  res = expert.train(config, workdir)
  last = res.history[-1] if res.history else {}
  summary = {
      "job": "train_expert", "variant": config.variant, **launch.provenance(),
      "iterations": int(res.state.step), "resumed_from": res.resumed_from,
      "new_iterations": len(res.history), "wall_s": time.perf_counter() - t0,
      "nan_events": [{k: v for k, v in e.items() if k != "metrics"} for e in res.nan_events],
      "final_metrics": last,
  }
  launch.write_json(workdir / "train_summary.json", summary)
  from interprior_jax.training import curves
  curves.plot_if_logged(workdir)
  print(f"train_expert: {int(res.state.step)} iterations, summary in "
        f"{workdir / 'train_summary.json'}")


if __name__ == "__main__":
  app.run(main)
