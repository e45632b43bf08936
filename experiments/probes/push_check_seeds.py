"""Seed dependence of the CI learning check (``tests/test_stage1_expert.py``, push variant).

  python experiments/probes/push_check_seeds.py SEEDS ITS1 ITS2 [JSON_OVERRIDES]
  e.g. python experiments/probes/push_check_seeds.py 0,2,3 150 250

For each seed (``config.seed``): train ``configs/expert.py:push`` to ITS1 iterations, judge it on
the test's 64 noisy starts (deterministic policy), resume exactly to ITS2 and judge again; one JSON
line per seed.  JSON_OVERRIDES: ``{"section.key": value}`` applied to the config.
"""
import json
import os
import pathlib
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import jax  # noqa: E402

from configs import expert as expert_configs  # noqa: E402
from interprior_jax.training import expert  # noqa: E402
from interprior_jax.training import logging as log_lib  # noqa: E402
from test_stage1_expert import _noisy_starts  # noqa: E402


def _config(seed: int, iterations: int, checkpoint_every: int, overrides: dict):
  config = expert_configs.get_config("push")
  config.seed = seed
  config.loop.update(eval_every=0, num_iterations=iterations, checkpoint_every=checkpoint_every,
                     async_checkpoints=False)
  for key, value in overrides.items():
    *path, leaf = key.split(".")
    node = config
    for p in path:
      node = node[p]
    node[leaf] = value
  return config


def main(argv):
  seeds = [int(s) for s in argv[1].split(",")]
  marks = [int(argv[2]), int(argv[3])]
  overrides = json.loads(argv[4]) if len(argv) > 4 else {}
  for seed in seeds:
    t0 = time.time()
    workdir = pathlib.Path(tempfile.mkdtemp())
    out = {"seed": seed, "overrides": overrides}
    for its in marks:
      config = _config(seed, its, marks[0], overrides)
      algo = expert.build(config)
      res = expert.train(config, workdir, algo=algo,
                         logger=log_lib.MetricsLogger(None, stream=None))
      st = res.state
      out[its] = _noisy_starts(algo.env.env, lambda o: algo.act(st.params, st.normalizer, o),
                               int(config.env.max_episode_steps) + 2)
      out[f"nan_events_{its}"] = len(res.nan_events)
    s0 = algo.init(jax.random.PRNGKey(seed))
    out["untrained"] = _noisy_starts(algo.env.env, lambda o: algo.act(s0.params, s0.normalizer, o),
                                     int(config.env.max_episode_steps) + 2)
    out["wall_s"] = round(time.time() - t0)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
  main(sys.argv)
