"""Prioritised clip sampling: train more on the clips the policy fails.

A failure-weighted curriculum in the spirit of PHC's hard-negative mining and ProtoMotions'
prioritised motion sampling: after each periodic tracking evaluation (every training clip from its
first frame, :func:`interprior_jax.training.expert.tracking_eval_fn`) each clip gets the weight

    w_c = max(1 - progress_c, floor),   progress_c = 1 if the episode succeeded, else
                                                      episode length / clip length (policy steps)

averaged over the clip's evaluation episodes, and the env draws the clips of its auto-resets with
probability ``w_c / sum(w)`` (``info['clip_weights']`` of :class:`interprior_jax.envs.hoi_env.HOIEnv`).
``floor`` (``config.loop.clip_priority_floor``, 0 = off: uniform sampling) keeps clips already
mastered in the mix so they are not forgotten.  The weights live in the env state, so they are
checkpointed and resume exactly.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def weights_from_episodes(episodes: Sequence[dict], clip_names: Sequence[str],
                          clip_steps: Sequence[float], floor: float) -> np.ndarray:
  """``(num_clips,)`` float32 sampling weights from evaluation episode records.

  ``episodes``: ``{name, success, length}`` per evaluation episode (several per clip allowed);
  ``clip_names`` / ``clip_steps``: the library's clips, in order, and their lengths in policy
  steps.  A clip without any evaluation episode keeps weight 1.  ValueError: ``floor`` outside
  (0, 1], or an episode naming a clip the library lacks.
  """
  if not 0.0 < floor <= 1.0:
    raise ValueError(f"clip_priority floor must be in (0, 1], got {floor}")
  index = {n: i for i, n in enumerate(clip_names)}
  progress = [[] for _ in clip_names]
  for e in episodes:
    if e["name"] not in index:
      raise ValueError(f"clip_priority: evaluation episode of clip {e['name']!r}, which is not "
                       f"among the training clips {list(clip_names)}")
    i = index[e["name"]]
    done = 1.0 if e["success"] else min(float(e["length"]) / max(float(clip_steps[i]), 1.0), 1.0)
    progress[i].append(done)
  w = [max(1.0 - float(np.mean(p)), floor) if p else 1.0 for p in progress]
  return np.asarray(w, np.float32)


def set_clip_weights(env_state, weights) -> object:
  """``env_state`` (batched: ``info['clip_weights']`` of shape ``[num_envs, num_clips]``) with
  every env's weights set to ``weights`` (num_clips,), keeping each leaf's sharding."""
  old = env_state.info["clip_weights"]
  if old.shape[-1:] != np.shape(weights):
    raise ValueError(f"clip weights of shape {np.shape(weights)}; the env has "
                     f"{old.shape[-1]} clips")
  new = jnp.broadcast_to(jnp.asarray(weights, old.dtype), old.shape)
  sharding = getattr(old, "sharding", None)
  if sharding is not None:
    new = jax.device_put(new, sharding)
  info = dict(env_state.info)
  info["clip_weights"] = new
  return env_state.replace(info=info)


__all__ = ["weights_from_episodes", "set_clip_weights"]
