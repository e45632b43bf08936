"""Package a trained expert or student as a committed bundle: ``pretrained/<name>/`` with a
manifest.

  python experiments/export_pretrained.py --workdir RUN --name embedded_expert \
      --command "python experiments/train_expert.py --config=configs/expert.py:embedded ..."
  python experiments/export_pretrained.py --workdir RUN --name embedded_student \
      --command "python experiments/distill.py --config=configs/distill.py:embedded ..."

A Stage-2 student (its config has ``goals``) is evaluated on the goal tasks instead
(``--tasks``, ``--task_episodes`` episodes each, seed 0; docs/tasks.md), plus a short
``ci_check`` (``--ci_episodes`` episodes of ``--ci_task``, prior-mean latent) that
tests/test_pretrained.py reproduces; its
manifest names the expert it was distilled from (``--expert``). A Stage-3 finetune (its config
has ``finetune``) is exported the same way as kind ``stage3_finetuned``, naming the student it
started from (``--student``); one trained with the get-up skill (``finetune.getup_fraction``)
also gets ``eval_getup`` (``--task_episodes`` fallen starts, prior mean), the student's figure
on the same episodes (``eval_getup_student``) and ``ci_check_getup``:

  python experiments/export_pretrained.py --workdir RUN --name locomotion_finetuned \
      --student pretrained/locomotion_student --expert pretrained/locomotion_expert \
      --tasks snapshot,trajectory,chain --ci_task chain \
      --command "python experiments/finetune.py --config=configs/finetune.py:locomotion ..."

A Stage-1 expert's manifest also gets ``reproduction``: the figure tests/test_pretrained.py
re-measures, over many perturbed starts near the clips' first frames
(``evaluation.reproduction_options``), with the same starts under zero action; its tolerance is
that rate's sampling error (``evaluation.rate_tolerance``).  ``--refresh_reproduction "<why>"``
measures it in place for a committed expert (no ``--workdir``):

  python experiments/export_pretrained.py --name embedded_push_expert \
      --refresh_reproduction "first measured"

After a change of the goal-task rules, ``--refresh_evals "<why>"`` re-measures a committed
student's or finetune's numbers in place (same ``--tasks`` / ``--ci_task`` / ``--expert`` as its
export; the replaced numbers' provenance goes to the manifest's ``eval_history``; with
``--tasks`` only those tasks' numbers are replaced, e.g. ``--tasks trajectory`` after its rule
change):

  python experiments/export_pretrained.py --name locomotion_student \
      --expert pretrained/locomotion_expert --refresh_evals "goal rule fixed in c3d93f4"

Copies ``RUN/policy`` (the inference bundle; ``--bundle best_policy``: ``RUN/best_policy``, the one
the periodic evaluations chose, with ``best.json``'s iteration count and wall time), ``RUN/learning_curve.png``, ``RUN/evals.json`` and
``RUN/history.jsonl``, rebuilds the whole run's TensorBoard events from those logs into ``tb/``
(:func:`curves.write_tensorboard`), evaluates the bundle on its own clips from their first frames with
perturbations off, with the fixed-impulse protocol and from perturbed first frames (the Table-2
protocol, ``--perturbed_start_episodes`` per clip), and writes ``manifest.json``: the config
(variant, action mode, backend), the data (source, seed, clip names and frame counts; clips are
never copied), the training (command, iterations, env steps, wall time, commit), the numbers
measured here and the bundle's size.  Refuses bundles over ``--max_mb`` (10 MB).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string("workdir", None, "Training workdir (policy/, train_summary.json, ...); "
                    "not used with --refresh_evals.")
flags.DEFINE_string("name", None, "Bundle name: pretrained/<name>.", required=True)
flags.DEFINE_enum("bundle", "policy", ["policy", "best_policy", "averaged_policy"],
                  "Which of the run's bundles to export (into pretrained/<name>/policy either "
                  "way): its last one, the one its periodic evaluations chose (the iterations, "
                  "env steps and wall time recorded are then best.json's), or the weight average "
                  "of its iterates written by experiments/average_policy.py (the iterations "
                  "recorded are the last averaged step's; the averaged steps are recorded).")
flags.DEFINE_string("command", "", "The exact training command (recorded in the manifest).")
flags.DEFINE_float("max_mb", 10.0, "Largest allowed bundle size.")
flags.DEFINE_integer("episodes_per_clip", 1, "Evaluation episodes per clip and protocol.")
flags.DEFINE_integer("perturbed_start_episodes", 4, "Episodes per clip of the perturbed-start "
                     "evaluation.")
flags.DEFINE_string("root", None, "Folder holding pretrained/ (default: the repository).")
flags.DEFINE_float("train_wall_s", None, "Training wall time to record (default: the run's "
                   "train_summary.json, which only covers its last process).")
flags.DEFINE_string("train_notes", "", "Free text on how the run went (recorded).")
flags.DEFINE_list("tasks", ["snapshot", "trajectory", "contact", "chain", "random_init"],
                  "Student bundles: goal tasks to evaluate.")
flags.DEFINE_integer("task_episodes", 64, "Student bundles: episodes per goal task.")
flags.DEFINE_integer("ci_episodes", 32, "Student bundles: episodes of the CI check.")
flags.DEFINE_string("ci_task", "snapshot", "Student bundles: the CI check's goal task.")
flags.DEFINE_list("getup_tilt", None, "Stage-3 bundles with the get-up skill: the evaluation's "
                  "fallen-start tilt range LO,HI in degrees (default: its training range).")
flags.DEFINE_string("student", "", "Stage-3 bundles: the student bundle the finetune started from.")
flags.DEFINE_string("refresh_evals", "", "Student / finetuned bundles: re-measure the goal "
                    "tasks of the committed pretrained/<name> (no --workdir) and replace "
                    "their numbers in its manifest, keeping the rest; the value says why "
                    "(recorded in the manifest's eval_history).")
flags.DEFINE_string("expert", "pretrained/embedded_expert", "Student bundles: the expert it was "
                    "distilled from (recorded with its manifest's numbers).")
flags.DEFINE_string("refresh_reproduction", "", "Stage-1 bundles: measure the reproduction "
                    "figure of the committed pretrained/<name> (no --workdir) and write it to its "
                    "manifest, keeping the rest; the value says why (recorded).")
FLAGS = flags.FLAGS

COPIED = ("learning_curve.png", "evals.json", "history.jsonl")


def run_summary(run, bundle: str) -> dict:
  """The run's ``train_summary.json`` (its last process: commit, date, device, iterations,
  wall_s); for ``bundle="best_policy"``, its iterations and wall time are ``best.json``'s."""
  import json

  from interprior_jax.training import loop as loop_lib

  path = run / "train_summary.json"
  summary = json.loads(path.read_text()) if path.exists() else {}
  if bundle == "best_policy":
    best = json.loads((run / loop_lib.BEST_FILE).read_text())
    summary.update(iterations=int(best["step"]), wall_s=float(best["wall_s"]))
  if bundle == "averaged_policy":
    cfg = json.loads((run / bundle / "config.json").read_text())
    summary.update(iterations=int(cfg["trained_iterations"]), averaged_steps=cfg["averaged_steps"])
  return summary


def _size_mb(path) -> float:
  return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2 ** 20


def main(_):
  import json
  import pathlib
  import shutil

  from interprior_jax import launch, runtime
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.motion import sources
  from interprior_jax.training import evaluation
  from interprior_jax.training import loop as loop_lib

  import ml_collections

  runtime.enable_compilation_cache()
  root = pathlib.Path(FLAGS.root) if FLAGS.root else pathlib.Path(__file__).resolve().parents[1]
  dest = root / "pretrained" / FLAGS.name
  if FLAGS.refresh_evals:
    return _refresh_student_evals(dest, FLAGS.refresh_evals)
  if FLAGS.refresh_reproduction:
    return _refresh_reproduction(dest, FLAGS.refresh_reproduction)
  if not FLAGS.workdir:
    raise app.UsageError("--workdir is required (except with --refresh_evals)")
  run = pathlib.Path(FLAGS.workdir)
  src = run / {"policy": ckpt_lib.BUNDLE_DIR, "best_policy": loop_lib.BEST_DIR}.get(
      FLAGS.bundle, FLAGS.bundle)
  bundle = ckpt_lib.load_bundle(src)  # validates it
  config = ml_collections.ConfigDict(bundle.config)
  if dest.exists():
    shutil.rmtree(dest)
  dest.mkdir(parents=True)
  shutil.copytree(src, dest / ckpt_lib.BUNDLE_DIR)
  for name in COPIED:
    if (run / name).exists():
      shutil.copy(run / name, dest / name)
  if (run / "history.jsonl").exists():
    from interprior_jax.training import curves
    curves.write_tensorboard(run, dest / "tb")
  clips = sources.load_clips(config)
  if "goals" in config:
    return _export_student(run, dest, config, clips)
  evals = {}
  protocols = {
      "perturb_off": evaluation.EvalOptions(episodes_per_clip=FLAGS.episodes_per_clip),
      "perturb_fixed": evaluation.EvalOptions(perturb="fixed",
                                              episodes_per_clip=FLAGS.episodes_per_clip),
      "perturbed_start": evaluation.EvalOptions(perturbed_start=True, seed=1,
                                                episodes_per_clip=FLAGS.perturbed_start_episodes),
  }
  for name, opts in protocols.items():
    r = evaluation.evaluate_bundle(dest / ckpt_lib.BUNDLE_DIR, opts, clips=clips)
    evals[name] = {k: r[k] for k in ("success_rate", "mean_length", "e_h", "e_o",
                                     "num_episodes", "per_clip")}
  summary = run_summary(run, FLAGS.bundle)
  size = _size_mb(dest)
  if size > FLAGS.max_mb:
    raise ValueError(f"{dest}: {size:.1f} MB exceeds --max_mb={FLAGS.max_mb}")
  manifest = {
      "name": FLAGS.name, "kind": "stage1_expert", "bundle": ckpt_lib.BUNDLE_DIR,
      "config": {"variant": config.get("variant"), "humanoid": config.env.scene.humanoid,
                 "skeleton": config.env.scene.get("skeleton", "default"),
                 "action_mode": config.env.action_mode,
                 "action_scale": float(config.env.action_scale), "impl": config.env.impl,
                 "actor_hidden": list(config.ppo.network.actor_hidden)},
      "data": {"source": config.data.source, "seed": sources.data_seed(config),
               "num_clips": len(clips), "object": config.data.get("object", ""),
               "clips": [{"name": c.name, "frames": int(c.num_frames)} for c in clips]},
      "training": {"command": FLAGS.command, "iterations": summary.get("iterations"),
                   "env_steps": (int(summary["iterations"]) * int(config.ppo.num_envs)
                                 * int(config.ppo.unroll_length)
                                 if summary.get("iterations") else None),
                   "wall_s": (FLAGS.train_wall_s if FLAGS.train_wall_s is not None
                              else summary.get("wall_s")),
                   "notes": FLAGS.train_notes, "commit": summary.get("commit"),
                   "date": summary.get("date"), "device": summary.get("device"),
                   **({"averaged_steps": summary["averaged_steps"]}
                      if "averaged_steps" in summary else {})},
      "eval": evals, "eval_provenance": launch.provenance(),
      "reproduction": reproduction(dest / ckpt_lib.BUNDLE_DIR, clips, "measured at export"),
      "size_mb": round(size, 3),
  }
  (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
  print(f"export_pretrained: {dest} ({size:.2f} MB): success off "
        f"{evals['perturb_off']['success_rate']:.2f}, fixed "
        f"{evals['perturb_fixed']['success_rate']:.2f}, perturbed starts "
        f"{evals['perturbed_start']['success_rate']:.2f}")


def _export_student(run, dest, config, clips) -> None:
  """Goal-task evaluation and manifest of a Stage-2 student bundle (see the module docstring)."""
  import json
  import pathlib

  from interprior_jax import launch
  from interprior_jax.motion import sources
  from interprior_jax.training import checkpoint as ckpt_lib

  measured = _goal_task_evals(dest / ckpt_lib.BUNDLE_DIR)
  summary = run_summary(run, FLAGS.bundle)
  expert_manifest = pathlib.Path(FLAGS.expert) / "manifest.json"
  expert = {"bundle": FLAGS.expert}
  if expert_manifest.exists():
    em = json.loads(expert_manifest.read_text())
    expert["tracking_success"] = {k: v["success_rate"] for k, v in em.get("eval", {}).items()}
  size = _size_mb(dest)
  if size > FLAGS.max_mb:
    raise ValueError(f"{dest}: {size:.1f} MB exceeds --max_mb={FLAGS.max_mb}")
  d = config.distill
  stage3 = "finetune" in config
  # the env steps of an iteration: the finetune's batch for a Stage-3 bundle, else distillation's
  batch = config.finetune if stage3 else d
  manifest = {
      "name": FLAGS.name, "kind": "stage3_finetuned" if stage3 else "stage2_student",
      "bundle": ckpt_lib.BUNDLE_DIR, "expert": expert,
      **({"student": FLAGS.student} if stage3 else {}),
      "config": {"variant": config.get("variant"), "ablation": d.ablation,
                 "humanoid": config.env.scene.humanoid, "action_mode": config.env.action_mode,
                 "impl": config.env.impl, "latent_size": int(d.network.latent_size),
                 "decoder_hidden": list(d.network.decoder_hidden),
                 "augment": config.augment.to_dict(),
                 **({"finetune_ablation": config.get("ablation"),
                     "finetune": config.finetune.to_dict()} if stage3 else {})},
      "data": {"source": config.data.source, "seed": sources.data_seed(config),
               "num_clips": len(clips),
               "clips": [{"name": c.name, "frames": int(c.num_frames)} for c in clips]},
      "training": {"command": FLAGS.command, "iterations": summary.get("iterations"),
                   "env_steps": (int(summary["iterations"]) * int(batch.num_envs)
                                 * int(batch.unroll_length) if summary.get("iterations") else None),
                   "wall_s": (FLAGS.train_wall_s if FLAGS.train_wall_s is not None
                              else summary.get("wall_s")),
                   "notes": FLAGS.train_notes, "commit": summary.get("commit"),
                   "date": summary.get("date"), "device": summary.get("device")},
      **measured, "eval_provenance": launch.provenance(), "size_mb": round(size, 3),
  }
  if stage3 and float(config.finetune.get("getup_fraction", 0.0)) > 0:
    manifest.update(_getup_evals(dest / ckpt_lib.BUNDLE_DIR, config))
  (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
  print(f"export_pretrained: {dest} ({size:.2f} MB): " + ", ".join(
      f"{k} {v['success_rate']}" for k, v in measured["eval"].items()))


def _getup_evals(bundle_dir, config) -> dict:
  """The get-up skill's numbers of a finetune trained with it (``distill_eval.evaluate_getup``,
  prior mean): ``eval_getup`` (``--task_episodes`` episodes, seed 0), the same episodes played by
  ``--student`` (``eval_getup_student``: the prior before the skill, the baseline) and
  ``ci_check_getup`` (what tests/test_pretrained.py reproduces), all from starts tipped in
  ``--getup_tilt`` (default: the finetune's training range), recorded as ``tilt_deg``.
  ``config``: the bundle's (already loaded and validated by the caller)."""
  import pathlib

  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training import distill_eval

  tilt = distill_eval.getup_config(config, FLAGS.getup_tilt).env.init.fallen_tilt_deg

  def run(where, n):
    r = distill_eval.evaluate_getup(where, n, latent_mean=True, tilt_deg=tilt)
    r.pop("per_episode")
    return r
  out = {"eval_getup": run(bundle_dir, FLAGS.task_episodes)}
  if FLAGS.student:
    out["eval_getup_student"] = run(pathlib.Path(FLAGS.student) / ckpt_lib.BUNDLE_DIR,
                                    FLAGS.task_episodes)
  out["ci_check_getup"] = run(bundle_dir, FLAGS.ci_episodes // 2)
  print("export_pretrained: getup: " + ", ".join(
      f"{k} success {v['success_rate']} final_up {v['final_up']:.2f} final_height "
      f"{v['final_height']:.2f}" for k, v in out.items()))
  return out


def _goal_task_evals(bundle_dir) -> dict:
  """The goal-task numbers of a student / finetuned manifest, measured on ``bundle_dir``:
  ``eval`` (prior sample), ``eval_latent_mean``, ``eval_expert_same_episodes`` (``--tasks``,
  ``--task_episodes`` each, seed 0) and ``ci_check`` (what tests/test_pretrained.py
  reproduces)."""
  from interprior_jax.training import distill_eval

  keys = ("success_rate", "failure_rate", "mean_goals_reached", "e_h", "e_o", "num_episodes",
          "num_trivial")
  evals, expert_evals, mean_evals = {}, {}, {}

  def pick(res):  # hit_rate: the trajectory task only
    return {k: res[k] for k in keys + ("hit_rate",) if k in res}

  for task in FLAGS.tasks:
    r = distill_eval.evaluate_goal_task(bundle_dir, task, FLAGS.task_episodes)
    evals[task] = pick(r)
    rm = distill_eval.evaluate_goal_task(bundle_dir, task, FLAGS.task_episodes, latent_mean=True)
    mean_evals[task] = pick(rm)
    line = (f"export_pretrained: {task}: student success {r['success_rate']} (prior mean "
            f"{rm['success_rate']})")
    if task != "random_init":  # the expert needs the reference, which random_init starts off
      rx = distill_eval.evaluate_goal_task(bundle_dir, task, FLAGS.task_episodes,
                                           expert_dir=FLAGS.expert)
      expert_evals[task] = pick(rx)
      line += f", expert on the same episodes {rx['success_rate']}"
    print(line)
  ci = distill_eval.evaluate_goal_task(bundle_dir, FLAGS.ci_task, FLAGS.ci_episodes,
                                       latent_mean=True)
  return {"eval": evals, "eval_latent_mean": mean_evals, "eval_expert_same_episodes": expert_evals,
          "ci_check": {"task": FLAGS.ci_task, "num_episodes": FLAGS.ci_episodes, "seed": 0,
                       "latent": ci["latent"], "success_rate": ci["success_rate"],
                       "failure_rate": ci["failure_rate"], "e_h": ci["e_h"],
                       "mean_goals_reached": ci["mean_goals_reached"]}}


def merge_refreshed(manifest: dict, measured: dict, tasks, note: str, provenance) -> dict:
  """``manifest`` with the re-measured goal-task numbers (:func:`_goal_task_evals`) of
  ``tasks`` replacing its own, every other task's numbers kept (a rule change of one task:
  ``--tasks trajectory``) and the ``ci_check`` replaced; the replaced success rates, the tasks,
  the earlier provenance and ``note`` appended to ``eval_history``."""
  manifest = dict(manifest)
  history = list(manifest.pop("eval_history", []))
  history.append({"provenance": manifest.get("eval_provenance"),
                  "ci_check": manifest.get("ci_check"),
                  "success_rate": {k: {t: v.get("success_rate")
                                       for t, v in manifest.get(k, {}).items() if t in tasks}
                                   for k in measured if k != "ci_check"},
                  "tasks": list(tasks), "replaced_because": note})
  for k, v in measured.items():
    manifest[k] = v if k == "ci_check" else {**manifest.get(k, {}), **v}
  manifest.update(eval_provenance=provenance, eval_history=history)
  return manifest


def reproduction(bundle_dir, clips, note: str) -> dict:
  """The Stage-1 manifest's ``reproduction`` entry: ``evaluation.reproduction_options`` played by
  the bundle and by zero action on the same starts, with the provenance and ``note``."""
  import dataclasses

  from interprior_jax import launch
  from interprior_jax.training import evaluation

  opts = evaluation.reproduction_options(len(clips))
  rec = evaluation.reproduction_record(evaluation.evaluate_bundle(bundle_dir, opts, clips=clips),
                                       opts)
  zero = evaluation.evaluate_bundle(bundle_dir, dataclasses.replace(opts, zero_action=True),
                                    clips=clips)
  rec["zero_action"] = {"success_rate": float(zero["success_rate"]),
                        "mean_length": float(zero["mean_length"])}
  rec.update(note=note, provenance=launch.provenance())
  return rec


def _refresh_reproduction(dest, note: str) -> None:
  """``--refresh_reproduction``: measures a committed Stage-1 expert's ``reproduction`` entry
  in place, keeping the rest of its manifest (layout and key order too)."""
  import json

  import ml_collections

  from interprior_jax.motion import sources
  from interprior_jax.training import checkpoint as ckpt_lib

  path = dest / "manifest.json"
  text = path.read_text()
  manifest = json.loads(text)
  if manifest.get("kind", "stage1_expert") != "stage1_expert":
    raise ValueError(f"{path}: field 'kind' is {manifest.get('kind')!r}; --refresh_reproduction "
                     "measures Stage-1 experts (stage1_expert)")
  lines = text.splitlines()
  indent = len(lines[1]) - len(lines[1].lstrip()) if len(lines) > 1 else 1
  bundle_dir = dest / manifest["bundle"]
  config = ml_collections.ConfigDict(ckpt_lib.load_bundle(bundle_dir).config)
  clips = sources.load_clips(config)
  names, recorded = [c.name for c in clips], [c["name"] for c in manifest["data"]["clips"]]
  if names != recorded:
    raise ValueError(f"{path}: field 'data.clips' names {recorded}, the bundle's config loads "
                     f"{names}")
  manifest["reproduction"] = rec = reproduction(bundle_dir, clips, note)
  path.write_text(json.dumps(manifest, indent=indent))
  print(f"export_pretrained: {path} reproduction: {rec['successes']}/{rec['num_episodes']} "
        f"perturbed starts, mean length {rec['mean_length']:.1f} (zero action "
        f"{rec['zero_action']['mean_length']:.1f})")


def _refresh_student_evals(dest, note: str) -> None:
  """``--refresh_evals``: re-measures a committed student / finetuned bundle's goal-task numbers
  (after a change of the evaluation rule) and replaces them in its manifest, keeping the rest
  (training record, data, config); the old numbers' provenance goes to ``eval_history``."""
  import json

  from interprior_jax import launch
  from interprior_jax.training import checkpoint as ckpt_lib

  path = dest / "manifest.json"
  text = path.read_text()
  manifest = json.loads(text)
  # written back in its own layout (indent, key order), so the diff shows what changed
  lines = text.splitlines()
  indent = len(lines[1]) - len(lines[1].lstrip()) if len(lines) > 1 else 1
  sort_keys = list(manifest) == sorted(manifest)
  if manifest.get("kind") not in ("stage2_student", "stage3_finetuned"):
    raise ValueError(f"{path}: field 'kind' is {manifest.get('kind')!r}; --refresh_evals "
                     "re-measures goal-task bundles (stage2_student, stage3_finetuned)")
  ci_task = manifest.get("ci_check", {}).get("task")
  if ci_task and ci_task != FLAGS.ci_task:
    raise ValueError(f"{path}: field 'ci_check.task' is {ci_task!r}; pass --ci_task={ci_task} "
                     "(or drop the old check by hand)")
  if manifest.get("expert", {}).get("bundle") not in (None, FLAGS.expert):
    raise ValueError(f"{path}: field 'expert.bundle' is {manifest['expert']['bundle']!r}, "
                     f"--expert is {FLAGS.expert!r}")
  if not FLAGS["tasks"].present:  # the tasks it was exported with
    FLAGS.tasks = list(manifest.get("eval", {})) or FLAGS.tasks
  measured = _goal_task_evals(dest / ckpt_lib.BUNDLE_DIR)
  manifest = merge_refreshed(manifest, measured, FLAGS.tasks, note, launch.provenance())
  path.write_text(json.dumps(manifest, indent=indent, sort_keys=sort_keys))
  print(f"export_pretrained: {path} re-measured: " + ", ".join(
      f"{k} {v['success_rate']}" for k, v in measured["eval"].items()))


if __name__ == "__main__":
  app.run(main)
