"""Evaluate an exported expert on tracking: success rate, E_h, E_o (overall and per clip).

  python experiments/evaluate.py --workdir DIR [--clips PATH] [--perturb off|random|fixed]
      [--video N] [--out FILE]

Loads ``DIR/policy`` (inference bundle) and its config; ``--clips`` replaces the run's data (a
folder of InterAct ``.pt`` files or a native dataset folder). Every clip is played from its first
frame until it ends; success = tracked to the end with no early termination; E_h = mean key-body
position error, E_o = mean object surface-point error (the env's ``e_h`` / ``e_o`` metrics, m).
Writes ``DIR/eval.json`` (or ``--out``); ``--video N`` renders episode N to MP4 with the
reference as a translucent ghost over the simulated humanoid and object.  A committed bundle
(``pretrained/<name>``) evaluates on its own clips with no other argument (synthetic clips are
regenerated from the seed in its config, real ones read from the shared folder).

Stage-2 goal tasks (a distilled bundle, ``experiments/distill.py``):

  python experiments/evaluate.py --workdir DIR --task snapshot|trajectory|contact|chain|random_init
  python experiments/evaluate.py --workdir DIR --task snapshot --expert pretrained/embedded_expert
  python experiments/evaluate.py --workdir DIR --task chain --latent_mean --video -1

success / failure rate / E_h / E_o as defined in ``interprior_jax/training/distill_eval.py`` and
docs/tasks.md; writes ``DIR/eval_<task>.json``.  ``--task all`` runs the five tasks (the expert:
all but ``random_init``, which starts off the reference), writes ``DIR/eval_goal_tasks.json``
(``_expert`` / ``_latent_mean`` suffixes as for one task) and prints one Table-1 row.
``--video N`` (one task) renders goal episode N (``-1``: the best) next to the JSON, with the
reference frame of the goal being pursued as a ghost (it changes when a chain goal is reached).
``--perturb random|fixed`` plays the same episodes under impulses (``distill_eval.task_config``;
``_perturb_<mode>`` suffix): a robustness variant, never the Table-1 number.

Stage 3's get-up skill (a finetune with ``finetune.getup_fraction > 0``; a plain student gives
the baseline): ``--task getup [--latent_mean] [--video N]`` plays episodes from fallen starts
and writes ``DIR/eval_getup.json`` (``distill_eval.evaluate_getup``: success = standing on each
of the last second's steps; ``--video -1`` renders the episode ending most upright;
``--getup_tilt=LO,HI`` sets the starts' tilt range in degrees, default the bundle's training
range, so that policies trained on different ranges are compared on the same starts).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interprior_jax import render  # noqa: E402  (sets MUJOCO_GL before mujoco is imported)

render.default_gl_backend()

from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from interprior_jax.control import planner as planner_lib  # noqa: E402

flags.DEFINE_string("workdir", None, "Training workdir holding policy/ (the bundle).",
                    required=True)
flags.DEFINE_string("clips", None, "Folder of InterAct .pt clips or a native dataset (default: "
                    "the run's data).")
flags.DEFINE_enum("perturb", "off", ["off", "random", "fixed"], "Impulse perturbations "
                  "(see interprior_jax.training.evaluation.PERTURB_MODES).")
flags.DEFINE_bool("randomize", False, "Keep per-episode object randomization.")
flags.DEFINE_bool("perturbed_start", False, "Start each clip from a perturbed copy of its first "
                  "frame (config.env.init noise; the Table-2 tracking protocol).")
flags.DEFINE_integer("episodes_per_clip", 1, "Episodes per clip (different seeds).")
flags.DEFINE_integer("seed", 0, "Evaluation seed.")
flags.DEFINE_bool("stochastic", False, "Sample actions instead of using the mean.")
flags.DEFINE_bool("zero_action", False, "Tracking: play zero action instead of the policy (the "
                  "baseline; residual mode: the reference's next frame as the PD target).")
flags.DEFINE_string("out", None, "Output JSON (default DIR/eval.json, DIR/eval_<task>.json).")
flags.DEFINE_enum("task", "tracking", ["tracking", "snapshot", "trajectory", "contact", "chain",
                                       "random_init", "all", "getup"],
                  "tracking (expert or any bundle), a Stage-2 sparse-goal task, all five, or "
                  "getup (Stage 3's get-up skill: standing up from fallen starts).")
flags.DEFINE_list("getup_tilt", None, "--task getup: the fallen starts' tilt range LO,HI in "
                  "degrees (default: the bundle's get-up training range).")
flags.DEFINE_integer("num_episodes", 64, "Episodes of a goal task.")
flags.DEFINE_string("expert", None, "Goal tasks: the same episodes played by this expert bundle "
                    "on the full reference (the student's upper bound; writes "
                    "eval_<task>_expert.json).")
flags.DEFINE_integer("video", None, "Render episode N (its index in episodes; -1: the best "
                     "one, a success if any) to MP4 with a translucent ghost: tracking, the "
                     "reference; goal tasks, the reference frame the current goal is taken from.")
flags.DEFINE_string("video_out", None, "MP4 path (default: next to the JSON, episode_<N>.mp4).")
flags.DEFINE_float("tolerance_scale", 1.0, "Goal tasks: goals reached within this multiple "
                   "of the task's tolerances (contacts excepted); e.g. a Stage-3 run's "
                   "inbetween.reach_tolerance_scale. Output name gets _tol<scale>.")
flags.DEFINE_enum("planner", "", list(planner_lib.PLANNERS), "Goal tasks: the student acts through this goal "
                  "planner (interprior_jax/control/planner.py; 'root': pelvis waypoints towards "
                  "the snapshot goal fill the empty trajectory tokens).")
flags.DEFINE_bool("latent_mean", False, "Goal tasks: the student acts on the prior's mean latent "
                  "(deterministic) instead of a per-episode prior sample.")
FLAGS = flags.FLAGS


def main(_):
  import pathlib

  from interprior_jax import launch, runtime
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training import evaluation

  runtime.enable_compilation_cache()
  workdir = pathlib.Path(FLAGS.workdir)
  if FLAGS.task != "tracking":
    from interprior_jax.training import distill_eval

    tag = ("goal_tasks" if FLAGS.task == "all" else FLAGS.task)
    name = (f"eval_{tag}" + ("_expert" if FLAGS.expert else "")
            + ("_latent_mean" if FLAGS.latent_mean else "")
            + (f"_planner_{FLAGS.planner}" if FLAGS.planner else "")
            + (f"_tol{FLAGS.tolerance_scale:g}" if FLAGS.tolerance_scale != 1.0 else "")
            + (f"_tilt{'-'.join(FLAGS.getup_tilt)}" if FLAGS.getup_tilt else "")
            + (f"_perturb_{FLAGS.perturb}" if FLAGS.perturb != "off" else "")
            + ".json")
    out = pathlib.Path(FLAGS.out) if FLAGS.out else workdir / name
    if FLAGS.zero_action:
      raise ValueError(f"--zero_action: tracking only, not --task={FLAGS.task}")
    if FLAGS.video is not None and FLAGS.task == "all":
      raise ValueError("--video: name one goal task (--task), not 'all'")
    if FLAGS.task == "getup" and (FLAGS.expert or FLAGS.tolerance_scale != 1.0 or FLAGS.planner):
      raise ValueError("--task getup: --expert, --tolerance_scale and --planner do not apply")
    if FLAGS.task == "getup" and FLAGS.perturb != "off":
      raise ValueError("--perturb: tracking and the Table-1 goal tasks, not --task getup")
    if FLAGS.randomize or FLAGS.perturbed_start or FLAGS.clips:
      raise ValueError(f"--randomize / --perturbed_start / --clips: tracking only, not "
                       f"--task={FLAGS.task}")
    if FLAGS.getup_tilt is not None and (FLAGS.task != "getup" or len(FLAGS.getup_tilt) != 2):
      raise ValueError(f"--getup_tilt={FLAGS.getup_tilt}: two numbers LO,HI, with --task getup")

    def run(task):
      video = {}
      if FLAGS.video is not None:
        vtag = "best" if FLAGS.video == distill_eval.BEST_EPISODE else FLAGS.video
        video = {"video_episode": FLAGS.video, "video_path": FLAGS.video_out or str(
            out.with_name(f"{out.stem}_episode_{vtag}.mp4"))}
      if task == "getup":  # Stage 3's get-up skill (distill_eval.evaluate_getup)
        return distill_eval.evaluate_getup(workdir / ckpt_lib.BUNDLE_DIR, FLAGS.num_episodes,
                                           FLAGS.seed, latent_mean=FLAGS.latent_mean,
                                           tilt_deg=FLAGS.getup_tilt, **video)
      return distill_eval.evaluate_goal_task(workdir / ckpt_lib.BUNDLE_DIR, task,
                                             FLAGS.num_episodes, FLAGS.seed,
                                             expert_dir=FLAGS.expert,
                                             latent_mean=FLAGS.latent_mean,
                                             tolerance_scale=FLAGS.tolerance_scale,
                                             planner=FLAGS.planner, perturb=FLAGS.perturb,
                                             **video)
    meta = {"workdir": str(workdir), "acting": FLAGS.expert or "student", **launch.provenance()}
    if FLAGS.task == "all":
      tasks = [t for t in distill_eval.TASKS if not (FLAGS.expert and t == "random_init")]
      result = {"tasks": {}, "num_episodes": FLAGS.num_episodes, "seed": FLAGS.seed,
                "perturb": FLAGS.perturb,
                "latent": "prior mean" if FLAGS.latent_mean else "prior sample", **meta}
      for task in tasks:
        r = run(task)
        # per-episode records stay out of the table; their successes stay (None: a trivial episode,
        # not counted), for paired comparisons of two policies on the same seeded episodes
        r["episode_success"] = [bool(e["success"]) if e["counted"] else None
                                for e in r.pop("per_episode")]
        result["tasks"][task] = r
        launch.write_json(out, result)  # after each task: a long run keeps what it measured
        print(f"evaluate[{task}]: success_rate={r['success_rate']} failure_rate="
              f"{r['failure_rate']:.3f} e_h={r['e_h']}", flush=True)
      cells = [f"{result['tasks'][t]['success_rate']:.2f} ({result['tasks'][t]['failure_rate']:.0%}"
               " falls)" if t in result["tasks"] and result["tasks"][t]["success_rate"] is not None
               else "-" for t in distill_eval.TASKS]
      print("| " + " | ".join(distill_eval.TASKS) + " |\n| " + " | ".join(cells) + " |")
      print(f"-> {out}")
      return
    result = run(FLAGS.task)
    result.update(seed=FLAGS.seed, **meta)  # num_episodes: run's; seed: to pair two outputs
    launch.write_json(out, result)
    summary = (f"ever_stood_rate={result['ever_stood_rate']} final_up={result['final_up']:.2f} "
               f"final_height={result['final_height']:.2f} final_feet={result['final_feet']:.2f}"
               if FLAGS.task == "getup" else
               f"failure_rate={result['failure_rate']:.3f} e_h={result['e_h']} e_o={result['e_o']}")
    print(f"evaluate[{FLAGS.task}]: success_rate={result['success_rate']} {summary} -> {out}")
    if "video" in result:
      print(f"evaluate[{FLAGS.task}]: video {result['video']}")
    return
  source = None
  if FLAGS.clips:
    p = pathlib.Path(FLAGS.clips)
    source = f"omomo:{p}" if list(p.glob("*.pt")) else f"native:{p}"
  out = pathlib.Path(FLAGS.out) if FLAGS.out else workdir / "eval.json"
  video_path = None
  if FLAGS.video is not None:
    tag = "best" if FLAGS.video == evaluation.BEST_EPISODE else FLAGS.video
    video_path = FLAGS.video_out or str(out.with_name(f"{out.stem}_episode_{tag}.mp4"))
  opts = evaluation.EvalOptions(
      perturb=FLAGS.perturb, randomize=FLAGS.randomize, perturbed_start=FLAGS.perturbed_start,
      episodes_per_clip=FLAGS.episodes_per_clip,
      seed=FLAGS.seed, stochastic=FLAGS.stochastic, clips_source=source,
      zero_action=FLAGS.zero_action, video_episode=FLAGS.video, video_path=video_path)
  result = evaluation.evaluate_bundle(workdir / ckpt_lib.BUNDLE_DIR, opts)
  result.update({"workdir": str(workdir), **launch.provenance()})
  launch.write_json(out, result)
  print(f"evaluate: success_rate={result['success_rate']:.3f} e_h={result['e_h']} "
        f"e_o={result['e_o']} over {result['num_episodes']} episodes -> {out}")


if __name__ == "__main__":
  app.run(main)
