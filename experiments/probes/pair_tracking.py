"""Pairs tracking evaluations of the same seeded episodes (``experiments/evaluate.py`` JSONs,
e.g. ``--perturbed_start --episodes_per_clip 16 --seed 2``): completions, and against the first
file, the episodes each gained / lost with the exact sign test
(:func:`interprior_jax.training.distill_eval.paired_comparison`).

  python experiments/probes/pair_tracking.py BASE.json OTHER.json [...]

Refuses files whose episodes differ (seed, perturbed start, impulses, episode names).
"""

import json
import sys

from interprior_jax.training import distill_eval

KEYS = ("seed", "perturbed_start", "perturb", "num_episodes")


def main(paths):
  runs = [json.load(open(p)) for p in paths]
  base = runs[0]
  for p, r in zip(paths, runs):
    diff = [k for k in KEYS if r.get(k) != base.get(k)]
    names = [e["name"] for e in r["episodes"]] != [e["name"] for e in base["episodes"]]
    if diff or names:
      raise SystemExit(f"{p}: fields {diff + (['episodes.name'] if names else [])} differ "
                       f"from {paths[0]}; pair evaluations of the same episodes")
  wrap = lambda r: {"tasks": {"tracking": {"episode_success": [e["success"] for e in r["episodes"]]}}}
  for p, r in zip(paths, runs):
    n = sum(e["success"] for e in r["episodes"])
    line = f"{p}: {n}/{len(r['episodes'])} completed, E_h {r['e_h']:.3f}"
    if r is not base:
      c = distill_eval.paired_comparison(wrap(base), wrap(r))["tracking"]
      line += f"; against the first: gained {c['b_only']} / lost {c['a_only']} (p = {c['p_sign']:.3g})"
    print(line)


if __name__ == "__main__":
  main(sys.argv[1:])
