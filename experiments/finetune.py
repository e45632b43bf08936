"""Stage 3: RL finetuning of a distilled student on in-betweening goals, anchored to the
distillation (resumes from ``--workdir`` when it has checkpoints).

  python experiments/finetune.py --config=configs/finetune.py:embedded --workdir runs/ft \
      --student pretrained/embedded_student --expert pretrained/embedded_expert

``--student``: a Stage-2 student (workdir or bundle); ``--expert``: the expert it was distilled
from (needed while ``finetune.distill_fraction > 0``). Writes ``DIR/config.json``,
``DIR/checkpoints/``, ``DIR/tb/``, ``DIR/policy/`` (a bundle in the student's format: evaluate it
with ``experiments/evaluate.py --workdir DIR --task snapshot``, play it with
``experiments/play.py --bundle DIR``) and ``DIR/train_summary.json``.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from interprior_jax import launch  # noqa: E402

launch.define_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "finetune.py"))
flags.DEFINE_string("student", None, "Stage-2 student workdir (or its policy/ bundle).",
                    required=True)
flags.DEFINE_string("expert", None, "Expert workdir (or its policy/ bundle).")
FLAGS = flags.FLAGS


def main(_):
  from interprior_jax.training import sharding

  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)
  sharding.maybe_initialize_distributed()
  from interprior_jax.training.finetune import train as finetune

  config = FLAGS.config
  workdir = launch.start(config)
  t0 = time.perf_counter()
  res = finetune.train(config, workdir, FLAGS.student, FLAGS.expert)
  summary = {
      "job": "finetune", "variant": config.variant, "ablation": config.ablation,
      "student": FLAGS.student, "expert": FLAGS.expert, **launch.provenance(),
      "iterations": int(res.state.step), "resumed_from": res.resumed_from,
      "new_iterations": len(res.history), "wall_s": time.perf_counter() - t0,
      "nan_events": [{k: v for k, v in e.items() if k != "metrics"} for e in res.nan_events],
      "final_metrics": res.history[-1] if res.history else {},
  }
  launch.write_json(workdir / "train_summary.json", summary)
  from interprior_jax.training import curves
  curves.plot_if_logged(workdir)  # learning_curve.png (curves.FINETUNE_PANELS)
  print(f"finetune: {int(res.state.step)} iterations, summary in "
        f"{workdir / 'train_summary.json'}")


if __name__ == "__main__":
  app.run(main)
