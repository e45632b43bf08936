"""Registry of environments the trainers can build from a config (``config.env_kind``).

``toy``: :mod:`interprior_jax.envs.toy_env` (config.env holds ToyConfig fields).
``hoi``: the HOI tracking env (``interprior_jax.envs.make_env(config.env, clips)``) on clips from
``config.data.source`` (:mod:`interprior_jax.motion.sources`).
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import ml_collections
from brax.envs.base import Env

from interprior_jax.envs import toy_env
from interprior_jax.motion import sources


def _build_toy(config: ml_collections.ConfigDict, clips=None) -> Env:
  fields = {f.name for f in dataclasses.fields(toy_env.ToyConfig)}
  d = config.env.to_dict()
  bad = set(d) - fields
  if bad:
    raise ValueError(f"config.env (toy): unknown fields {sorted(bad)}")
  return toy_env.PointMassTracking(toy_env.ToyConfig(**d))


def _build_hoi(config: ml_collections.ConfigDict, clips=None) -> Env:
  from interprior_jax import envs  # the HOI env package (lazy: heavy imports)

  if clips is None:
    clips = sources.load_clips(config)
  return envs.make_env(config.env, clips)


@dataclasses.dataclass(frozen=True)
class EnvEntry:
  build: Callable[..., Env]
  self_resetting: bool  # the env resets finished episodes inside step (see rollout.VecEnv)


ENV_BUILDERS: dict[str, EnvEntry] = {
    "toy": EnvEntry(_build_toy, self_resetting=False),
    "hoi": EnvEntry(_build_hoi, self_resetting=True),
}


def entry(config: ml_collections.ConfigDict) -> EnvEntry:
  kind = config.env_kind
  if kind not in ENV_BUILDERS:
    raise ValueError(f"config.env_kind={kind!r}: valid kinds {sorted(ENV_BUILDERS)}")
  return ENV_BUILDERS[kind]


def make_env(config: ml_collections.ConfigDict, clips=None) -> Env:
  return entry(config).build(config, clips)
