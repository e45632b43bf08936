"""Compare two policies' goal-task evaluations on the same episodes, episode by episode.

  python experiments/compare_goal_tasks.py A.json B.json

A / B: ``experiments/evaluate.py --task all`` (or ``--task NAME``: that task only) outputs with
the same ``--num_episodes`` and ``--seed`` (e.g. a student and its Stage-3 finetune, both
``--latent_mean``). Prints, per task both hold, the episodes only A reaches, only B reaches,
both, neither, and the exact sign test's p over the discordant ones
(:func:`interprior_jax.training.distill_eval.paired_comparison`).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interprior_jax.training import distill_eval  # noqa: E402


def main(argv):
  if len(argv) != 3:
    raise SystemExit(__doc__)
  runs = []
  for path in argv[1:]:
    with open(path) as f:
      try:
        r = distill_eval.as_task_results(json.load(f), path)
      except ValueError as e:
        raise SystemExit(str(e)) from None
    if r.get("seed") is None:
      raise SystemExit(f"{path}: field 'seed' missing (a --task NAME output written before "
                       "2026-12-07): cannot tell whether its episodes are the other file's")
    if (runs and (r.get("seed"), r.get("num_episodes"))
        != (runs[0].get("seed"), runs[0].get("num_episodes"))):
      raise SystemExit(f"{path}: seed / num_episodes {r.get('seed')} / {r.get('num_episodes')} "
                       f"differ from {argv[1]}'s: not the same episodes")
    runs.append(r)
  table = distill_eval.paired_comparison(*runs)
  print(f"A = {argv[1]}\nB = {argv[2]}")
  print("| task | counted | A only | B only | both | neither | sign test p |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  for task, c in table.items():
    print(f"| {task} | {c['n']} | {c['a_only']} | {c['b_only']} | {c['both']} | {c['neither']} "
          f"| {c['p_sign']:.3g} |")


if __name__ == "__main__":
  main(sys.argv)
