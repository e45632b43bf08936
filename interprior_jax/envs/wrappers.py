"""Training wrappers for :class:`~interprior_jax.envs.hoi_env.HOIEnv` (brax ``ppo.train`` ready).

The env resets itself and tracks ``steps`` / ``truncation`` / ``episode_metrics``, so only the
batching wrapper is needed.  Pass ``wrap_env_fn=wrap_for_training`` to ``ppo.train`` (its default
wrapper's ``EpisodeWrapper`` would overwrite the clip-end truncation flag).
"""

from __future__ import annotations

from typing import Callable, Optional

from brax.envs.wrappers import training as brax_training


def wrap_for_training(env, episode_length: Optional[int] = None, action_repeat: int = 1,
                      randomization_fn: Optional[Callable] = None):
  """Vmap (or domain-randomisation vmap) wrapper; signature of ``brax.envs.training.wrap``.

  Raises ValueError when ``action_repeat != 1`` or ``episode_length`` disagrees with the env's
  ``config.max_episode_steps`` (the env, not the wrapper, ends episodes).
  """
  if action_repeat != 1:
    raise ValueError(f"wrap_for_training: action_repeat={action_repeat}; the HOI env steps at the "
                     "policy rate (config.substeps sets physics steps per action)")
  max_steps = int(env.unwrapped.cfg.max_episode_steps)
  if episode_length is not None and int(episode_length) != max_steps:
    raise ValueError(f"wrap_for_training: episode_length={episode_length} but "
                     f"config.max_episode_steps={max_steps}; set them equal")
  if randomization_fn is None:
    return brax_training.VmapWrapper(env)
  return brax_training.DomainRandomizationVmapWrapper(env, randomization_fn)
