"""Stage 1 assembly: config -> env -> PPO -> training loop -> inference bundle."""

from __future__ import annotations

import pathlib

import ml_collections

from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training import env_factory
from interprior_jax.training import loop as loop_lib
from interprior_jax.training import ppo
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
  entry = env_factory.entry(config)
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

  return loop_lib.run(algo, config, workdir, loop_config(config), seed=int(config.seed),
                      export_fn=export, **loop_kwargs)
