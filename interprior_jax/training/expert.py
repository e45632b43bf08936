"""Stage 1 assembly: config -> env -> PPO -> training loop -> inference bundle."""

from __future__ import annotations

import pathlib

import ml_collections

from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.envs import registry
from interprior_jax.motion import sources
from interprior_jax.training import loop as loop_lib
from interprior_jax.training.ppo import train as ppo
from interprior_jax.training import rollout
from interprior_jax.training import sharding


def loop_config(c: ml_collections.ConfigDict) -> loop_lib.LoopConfig:
  try:
    return loop_lib.LoopConfig(**c.loop.to_dict())
  except TypeError as e:
    raise ValueError(f"config.loop: {e}") from None


def build(config: ml_collections.ConfigDict, env=None, clips=None) -> ppo.PPO:
  """PPO over ``config`` (env built from the registry unless given), data parallel over
  ``config.num_devices`` devices (0: all)."""
  cfg = ppo.PPOConfig.from_config(config.ppo)
  entry = registry.entry(config)
  base = env if env is not None else entry.build(config, clips)
  venv = rollout.VecEnv(base, cfg.num_envs, int(config.episode_length), entry.self_resetting)
  mesh = sharding.make_mesh(int(config.num_devices) or None)
  return ppo.PPO(venv, cfg, mesh)


def train(config: ml_collections.ConfigDict, workdir: str | pathlib.Path, algo: ppo.PPO | None = None,
          **loop_kwargs) -> loop_lib.LoopResult:
  """Trains (or resumes) in ``workdir``; exports the bundle to ``workdir/policy``."""
  algo = algo or build(config)
  workdir = pathlib.Path(workdir)

  def export(state, wd):
    algo.export(state, wd / ckpt_lib.BUNDLE_DIR, config)

  loop_kwargs.setdefault("eval_fn", tracking_eval_fn(config, algo))
  if float(config.loop.get("clip_priority_floor", 0.0)) > 0:
    loop_kwargs.setdefault("after_eval_fn", clip_priority_fn(config, algo))
  loop_kwargs.setdefault("best_export_fn", lambda state, d: algo.export(state, d, config))
  return loop_lib.run(algo, config, workdir, loop_config(config), seed=int(config.seed),
                      export_fn=export, **loop_kwargs)


def tracking_eval_fn(config: ml_collections.ConfigDict, algo: ppo.PPO, clips=None):
  """``eval_fn(state) -> {success_rate, mean_length, e_h, e_o, episodes}``: the deterministic
  policy on every training clip from its first frame (impulses as ``config.loop.eval_perturb``,
  default off; object randomisation off; the clip end decides), as ``experiments/evaluate.py``
  measures it; ``config.loop.eval_episodes_per_clip`` episodes per clip, from perturbed copies of
  the first frame with ``config.loop.eval_perturbed_start`` (the same starts at every
  evaluation).  None unless ``config.loop.eval_every`` and an HOI env."""
  if config.env_kind != "hoi" or not int(config.loop.get("eval_every", 0)):
    return None
  import jax
  import numpy as np

  from interprior_jax.training import evaluation

  cfg = ml_collections.ConfigDict(config.to_dict())
  cfg.env.perturb.mode = str(config.loop.get("eval_perturb", "off"))
  cfg.env.randomize.enabled = False
  cfg.env.max_episode_steps = np.iinfo(np.int32).max
  clips = clips if clips is not None else sources.load_clips(cfg)
  env = registry.make_env(cfg, clips)
  reset, names, num_steps = evaluation.hoi_reset_states(
      env, clips, jax.random.PRNGKey(0), int(config.loop.get("eval_episodes_per_clip", 1)),
      bool(config.loop.get("eval_perturbed_start", False)))

  @jax.jit
  def run(params, normalizer, key):
    act = lambda obs, k: algo.act(params, normalizer, obs)  # noqa: E731
    return evaluation.first_episode_stats(env, reset, act, key, num_steps,
                                          evaluation.HOI_METRICS)

  def eval_fn(state):
    per = jax.device_get(run(state.params, state.normalizer, jax.random.PRNGKey(1)))
    summary = evaluation.summarize(per, names, evaluation.HOI_METRICS)
    out = {k: summary[k] for k in ("success_rate", "mean_length", "e_h", "e_o")}
    out["episodes"] = [{k: e[k] for k in ("name", "success", "length", "ended_by")}
                       for e in summary["episodes"]]
    return out

  return eval_fn


def clip_priority_fn(config: ml_collections.ConfigDict, algo: ppo.PPO):
  """``after_eval_fn(state, record) -> (state, notes)`` of the clip-priority curriculum
  (:mod:`interprior_jax.training.clip_priority`, floor ``config.loop.clip_priority_floor``):
  re-weights the env copies' clip sampling from the evaluation's episodes.  ValueError unless
  the run evaluates periodically (``config.loop.eval_every``) on a self-resetting HOI env."""
  import numpy as np

  from interprior_jax.training import clip_priority

  floor = float(config.loop.clip_priority_floor)
  if config.env_kind != "hoi" or not int(config.loop.get("eval_every", 0)):
    raise ValueError("config.loop.clip_priority_floor > 0 needs an HOI env and periodic "
                     "evaluations (config.loop.eval_every > 0)")
  env = algo.env.env
  lib = env.library
  steps = np.asarray(lib.duration(np.arange(lib.num_clips))) / float(env.dt)

  def after_eval(state, record):
    w = clip_priority.weights_from_episodes(record["episodes"], lib.clip_names, steps, floor)
    state = state.replace(env_state=clip_priority.set_clip_weights(state.env_state, w))
    return state, {"clip_weights": [round(float(x), 4) for x in w]}

  return after_eval
