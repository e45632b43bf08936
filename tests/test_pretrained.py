"""The committed pretrained bundles (``pretrained/<name>/``): they load, their manifests match
their configs, a short evaluation reproduces the manifest's numbers, and the expert tracks longer
than zero residual action on the same clips (so a policy of zeros cannot pass); a Stage-2 student
reproduces its manifest's CI snapshot check (a figure a trivial policy cannot reach)."""

import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training import evaluation
from interprior_jax.envs import registry
from interprior_jax.motion import sources

ROOT = pathlib.Path(__file__).resolve().parents[1]
ALL = sorted((ROOT / "pretrained").glob("*/manifest.json"))
MANIFESTS = [m for m in ALL
             if json.loads(m.read_text()).get("kind", "stage1_expert") == "stage1_expert"]
# Stage-2 students and Stage-3 finetunes of them (the same bundle format and CI check)
STUDENTS = [m for m in ALL if json.loads(m.read_text()).get("kind") in ("stage2_student",
                                                                        "stage3_finetuned")]
# Success rate and mean length may differ from the manifest's by this much. The evaluation is
# deterministic on the C backend at any thread count, but single outcomes are chaotic in XLA's
# float rounding, which differs between CPUs. Widened on 2026-12-06 (fifteenth session) after a
# measurement, not before: on a new Xeon box the push expert completes 2 of its 4 clips from
# their first frames (manifest 4/4; mean length 223.5 against 278.5, -20 %) and 11/16 perturbed
# starts (manifest 7/16), so two of four episodes flip (docs/results.md, "The push expert on
# another CPU"). What a broken or zero bundle cannot pass is the last check of
# test_evaluation_reproduces_manifest: it must track > 1.5x longer than zero residual action.
SUCCESS_TOL = 0.5
LENGTH_TOL = 0.25  # relative
FAILURE_TOL = 0.2  # student CI check: fall rate over its distinct episodes
E_H_TOL = 0.25     # relative
GOALS_TOL = 0.3    # student CI check: goals reached per episode (chain: 0-3), when recorded


def _needs_shared(manifest: dict) -> bool:
  return str(manifest["data"]["source"]).startswith("omomo")


@pytest.fixture(params=MANIFESTS, ids=[m.parent.name for m in MANIFESTS])
def pretrained(request):
  manifest = json.loads(request.param.read_text())
  if _needs_shared(manifest):
    request.getfixturevalue("omomo_root")  # skips without ../shared
  return request.param.parent, manifest


def test_there_is_an_embedded_default_expert():
  """The quickstart's expert is a committed Stage-1 bundle trained on synthetic clips (it runs
  without ../shared), and the carry/push expert it replaced stays (the student's teacher)."""
  import importlib.util
  spec = importlib.util.spec_from_file_location("_qs", ROOT / "configs" / "quickstart.py")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  names = {m.parent.name: json.loads(m.read_text()) for m in MANIFESTS}
  default = mod.get_config("smoke").pretrained.expert
  assert default in names and "embedded_expert" in names, (default, sorted(names))
  assert names[default]["data"]["source"] == "synthetic", names[default]["data"]


def test_bundle_loads_and_manifest_matches_config(pretrained):
  root, manifest = pretrained
  bundle = ckpt_lib.load_bundle(root / manifest["bundle"])
  cfg = ml_collections.ConfigDict(bundle.config)
  m = manifest["config"]
  assert (m["variant"], m["humanoid"], m["action_mode"], m["impl"]) == (
      cfg.variant, cfg.env.scene.humanoid, cfg.env.action_mode, cfg.env.impl)
  assert m["action_scale"] == pytest.approx(float(cfg.env.action_scale))
  assert manifest["data"]["source"] == cfg.data.source
  assert manifest["data"]["seed"] == int(cfg.seed)
  bundle_dir = root / manifest["bundle"]
  size = sum(f.stat().st_size for f in bundle_dir.rglob("*") if f.is_file()) / 2 ** 20
  assert size < 10.0 and manifest["size_mb"] < 10.0  # (a resume/ checkpoint may sit beside it)


def evaluation_and_zero_action(bundle_dir: str) -> dict:
  """The bundle on its own clips from their first frames, perturbations off
  (``{"clips", "success_rate", "mean_length", "zero_action_mean_length"}``; the last: zero
  residual action on the same clips and protocol)."""
  bundle_dir = pathlib.Path(bundle_dir)
  cfg = ml_collections.ConfigDict(ckpt_lib.load_bundle(bundle_dir).config)
  clips = sources.load_clips(cfg)
  res = evaluation.evaluate_bundle(bundle_dir, evaluation.EvalOptions(perturb="off"), clips=clips)
  cfg.env.perturb.mode = "off"
  cfg.env.randomize.enabled = False
  cfg.env.max_episode_steps = np.iinfo(np.int32).max
  env = registry.make_env(cfg, clips)
  reset, _, n = evaluation.hoi_reset_states(env, clips, jax.random.PRNGKey(0), 1)
  zero = jax.device_get(evaluation.first_episode_stats(
      env, reset, lambda o, k: jnp.zeros((o.shape[0], env.action_size)), jax.random.PRNGKey(1),
      n, evaluation.HOI_METRICS))
  return {"clips": [c.name for c in clips], "success_rate": float(res["success_rate"]),
          "mean_length": float(res["mean_length"]),
          "zero_action_mean_length": float(np.mean(zero["length"]))}


def test_evaluation_reproduces_manifest(pretrained):
  """The manifest's perturbation-off figures, re-measured with the numerics they were measured
  with: XLA's default code generation, in a subprocess (``run_with_xla_defaults``).  Under the
  suite's fast-compile flags the push expert's episodes flip (4/4 -> 2/4, seen 2026-12-06): a
  policy's single outcomes are chaotic in float rounding, so the check is against the same
  numerics, with SUCCESS_TOL / LENGTH_TOL for other CPUs' kernels (two of the push expert's four
  episodes flip on another Xeon).  Zero residual action on the same clips and protocol ends much
  sooner: the check a broken bundle fails."""
  from train_helpers import run_with_xla_defaults

  root, manifest = pretrained
  r = run_with_xla_defaults("test_pretrained", "evaluation_and_zero_action",
                            root / manifest["bundle"])
  assert r["clips"] == [c["name"] for c in manifest["data"]["clips"]]
  want = manifest["eval"]["perturb_off"]
  assert abs(r["success_rate"] - want["success_rate"]) <= SUCCESS_TOL, (r, want)
  assert r["mean_length"] == pytest.approx(want["mean_length"], rel=LENGTH_TOL)
  assert r["mean_length"] > 1.5 * r["zero_action_mean_length"], r


@pytest.fixture(params=STUDENTS, ids=[m.parent.name for m in STUDENTS])
def student(request):
  manifest = json.loads(request.param.read_text())
  if _needs_shared(manifest):
    request.getfixturevalue("omomo_root")
  return request.param.parent, manifest


def test_student_reproduces_its_ci_check(student):
  """Snapshot goals from random frames (prior-mean latent): the fall rate and the mean body error
  E_h reproduce the manifest's. Single outcomes are chaotic (a 1e-7 difference in the policy's
  output, e.g. another CPU's XLA kernels, flips an episode: seen 2026-12-02), so the check is on
  rates and means over distinct episodes; a student that falls (an untrained or broken one: zero
  absolute action falls) or drifts cannot pass."""
  from interprior_jax.training import distill_eval

  root, manifest = student
  bundle_dir = root / manifest["bundle"]
  cfg = ml_collections.ConfigDict(ckpt_lib.load_bundle(bundle_dir).config)
  m = manifest["config"]
  assert (m["variant"], m["ablation"], m["humanoid"], m["action_mode"]) == (
      cfg.variant, cfg.distill.ablation, cfg.env.scene.humanoid, cfg.env.action_mode)
  assert manifest["size_mb"] < 10.0
  want = manifest["ci_check"]
  res = distill_eval.evaluate_goal_task(bundle_dir, want["task"], want["num_episodes"],
                                        seed=want["seed"],
                                        latent_mean=want["latent"] == "prior mean")
  assert abs(res["success_rate"] - want["success_rate"]) <= SUCCESS_TOL, (res["success_rate"],
                                                                          want)
  assert abs(res["failure_rate"] - want["failure_rate"]) <= FAILURE_TOL, (res["failure_rate"],
                                                                          want)
  assert res["e_h"] == pytest.approx(want["e_h"], rel=E_H_TOL), (res["e_h"], want)
  if "mean_goals_reached" in want:
    assert abs(res["mean_goals_reached"] - want["mean_goals_reached"]) <= GOALS_TOL, (
        res["mean_goals_reached"], want)
  # The manifest's figures are those of a policy that mostly stays up.
  assert want["failure_rate"] <= 0.5 and want["num_episodes"] >= 32, want


GETUP = [m for m in STUDENTS if "ci_check_getup" in json.loads(m.read_text())]
GETUP_TOL = 0.15   # final trunk uprightness / height (means over the check's episodes)


@pytest.mark.parametrize("path", GETUP, ids=[m.parent.name for m in GETUP])
def test_getup_finetune_reproduces_its_check(path):
  """A finetune with the get-up skill: from fallen starts (prior mean) its final trunk
  uprightness and height reproduce the manifest's, and the manifest's figure is the skill's:
  well above the student's on the same episodes (a prior without the skill lies where it fell)."""
  from interprior_jax.training import distill_eval

  manifest = json.loads(path.read_text())
  want = manifest["ci_check_getup"]
  res = distill_eval.evaluate_getup(path.parent / manifest["bundle"], want["num_episodes"],
                                    seed=0, latent_mean=True, tilt_deg=want["tilt_deg"])
  for k in ("final_up", "final_height"):
    assert abs(res[k] - want[k]) <= GETUP_TOL, (k, res[k], want[k])
  assert abs(res["success_rate"] - want["success_rate"]) <= SUCCESS_TOL
  base = manifest["eval_getup_student"]
  assert manifest["eval_getup"]["final_up"] >= base["final_up"] + 0.2, (manifest["eval_getup"],
                                                                         base)


def test_goal_episode_video_ghost_is_the_goal(tmp_path):
  """``evaluate.py --task chain --video -1``'s path: the best chain episode, played by the
  locomotion expert (its chain success in the student's manifest is 0.66, so one of 4 episodes
  reaches goals), is re-recorded exactly as the evaluation played it (its length; at least the
  goals the evaluation counted), rendered, and its ghost is the goal: at each state that reaches a goal, the
  simulated hands, feet and head lie within the goal tolerance of the ghost's, while at the
  episode's start the ghost (the first goal, 45 steps ahead) is out of reach."""
  import mujoco

  from interprior_jax.envs import goal_env
  from interprior_jax.training import distill_eval

  student, expert = ROOT / "pretrained" / "locomotion_student", ROOT / "pretrained" / "locomotion_expert"
  if not (student / "policy").exists() or not (expert / "policy").exists():
    pytest.skip("pretrained/locomotion_{student,expert} not committed")
  video = tmp_path / "chain_best.mp4"
  r = distill_eval.evaluate_goal_task(student / "policy", "chain", 4, expert_dir=expert,
                                      video_episode=distill_eval.BEST_EPISODE, video_path=video)
  v = r["video"]
  best = r["per_episode"][v["episode"]]
  assert best["goals_reached"] >= 1, r["per_episode"]
  # the video marks every reach; the evaluation counts those in turn, each within its limit
  assert len(v["goal_reached_at"]) >= best["goals_reached"] and v["steps"] == best["length"], v
  assert v["status"] == "ok" and video.stat().st_size > 0, v
  ep = np.load(v["arrays"])
  sim_qpos, goal_qpos = ep["sim_qpos"], ep["goal_qpos"]
  assert sim_qpos.shape == goal_qpos.shape == (v["steps"], sim_qpos.shape[1])
  env = registry.make_env(distill_eval.task_config(
      ml_collections.ConfigDict(ckpt_lib.load_bundle(student / "policy").config),
      distill_eval.TASKS["chain"]))
  spec, model = env.spec, env.scene.model
  ext = np.asarray(spec.body_ids)[np.concatenate(
      [np.asarray(spec.hand_idx), np.asarray(spec.foot_idx), [spec.head_idx]]).astype(int)]

  def extremities(qpos):
    d = mujoco.MjData(model)
    d.qpos[:] = qpos
    mujoco.mj_kinematics(model, d)
    return d.xpos[ext].copy()

  # body_pos tolerance per axis of the sim root's heading frame -> at most sqrt(3) x it in 3D
  tol = goal_env.HOI_TOLERANCE["body_pos"] * np.sqrt(3.0) + 1e-3
  for t in v["goal_reached_at"]:
    if t < v["steps"]:  # the reaching state is recorded (not the episode's last step)
      err = np.linalg.norm(extremities(sim_qpos[t]) - extremities(goal_qpos[t - 1]), axis=-1)
      assert err.max() <= tol, (t, err)
      # the next goal is a later frame, not the one just reached; after the clip's last frame
      # none is left (found 2026-12-03: that frame was re-issued and reached again every step)
      if ep["given"][t]:
        assert np.abs(goal_qpos[t] - goal_qpos[t - 1]).max() > 1e-3, t
      else:
        assert t == v["goal_reached_at"][-1] and not ep["given"][t:].any(), t
  # ... and not the reference's current frame, which the expert also tracks: at the start the
  # goal lies 45 steps (1.5 s of walking) ahead, out of reach.
  err = np.linalg.norm(extremities(sim_qpos[0]) - extremities(goal_qpos[0]), axis=-1)
  assert err.max() > tol, err


def test_refresh_evals_refuses_a_manifest_it_would_misread(tmp_path):
  """``export_pretrained.py --refresh_evals`` rewrites a committed manifest in place, so it must
  refuse (naming the file and field, before measuring anything) a bundle that is not a goal-task
  one, or whose CI check or expert differ from the ones it would record."""
  import subprocess
  import sys

  dest = tmp_path / "pretrained" / "b"
  dest.mkdir(parents=True)
  base = {"kind": "stage2_student", "ci_check": {"task": "chain"},
          "expert": {"bundle": "pretrained/locomotion_expert"}}
  cases = [({**base, "kind": "stage1_expert"}, "field 'kind'", []),
           (base, "field 'ci_check.task'", []),
           (base, "field 'expert.bundle'", ["--ci_task", "chain"])]
  for manifest, field, extra in cases:
    (dest / "manifest.json").write_text(json.dumps(manifest))
    p = subprocess.run([sys.executable, str(ROOT / "experiments" / "export_pretrained.py"),
                        "--root", str(tmp_path), "--name", "b", "--refresh_evals", "test"] + extra,
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode != 0 and field in p.stderr and str(dest / "manifest.json") in p.stderr, (
        field, p.stderr[-1500:])
    assert json.loads((dest / "manifest.json").read_text()) == manifest  # untouched


def test_refresh_replaces_only_the_re_measured_tasks():
  """``--refresh_evals --tasks trajectory`` (a rule change of one task) replaces that task's
  numbers in every goal-task block and the CI check, keeps the other tasks' numbers, and records
  what it replaced (old success rates, tasks, earlier provenance, why)."""
  import importlib.util

  spec = importlib.util.spec_from_file_location(
      "export_pretrained", ROOT / "experiments" / "export_pretrained.py")
  ep = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(ep)
  old = {"kind": "stage2_student", "eval_provenance": {"commit": "old"},
         "ci_check": {"task": "snapshot", "success_rate": 0.2},
         "eval": {"snapshot": {"success_rate": 0.1}, "trajectory": {"success_rate": 0.0}},
         "eval_latent_mean": {"snapshot": {"success_rate": 0.2},
                              "trajectory": {"success_rate": 0.0}},
         "eval_history": [{"replaced_because": "earlier"}]}
  measured = {"eval": {"trajectory": {"success_rate": 0.5}},
              "eval_latent_mean": {"trajectory": {"success_rate": 0.6}},
              "eval_expert_same_episodes": {"trajectory": {"success_rate": 0.9}},
              "ci_check": {"task": "snapshot", "success_rate": 0.25}}
  new = ep.merge_refreshed(old, measured, ["trajectory"], "rule", {"commit": "new"})
  assert new["eval"] == {"snapshot": {"success_rate": 0.1}, "trajectory": {"success_rate": 0.5}}
  assert new["eval_latent_mean"]["snapshot"] == {"success_rate": 0.2}
  assert new["eval_latent_mean"]["trajectory"] == {"success_rate": 0.6}
  assert new["eval_expert_same_episodes"] == {"trajectory": {"success_rate": 0.9}}
  assert new["ci_check"]["success_rate"] == 0.25 and new["eval_provenance"] == {"commit": "new"}
  last = new["eval_history"][-1]
  assert len(new["eval_history"]) == 2 and last["tasks"] == ["trajectory"]
  assert last["success_rate"]["eval"] == {"trajectory": 0.0}
  assert last["provenance"] == {"commit": "old"} and last["replaced_because"] == "rule"
  assert old["eval"]["trajectory"] == {"success_rate": 0.0}  # the input is not modified
