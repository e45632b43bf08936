"""experiments/device_check.py on the CPU: its plan (sizes, backends, budgets), step running with
timeouts and JSON parsing, and a dry run end to end with nothing to benchmark."""

import importlib.util
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "device_check.py"


def _module():
  """The script as a module, loaded once (its absl flags register at import)."""
  if "device_check" not in sys.modules:
    spec = importlib.util.spec_from_file_location("device_check", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["device_check"] = mod  # before exec: its dataclass looks its module up
    spec.loader.exec_module(mod)
  return sys.modules["device_check"]


def test_plan_covers_every_humanoid_size_and_backend(tmp_path):
  dc = _module()
  steps = dc.plan(dc.CheckPlan(
      tmp_path / "train", humanoids=("smpl", "smplx", "g1"), num_envs=("4096", "8192"),
      impls=("jax", "warp"), train_seconds=240, train_overrides=("ppo.num_envs=2048",)))
  names = [s["name"] for s in steps]
  for h in ("smpl", "smplx", "g1"):
    for impl in ("jax", "warp"):
      assert f"bench_env/{h}/{impl}/4096" in names and f"bench_env/{h}/{impl}/8192" in names
      assert f"bench_physics/{h}/{impl}/8192" in names
  assert names[-1] == "train/smpl" and len(names) == 6 * 2 + 6 + 1
  train = " ".join(steps[-1]["cmd"])
  assert "--config.loop.max_wall_s=240" in train and "--config.ppo.num_envs=2048" in train
  assert str(tmp_path / "train") in train
  dry = dc.plan(dc.CheckPlan(tmp_path, dry_run=True, humanoids=("smpl",),
                             num_envs=("4096", "8192")))
  assert [s["name"] for s in dry] == ["bench_env/smpl/jax/8", "bench_physics/smpl/jax/8"]
  assert "--variant=smoke" in dry[0]["cmd"] and "--config.steps=5" in dry[1]["cmd"]


def test_plan_stage3_finetune_at_the_accelerator_batch(tmp_path):
  """--finetune_seconds > 0 adds the Stage-3 finetune (committed bundles, the batch, every env
  group on the first MJX backend, the overrides) and its snapshot evaluation into --out."""
  dc = _module()
  steps = dc.plan(dc.CheckPlan(
      tmp_path / "train", impls=("warp", "jax"), finetune_seconds=420, finetune_envs=2048,
      finetune_overrides=("finetune.anchor_optimizer=separate",),
      finetune_workdir=tmp_path / "ft", out=tmp_path / "out"))
  assert [s["name"] for s in steps] == ["finetune/locomotion", "evaluate/finetune_snapshot"]
  ft = " ".join(steps[0]["cmd"])
  for part in ("configs/finetune.py:locomotion", f"--workdir={tmp_path / 'ft'}",
               "--student=" + str(dc.ROOT / dc.FINETUNE_STUDENT), "--config.physics_impl=warp",
               "--config.finetune.num_envs=2048", "--config.loop.max_wall_s=420",
               "--config.finetune.anchor_optimizer=separate"):
    assert part in ft, part
  assert steps[0]["parse"] == "train" and steps[0]["timeout_s"] > 420
  ev = " ".join(steps[1]["cmd"])
  assert "--task=snapshot" in ev and f"--out={tmp_path / 'out' / 'finetune_snapshot.json'}" in ev
  for b in (dc.FINETUNE_STUDENT, dc.FINETUNE_EXPERT):
    assert (dc.ROOT / b / "policy" / "config.json").exists(), b
  assert not dc.plan(dc.CheckPlan(tmp_path))


def test_run_step_parses_json_and_records_timeouts():
  dc = _module()
  ok = dc.run_step({"name": "echo", "cmd": [sys.executable, "-c",
                                            "print('noise'); print('{\"a\": 1}')"],
                    "timeout_s": 30, "parse": "json_lines"})
  assert ok["status"] == "ok" and ok["results"] == [{"a": 1}]
  slow = dc.run_step({"name": "sleep", "cmd": [sys.executable, "-c", "import time; "
                                               "time.sleep(5)"],
                      "timeout_s": 30, "parse": "json_lines"}, timeout_s=0.5)
  assert slow["status"].startswith("timeout") and slow["results"] == []
  bad = dc.run_step({"name": "fail", "cmd": [sys.executable, "-c", "raise SystemExit(3)"],
                     "timeout_s": 30, "parse": "json_lines"})
  assert bad["status"] == "exit 3"


def test_dry_run_writes_report(tmp_path):
  out = tmp_path / "out"
  p = subprocess.run([sys.executable, str(SCRIPT), f"--out={out}", "--humanoids=", "--dry_run",
                      "--train_seconds=0"], capture_output=True, text=True, timeout=300)
  assert p.returncode == 0, p.stderr[-2000:]
  report = json.loads((out / "device_check.json").read_text())
  assert report["dry_run"] is True and report["steps"] == [] and report["impls"]
