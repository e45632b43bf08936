"""Policy evaluation: first-episode statistics per env copy (tracking success, E_h, E_o).

Each of the ``N`` copies starts one episode (e.g. copy i on clip i from its first frame); the
scan runs ``num_steps`` steps and only the *first* episode of every copy counts (later auto-reset
episodes are ignored). Success = the first episode ended by truncation (clip end / time limit)
with no early termination. Metric means (e.g. ``e_h``, ``e_o``) are over that episode's steps.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State

from interprior_jax.training import rollout as rollout_lib


def first_episode_stats(env: Env, reset_state: State, act: Callable, key: jax.Array,
                        num_steps: int, metric_names: Sequence[str]) -> dict[str, jax.Array]:
  """Runs ``num_steps`` vmapped steps from a batched ``reset_state`` (``[N]`` leaves).

  ``act(obs[N, ...], key) -> action[N, A]``. Returns ``[N]`` arrays: ``success``,
  ``terminated``, ``ended`` (the first episode finished within ``num_steps``), ``length`` and the
  per-episode mean of every name in ``metric_names`` (from ``state.metrics``).
  """
  n = reset_state.done.shape[0]
  zf = jnp.zeros((n,), jnp.float32)
  carry0 = (reset_state, jnp.ones((n,), jnp.float32), zf, zf, zf,
            {k: zf for k in metric_names})

  def body(carry, k):
    s, active, length, success, terminated, sums = carry
    ns = jax.vmap(env.step)(s, act(s.obs, k))
    done = ns.done.astype(jnp.float32)
    trunc = ns.info.get(rollout_lib.ENV_TRUNCATION, zf).astype(jnp.float32)
    sums = {name: sums[name] + active * ns.metrics[name] for name in metric_names}
    length = length + active
    ended_now = active * done
    success = success + ended_now * trunc
    terminated = terminated + ended_now * (1.0 - trunc)
    return (ns, active * (1.0 - done), length, success, terminated, sums), None

  (_, active, length, success, terminated, sums), _ = jax.lax.scan(
      body, carry0, jax.random.split(key, num_steps))
  out = {"success": success, "terminated": terminated, "ended": 1.0 - active, "length": length}
  out.update({name: v / jnp.maximum(length, 1.0) for name, v in sums.items()})
  return out


def summarize(per_env: dict[str, np.ndarray], names: Sequence[str],
              metric_names: Sequence[str]) -> dict:
  """Per-item records and dataset means: ``success_rate`` and the mean of each metric."""
  per = {k: np.asarray(v, np.float64) for k, v in per_env.items()}
  items = []
  for i, name in enumerate(names):
    rec = {"name": name, "success": bool(per["success"][i] > 0),
           "terminated": bool(per["terminated"][i] > 0), "ended": bool(per["ended"][i] > 0),
           "length": int(per["length"][i])}
    rec.update({m: float(per[m][i]) for m in metric_names})
    items.append(rec)
  summary = {"num_episodes": len(names), "success_rate": float(np.mean(per["success"] > 0)),
             "mean_length": float(np.mean(per["length"]))}
  summary.update({m: float(np.mean(per[m])) for m in metric_names})
  summary["per_clip"] = items
  return summary
