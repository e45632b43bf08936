"""Measures generation speed and quality-report means: ``python -m interprior_jax.motion.synth.bench
--num 48 --humanoid smpl --seed 0 [--ik damping=0.001 ...]`` (prints one JSON object; ``--ik``
overrides :class:`~interprior_jax.motion.synth.config.IKConfig` fields)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time

import numpy as np

from interprior_jax import runtime
from interprior_jax.motion import synth


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--num", type=int, default=48)
  p.add_argument("--humanoid", default="smpl")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--families", default="carry,push,drag")
  p.add_argument("--ik", nargs="*", default=[], metavar="FIELD=VALUE",
                 help="IKConfig overrides, e.g. damping=0.001")
  args = p.parse_args(argv)
  base = synth.SynthConfig()
  ik = {}
  for item in args.ik:
    field, _, value = item.partition("=")
    if field not in {f.name for f in dataclasses.fields(base.ik)}:
      raise SystemExit(f"--ik {item!r}: IKConfig has no field {field!r}")
    ik[field] = type(getattr(base.ik, field))(value)
  cfg = dataclasses.replace(base, ik=dataclasses.replace(base.ik, **ik))
  runtime.enable_compilation_cache()
  fams = tuple(args.families.split(","))
  load0 = os.getloadavg()[0]
  t0 = time.perf_counter()
  synth.generate_dataset(1, humanoid=args.humanoid, seed=args.seed + 1, families=fams,
                         config=cfg)  # compile
  t1 = time.perf_counter()
  clips = synth.generate_dataset(args.num, humanoid=args.humanoid, seed=args.seed, families=fams,
                                 config=cfg)
  t2 = time.perf_counter()
  load1 = os.getloadavg()[0]
  reports = [synth.quality_report(c, cfg) for c in clips]
  keys = reports[0].keys()
  out = {"num_clips": len(clips), "humanoid": args.humanoid, "ik_overrides": ik,
         "load_avg_1m_before_after": [round(load0, 2), round(load1, 2)],
         "cpu_count": os.cpu_count(),
         "first_call_s": round(t1 - t0, 1), "generate_s": round(t2 - t1, 1),
         "clips_per_s": round(len(clips) / (t2 - t1), 3),
         "mean_duration_s": round(float(np.mean([c.duration for c in clips])), 2),
         "mean": {k: round(float(np.mean([r[k] for r in reports])), 5) for k in keys},
         "max": {k: round(float(np.max([r[k] for r in reports])), 5) for k in keys},
         "min": {k: round(float(np.min([r[k] for r in reports])), 5) for k in keys}}
  print(json.dumps(out, indent=1))


if __name__ == "__main__":
  main()
