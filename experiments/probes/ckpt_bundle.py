"""A distillation checkpoint as an inference bundle, without rebuilding the trainer: reads the
Orbax checkpoint of ``WORKDIR/checkpoints/STEP`` by key path (``Checkpointer.read_leaves``), keeps
the deployed student params and the normaliser and writes what ``Distiller.export`` would have
written at that step (sizes from the saved arrays), so an unfinished run's students can be probed.

  python experiments/probes/ckpt_bundle.py WORKDIR STEP OUT_DIR EXPERT_BUNDLE

``WORKDIR/config.json`` is the run's config before :func:`distill.resolve_config`; the expert
bundle it was distilled from resolves it as the run did.
"""
import json
import pathlib
import re
import sys

import ml_collections

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax.training import checkpoint as ckpt_lib  # noqa: E402
from interprior_jax.training import normalization  # noqa: E402
from interprior_jax.training.distill import train as distill  # noqa: E402

_KEY = re.compile(r"\['([^']+)'\]|\.(\w+)")


def _nest(paths_leaves, prefix):
  out = {}
  for path, leaf in paths_leaves:
    if not path.startswith(prefix):
      continue
    keys = [a or b for a, b in _KEY.findall(path[len(prefix):])]
    d = out
    for k in keys[:-1]:
      d = d.setdefault(k, {})
    d[keys[-1]] = leaf
  return out


def main(workdir: str, step: str, out: str, expert: str) -> None:
  ck = ckpt_lib.Checkpointer(pathlib.Path(workdir) / ckpt_lib.CHECKPOINT_DIR, async_save=False)
  leaves = list(ck.read_leaves(int(step)).items())
  ck.close()
  student = _nest(leaves, ".params['student']")
  norm = _nest(leaves, ".normalizer")
  stats = normalization.RunningStats(count=norm["count"], mean=norm["mean"], m2=norm["m2"])
  config = distill.resolve_config(
      ml_collections.ConfigDict(json.loads((pathlib.Path(workdir) / "config.json").read_text())),
      ckpt_lib.load_bundle(expert).config)
  params = distill.deployed_params(student)
  ckpt_lib.export_bundle(out, params, stats, config,
                         action_size=int(student["params"]["decoder"]["out"]["bias"].shape[-1]),
                         state_size=int(norm["mean"]["state"].shape[-1]),
                         goal_size=int(norm["mean"]["goals"].shape[-1]),
                         trained_iterations=int(step))
  print("bundle:", out)


if __name__ == "__main__":
  main(*sys.argv[1:])
