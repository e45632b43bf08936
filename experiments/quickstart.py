"""The main job on the embedded default: every stage built so far, CPU-sized with ``:smoke``.

  python experiments/quickstart.py --config=configs/quickstart.py:smoke --workdir /tmp/qs

Stages (each timed and summarized in ``DIR/report.json``; the console shows one line per stage,
``--verbosity=0`` brings back the libraries' INFO logs):
  1. scene: build the configured humanoid + object scene (MuJoCo + MJX).
  2. data: generate the embedded synthetic HOI dataset and save it (native format, DIR/data).
  3. sim: step ``num_envs`` MJX copies under small random actions (30 Hz control, PD targets).
  4. video: render env 0's rollout to DIR/rollout.mp4 when an OpenGL backend is available.
  5. pretrained: the committed embedded-default expert (``pretrained/<config.pretrained.expert>``)
     on its own clips from their first frames (success rate, E_h, E_o), and one episode rendered
     with the reference as a translucent ghost (the best one: a success if any):
     DIR/pretrained/{eval.json, episode_best.mp4}.
  5b. pretrained_student: the committed Stage-2 student (``pretrained/<config.pretrained.student>``)
     on the snapshot goal task (prior-mean latent), and one dataset snapshot goal played
     closed-loop with its pelvis / object targets drawn as markers:
     DIR/pretrained_student/{eval_snapshot.json, goal_episode.mp4}.
  Smoke checks (clearly labelled: a few iterations each, they check that training runs):
  6. expert: Stage-1 PPO on the HOI env over the generated clips (``config.expert``, a complete
     ``configs/expert.py`` config): DIR/expert/{checkpoints, policy (inference bundle),
     history.json, config.json}.
  7. eval: the bundle on every generated clip from its first frame (success rate, E_h, E_o,
     per clip): DIR/expert/eval.json (same as ``experiments/evaluate.py --workdir DIR/expert``).
  8. distill: Stage-2 DAgger distillation of that expert into the masked latent policy
     (``config.distill``, a complete ``configs/distill.py`` config): DIR/student/{checkpoints,
     policy (prior + decoder bundle), history.json}.
  9. student_eval: the student bundle on the sparse-goal tasks (``config.student_eval.tasks``):
     DIR/student/eval_<task>.json (same as ``experiments/evaluate.py --task``).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from interprior_jax import render  # noqa: E402  (sets MUJOCO_GL before mujoco is imported)

render.default_gl_backend()

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from interprior_jax import launch  # noqa: E402

# XLA's default code generation (no fast-compile flags): the committed bundles' figures were
# measured with it, and a policy's episodes can flip under other float rounding (the push
# expert: 4/4 with the defaults, 2/4 with runtime.FAST_COMPILE_XLA_FLAGS; docs/benchmarks.md,
# "Quickstart wall time").

launch.define_flags(os.path.join(os.path.dirname(__file__), "..", "configs", "quickstart.py"))
FLAGS = flags.FLAGS


def _episode_tag(index) -> str:
  """File-name tag of a rendered evaluation episode (``best`` for ``BEST_EPISODE``)."""
  from interprior_jax.training import evaluation
  return "best" if index == evaluation.BEST_EPISODE else str(index)


def stage_scene(cfg):
  from interprior_jax import config as config_lib
  from interprior_jax.assets import scene as scene_lib

  t0 = time.perf_counter()
  scene = scene_lib.build_scene(config_lib.scene_options(cfg.scene))
  m, s = scene.model, scene.spec
  summary = {
      "humanoid": s.humanoid, "nq": m.nq, "nv": m.nv, "nu": m.nu, "num_bodies": s.num_bodies,
      "action_size": s.action_size, "humanoid_mass_kg": float(m.body_subtreemass[s.root_body_id]),
      "standing_root_height_m": s.standing_root_height, "physics_hz": 1.0 / s.timestep,
      "objects": [{"name": o.name, "mass_kg": o.mass, "num_geoms": int(len(o.geom_ids))}
                  for o in s.objects],
      "build_s": time.perf_counter() - t0,
  }
  return scene, summary


def stage_data(cfg, scene, workdir):
  import numpy as np

  from interprior_jax.motion.io import native

  import ml_collections

  from interprior_jax.motion import sources

  t0 = time.perf_counter()
  if cfg.data.source != "synthetic" and not cfg.data.source.startswith("native:"):
    raise ValueError(f"config.data.source={cfg.data.source!r}: use 'synthetic' or 'native:DIR'")
  # The trainers' loader: synthetic clips drawn with config.data.object only / native filtered.
  load_cfg = ml_collections.ConfigDict({
      "seed": cfg.seed, "data": cfg.data.to_dict(),
      "env": {"scene": {"humanoid": scene.spec.humanoid}}})
  clips = sources.load_clips(load_cfg)
  quality = []
  if cfg.data.source == "synthetic":
    from interprior_jax.motion import synth

    quality = [synth.quality_report(c) for c in clips]
  gen_s = time.perf_counter() - t0
  native.save_clips(workdir / "data", clips)
  summary = {
      "source": cfg.data.source, "num_clips": len(clips),
      "total_frames": int(sum(c.num_frames for c in clips)),
      "total_seconds": float(sum(c.duration for c in clips)),
      "objects": sorted({c.object_name for c in clips}), "seconds": gen_s,
      "saved_to": str(workdir / "data"),
      "clips": [{"name": c.name, "frames": c.num_frames, "object": c.object_name} for c in clips],
  }
  if quality:
    keys = sorted({k for q in quality for k, v in q.items() if isinstance(v, (int, float))})
    summary["quality_mean"] = {k: float(np.mean([q[k] for q in quality if k in q])) for k in keys}
  return clips, summary


def stage_sim(cfg, scene):
  import jax
  import jax.numpy as jnp
  import numpy as np

  from interprior_jax import config as config_lib
  from interprior_jax.sim import mjx_sim

  spec = scene.spec
  substeps = int(round(1.0 / (config_lib.CONTROL_HZ * spec.timestep)))
  num_ctrl = int(round(cfg.sim.seconds * config_lib.CONTROL_HZ))
  mx = mjx_sim.put_model(scene.model)
  d0 = mjx_sim.batch_data(mjx_sim.initial_data(scene.model, spec), cfg.sim.num_envs)
  root_z = spec.root_qpos_adr + 2

  def control_step(d, key):
    a = cfg.sim.action_noise * jax.random.normal(key, (cfg.sim.num_envs, spec.action_size))
    d = jax.vmap(lambda x, ai: mjx_sim.step_n(mx, mjx_sim.set_action(x, spec, ai), substeps))(
        d, a)
    finite = jnp.all(jnp.isfinite(d.qpos), axis=-1)
    return d, (d.qpos[:, root_z], d.qpos[0], finite)

  @jax.jit
  def run(d, key):
    return jax.lax.scan(control_step, d, jax.random.split(key, num_ctrl))

  key = jax.random.PRNGKey(cfg.seed)
  t0 = time.perf_counter()
  d, (pelvis_z, qpos0, finite) = jax.block_until_ready(run(d0, key))
  first_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  jax.block_until_ready(run(d0, key))
  wall = time.perf_counter() - t0
  pelvis_z, finite = np.asarray(pelvis_z), np.asarray(finite)
  summary = {
      "num_envs": cfg.sim.num_envs, "control_hz": config_lib.CONTROL_HZ, "substeps": substeps,
      "control_steps": num_ctrl, "all_finite": bool(finite.all()),
      "pelvis_z_min": float(pelvis_z.min()), "pelvis_z_final_mean": float(pelvis_z[-1].mean()),
      "first_call_s": first_s, "wall_s": wall,
      "env_steps_per_s": cfg.sim.num_envs * num_ctrl / wall,
      "physics_steps_per_s": cfg.sim.num_envs * num_ctrl * substeps / wall,
  }
  return np.asarray(qpos0), summary


def _committed_bundle(cfg, field: str):
  """``(pretrained/<config.pretrained.<field>>, its policy/ bundle)``; FileNotFoundError naming
  the config field when the bundle is missing."""
  import pathlib

  from interprior_jax.training import checkpoint as ckpt_lib

  name = cfg.pretrained[field]
  root = pathlib.Path(__file__).resolve().parents[1] / "pretrained" / name
  bundle = root / ckpt_lib.BUNDLE_DIR
  if not bundle.exists():
    raise FileNotFoundError(f"config.pretrained.{field}={name!r}: no bundle at {bundle}")
  return root, bundle


def stage_pretrained(cfg, workdir):
  """The committed expert bundle ``pretrained/<cfg.pretrained.expert>`` on its own clips (from
  their first frames) plus one rendered episode with the reference ghost -> DIR/pretrained/."""
  from interprior_jax.training import evaluation

  root, bundle = _committed_bundle(cfg, "expert")
  pdir = workdir / "pretrained"
  pdir.mkdir(parents=True, exist_ok=True)
  t0 = time.perf_counter()
  video = cfg.pretrained.video_episode if cfg.video.enabled else None
  opts = evaluation.EvalOptions(perturb=cfg.pretrained.perturb, seed=cfg.seed,
                                video_episode=video,
                                video_path=str(pdir / f"episode_{_episode_tag(video)}.mp4"))
  result = evaluation.evaluate_bundle(bundle, opts)
  result.update({"bundle": str(bundle), **launch.provenance()})
  launch.write_json(pdir / "eval.json", result)
  manifest = root / "manifest.json"
  out = {k: result[k] for k in ("num_episodes", "success_rate", "mean_length", "e_h", "e_o",
                                "perturb")}
  out.update(bundle=str(bundle), eval_json=str(pdir / "eval.json"),
             video=result.get("video", {"status": "disabled"}), wall_s=time.perf_counter() - t0)
  if manifest.exists():
    import json
    out["manifest_success_rate"] = json.loads(manifest.read_text()).get(
        "eval", {}).get("perturb_off", {}).get("success_rate")
  return out


def stage_pretrained_student(cfg, workdir):
  """The committed Stage-2 student ``pretrained/<cfg.pretrained.student>`` on the ``snapshot``
  goal task (prior-mean latent) and one dataset snapshot goal played closed-loop and rendered
  with the goal's pelvis / object targets as markers -> DIR/pretrained_student/."""
  import json

  from interprior_jax.control import draw
  from interprior_jax.control import session as session_lib
  from interprior_jax.training import distill_eval

  root, bundle = _committed_bundle(cfg, "student")
  sdir = workdir / "pretrained_student"
  sdir.mkdir(parents=True, exist_ok=True)
  t0 = time.perf_counter()
  r = distill_eval.evaluate_goal_task(bundle, "snapshot", int(cfg.pretrained.student_episodes),
                                      seed=cfg.seed, latent_mean=True)
  launch.write_json(sdir / "eval_snapshot.json", r)
  out = {k: r[k] for k in ("task", "latent", "num_episodes", "success_rate", "failure_rate",
                           "e_h")}
  manifest = root / "manifest.json"
  if manifest.exists():
    out["manifest_success_rate"] = json.loads(manifest.read_text()).get(
        "eval_latent_mean", {}).get("snapshot", {}).get("success_rate")
  out["video"] = {"status": "disabled"}
  if cfg.video.enabled:
    session = session_lib.PlaySession(bundle, clip=int(cfg.pretrained.student_clip),
                                      seed=cfg.seed, latent_mean=True)
    ep = session_lib.record_goal_episode(session, "n")
    out["goal_episode"] = {"reached_step": ep["reached_step"], "steps": len(ep["qpos"]),
                           "goal": ep["message"]}

    def frames():
      r = draw.FrameRenderer(session.model, cfg.video.width, cfg.video.height)
      try:
        return r.frames(ep["qpos"], ep["markers"])
      finally:
        r.close()

    out["video"] = render.render_with(frames, sdir / "goal_episode.mp4",
                                      fps=1.0 / float(session.env.dt))
  out["wall_s"] = time.perf_counter() - t0
  return out


def _expert_config(cfg, workdir):
  """``config.expert`` bound to the quickstart's seed and dataset (``native:DIR/data``)."""
  import ml_collections

  ecfg = ml_collections.ConfigDict(cfg.expert.to_dict())
  if ecfg.env_kind != "hoi":
    raise ValueError(f"config.expert.env_kind={ecfg.env_kind!r}: the quickstart trains the HOI env")
  if ecfg.env.scene.humanoid != cfg.scene.humanoid:
    raise ValueError(f"config.expert.env.scene.humanoid={ecfg.env.scene.humanoid!r} differs from "
                     f"config.scene.humanoid={cfg.scene.humanoid!r}")
  ecfg.seed = cfg.seed
  ecfg.data.update(source=f"native:{workdir / 'data'}", object=cfg.data.object, max_clips=0)
  return ecfg


def stage_expert(cfg, clips, workdir):
  import math

  from interprior_jax.training import expert

  ecfg = _expert_config(cfg, workdir)
  edir = workdir / "expert"
  edir.mkdir(parents=True, exist_ok=True)
  launch.write_json(edir / "config.json", ecfg.to_dict())
  t0 = time.perf_counter()
  algo = expert.build(ecfg, clips=clips)
  build_s = time.perf_counter() - t0
  res = expert.train(ecfg, edir, algo=algo)
  wall = time.perf_counter() - t0
  hist = res.history
  launch.write_json(edir / "history.json", {"history": hist})
  keys = ("episode_return", "episode_length", "reward", "success_rate", "env/e_h", "env/e_o",
          "env/r_track", "loss")
  pick = lambda h: {k: h.get(k) for k in keys}  # noqa: E731
  # A re-run in the same DIR resumes the finished run (no new iterations, still finite).
  finite = all(math.isfinite(h["loss"]) for h in hist) and not res.nan_events
  return {
      "workdir": str(edir), "bundle": str(edir / "policy"), "iterations": int(res.state.step),
      "num_envs": algo.env.num_envs, "env_steps": int(res.state.step) * algo.env_steps_per_iteration,
      "observation_size": int(algo.env.observation_size), "action_size": algo.env.action_size,
      "resumed_from": res.resumed_from, "new_iterations": len(hist), "build_s": build_s,
      "wall_s": wall, "nan_events": len(res.nan_events), "finite": finite,
      "first": pick(hist[0]) if hist else {}, "last": pick(hist[-1]) if hist else {},
  }


def stage_eval(cfg, clips, workdir):
  from interprior_jax.training import evaluation

  edir = workdir / "expert"
  t0 = time.perf_counter()
  opts = evaluation.EvalOptions(perturb=cfg.eval.perturb,
                                episodes_per_clip=int(cfg.eval.episodes_per_clip), seed=cfg.seed)
  result = evaluation.evaluate_bundle(edir / "policy", opts, clips=clips)
  result.update({"workdir": str(edir), **launch.provenance()})
  launch.write_json(edir / "eval.json", result)
  out = {k: result[k] for k in ("num_episodes", "success_rate", "mean_length", "e_h", "e_o",
                                "perturb", "num_steps")}
  out.update(wall_s=time.perf_counter() - t0, eval_json=str(edir / "eval.json"))
  return out


def stage_distill(cfg, workdir):
  import math

  import ml_collections

  from interprior_jax.training.distill import train as distill

  sdir = workdir / "student"
  sdir.mkdir(parents=True, exist_ok=True)
  dcfg = ml_collections.ConfigDict(cfg.distill.to_dict())
  dcfg.seed = cfg.seed
  launch.write_json(sdir / "config.json", dcfg.to_dict())
  t0 = time.perf_counter()
  res = distill.train(dcfg, sdir, workdir / "expert")
  hist = res.history
  launch.write_json(sdir / "history.json", {"history": hist})
  keys = ("loss_action", "loss_action_prior", "rollout_action_error", "loss_kl", "beta",
          "episode_length", "loss")
  pick = lambda h: {k: h.get(k) for k in keys}  # noqa: E731
  finite = all(math.isfinite(h["loss"]) for h in hist) and not res.nan_events
  return {"workdir": str(sdir), "bundle": str(sdir / "policy"), "iterations": int(res.state.step),
          "new_iterations": len(hist), "resumed_from": res.resumed_from,
          "wall_s": time.perf_counter() - t0, "nan_events": len(res.nan_events),
          "finite": finite, "first": pick(hist[0]) if hist else {},
          "last": pick(hist[-1]) if hist else {}}


def stage_student_eval(cfg, workdir):
  from interprior_jax.training import distill_eval

  sdir = workdir / "student"
  out = {}
  for task in cfg.student_eval.tasks:
    t0 = time.perf_counter()
    r = distill_eval.evaluate_goal_task(sdir / "policy", task, int(cfg.student_eval.episodes),
                                        seed=cfg.seed)
    r.update({"workdir": str(sdir), **launch.provenance()})
    launch.write_json(sdir / f"eval_{task}.json", r)
    out[task] = {k: r[k] for k in ("num_episodes", "success_rate", "failure_rate")}
    out[task]["wall_s"] = time.perf_counter() - t0
  return out


def _say(stage: str, what: str) -> None:
  """The console's one progress line per stage."""
  print(f"quickstart [{stage}] {what}", flush=True)


def main(_):
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # Orbax logs every checkpoint save at INFO
  cfg = FLAGS.config
  workdir = launch.start(cfg)
  report = {"job": "quickstart", "variant": cfg.variant, **launch.provenance(), "stages": {}}
  t_all = time.perf_counter()
  scene, report["stages"]["scene"] = stage_scene(cfg)
  _say("scene", f"{cfg.scene.humanoid} + {', '.join(cfg.scene.objects)}")
  clips, report["stages"]["data"] = stage_data(cfg, scene, workdir)
  _say("data", f"{report['stages']['data']['num_clips']} synthetic clips -> {workdir / 'data'}")
  qpos0, report["stages"]["sim"] = stage_sim(cfg, scene)
  _say("sim", f"{cfg.sim.num_envs} envs stepped, finite={report['stages']['sim']['all_finite']}")
  if cfg.video.enabled:
    from interprior_jax import config as config_lib
    report["stages"]["video"] = render.try_render_video(
        scene.model, qpos0, workdir / "rollout.mp4", fps=config_lib.CONTROL_HZ,
        width=cfg.video.width, height=cfg.video.height,
        track_body=int(scene.spec.root_body_id))
    _say("video", report["stages"]["video"].get("path") or report["stages"]["video"]["reason"])
  ok = bool(report["stages"]["sim"]["all_finite"])
  if cfg.pretrained.enabled:
    p = report["stages"]["pretrained"] = stage_pretrained(cfg, workdir)
    _say("pretrained", f"{cfg.pretrained.expert}: success {p['success_rate']:.2f} on "
         f"{p['num_episodes']} clips from frame 0 (perturb {p['perturb']}), e_h {p['e_h']:.3f} m, "
         f"video {p['video'].get('path') or p['video'].get('reason')}")
  if cfg.pretrained.get("student"):
    ps = report["stages"]["pretrained_student"] = stage_pretrained_student(cfg, workdir)
    ge = ps.get("goal_episode", {})
    _say("pretrained_student", f"{cfg.pretrained.student}: snapshot success "
         f"{ps['success_rate']:.2f} on {ps['num_episodes']} goals (prior mean); goal episode "
         f"reached at step {ge.get('reached_step')}, video "
         f"{ps['video'].get('path') or ps['video'].get('reason')}")
  if cfg.train_expert:
    e = report["stages"]["expert"] = stage_expert(cfg, clips, workdir)
    e["smoke_check"] = True
    _say("expert (smoke check)", f"{e['iterations']} PPO iterations ran, finite={e['finite']} "
         "(a few iterations: checks that training runs, not a trained expert)")
    ok = ok and e["finite"]
    if cfg.eval.enabled:
      ev = report["stages"]["eval"] = stage_eval(cfg, clips, workdir)
      ev["smoke_check"] = True
      _say("eval (smoke check)", f"smoke expert success {ev['success_rate']:.2f}")
    if cfg.distill_student:
      d = report["stages"]["distill"] = stage_distill(cfg, workdir)
      d["smoke_check"] = True
      _say("distill (smoke check)", f"{d['iterations']} DAgger iterations, finite={d['finite']}")
      ok = ok and d["finite"]
      if cfg.student_eval.enabled:
        se = report["stages"]["student_eval"] = stage_student_eval(cfg, workdir)
        _say("student_eval (smoke check)",
             ", ".join(f"{t} success {v['success_rate']:.2f}" for t, v in se.items()))
  report["total_s"] = time.perf_counter() - t_all
  report["ok"] = ok
  launch.write_json(workdir / "report.json", report)
  print(f"quickstart: wrote {workdir / 'report.json'} (ok={report['ok']}, "
        f"{report['total_s']:.0f} s)")


if __name__ == "__main__":
  app.run(main)
