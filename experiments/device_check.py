"""The one prepared GPU check: benchmarks at scale, then a few minutes of Stage-1 training.

Run once on a machine with one accelerator (it installs nothing; < 9 minutes by default):

  python experiments/device_check.py --out $OUT

1. ``bench_env`` (full env step and physics-only rates) for smpl, smplx and g1 at 4096 and 8192
   envs, then ``bench_physics`` at the largest size, on MJX ("jax"; "warp" too when
   ``mujoco_warp`` imports), each in its own process, all within ``--bench_budget_s`` (a step
   that would start past it is recorded as skipped);
2. ``--train_seconds`` (default 240) of ``configs/expert.py:<train_variant>`` training
   (``config.loop.max_wall_s``) in ``--train_workdir``, with its learning curve;
3. optionally (``--finetune_seconds`` > 0) Stage 3 at the accelerator's batch: the locomotion
   finetune from the committed ``pretrained/locomotion_student_timed`` (``--finetune_envs`` envs,
   every env group on the benchmarks' first MJX backend, ``--finetune_overrides`` on top), then
   its snapshot evaluation (64 episodes, prior mean: docs/results.md's Stage-3 rows). The CPU
   measured why this needs the batch: one 128-env batch's goal gradient is 97-99.7 % noise.
   For that check alone: ``--humanoids= --train_seconds=0 --finetune_seconds=420``.

Everything lands in ``--out``: ``device_check.json`` (every benchmark line, the training summary,
the machine, each step's wall time and status), ``learning_curve.png`` and the training's
``history.jsonl`` / ``evals.json``.  A step that fails or times out is recorded and the next one
runs.  ``--dry_run`` shrinks every size (a CPU check of the script itself: tests/test_device_check.py).
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

from absl import app
from absl import flags

ROOT = pathlib.Path(__file__).resolve().parents[1]

flags.DEFINE_string("out", os.environ.get("OUT", "device_check_out"), "Output folder.")
flags.DEFINE_list("humanoids", ["smpl", "smplx", "g1"], "Humanoids to benchmark.")
flags.DEFINE_list("num_envs", ["4096", "8192"], "Batch sizes to benchmark.")
flags.DEFINE_list("impls", None, "MJX implementations (default: jax, plus warp if importable).")
flags.DEFINE_integer("bench_timeout_s", 90, "Timeout of one benchmark process.")
flags.DEFINE_integer("bench_budget_s", 270, "Wall-time budget of all benchmarks together.")
flags.DEFINE_string("train_workdir", "/tmp/interprior_device_check_train",
                    "Training workdir (outside --out: only its curve and logs are copied).")
flags.DEFINE_integer("train_seconds", 240, "Training wall-time budget (0: skip training).")
flags.DEFINE_string("train_variant", "smpl", "configs/expert.py variant to train.")
flags.DEFINE_list("train_overrides", [], "Extra --config.x=y overrides for the training run.")
flags.DEFINE_integer("finetune_seconds", 0, "Stage-3 finetune wall-time budget (0: skip).")
flags.DEFINE_integer("finetune_envs", 4096, "Stage-3 finetune: config.finetune.num_envs.")
flags.DEFINE_string("finetune_workdir", "/tmp/interprior_device_check_finetune",
                    "Stage-3 finetune workdir (outside --out: its curve, history and evaluation "
                    "are copied).")
flags.DEFINE_list("finetune_overrides", ["inbetween.w_place=1.0",
                                         "finetune.anchor_optimizer=separate"],
                  "Extra --config.x=y overrides for the Stage-3 finetune.")
flags.DEFINE_bool("dry_run", False, "Tiny sizes and budgets (checks the script on a CPU).")
FLAGS = flags.FLAGS


def _warp_available() -> bool:
  try:
    import mujoco_warp  # noqa: F401
    return True
  except Exception:  # not installed / no CUDA
    return False


#: Stage 3's check: the committed bundles it starts from, and its evaluation.
FINETUNE_STUDENT = "pretrained/locomotion_student_timed"
FINETUNE_EXPERT = "pretrained/locomotion_expert"


@dataclasses.dataclass(frozen=True)
class CheckPlan:
  """What one device check runs (the flags of the same names; ``train_seconds`` /
  ``finetune_seconds`` 0 skip that part; ``out`` receives the finetune's evaluation)."""
  workdir: pathlib.Path  # the training run's (--train_workdir)
  dry_run: bool = False
  humanoids: tuple[str, ...] = ()
  num_envs: tuple[str, ...] = ("4096",)
  impls: tuple[str, ...] = ("jax",)
  bench_timeout_s: int = 90
  train_seconds: int = 0
  train_variant: str = "smpl"
  train_overrides: tuple[str, ...] = ()
  finetune_seconds: int = 0
  finetune_envs: int = 4096
  finetune_overrides: tuple[str, ...] = ()
  finetune_workdir: pathlib.Path | None = None  # None: next to the training workdir
  out: pathlib.Path | None = None  # None: the finetune workdir


def plan(p: CheckPlan) -> list[dict]:
  """The steps to run, in order: ``{name, cmd, timeout_s, parse}`` (``parse``: "json_lines" for
  a benchmark, "train" for a training run, "none" for the evaluation, which writes into
  ``p.out``)."""
  return _bench_steps(p) + _train_steps(p) + _finetune_steps(p)


def _bench_steps(p: CheckPlan) -> list[dict]:
  """``bench_env`` per humanoid x size x backend, then ``bench_physics`` at the largest size."""
  py = sys.executable
  steps = []
  sizes = ["8"] if p.dry_run else list(p.num_envs)
  for humanoid in p.humanoids:
    for n in sizes:
      for impl in p.impls:
        small = ["--steps=3"] + (["--variant=smoke"] if humanoid == "smpl" else [])
        steps.append({
            "name": f"bench_env/{humanoid}/{impl}/{n}",
            "cmd": [py, str(ROOT / "experiments/bench_env.py"), f"--humanoid={humanoid}",
                    f"--num_envs={n}", f"--impl={impl}", "--repeats=2"]
                   + (small if p.dry_run else []),
            "timeout_s": p.bench_timeout_s, "parse": "json_lines"})
  for humanoid in p.humanoids:
    for impl in p.impls:
      steps.append({
          "name": f"bench_physics/{humanoid}/{impl}/{sizes[-1]}",
          "cmd": [py, str(ROOT / "experiments/bench_physics.py"), f"--humanoid={humanoid}",
                  f"--num_envs={sizes[-1]}", f"--config.impl={impl}"]
                 + (["--config.steps=5"] if p.dry_run else []),
          "timeout_s": p.bench_timeout_s, "parse": "json_lines"})
  return steps


def _train_steps(p: CheckPlan) -> list[dict]:
  """Stage-1 training for ``p.train_seconds`` (none when 0)."""
  if p.train_seconds <= 0:
    return []
  overrides = [f"--config.loop.max_wall_s={p.train_seconds}", "--config.loop.log_every=1",
               "--config.loop.eval_every=10", "--config.loop.checkpoint_every=50"]
  if p.dry_run:
    overrides += ["--config.loop.num_iterations=2", "--config.loop.eval_every=1"]
  return [{
      "name": f"train/{p.train_variant}",
      "cmd": [sys.executable, str(ROOT / "experiments/train_expert.py"),
              f"--config={ROOT / 'configs/expert.py'}:{p.train_variant}",
              f"--workdir={p.workdir}"] + overrides + _flags(p.train_overrides),
      "timeout_s": p.train_seconds + (300 if p.dry_run else 150), "parse": "train",
      "workdir": str(p.workdir)}]


def _finetune_steps(p: CheckPlan) -> list[dict]:
  """Stage-3 finetune for ``p.finetune_seconds`` (none when 0), then its snapshot evaluation."""
  if p.finetune_seconds <= 0:
    return []
  py = sys.executable
  wd = p.finetune_workdir or p.workdir.parent / "finetune"
  n = 8 if p.dry_run else p.finetune_envs
  overrides = [f"--config.physics_impl={p.impls[0]}", f"--config.finetune.num_envs={n}",
               f"--config.loop.max_wall_s={p.finetune_seconds}", "--config.loop.log_every=1",
               "--config.loop.checkpoint_every=20"]
  if p.dry_run:
    overrides += ["--config.loop.num_iterations=2", "--config.finetune.unroll_length=4"]
  episodes = 4 if p.dry_run else 64
  return [{
      "name": "finetune/locomotion",
      "cmd": [py, str(ROOT / "experiments/finetune.py"),
              f"--config={ROOT / 'configs/finetune.py'}:locomotion", f"--workdir={wd}",
              f"--student={ROOT / FINETUNE_STUDENT}", f"--expert={ROOT / FINETUNE_EXPERT}"]
             + overrides + _flags(p.finetune_overrides),
      "timeout_s": p.finetune_seconds + (600 if p.dry_run else 240), "parse": "train",
      "workdir": str(wd)}, {
      "name": "evaluate/finetune_snapshot",
      "cmd": [py, str(ROOT / "experiments/evaluate.py"), f"--workdir={wd}", "--task=snapshot",
              "--latent_mean", f"--num_episodes={episodes}",
              f"--out={(p.out or wd) / 'finetune_snapshot.json'}"],
      "timeout_s": 600, "parse": "none"}]


def _flags(overrides) -> list[str]:
  """``x=y`` -> ``--config.x=y`` (a full ``--flag`` passes as it is)."""
  return [f"--config.{o}" if not o.startswith("--") else o for o in overrides]


def run_step(step: dict, timeout_s: float | None = None) -> dict:
  t0 = time.perf_counter()
  rec = {"name": step["name"], "cmd": " ".join(step["cmd"])}
  timeout_s = step["timeout_s"] if timeout_s is None else timeout_s
  try:
    p = subprocess.run(step["cmd"], capture_output=True, text=True, timeout=timeout_s,
                       cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    rec["status"] = "ok" if p.returncode == 0 else f"exit {p.returncode}"
    out = p.stdout
    if p.returncode != 0:
      rec["stderr_tail"] = p.stderr[-2000:]
  except subprocess.TimeoutExpired as e:
    rec["status"] = f"timeout after {timeout_s:.0f} s"
    out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
  rec["wall_s"] = round(time.perf_counter() - t0, 1)
  if step["parse"] == "json_lines":
    rec["results"] = [json.loads(line) for line in out.splitlines()
                      if line.startswith("{") and line.endswith("}")]
  elif step["parse"] == "train":
    summary = pathlib.Path(step["workdir"]) / "train_summary.json"
    if summary.exists():
      rec["train_summary"] = json.loads(summary.read_text())
  return rec


def main(_):
  out = pathlib.Path(FLAGS.out)
  out.mkdir(parents=True, exist_ok=True)
  impls = FLAGS.impls or (["jax", "warp"] if _warp_available() else ["jax"])
  steps = plan(CheckPlan(
      workdir=pathlib.Path(FLAGS.train_workdir), dry_run=FLAGS.dry_run,
      humanoids=tuple(FLAGS.humanoids), num_envs=tuple(FLAGS.num_envs), impls=tuple(impls),
      bench_timeout_s=FLAGS.bench_timeout_s, train_seconds=FLAGS.train_seconds,
      train_variant=FLAGS.train_variant, train_overrides=tuple(FLAGS.train_overrides),
      finetune_seconds=FLAGS.finetune_seconds, finetune_envs=FLAGS.finetune_envs,
      finetune_overrides=tuple(FLAGS.finetune_overrides),
      finetune_workdir=pathlib.Path(FLAGS.finetune_workdir), out=out))
  report = {"job": "device_check", "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "dry_run": FLAGS.dry_run, "impls": impls, "steps": []}
  try:
    import jax
    report["devices"] = [str(d) for d in jax.devices()]
  except Exception as e:  # noqa: BLE001 (recorded, the benchmarks report their own)
    report["devices"] = f"unavailable: {e}"
  t_bench = time.perf_counter()
  for step in steps:
    timeout = None
    if step["parse"] == "json_lines":
      left = FLAGS.bench_budget_s - (time.perf_counter() - t_bench)
      if left < 10:
        report["steps"].append({"name": step["name"], "status": "skipped: bench budget spent"})
        continue
      timeout = min(step["timeout_s"], left)
    rec = run_step(step, timeout)
    report["steps"].append(rec)
    print(f"device_check: {rec['name']}: {rec['status']} ({rec['wall_s']} s)", flush=True)
    (out / "device_check.json").write_text(json.dumps(report, indent=1))
  (out / "device_check.json").write_text(json.dumps(report, indent=1))
  for train in (s for s in steps if s["parse"] == "train"):
    wd = pathlib.Path(train["workdir"])
    prefix = "finetune_" if train["name"].startswith("finetune") else ""
    for name in ("learning_curve.png", "history.jsonl", "evals.json"):
      if (wd / name).exists():
        shutil.copy(wd / name, out / (prefix + name))
  print(f"device_check: report in {out / 'device_check.json'}")


if __name__ == "__main__":
  app.run(main)
