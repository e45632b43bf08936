"""Weight averaging of a Stage-1 run's iterates: one inference bundle whose actor is the uniform
average of the actor params saved in the run's checkpoints (``checkpoint.average_actor_bundle``).

  python experiments/average_policy.py --workdir RUN --last 200 [--out RUN/averaged_policy]
  python experiments/average_policy.py --workdir RUN --first_step 100 --last_step 400

``--last N`` averages every checkpoint saved in the last N iterations of the run (the newest
checkpoint and those within N iterations before it); ``--first_step`` / ``--last_step`` every one
saved in that range.  The run needs its checkpoints kept (``--config.loop.checkpoint_every`` and
``--config.loop.keep_checkpoints`` large enough).  The normaliser is the last averaged step's.
``experiments/evaluate.py --workdir DIR`` evaluates the result as any bundle (DIR holding it as
``policy/``, or give ``--out DIR/policy``).
"""

import os
import pathlib
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string("workdir", None, "Training workdir with checkpoints/.", required=True)
flags.DEFINE_integer("last", 0, "Average the checkpoints of the last N iterations.")
flags.DEFINE_integer("first_step", None, "First iteration of the averaged range.")
flags.DEFINE_integer("last_step", None, "Last iteration of the averaged range (default: newest).")
flags.DEFINE_string("out", None, "Bundle directory (default: WORKDIR/averaged_policy).")
FLAGS = flags.FLAGS


def main(_):
  from interprior_jax.training import checkpoint as ckpt_lib

  run = pathlib.Path(FLAGS.workdir)
  ckpt = ckpt_lib.Checkpointer(run / ckpt_lib.CHECKPOINT_DIR, max_to_keep=1_000_000,
                               async_save=False)
  saved = ckpt.all_steps()
  ckpt.close()
  steps = ckpt_lib.select_average_steps(saved, FLAGS.last, FLAGS.first_step, FLAGS.last_step)
  out = ckpt_lib.average_actor_bundle(run, steps, FLAGS.out or run / "averaged_policy")
  print(f"averaged {len(steps)} checkpoints ({steps[0]}..{steps[-1]}) -> {out}")


if __name__ == "__main__":
  app.run(main)
