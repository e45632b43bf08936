"""Policy evaluation: first-episode statistics per env copy (tracking success, E_h, E_o).

Each of the ``N`` copies starts one episode (e.g. copy i on clip i from its first frame); the
scan runs ``num_steps`` steps and only the *first* episode of every copy counts (later auto-reset
episodes are ignored). Success = the first episode ended by truncation (clip end / time limit)
with no early termination. Metric means (e.g. ``e_h``, ``e_o``) are over that episode's steps.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State

from interprior_jax.envs import contract
from interprior_jax.training import rollout as rollout_lib

# Tracking metrics of the HOI env, m: E_h = mean position error over the humanoid's key bodies
# (``SceneSpec.key_body_idx``; SMPL / SMPL-X: pelvis, head, shoulders, elbows, wrists, knees,
# ankles, toes: 14 bodies), E_o = mean error over the object's surface points.
HOI_METRICS = ("e_h", "e_o")
# Perturbation modes of ``config.env.perturb.mode`` an evaluation may select.
PERTURB_MODES = ("off", "random", "fixed")
# ``EvalOptions.video_episode`` value that selects the best episode of the evaluation.
BEST_EPISODE = -1
# Steps run beyond the longest clip so that its end (truncation) is reached.
EXTRA_STEPS = 2
# Env metrics that flag one termination condition each (HOI env: ``term_<condition>``).
TERM_PREFIX = "term_"
# A Stage-1 manifest's reproduction measure (``reproduction_options``, tests/test_pretrained.py):
# at least this many perturbed-start episodes, the same number on every clip, drawn from this seed
# (the manifest's Table-2 ``perturbed_start`` row uses seed 1, so these are other episodes).
REPRODUCTION_EPISODES = 64
REPRODUCTION_SEED = 2
# Standard errors a re-measured rate or mean may lie from the manifest's (``rate_tolerance``).
REPRODUCTION_Z = 3.0


def first_episode_stats(env: Env, reset_state: State, act: Callable, key: jax.Array,
                        num_steps: int, metric_names: Sequence[str]) -> dict[str, jax.Array]:
  """Runs ``num_steps`` vmapped steps from a batched ``reset_state`` (``[N]`` leaves).

  ``act(obs[N, ...], key) -> action[N, A]``. Returns ``[N]`` arrays: ``success``,
  ``terminated``, ``ended`` (the first episode finished within ``num_steps``), ``length``, the
  per-episode mean of every name in ``metric_names`` (from ``state.metrics``) and, for every
  ``term_<condition>`` metric of the env, whether that condition ended the first episode.
  """
  n = reset_state.done.shape[0]
  zf = jnp.zeros((n,), jnp.float32)
  term_names = [k for k in reset_state.metrics if k.startswith(TERM_PREFIX)]
  carry0 = (reset_state, jnp.ones((n,), jnp.float32), zf, zf, zf,
            {k: zf for k in (*metric_names, *term_names)})

  def body(carry, k):
    s, active, length, success, terminated, sums = carry
    ns = jax.vmap(env.step)(s, act(s.obs, k))
    done = ns.done.astype(jnp.float32)
    trunc = ns.info.get(rollout_lib.ENV_TRUNCATION, zf).astype(jnp.float32)
    length = length + active
    ended_now = active * done
    sums = {name: sums[name] + (active if name in metric_names else ended_now * (1.0 - trunc))
            * ns.metrics[name] for name in sums}
    success = success + ended_now * trunc
    terminated = terminated + ended_now * (1.0 - trunc)
    return (ns, active * (1.0 - done), length, success, terminated, sums), None

  (_, active, length, success, terminated, sums), _ = jax.lax.scan(
      body, carry0, jax.random.split(key, num_steps))
  out = {"success": success, "terminated": terminated, "ended": 1.0 - active, "length": length}
  out.update({name: sums[name] / jnp.maximum(length, 1.0) for name in metric_names})
  out.update({name: sums[name] for name in term_names})
  return out


def summarize(per_env: dict[str, np.ndarray], names: Sequence[str],
              metric_names: Sequence[str]) -> dict:
  """Dataset means, per-clip aggregates and per-episode records.

  ``per_env``: ``[N]`` arrays from :func:`first_episode_stats`; ``names``: clip name of each of
  the N episodes (repeated names = several episodes of one clip).  Returns ``num_episodes``,
  ``success_rate`` (share of successful episodes), ``mean_length``, the mean of every metric over
  episodes, ``per_clip`` (``{name, episodes, success_rate, mean_length, <metrics>}`` in first-seen
  order) and ``episodes`` (one record per episode, with ``ended_by``: the termination conditions
  that ended it, from the ``term_*`` entries of ``per_env``).  ValueError when sizes disagree.
  """
  per = {k: np.asarray(v, np.float64) for k, v in per_env.items()}
  n = len(names)
  for k, v in per.items():
    if v.shape != (n,):
      raise ValueError(f"summarize: per_env[{k!r}] has shape {v.shape}, expected ({n},)")
  episodes = []
  for i, name in enumerate(names):
    rec = {"name": name, "success": bool(per["success"][i] > 0),
           "terminated": bool(per["terminated"][i] > 0), "ended": bool(per["ended"][i] > 0),
           "length": int(per["length"][i]),
           "ended_by": [k[len(TERM_PREFIX):] for k in per
                        if k.startswith(TERM_PREFIX) and per[k][i] > 0]}
    rec.update({m: float(per[m][i]) for m in metric_names})
    episodes.append(rec)
  clip_names = list(dict.fromkeys(names))
  name_arr = np.asarray(names, dtype=object)
  per_clip = []
  for name in clip_names:
    sel = name_arr == name
    rec = {"name": name, "episodes": int(sel.sum()),
           "success_rate": float(np.mean(per["success"][sel] > 0)),
           "mean_length": float(np.mean(per["length"][sel]))}
    rec.update({m: float(np.mean(per[m][sel])) for m in metric_names})
    per_clip.append(rec)
  summary = {"num_episodes": n, "success_rate": float(np.mean(per["success"] > 0)),
             "mean_length": float(np.mean(per["length"]))}
  summary.update({m: float(np.mean(per[m])) for m in metric_names})
  summary["per_clip"] = per_clip
  summary["episodes"] = episodes
  return summary


def record_episode(env, reset_state: State, act: Callable, key: jax.Array, num_steps: int,
                   index: int) -> tuple[np.ndarray, np.ndarray, int]:
  """Plays the batch as :func:`first_episode_stats` does and returns copy ``index``'s first
  episode: ``(sim_qpos (T, nq), ref_qpos (T, nq), T)`` from its reset state to its last step
  (the reference pose of the same clip time, objects included, for a ghost overlay)."""
  def body(s, k):
    qpos, clip, time = s.pipeline_state.qpos[index], s.info[contract.INFO_CLIP][index], s.info[contract.INFO_TIME][index]
    ns = jax.vmap(env.step)(s, act(s.obs, k))
    return ns, (qpos, clip, time, ns.done[index])

  _, (qpos, clip, time, done) = jax.jit(lambda s, k: jax.lax.scan(
      body, s, jax.random.split(k, num_steps)))(reset_state, key)
  done = np.asarray(done) > 0
  length = int(np.argmax(done)) + 1 if done.any() else num_steps
  return np.asarray(qpos[:length]), reference_qpos(env, clip[:length], time[:length]), length


def reference_qpos(env, clip: jax.Array, time: jax.Array) -> np.ndarray:
  """``(T, nq)`` reference poses (objects included) of the HOI env's clips ``clip (T,)`` at times
  ``time (T,)`` s, for a ghost overlay."""
  from interprior_jax.envs import init_states

  ref = jax.vmap(env.library.frame)(clip, time)
  base = env.physics.init_data().qpos
  return np.asarray(jax.vmap(
      lambda r: init_states.reference_state(r, base, env.idx, env.spec.nv)[0])(ref))


@dataclasses.dataclass(frozen=True)
class EvalOptions:
  """What :func:`evaluate_bundle` runs.

  perturb: impulse mode (``off`` | ``random`` | ``fixed``, HOI env); randomize: keep the
  per-episode object randomization; episodes_per_clip: copies per clip (different keys);
  stochastic: sample actions instead of the mean; clips_source: replaces ``config.data.source``
  (``omomo:DIR`` | ``native:DIR`` | ``synthetic``; None: the run's data); perturbed_start: start
  each clip from a perturbed copy of its first frame (``config.env.init`` noise: root position,
  joint angles, velocities; the paper's Table-2 tracking protocol) instead of the exact frame.
  """
  perturb: str = "off"
  perturbed_start: bool = False
  randomize: bool = False
  episodes_per_clip: int = 1
  seed: int = 0
  stochastic: bool = False
  clips_source: str | None = None
  # Play zero action instead of the policy: the baseline a bundle must beat (residual mode: the
  # reference's next frame as the PD target, i.e. kinematic replay under physics).
  zero_action: bool = False
  # Render this episode (index into ``episodes``) to MP4; BEST_EPISODE: the most successful one
  # (a success if any, else the longest; first on ties).
  video_episode: int | None = None
  video_path: str | None = None

  def __post_init__(self):
    if self.perturb not in PERTURB_MODES:
      raise ValueError(f"EvalOptions.perturb={self.perturb!r}; valid: {PERTURB_MODES}")
    if self.episodes_per_clip < 1:
      raise ValueError(f"EvalOptions.episodes_per_clip must be >= 1, got "
                       f"{self.episodes_per_clip}")


def hoi_reset_states(env, clips: Sequence, key: jax.Array, episodes_per_clip: int,
                     perturbed: bool = False):
  """``(batched State, names, num_steps)``: copy ``i`` starts clip ``i % C`` at its first frame
  (``env.reset_to``; with ``perturbed``, plus the env's initial-state noise); ``num_steps`` covers
  the longest clip."""
  idx = jnp.asarray(np.tile(np.arange(len(clips)), episodes_per_clip), jnp.int32)
  keys = jax.random.split(key, idx.shape[0])
  reset = jax.jit(jax.vmap(lambda k, c: env.reset_to(k, c, jnp.zeros(()), bool(perturbed))))(
      keys, idx)
  num_steps = int(np.ceil(max(c.duration for c in clips) / env.dt)) + EXTRA_STEPS
  return reset, [clips[int(i)].name for i in np.asarray(idx)], num_steps


def hoi_eval_env(config, perturb: str = "off", randomize: bool = False,
                 clips: Sequence | None = None, clips_source: str | None = None):
  """``(clips, env)``: the HOI env an evaluation plays, from a bundle's ``config`` (a
  ``ConfigDict``, changed in place): impulses ``perturb``, object randomization ``randomize``,
  episodes ended by the clip's end only; ``clips`` (else ``clips_source``, else the run's
  ``config.data``)."""
  from interprior_jax.envs import registry
  from interprior_jax.motion import sources

  config.env.perturb.mode = perturb
  config.env.randomize.enabled = bool(randomize)
  config.env.max_episode_steps = np.iinfo(np.int32).max  # the clip end decides
  if clips is None:
    clips = sources.load_clips(config, clips_source)
  return clips, registry.make_env(config, clips)


def evaluate_bundle(bundle_dir: str | os.PathLike, opts: EvalOptions = EvalOptions(),
                    clips: Sequence | None = None) -> dict:
  """Evaluates an exported policy (``checkpoint.export_bundle``) on its env; returns the summary
  of :func:`summarize` plus ``perturb`` / ``seed`` / ``num_steps`` / ``trained_iterations``.

  HOI env (``config.env_kind == 'hoi'``): every clip (``clips``, else ``opts.clips_source``, else
  the run's ``config.data``) is played from its first frame until it ends; metrics ``e_h``,
  ``e_o``.  Other registry envs (toy): ``ppo.num_envs * episodes_per_clip`` episodes from
  ``env.reset``, metric ``e_pos``.
  """
  import ml_collections

  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.envs import registry
  from interprior_jax.training.ppo import train as ppo

  bundle = ckpt_lib.load_bundle(pathlib.Path(bundle_dir))
  config = ml_collections.ConfigDict(bundle.config)
  act_fn = ppo.bundle_policy(bundle, deterministic=not opts.stochastic)
  k_reset, k_run = jax.random.split(jax.random.PRNGKey(opts.seed))
  if config.env_kind == "hoi":
    clips, env = hoi_eval_env(config, opts.perturb, opts.randomize, clips, opts.clips_source)
    reset, names, num_steps = hoi_reset_states(env, clips, k_reset, opts.episodes_per_clip,
                                               opts.perturbed_start)
    metric_names = HOI_METRICS
  else:
    env = registry.make_env(config)
    n = int(config.ppo.num_envs) * opts.episodes_per_clip
    reset = jax.jit(jax.vmap(env.reset))(jax.random.split(k_reset, n))
    names = [f"episode_{i}" for i in range(n)]
    num_steps = int(env.cfg.clip_steps) + EXTRA_STEPS
    metric_names = ("e_pos",)

  if opts.zero_action:
    act = lambda obs, k: jnp.zeros((obs.shape[0], env.action_size))  # noqa: E731
  elif opts.stochastic:
    act = act_fn
  else:
    act = lambda obs, k: act_fn(obs)  # noqa: E731
  run = jax.jit(lambda s, k: first_episode_stats(env, s, act, k, num_steps, metric_names))
  per_env = jax.device_get(run(reset, k_run))
  result = summarize(per_env, names, metric_names)
  if opts.video_episode is not None:
    index = opts.video_episode
    if index == BEST_EPISODE:
      index = best_episode(result["episodes"])
    result["video"] = render_episode_video(env, reset, act, k_run, num_steps,
                                           dataclasses.replace(opts, video_episode=index), names)
  for m in HOI_METRICS:
    result.setdefault(m, None)  # not measured by this env
  result.update({"perturb": opts.perturb, "perturbed_start": opts.perturbed_start,
                 "randomize": opts.randomize, "seed": opts.seed,
                 "stochastic": opts.stochastic, "zero_action": opts.zero_action,
                 "num_steps": num_steps,
                 "trained_iterations": bundle.config.get("trained_iterations")})
  return result


def reproduction_options(num_clips: int) -> EvalOptions:
  """The reproduction measure of a Stage-1 manifest: perturbed starts near each clip's first
  frame (``config.env.init`` noise), ``REPRODUCTION_EPISODES`` or a few more, evenly over the
  ``num_clips`` clips, seed ``REPRODUCTION_SEED``.

  Why not the first-frame row: one deterministic episode per clip is chaotic in float rounding
  (another CPU's XLA kernels flip whole episodes, docs/results.md "The push expert on another
  CPU"), so a 4-episode figure cannot be reproduced within any tolerance narrower than the rate
  itself.  A rate over many nearby starts changes by its sampling error instead.
  """
  if num_clips < 1:
    raise ValueError(f"reproduction_options: num_clips must be >= 1, got {num_clips}")
  return EvalOptions(perturbed_start=True, seed=REPRODUCTION_SEED,
                     episodes_per_clip=-(-REPRODUCTION_EPISODES // num_clips))


def reproduction_record(result: dict, opts: EvalOptions) -> dict:
  """What a manifest keeps of an :func:`evaluate_bundle` result under ``opts`` (the reproduction
  measure): the protocol, the counts, the rate, the mean and standard deviation of the episode
  lengths and E_h, per clip the success rate."""
  lengths = np.asarray([e["length"] for e in result["episodes"]], np.float64)
  return {"perturbed_start": opts.perturbed_start, "perturb": opts.perturb, "seed": opts.seed,
          "episodes_per_clip": opts.episodes_per_clip, "num_episodes": int(lengths.size),
          "successes": int(sum(e["success"] for e in result["episodes"])),
          "success_rate": float(result["success_rate"]), "mean_length": float(lengths.mean()),
          "length_sd": float(lengths.std(ddof=1)) if lengths.size > 1 else 0.0,
          "e_h": result.get("e_h"),
          "per_clip": {c["name"]: c["success_rate"] for c in result["per_clip"]}}


def rate_tolerance(successes: int, num: int, num_new: int, z: float = REPRODUCTION_Z) -> float:
  """How far a success rate re-measured over ``num_new`` episodes may lie from one of
  ``successes`` / ``num``: ``z`` standard errors of the difference of two independent binomial
  rates, with the rate estimated as (successes + 1) / (num + 2) (so a rate of 0 or 1 still has a
  spread: with 0 of 66, the new rate may reach 0.063).  The re-measurement plays the same
  starts, so the two are positively correlated and this is conservative."""
  if num < 1 or num_new < 1 or not 0 <= successes <= num:
    raise ValueError(f"rate_tolerance: need 0 <= successes <= num and num, num_new >= 1; got "
                     f"{successes}, {num}, {num_new}")
  p = (successes + 1.0) / (num + 2.0)
  return float(z * np.sqrt(p * (1.0 - p) * (1.0 / num + 1.0 / num_new)))


def mean_tolerance(sd: float, num: int, num_new: int, z: float = REPRODUCTION_Z,
                   floor: float = 1.0) -> float:
  """How far a mean (e.g. episode length) re-measured over ``num_new`` episodes may lie from one
  over ``num`` whose standard deviation was ``sd``: ``z`` standard errors of the difference,
  at least ``floor`` (one frame: a spread of 0 is not a promise of equality)."""
  if num < 1 or num_new < 1 or sd < 0:
    raise ValueError(f"mean_tolerance: need sd >= 0 and num, num_new >= 1; got {sd}, {num}, "
                     f"{num_new}")
  return float(max(z * sd * np.sqrt(1.0 / num + 1.0 / num_new), floor))


def best_episode(episodes: Sequence[dict]) -> int:
  """Index of the best episode record (:func:`summarize`): a success if any, else the longest;
  the first on ties."""
  return max(range(len(episodes)),
             key=lambda i: (episodes[i]["success"], episodes[i]["length"], -i))


def render_episode_video(env, reset, act, key, num_steps: int, opts: EvalOptions,
                         names: Sequence[str]) -> dict:
  """Renders episode ``opts.video_episode`` (same keys as the statistics) to ``opts.video_path``
  with the reference as a translucent ghost; returns the render status."""
  from interprior_jax import render

  i = int(opts.video_episode)
  if not 0 <= i < len(names):
    raise ValueError(f"--video {i}: the evaluation has episodes 0..{len(names) - 1}")
  if not hasattr(env, "library"):
    raise ValueError("--video: only HOI env bundles can be rendered")
  sim_qpos, ref_qpos, length = record_episode(env, reset, act, key, num_steps, i)
  status = render.try_render_ghost_video(env.scene.model, sim_qpos, ref_qpos, opts.video_path,
                                         fps=1.0 / env.dt,
                                         track_body=int(env.spec.root_body_id))
  status.update(episode=i, clip=names[i], steps=length)
  return status
