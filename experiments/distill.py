"""Stage 2: distil an exported expert into the masked latent policy (DAgger; resumes from
``--workdir`` when it has checkpoints).

  python experiments/distill.py --config=configs/distill.py:smoke --workdir /tmp/distill \
      --expert /tmp/expert
  python experiments/distill.py --config=configs/distill.py:smpl,plain --workdir runs/d_plain \
      --expert runs/smpl

``--expert``: the expert's workdir (or its ``policy/`` bundle). Writes ``DIR/config.json``,
``DIR/checkpoints/``, ``DIR/tb/``, ``DIR/policy/`` (student inference bundle: prior + decoder +
normaliser; see ``distill.inference_policy``) and ``DIR/train_summary.json``. Evaluate with
``experiments/evaluate.py --workdir DIR --task snapshot`` (docs/tasks.md).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from interprior_jax import launch  # noqa: E402

launch.define_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "distill.py"))
flags.DEFINE_string("expert", None, "Expert workdir (or its policy/ bundle).", required=True)
FLAGS = flags.FLAGS


def main(_):
  from interprior_jax.training import sharding

  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  sharding.maybe_initialize_distributed()
  from interprior_jax.training.distill import train as distill

  config = FLAGS.config
  workdir = launch.start(config)
  t0 = time.perf_counter()
  res = distill.train(config, workdir, FLAGS.expert)
  summary = {
      "job": "distill", "variant": config.variant, "ablation": config.distill.ablation,
      "expert": FLAGS.expert, **launch.provenance(), "iterations": int(res.state.step),
      "resumed_from": res.resumed_from, "new_iterations": len(res.history),
      "wall_s": time.perf_counter() - t0,
      "nan_events": [{k: v for k, v in e.items() if k != "metrics"} for e in res.nan_events],
      "final_metrics": res.history[-1] if res.history else {},
  }
  launch.write_json(workdir / "train_summary.json", summary)
  from interprior_jax.training import curves
  curves.plot_if_logged(workdir)  # learning_curve.png (curves.DISTILL_PANELS)
  print(f"distill: {int(res.state.step)} iterations, summary in {workdir / 'train_summary.json'}")


if __name__ == "__main__":
  app.run(main)
