"""Compare goal-task evaluations on the same episodes: two policies episode by episode, or
ablation rows over training seeds.

  python experiments/compare_goal_tasks.py A.json B.json
  python experiments/compare_goal_tasks.py --rows NAME=A1.json,A2.json,... NAME2=B1.json,...

A / B: ``experiments/evaluate.py --task all`` (or ``--task NAME``: that task only) outputs with
the same ``--num_episodes`` and ``--seed`` (e.g. a student and its Stage-3 finetune, both
``--latent_mean``). Prints, per task both hold, the episodes only A reaches, only B reaches,
both, neither, and the exact sign test's p over the discordant ones
(:func:`interprior_jax.training.distill_eval.paired_comparison`). The sign test pairs episodes,
so it measures the evaluation's noise, not the training run's.

``--rows``: one evaluation per training seed of each row (same episodes throughout). Prints, per
task every file holds, each row's successes per seed, their mean and standard deviation, then
for every pair of rows the difference of the means and the exact permutation test over the
seeds (:func:`~interprior_jax.training.distill_eval.seed_permutation_p`; with 3 seeds a row it
cannot go below 0.1).
"""

import itertools
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interprior_jax.training import distill_eval  # noqa: E402


def _load(path, first=None):
  """One evaluation in ``--task all``'s shape; SystemExit naming the file and field when it is
  not one, or when its episodes are not ``first``'s."""
  with open(path) as f:
    try:
      r = distill_eval.as_task_results(json.load(f), path)
    except ValueError as e:
      raise SystemExit(str(e)) from None
  if r.get("seed") is None:
    raise SystemExit(f"{path}: field 'seed' missing (a --task NAME output written before "
                     "2026-12-07): cannot tell whether its episodes are the other files'")
  if first is not None and ((r.get("seed"), r.get("num_episodes"))
                            != (first[1].get("seed"), first[1].get("num_episodes"))):
    raise SystemExit(f"{path}: seed / num_episodes {r.get('seed')} / {r.get('num_episodes')} "
                     f"differ from {first[0]}'s: not the same episodes")
  # impulses (evaluate.py --perturb; files written before it have none) change the episodes too
  if first is not None and r.get("perturb", "off") != first[1].get("perturb", "off"):
    raise SystemExit(f"{path}: perturb {r.get('perturb', 'off')!r} differs from {first[0]}'s "
                     f"{first[1].get('perturb', 'off')!r}: not the same episodes")
  return r


def _pairs(a_path, b_path):
  a = _load(a_path)
  b = _load(b_path, (a_path, a))
  table = distill_eval.paired_comparison(a, b)
  print(f"A = {a_path}\nB = {b_path}")
  print("| task | counted | A only | B only | both | neither | sign test p |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  for task, c in table.items():
    print(f"| {task} | {c['n']} | {c['a_only']} | {c['b_only']} | {c['both']} | {c['neither']} "
          f"| {c['p_sign']:.3g} |")


def _rows(specs):
  rows, first = {}, None
  for spec in specs:
    name, sep, paths = spec.partition("=")
    if not sep or not name or not paths:
      raise SystemExit(f"--rows: {spec!r} is not NAME=FILE[,FILE...]")
    if name in rows:
      raise SystemExit(f"--rows: row {name!r} given twice")
    rows[name] = []
    for path in paths.split(","):
      r = _load(path, first)
      first = first or (path, r)
      rows[name].append(r)
  table = distill_eval.seed_rows(rows)
  for task, by_row in table.items():
    print(f"\n{task}\n| row | successes per seed (of counted) | mean | sd |\n"
          "| --- | --- | --- | --- |")
    for name, v in by_row.items():
      per = ", ".join(f"{c} ({n})" for c, n in zip(v["counts"], v["counted"]))
      print(f"| {name} | {per} | {v['mean']:.1f} | {v['sd']:.1f} |")
    if len(by_row) > 1:
      print("| row A | row B | mean A - mean B | permutation p over seeds |\n"
            "| --- | --- | --- | --- |")
      for a, b in itertools.combinations(by_row, 2):
        ca, cb = by_row[a]["counts"], by_row[b]["counts"]
        print(f"| {a} | {b} | {by_row[a]['mean'] - by_row[b]['mean']:+.1f} "
              f"| {distill_eval.seed_permutation_p(ca, cb):.3g} |")


def main(argv):
  if len(argv) >= 3 and argv[1] == "--rows":
    _rows(argv[2:])
  elif len(argv) == 3 and not argv[1].startswith("--"):
    _pairs(argv[1], argv[2])
  else:
    raise SystemExit(__doc__)


if __name__ == "__main__":
  main(sys.argv)
