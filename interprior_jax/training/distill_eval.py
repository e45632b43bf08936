"""Sparse-goal evaluation tasks of the distilled policy (Table 1 of the paper; docs/tasks.md).

Each copy plays one episode of the :class:`~goal_env.GoalEnv` with the task's goal kind forced
(one mask family, probability 1). A goal is a reference frame at a fixed absolute time ``L``
steps ahead (``horizon``); it is **reached** at a step when every given (masked) residual entry is
within its field tolerance (:data:`goal_env.HOI_TOLERANCE` / ``TOY_TOLERANCE``: |body / root /
object position| <= 0.15 / 0.1 / 0.1 m per axis, rotations <= 0.5 rad per log-map axis) and every
given contact label is met (1: touching, -1: not touching, 0: ignored;
:func:`interprior_jax.envs.goals.goal_reached`). Per task:

* ``snapshot``: one full-body + object snapshot goal; success = reached within ``horizon`` steps;
* ``trajectory``: H-frame preview of the reference, no snapshot; success = the preview is
  *followed*, as method.md scores tracking: the whole horizon without early termination and
  without a tracking failure, i.e. the deviation metrics never above the env's tracking limits
  (:func:`trajectory_limits`; HOI: mean key-body error <= ``termination.max_body_err``, mean
  object-point error <= ``max_obj_err``, 0.5 m each).  Also reported: ``hit_rate``, the share of
  steps at which the t+1 preview frame is within the reach tolerances.  Until 2026-12-04 success
  was ``hit_rate >= 0.9``, which the experts themselves never met (docs/tasks.md);
* ``contact``: snapshot with the contact mask (which bodies touch the object, and where);
* ``chain``: ``chain_length`` consecutive object + end-effector snapshot goals; the next one is
  drawn as soon as the current one is reached (``GoalConfig.advance_on_reach``: ``horizon`` steps
  after the reached goal's frame, or after now if that lies behind, never past the clip's last
  frame), ``horizon`` steps being each goal's time limit; success = ``chain_length`` goals reached
  in turn, each within its limit (the count, ``goals_reached``, stops at the first goal whose
  limit expires; before 2026-12-03 it went on over redrawn goals and re-issued clip-end frames);
* ``random_init`` (method.md): the humanoid starts in a random pose, 1-2 m from the object in a
  random direction and heading (``config.env.init.random_pose_prob``, :func:`init_states.random_pose_state`),
  at a random frame of a clip; one object-only snapshot goal 3 s ahead; success = reached.

Every task also fails when the episode terminates early (fall; for the HOI env only the ``fall``
condition is enabled during goal tasks: tracking-deviation terminations are meaningless for sparse
goals). Reported: ``success_rate``, ``failure_rate`` (early terminations), ``e_h`` / ``e_o`` (mean
key-body / object-point error vs the reference the goals come from; HOI env) and per-episode records.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from interprior_jax.envs import contract
from interprior_jax.envs import goals as goals_lib
from interprior_jax.envs import goal_env
from interprior_jax.envs import init_states


@dataclasses.dataclass(frozen=True)
class GoalTask:
  snapshot_family: str          # generic family name, mapped per env kind (TASK_FAMILIES)
  trajectory_family: str
  token: str                    # "snapshot" | "trajectory": which token decides success
  horizon: int                  # steps per goal
  chain_length: int = 1
  random_init: bool = False


TASKS: dict[str, GoalTask] = {
    "snapshot": GoalTask("full", "none", "snapshot", 45),
    "trajectory": GoalTask("none", "full", "trajectory", 90),
    "contact": GoalTask("contact", "none", "snapshot", 45),
    "chain": GoalTask("object+extremities", "none", "snapshot", 45, chain_length=3),
    "random_init": GoalTask("object", "none", "snapshot", 90, random_init=True),
}
# Generic family -> the env's family (the toy env has positions / velocities only).
TASK_FAMILIES: dict[str, dict[str, str]] = {
    "hoi": {},
    "toy": {"contact": "pos", "object+extremities": "pos", "object": "pos"},
}
#: ``video_episode`` value that renders the most successful episode (:func:`best_goal_episode`).
BEST_EPISODE = -1
METRICS = {"hoi": ("e_h", "e_o"), "toy": ("e_pos",)}


def trajectory_limits(config: ml_collections.ConfigDict) -> dict[str, float]:
  """Per deviation metric, the largest value a followed ``trajectory`` episode may reach: the
  HOI env's own tracking terminations (``env.termination.max_body_err`` / ``max_obj_err``, m;
  they are switched off during goal tasks, only ``fall`` ends an episode there); the toy's own
  failure bound (``ToyConfig.arena``: its random starts begin up to ~0.8 m off the target, so a
  tighter limit would judge the start, not the policy)."""
  if config.env_kind == "hoi":
    t = config.env.termination
    return {"e_h": float(t.max_body_err), "e_o": float(t.max_obj_err)}
  if config.env_kind == "toy":
    from interprior_jax.envs import toy_env
    return {"e_pos": float(config.get("env", {}).get("arena", toy_env.ToyConfig.arena))}
  raise ValueError(f"env_kind={config.env_kind!r}: no trajectory limits defined")


def task_config(config: ml_collections.ConfigDict, task: GoalTask,
                perturb: str = "off") -> ml_collections.ConfigDict:
  """Env / goal config of the bundle's run adapted to ``task``: no object randomisation, and no
  impulses unless ``perturb`` names a mode of ``envs/perturbations.py`` (HOI env only):
  ``"random"``, the bundle's random impulses (``env.perturb``: rate and magnitude ranges as it
  was configured; a robustness variant of a task, never its Table-1 number), or ``"fixed"``, the
  tracking protocol's schedule (one pelvis / object impulse every ``fixed_period_steps``, the
  first at step ``fixed_period_steps - 1``: tasks shorter than that see none)."""
  from interprior_jax.training import evaluation

  if perturb not in evaluation.PERTURB_MODES:
    raise ValueError(f"perturb={perturb!r}; valid: {evaluation.PERTURB_MODES}")
  if perturb != "off" and config.env_kind != "hoi":
    raise ValueError(f"perturb={perturb!r}: impulses exist in the HOI env only, not "
                     f"env_kind={config.env_kind!r}")
  c = ml_collections.ConfigDict(config.to_dict())
  fam = TASK_FAMILIES.get(c.env_kind, {})
  c.goals.snapshot_families = (fam.get(task.snapshot_family, task.snapshot_family),)
  c.goals.snapshot_probs = (1.0,)
  c.goals.trajectory_families = (fam.get(task.trajectory_family, task.trajectory_family),)
  c.goals.trajectory_probs = (1.0,)
  c.goals.snapshot_min = c.goals.snapshot_max = int(task.horizon)
  # Chains: the next goal as soon as one is reached; the horizon is each goal's time limit.
  c.goals.advance_on_reach = task.chain_length > 1
  if c.env_kind == "hoi":
    e = c.env
    e.perturb.mode = perturb
    e.randomize.enabled = False
    e.termination.enabled = ("fall",)
    e.max_episode_steps = task.horizon * task.chain_length + 2
    # Every episode starts at a random frame (uniform over the frames that leave the whole task
    # inside the clip), not at a clip's first frame: with clip starts and no noise an episode is
    # a deterministic function of its clip, and N episodes would be only as many as the clips.
    e.init.start_prob = 0.0
    e.init.start_margin_steps = task.horizon * task.chain_length
    e.init.psi_prob = 0.0
    e.init.random_pose_prob = 1.0 if task.random_init else 0.0
    for k in init_states.START_NOISE_KEYS:
      e.init[k] = 0.0
  return c


def run_task(genv, act, reset_state, task: GoalTask, metric_names, limits=None):
  """Scan of ``horizon * chain_length`` vmapped steps of ``act(obs: StudentObs [N]) -> action
  [N, A]``; ``[N]`` per-episode results.  ``limits``: metric -> largest value of a followed
  ``trajectory`` episode (:func:`trajectory_limits`; needed by that task only)."""
  limits = dict(limits or {})
  if task.token == "trajectory" and not limits:
    raise ValueError("run_task: the trajectory task needs its tracking limits")
  lower, upper = (jnp.asarray(b) for b in genv.source.reach_bounds())
  tok = -1 if task.token == "snapshot" else 0
  n = reset_state.done.shape[0]
  zf = jnp.zeros((n,), jnp.float32)
  num_steps = task.horizon * task.chain_length

  def reached(obs):
    return goals_lib.goal_reached(obs.goals[:, tok], obs.mask[:, tok], lower, upper)

  trivial = reached(reset_state.obs)  # goal met before the first action

  def body(carry, _):
    s, active, cur, done_goals, hits, length, term, sums, chain, in_time, worst = carry
    r = reached(s.obs) * active  # trajectory: the t+1 preview against the state that acts on it
    ns = jax.vmap(genv.step)(s, act(s.obs))
    done = ns.done.astype(jnp.float32)
    wrapped = (ns.obs.snap_steps > s.obs.snap_steps).astype(jnp.float32) * active
    done_goals = done_goals + wrapped * cur
    cur = cur * (1.0 - wrapped)
    # snapshot: every state after an action, up to the one at the goal's frame (snap 0)
    cur = jnp.maximum(cur, reached(ns.obs) * active * (1.0 - done))
    trunc = ns.info.get("truncation", zf).astype(jnp.float32)
    term = term + active * done * (1.0 - trunc)
    sums = {k: sums[k] + active * ns.metrics[k] for k in metric_names}
    worst = {k: jnp.maximum(worst[k], active * ns.metrics[k]) for k in limits}
    # Chains: goals reached in turn, each within its time limit; the count stops at the first
    # goal whose limit expires (a redraw without a reach).
    hit = (ns.info[goal_env.REACHED] > s.info[goal_env.REACHED]).astype(jnp.float32)
    hit = hit * (1.0 - done)
    in_time = in_time * (1.0 - active * (1.0 - done) * wrapped * (1.0 - hit))
    chain = chain + active * hit * in_time
    return (ns, active * (1.0 - done), cur, done_goals, hits + r, length + active, term,
            sums, chain, in_time, worst), None

  carry = (reset_state, jnp.ones((n,)), zf, zf, zf, zf, zf, {k: zf for k in metric_names}, zf,
           jnp.ones((n,)), {k: zf for k in limits})
  (s, active, cur, done_goals, hits, length, term, sums, chain_reached, _, worst), _ = (
      jax.lax.scan(body, carry, None, num_steps))
  done_goals = done_goals + cur * (s.obs.snap_steps == 0)  # the last window ends at its frame
  if task.chain_length > 1:  # goals reached in turn, each within its time limit
    done_goals = chain_reached
  followed = jnp.ones((n,))
  for k, lim in limits.items():
    followed = followed * (worst[k] <= lim)
  if task.token == "trajectory":
    success = followed
  else:
    success = (done_goals >= task.chain_length).astype(jnp.float32)
  success = success * (1.0 - jnp.minimum(term, 1.0))
  out = {"success": success, "terminated": jnp.minimum(term, 1.0), "goals_reached": done_goals,
         "length": length, "trivial": trivial}
  if task.token == "trajectory":  # share of steps with the t+1 preview within tolerance
    out["hit_rate"] = hits / jnp.maximum(length, 1.0)
  out.update({f"max_{k}": v for k, v in worst.items()})
  out.update({k: v / jnp.maximum(length, 1.0) for k, v in sums.items()})
  return out


def record_goal_episode(genv, act, reset_state, num_steps: int, index: int) -> dict:
  """Replays the batch as :func:`run_task` does (same reset state: the same episodes) and returns
  copy ``index``'s episode, from its reset state to its last step (HOI env): ``sim_qpos (T, nq)``;
  ``goal_qpos (T, nq)``, the reference frame the snapshot goal pursued from that state is taken
  from (its masked fields are the goal; objects included), for a ghost overlay; ``given (T,)``
  whether that state has a snapshot goal (none once the clip's last frame was reached);
  ``reached (T,)`` goals reached after that step (the state ``t + 1`` reached goal ``goal_qpos[t]`` where it
  increases); ``T``."""
  from interprior_jax.training import evaluation

  env = genv.env
  if not hasattr(env, "library"):
    raise ValueError("--video: only HOI env bundles can be rendered")

  def body(s, _):
    out = (s.pipeline_state.qpos[index], s.info[contract.INFO_CLIP][index],
           s.info[contract.INFO_TIME][index], s.obs.snap_steps[index],
           jnp.any(s.obs.mask[index, -1] > 0))
    ns = jax.vmap(genv.step)(s, act(s.obs))
    return ns, out + (ns.info[goal_env.REACHED][index], ns.done[index])

  _, (qpos, clip, time, snap, given, reached, done) = jax.jit(lambda s: jax.lax.scan(
      body, s, None, num_steps))(reset_state)
  done = np.asarray(done) > 0
  length = int(np.argmax(done)) + 1 if done.any() else num_steps
  goal_time = time[:length] + snap[:length].astype(jnp.float32) * env.dt
  goal_qpos = evaluation.reference_qpos(env, clip[:length], goal_time)
  return {"sim_qpos": np.asarray(qpos[:length]), "goal_qpos": goal_qpos,
          "given": np.asarray(given[:length]), "reached": np.asarray(reached[:length]),
          "length": length}


def best_goal_episode(per: dict) -> int:
  """Index of the most successful episode of ``per`` (:func:`run_task`'s arrays): a success if
  any, else the most goals reached, else the longest; the first on ties."""
  n = len(per["success"])
  return max(range(n), key=lambda i: (per["success"][i], per["goals_reached"][i],
                                      per["length"][i], -i))


def goal_task_episodes(bundle_dir, task_name: str, num_episodes: int, seed: int = 0,
                       expert_dir=None, latent_mean: bool = False,
                       tolerance_scale: float = 1.0, planner: str = "", perturb: str = "off"):
  """The batch of episodes :func:`evaluate_goal_task` plays (same arguments): ``(task, genv,
  act, reset, metric_names, limits)``, with the task's goal env, the acting function ``act(obs:
  StudentObs [N]) -> action [N, A]`` (through ``planner``, :mod:`interprior_jax.control.planner`,
  when one is named), the reset states ``[N]``, the env's metric names and its
  :func:`trajectory_limits`."""
  from interprior_jax.control import planner as planner_lib
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training.distill import train as distill
  from interprior_jax.envs import registry

  if task_name not in TASKS:
    raise ValueError(f"unknown task {task_name!r}; valid {sorted(TASKS)}")
  task = TASKS[task_name]
  bundle = ckpt_lib.load_bundle(bundle_dir)
  if "goals" not in bundle.config:
    raise ValueError(f"{bundle_dir}/config.json: field 'goals' missing (not a Stage-2 bundle; "
                     "goal tasks need a distilled policy)")
  config = task_config(ml_collections.ConfigDict(bundle.config), task, perturb)
  params, act_eps, z = distill.latent_inference_policy(bundle)
  base = registry.make_env(config)
  gcfg = distill.goal_config_from(config.goals, z)
  source = goal_env.make_goal_source(config.env_kind, base, gcfg)
  genv = goal_env.GoalEnv(base, source.with_tolerance_scale(tolerance_scale), gcfg)
  k_reset, _ = jax.random.split(jax.random.PRNGKey(seed))
  reset = jax.jit(jax.vmap(genv.reset))(jax.random.split(k_reset, num_episodes))
  act = goal_actor(config, base, (params, act_eps), expert_dir, 0.0 if latent_mean else 1.0)
  plan = planner_lib.make_planner(planner, genv.source, float(base.dt))
  if plan is not None:
    if expert_dir is not None:
      raise ValueError(f"planner {planner!r}: the expert acts on the full reference, not on goals")
    act = (lambda a: lambda obs: a(plan(obs)))(act)
  return task, genv, act, reset, METRICS.get(config.env_kind, ()), trajectory_limits(config)


def goal_actor(config, base, student, expert_dir=None, latent_scale: float = 1.0):
  """``act(obs: StudentObs [N]) -> action [N, A]`` in a goal env over ``base``: the student
  ``(params, act_eps)`` (:func:`distill.latent_inference_policy`) with its latent noise scaled by
  ``latent_scale`` (0: the prior mean), or, with ``expert_dir``, that expert on the full
  reference, its actions relabelled to the student's parameterisation (also for the probes)."""
  from interprior_jax.training.distill import train as distill

  if expert_dir is None:
    params, act_eps = student

    def act(obs):
      return act_eps(params, obs.history, obs.goals, obs.mask, latent_scale * obs.eps, obs.task)
    return act
  _, expert_act, _ = distill.expert_from_bundle(expert_dir)
  adapt = distill.expert_adapter(config, base) or (lambda a, ctx: a)

  def act(obs):
    return adapt(expert_act(obs.reference), obs.action_context)
  return act


def evaluate_goal_task(bundle_dir, task_name: str, num_episodes: int, seed: int = 0,
                       expert_dir=None, latent_mean: bool = False,
                       video_episode: int | None = None, video_path=None,
                       tolerance_scale: float = 1.0, planner: str = "",
                       perturb: str = "off") -> dict:
  """Evaluates the exported student in ``bundle_dir`` on ``task_name`` (:data:`TASKS`).

  ``expert_dir``: play the same episodes with the expert bundle there acting instead, on the full
  reference it was trained on (its actions relabelled to the student's parameterisation): the
  upper bound a distilled student is compared with (meaningless for ``random_init``, whose start
  is off the reference).  ``latent_mean``: the student acts on the prior's mean latent (noise
  ``eps = 0``, the deterministic policy) instead of a per-episode prior sample (method.md).
  ``tolerance_scale``: goals reached within this multiple of the tolerances (contacts
  excepted; 1: the task's; e.g. a Stage-3 run's ``inbetween.reach_tolerance_scale``, to score a
  policy on the band it was trained on; recorded as ``tolerance``).
  ``planner``: the student acts through that goal planner (:mod:`interprior_jax.control.planner`,
  e.g. "root": pelvis waypoints towards the snapshot goal; recorded as ``planner``)
  ``perturb``: impulses during the episodes (:func:`task_config`; recorded as ``perturb``).
  ``video_episode``: render that episode (``-1``: :func:`best_goal_episode`) to ``video_path``
  (MP4) with the goal's reference frame as a translucent ghost (result key ``video``), and its
  :func:`record_goal_episode` arrays beside it (``.npz``: to re-render or analyse)."""
  task, genv, act, reset, metric_names, limits = goal_task_episodes(
      bundle_dir, task_name, num_episodes, seed, expert_dir, latent_mean, tolerance_scale,
      planner, perturb)
  if task.token != "trajectory":
    limits = {}
  per = jax.device_get(jax.jit(lambda s: run_task(genv, act, s, task, metric_names, limits))(
      reset))
  per = {k: np.asarray(v, np.float64) for k, v in per.items()}
  # random_init: episodes whose object goal is met before the first action say nothing.
  counted = per["trivial"] == 0 if task.random_init else np.ones(num_episodes, bool)
  result = {"task": task_name, "definition": dataclasses.asdict(task),
            "latent": "prior mean" if latent_mean else "prior sample", "planner": planner,
            "perturb": perturb, "num_episodes": int(num_episodes), "num_trivial": int(num_episodes - counted.sum()),
            "success_rate": float(np.mean(per["success"][counted])) if counted.any() else None,
            "failure_rate": float(np.mean(per["terminated"])),
            "mean_goals_reached": float(np.mean(per["goals_reached"])),
            "tolerance": dict(genv.source.tolerance)}
  if task.token == "trajectory":
    result.update(trajectory_limits=limits, hit_rate=float(np.mean(per["hit_rate"])))
  for m in ("e_h", "e_o"):
    result[m] = float(np.mean(per[m])) if m in per else None
  for m in metric_names:
    result[m] = float(np.mean(per[m]))
  per["counted"] = counted.astype(np.float64)  # 1: in success_rate's denominator
  result["per_episode"] = [{k: float(v[i]) for k, v in per.items()} for i in range(num_episodes)]
  if video_episode is not None:
    from interprior_jax import render
    i = best_goal_episode(per) if video_episode == BEST_EPISODE else int(video_episode)
    if not 0 <= i < num_episodes:
      raise ValueError(f"--video {i}: the task has episodes 0..{num_episodes - 1}")
    ep = record_goal_episode(genv, act, reset, task.horizon * task.chain_length, i)
    base = genv.env
    status = render.try_render_ghost_video(base.scene.model, ep["sim_qpos"], ep["goal_qpos"],
                                           video_path, fps=1.0 / base.dt,
                                           track_body=int(base.spec.root_body_id))
    steps = 1 + np.flatnonzero(np.diff(np.concatenate([[0], ep["reached"]])) > 0)
    arrays = pathlib.Path(video_path).with_suffix(".npz")
    np.savez_compressed(arrays, **{k: ep[k] for k in ("sim_qpos", "goal_qpos", "given",
                                                       "reached")})
    status.update(episode=i, steps=ep["length"], goal_reached_at=[int(t) for t in steps],
                  success=bool(per["success"][i]), arrays=str(arrays))
    result["video"] = status
  return result


# ------------------------------------------------------------------------------- get-up skill
#: The get-up evaluation (Stage 3's optional skill, ``envs/inbetween_env.py``): episodes of this
#: many steps from fallen starts (``config.env.init.fallen_*``), no termination.
GETUP_STEPS = 150
#: Success: stood up (``gu_standing``) on each of the episode's last this many steps (1 s).
GETUP_HOLD_STEPS = 30


def as_task_results(result: dict, source: str = "result") -> dict:
  """An ``experiments/evaluate.py`` goal-task output in ``--task all``'s shape (``{"tasks": {name:
  {..., "episode_success"}}, "seed", "num_episodes"}``), for :func:`paired_comparison`.  A
  ``--task NAME`` output (``task`` and ``per_episode``) becomes a one-task result, its
  ``episode_success`` taken from ``per_episode`` (None where an episode is not counted).
  ValueError names ``source`` and the missing field; ``seed`` may be missing (single-task outputs
  recorded it from 2026-12-07 on) and is then None."""
  if "tasks" in result:
    for task, v in result["tasks"].items():
      if "episode_success" not in v:
        raise ValueError(f"{source}: tasks.{task} has no 'episode_success' (written by "
                         "experiments/evaluate.py --task all since 2026-12-06)")
    return result
  for key in ("task", "per_episode"):
    if key not in result:
      raise ValueError(f"{source}: field {key!r} missing (neither an evaluate.py --task all nor "
                       "a --task NAME goal-task output)")
  success = [bool(e["success"]) if e.get("counted", 1.0) else None
             for e in result["per_episode"]]
  return {"tasks": {result["task"]: {"episode_success": success}},
          "seed": result.get("seed"), "num_episodes": result.get("num_episodes", len(success)),
          "perturb": result.get("perturb", "off")}


def paired_comparison(a: dict, b: dict) -> dict:
  """Two policies' goal-task results on the same seeded episodes, compared episode by episode.

  ``a`` / ``b``: ``experiments/evaluate.py --task all`` results (``{"tasks": {name: {...,
  "episode_success": [True | False | None, ...]}}}``; None: a trivial episode, not counted).
  Returns ``{task: {"n", "a_only", "b_only", "both", "neither", "p_sign"}}`` over the tasks both
  hold, counting the episodes that both count. ``p_sign``: the exact two-sided sign test over
  the discordant episodes (``a_only + b_only``; McNemar's exact test), the probability of a
  split at least this uneven if neither policy were better (1.0 with no discordant episode).
  Unpaired rates of 64 episodes move by +-4-6 episodes between seeds; this counts only the
  episodes that changed.
  """
  out = {}
  for task in sorted(set(a["tasks"]) & set(b["tasks"])):
    sa, sb = a["tasks"][task]["episode_success"], b["tasks"][task]["episode_success"]
    if len(sa) != len(sb):
      raise ValueError(f"paired_comparison: task {task!r} has {len(sa)} vs {len(sb)} episodes; "
                       "compare evaluations of the same episodes (num_episodes, seed)")
    pairs = [(x, y) for x, y in zip(sa, sb) if x is not None and y is not None]
    a_only = sum(x and not y for x, y in pairs)
    b_only = sum(y and not x for x, y in pairs)
    n, k = a_only + b_only, min(a_only, b_only)
    p = min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n) if n else 1.0
    out[task] = {"n": len(pairs), "a_only": a_only, "b_only": b_only,
                 "both": sum(x and y for x, y in pairs),
                 "neither": sum(not x and not y for x, y in pairs), "p_sign": p}
  return out


def seed_rows(rows: dict) -> dict:
  """Ablation rows over training seeds: each row's goal-task successes, one count per seed.

  ``rows``: ``{row name: [result, ...]}``, one :func:`as_task_results`-shaped result per training
  seed of that row, all evaluated on the same episodes.  Returns ``{task: {row: {"counts": [..],
  "counted": [..], "mean", "sd"}}}`` over the tasks every result holds: ``counts`` the reached
  episodes of each seed (in the order given), ``counted`` the episodes each counts, ``mean`` /
  ``sd`` over the seeds (sample standard deviation; 0.0 with one seed)."""
  results = [r for rs in rows.values() for r in rs]
  if not results:
    raise ValueError("seed_rows: no results")
  tasks = sorted(set.intersection(*(set(r["tasks"]) for r in results)))
  out = {}
  for task in tasks:
    out[task] = {}
    for name, rs in rows.items():
      flags = [[x for x in r["tasks"][task]["episode_success"] if x is not None] for r in rs]
      counts = [int(sum(f)) for f in flags]
      mean = float(np.mean(counts))
      sd = float(np.std(counts, ddof=1)) if len(counts) > 1 else 0.0
      out[task][name] = {"counts": counts, "counted": [len(f) for f in flags], "mean": mean,
                         "sd": sd}
  return out


def seed_permutation_p(a, b) -> float:
  """Exact two-sided permutation test of two rows' per-seed scores ``a`` / ``b``: the share of
  all ways of splitting the pooled scores into groups of ``len(a)`` and ``len(b)`` whose means
  differ by at least as much as the observed split's.  With 3 seeds a row the smallest possible
  p is 2 / C(6, 3) = 0.1: three seeds cannot separate two rows at the 5 % level, whatever the
  scores."""
  pooled = [float(x) for x in list(a) + list(b)]
  na = len(a)
  if na == 0 or len(b) == 0:
    raise ValueError("seed_permutation_p: each row needs at least one score")
  observed = abs(np.mean(a) - np.mean(b))
  hits = total = 0
  for group in itertools.combinations(range(len(pooled)), na):
    ga = [pooled[i] for i in group]
    gb = [pooled[i] for i in range(len(pooled)) if i not in group]
    total += 1
    hits += abs(np.mean(ga) - np.mean(gb)) >= observed - 1e-9
  return hits / total


def getup_config(config: ml_collections.ConfigDict, tilt_deg=None) -> ml_collections.ConfigDict:
  """The bundle's env config for get-up episodes: every start fallen (``tilt_deg`` ``(lo, hi)``
  when given, else the tilt range of the bundle's get-up envs when it was trained with them,
  else today's default), at a random frame of a clip, no noise, impulses, randomisation or
  termination."""
  from interprior_jax.envs import hoi_env
  if config.env_kind != "hoi":
    raise ValueError(f"get-up episodes need the HOI env (env_kind {config.env_kind!r})")
  c = ml_collections.ConfigDict(config.to_dict())
  e = ml_collections.ConfigDict(c.get("getup_env", c.env).to_dict())
  for k, v in hoi_env.load_env_config().init.items():
    if k not in e.init:
      e.init[k] = v
  e.perturb.mode = "off"
  e.randomize.enabled = False
  e.termination.enabled = ()
  e.max_episode_steps = GETUP_STEPS + 2
  # the clip must hold the whole episode (the env truncates at the clip's last frame)
  e.init.update(start_prob=0.0, start_margin_steps=GETUP_STEPS + 2, psi_prob=0.0,
                random_pose_prob=0.0, contact_start_prob=0.0, fallen_prob=1.0)
  for k in init_states.START_NOISE_KEYS:
    e.init[k] = 0.0
  if tilt_deg is not None:
    e.init.fallen_tilt_deg = init_states.check_tilt_range(tilt_deg, "get-up tilt_deg")
  c.env = e
  return c


def evaluate_getup(bundle_dir, num_episodes: int, seed: int = 0, latent_mean: bool = False,
                   video_episode: int | None = None, video_path=None, tilt_deg=None) -> dict:
  """The student (or finetuned) bundle in ``bundle_dir`` asked to get up (task 1) from
  ``num_episodes`` fallen starts, :data:`GETUP_STEPS` steps each. ``success_rate``: standing
  (upright and trunk height, :class:`inbetween_env.InbetweenConfig` thresholds) on each of the
  last :data:`GETUP_HOLD_STEPS` steps; also ``ever_stood_rate``, the mean first step standing
  (of the episodes that stood), the final ``gu_up`` / ``gu_height`` / ``gu_feet`` and
  ``ended_early_rate``
  (episodes the env's NaN guard ended: failures, their figures those of their last step). A prior without task
  tokens (a Stage-2 student) ignores the task: its figure is the baseline. ``video_episode``:
  render that episode (``-1``: the one ending most upright and highest) to ``video_path`` (MP4;
  result key ``video``). ``tilt_deg``: the starts' tilt range (:func:`getup_config`)."""
  from interprior_jax.envs import inbetween_env
  from interprior_jax.envs import registry
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training.distill import train as distill

  bundle = ckpt_lib.load_bundle(bundle_dir)
  if "goals" not in bundle.config:
    raise ValueError(f"{bundle_dir}/config.json: field 'goals' missing (not a Stage-2 / 3 "
                     "bundle)")
  config = getup_config(ml_collections.ConfigDict(bundle.config), tilt_deg)
  params, act_eps, z = distill.latent_inference_policy(bundle)
  base = registry.make_env(config)
  gcfg = distill.goal_config_from(config.goals, z)
  genv = goal_env.GoalEnv(base, goal_env.make_goal_source(config.env_kind, base, gcfg), gcfg)
  ib_cfg = {k: v for k, v in config.get("inbetween", {}).items()
            if k in inbetween_env.InbetweenConfig.__dataclass_fields__}
  env = inbetween_env.InbetweenEnv(genv, inbetween_env.InbetweenConfig(
      **{**ib_cfg, "task": "get_up"}))
  act = goal_actor(config, base, (params, act_eps), None, 0.0 if latent_mean else 1.0)
  k_reset, _ = jax.random.split(jax.random.PRNGKey(seed))

  def run(keys):
    s0 = jax.vmap(env.reset)(keys)

    def body(s, _):
      ns = jax.vmap(env.step)(s, act(s.obs))
      return ns, (ns.metrics["gu_standing"], ns.metrics["gu_up"], ns.metrics["gu_height"],
                  ns.metrics["gu_feet"], ns.done, ns.pipeline_state.qpos)
    _, out = jax.lax.scan(body, s0, None, GETUP_STEPS)
    return s0.metrics["gu_height"], s0.pipeline_state.qpos, out

  h0, q0, (standing, up, height, feet, done, qpos) = jax.device_get(jax.jit(run)(
      jax.random.split(k_reset, num_episodes)))
  # An episode that ended early (the env's NaN guard; a clip too short) is a failure, its
  # figures those of its last step before the end.
  done = np.asarray(done) > 0                                      # [T, N]
  ended = done.any(axis=0)
  last = np.where(ended, np.argmax(done, axis=0) - 1, GETUP_STEPS - 1)
  alive = np.arange(GETUP_STEPS)[:, None] <= last[None]
  standing = (np.asarray(standing) > 0) & alive                    # [T, N]
  cols = np.arange(num_episodes)
  up, height, feet = (np.asarray(x)[last, cols] for x in (up, height, feet))   # [N] final
  held = standing[-GETUP_HOLD_STEPS:].all(axis=0) & ~ended
  ever = standing.any(axis=0)
  first = np.where(ever, np.argmax(standing, axis=0) + 1, -1)
  video = {}
  if video_episode is not None:
    from interprior_jax import render
    i = int(np.argmax(np.where(ended, -1.0, up + height))) if (
        video_episode == BEST_EPISODE) else int(video_episode)
    if not 0 <= i < num_episodes:
      raise ValueError(f"--video {i}: the task has episodes 0..{num_episodes - 1}")
    q = np.concatenate([np.asarray(q0)[None, i], np.asarray(qpos)[:, i]], axis=0)
    video = {"video": {**render.try_render_video(
        base.scene.model, q, video_path, fps=1.0 / base.dt,
        track_body=int(base.spec.root_body_id)), "episode": i, "steps": GETUP_STEPS}}
  return {**video, "task": "getup", "latent": "prior mean" if latent_mean else "prior sample",
          "num_episodes": int(num_episodes), "steps": GETUP_STEPS,
          "hold_steps": GETUP_HOLD_STEPS,
          "tilt_deg": list(config.env.init.fallen_tilt_deg),
          "success_rate": float(held.mean()), "ever_stood_rate": float(ever.mean()),
          "mean_first_standing_step": float(first[ever].mean()) if ever.any() else None,
          "ended_early_rate": float(ended.mean()),
          "start_height": float(np.mean(h0)), "final_up": float(np.mean(up)),
          "final_height": float(np.mean(height)), "final_feet": float(np.mean(feet)),
          "per_episode": [{"success": bool(held[i]), "first_standing_step": int(first[i]),
                           "ended_early": bool(ended[i]), "final_up": float(up[i]),
                           "final_height": float(height[i]), "final_feet": float(feet[i])}
                          for i in range(num_episodes)]}
