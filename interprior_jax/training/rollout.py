"""Batched environment with random auto-reset, and a ``lax.scan`` rollout (generic, all stages).

:class:`VecEnv` wraps any (unbatched) brax ``Env``: it vmaps reset/step over ``num_envs`` copies,
adds an optional time limit, keeps episode return/length, and resets finished copies with a *fresh
random reset* (so reference-state / PSI initialization is re-sampled every episode; brax's own
``AutoResetWrapper`` would replay the first reset state forever).

Truncation vs termination (the contract GAE relies on):
  * the inner env sets ``done = 1`` for every episode end and ``info['truncation'] = 1`` when the end
    is a time limit / clip end (brax convention); the optional ``episode_length`` limit adds more;
  * per transition ``termination = done * (1 - truncation)``; ``truncation = done * truncation``.
Bootstrap on truncation needs ``V`` of the **final pre-reset observation**:
  * envs reset by this wrapper (``self_resetting=False``, e.g. the toy env): before replacing the
    finished copies by fresh resets it stores their last observation in ``info['vec_final_obs']``
    (equal to ``obs`` for copies that did not finish): exact;
  * envs that reset themselves inside ``step`` (``self_resetting=True``, e.g. ``HOIEnv``): the
    env's ``info['final_obs']`` is used when it provides one (exact; HOIEnv does unless
    ``config.env.final_obs`` is False); otherwise the observation
    the last action was taken in (``s_{T-1}``) stands in for ``s_T`` on finished copies, i.e.
    ``V(s_T) ~ V(s_{T-1})`` -- the approximation rl_games / InterMimic use for timeouts.
:func:`rollout` evaluates ``bootstrap_fn(final_obs)`` (e.g. the critic) inside the scan, giving
``V(s_{t+1})`` for every transition; GAE uses it with ``(1 - termination)``.

All ``info`` entries added here are prefixed ``vec_`` (the inner env's own ``steps`` /
``truncation`` are left alone) and ``[N]``-shaped (``vec_final_obs``: ``[N, *obs]``), so the
batched state is a fixed pytree for ``lax.scan`` and for checkpoints. RNG keys are raw
``uint32[2]`` keys.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
from brax.envs.base import Env, State
from flax import struct

# The inner env's (brax) truncation flag and optional exact final observation.
ENV_TRUNCATION = "truncation"
ENV_FINAL_OBS = "final_obs"
# info keys owned by VecEnv.
STEPS = "vec_steps"
TRUNCATION = "vec_truncation"
TERMINATION = "vec_termination"
FINAL_OBS = "vec_final_obs"
RESET_KEY = "vec_reset_key"
EP_RETURN = "vec_ep_return"      # running return of the current episode
EP_LENGTH = "vec_ep_length"      # running length of the current episode
DONE_RETURN = "vec_done_return"  # return of the episode that ended at this step (valid where done)
DONE_LENGTH = "vec_done_length"  # length of the episode that ended at this step (valid where done)


def tree_where(cond: jax.Array, x, y):
  """Per-copy select: ``cond`` ``[N]``; leaves of x, y ``[N, ...]`` -> x where cond else y."""
  def sel(a, b):
    c = cond.reshape(cond.shape + (1,) * (a.ndim - cond.ndim))
    return jnp.where(c, a, b)
  return jax.tree.map(sel, x, y)


class VecEnv:
  """``num_envs`` copies of a brax env with time limit, episode stats and auto-reset.

  ``reset(key) -> State`` and ``step(state, action[N, A]) -> State`` on batched states (``[N]``
  leading axis). Actions are passed through unchanged (clip them in the policy).
  ``self_resetting``: the inner env resets finished episodes itself (then this wrapper only
  batches and keeps statistics; ``episode_length`` must be 0: the env owns episode ends).
  """

  def __init__(self, env: Env, num_envs: int, episode_length: int = 0,
               self_resetting: bool = False):
    if num_envs <= 0:
      raise ValueError(f"VecEnv: num_envs must be positive, got {num_envs}")
    if self_resetting and episode_length:
      raise ValueError("VecEnv: episode_length must be 0 for a self-resetting env (set the "
                       "env's own episode limit)")
    self.env = env
    self.num_envs = int(num_envs)
    self.episode_length = int(episode_length)  # 0: no extra time limit
    self.self_resetting = bool(self_resetting)

  @property
  def observation_size(self):
    return self.env.observation_size

  @property
  def action_size(self) -> int:
    return self.env.action_size

  def _inner_reset(self, keys: jax.Array) -> State:
    s = jax.vmap(self.env.reset)(keys)
    s.info.setdefault(ENV_TRUNCATION, jnp.zeros_like(s.done))
    return s

  def reset(self, key: jax.Array) -> State:
    k_reset, k_next = jax.random.split(key)
    s = self._inner_reset(jax.random.split(k_reset, self.num_envs))
    n = self.num_envs
    zf = jnp.zeros((n,), jnp.float32)
    s.info.update({
        STEPS: jnp.zeros((n,), jnp.int32), TRUNCATION: zf, TERMINATION: zf,
        FINAL_OBS: s.obs, RESET_KEY: jax.random.split(k_next, n),
        EP_RETURN: zf, EP_LENGTH: zf, DONE_RETURN: zf, DONE_LENGTH: zf,
    })
    return s.replace(done=zf, reward=zf)

  def step(self, state: State, action: jax.Array) -> State:
    ours = {k: state.info[k] for k in (STEPS, RESET_KEY, EP_RETURN, EP_LENGTH)}
    inner_info = {k: v for k, v in state.info.items() if k not in _OWN_KEYS}
    inner = state.replace(info=inner_info, done=jnp.zeros_like(state.done))
    s = jax.vmap(self.env.step)(inner, action)

    steps = ours[STEPS] + 1
    done = s.done.astype(jnp.float32)
    trunc = s.info.get(ENV_TRUNCATION, jnp.zeros_like(done)).astype(jnp.float32) * done
    if self.episode_length > 0:
      limit = (steps >= self.episode_length).astype(jnp.float32)
      trunc = jnp.maximum(trunc, limit * (1.0 - done))  # a time-limit end of a live episode
      done = jnp.maximum(done, limit)
    term = done * (1.0 - trunc)
    ret = ours[EP_RETURN] + s.reward
    length = ours[EP_LENGTH] + 1.0

    keys = jax.vmap(lambda k: jax.random.split(k, 2))(ours[RESET_KEY])
    if self.self_resetting:
      nxt = s
      if ENV_FINAL_OBS in s.info:
        final_obs = s.info[ENV_FINAL_OBS]
      else:  # V(s_T) ~ V(s_{T-1}) on finished copies (see module docstring)
        final_obs = tree_where(done > 0, state.obs, s.obs)
    else:
      final_obs = s.obs
      fresh = self._inner_reset(keys[:, 0])
      fresh = fresh.replace(info={k: fresh.info[k] for k in s.info})  # same pytree as the step
      nxt = tree_where(done > 0, fresh, s)
    live = 1.0 - done
    info = dict(nxt.info)
    info.update({
        STEPS: jnp.where(done > 0, 0, steps).astype(jnp.int32), TRUNCATION: trunc,
        TERMINATION: term, FINAL_OBS: final_obs, RESET_KEY: keys[:, 1],
        EP_RETURN: ret * live, EP_LENGTH: length * live, DONE_RETURN: ret * done,
        DONE_LENGTH: length * done,
    })
    return nxt.replace(info=info, reward=s.reward, done=done, metrics=s.metrics)


_OWN_KEYS = (STEPS, TRUNCATION, TERMINATION, FINAL_OBS, RESET_KEY, EP_RETURN, EP_LENGTH,
             DONE_RETURN, DONE_LENGTH)


class ConcatVecEnv:
  """Env groups with their own env (e.g. their own start states) stepped as one batch.

  ``groups`` are :class:`VecEnv` s whose batched states have the same pytree structure (same
  env class, configs that differ only in values); the batch is their concatenation along the
  env axis, group 0 first (``[0, n_0)``, then ``[n_0, n_0 + n_1)``, ...), so a rollout, GAE and
  minibatches see one ``[T, sum n_g]`` batch while each group resets by its own rules.
  ``env`` / ``action_size`` / ``observation_size`` / ``episode_length`` are those of the group
  ``main`` (default: the last).
  """

  def __init__(self, groups: Sequence[VecEnv], main: int = -1):
    if not groups:
      raise ValueError("ConcatVecEnv: no groups")
    self.groups = tuple(groups)
    self.sizes = tuple(g.num_envs for g in self.groups)
    self.num_envs = int(sum(self.sizes))
    self.main = self.groups[main]
    self.env = self.main.env
    self.episode_length = self.main.episode_length
    self.self_resetting = self.main.self_resetting

  @property
  def observation_size(self):
    return self.main.observation_size

  @property
  def action_size(self) -> int:
    return self.main.action_size

  def _split(self, tree):
    out, start = [], 0
    for n in self.sizes:
      out.append(jax.tree.map(lambda x, a=start, b=start + n: x[a:b], tree))
      start += n
    return out

  @staticmethod
  def _concat(parts):
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *parts)

  def reset(self, key: jax.Array) -> State:
    keys = jax.random.split(key, len(self.groups))
    return self._concat([g.reset(k) for g, k in zip(self.groups, keys)])

  def step(self, state: State, action: jax.Array) -> State:
    return self._concat([g.step(s, a) for g, s, a in
                         zip(self.groups, self._split(state), self._split(action))])


@struct.dataclass
class Transition:
  """One rollout, time-major. ``T`` steps x ``N`` copies.

  obs ``[T, N, *obs]`` (observation the action was taken in); action ``[T, N, A]`` (as sent to the
  env); reward, done, termination, truncation ``[T, N]``; extras: policy outputs (e.g. log_prob,
  value, raw_action), each ``[T, N, ...]``; next_extras: ``bootstrap_fn(final_obs)`` (e.g.
  next_value ``[T, N]``); metrics: env metrics ``[T, N]``; done_return / done_length ``[T, N]``
  (episode return / length where ``done``, else 0).
  """
  obs: Any
  action: jax.Array
  reward: jax.Array
  done: jax.Array
  termination: jax.Array
  truncation: jax.Array
  extras: dict
  next_extras: dict
  metrics: dict
  done_return: jax.Array
  done_length: jax.Array


PolicyFn = Callable[[Any, jax.Array], tuple[jax.Array, dict]]
BootstrapFn = Callable[[Any], dict]


def held_keys(key: jax.Array, num_steps: int, hold: int = 1) -> jax.Array:
  """``[num_steps]`` per-step keys, each repeated for ``hold`` consecutive steps (the last block
  may be shorter): a policy that draws its exploration noise from its step's key keeps the same
  noise for ``hold`` steps (generalised state-dependent exploration, gSDE: Raffin et al. 2022,
  as in Stable-Baselines3's ``sde_sample_freq``). ``hold`` 1: ``jax.random.split(key,
  num_steps)``."""
  if hold < 1:
    raise ValueError(f"noise hold {hold} must be >= 1 step")
  if hold == 1:
    return jax.random.split(key, num_steps)
  blocks = jax.random.split(key, -(-num_steps // hold))
  return jnp.repeat(blocks, hold, axis=0)[:num_steps]


def rollout(env: VecEnv, state: State, policy_fn: PolicyFn, key: jax.Array, num_steps: int,
            bootstrap_fn: BootstrapFn | None = None, noise_hold: int = 1
            ) -> tuple[State, Transition]:
  """Runs ``num_steps`` batched steps with ``lax.scan``.

  ``policy_fn(obs[N, ...], key) -> (action[N, A], extras)``; ``bootstrap_fn(final_obs) -> dict``
  evaluated on the true (pre-reset) next observation of every transition; ``noise_hold``: the
  step keys repeat in blocks of that many steps (:func:`held_keys`).
  Returns the final batched state and a time-major :class:`Transition`.
  """
  def body(s: State, k: jax.Array):
    action, extras = policy_fn(s.obs, k)
    ns = env.step(s, action)
    nxt = {} if bootstrap_fn is None else bootstrap_fn(ns.info[FINAL_OBS])
    tr = Transition(obs=s.obs, action=action, reward=ns.reward, done=ns.done,
                    termination=ns.info[TERMINATION], truncation=ns.info[TRUNCATION],
                    extras=extras, next_extras=nxt, metrics=ns.metrics,
                    done_return=ns.info[DONE_RETURN], done_length=ns.info[DONE_LENGTH])
    return ns, tr

  return jax.lax.scan(body, state, held_keys(key, num_steps, noise_hold))


def episode_summary(tr: Transition) -> dict[str, jax.Array]:
  """Scalar statistics of a rollout: mean return / length / success (truncated share) of the
  episodes that ended in it (NaN when none did), ``episodes`` count, per-step reward and env
  metrics means (``env/<name>``)."""
  n = jnp.sum(tr.done)
  safe = jnp.maximum(n, 1.0)
  nan_if_none = jnp.where(n > 0, 1.0, jnp.nan)
  out = {
      "episodes": n,
      "episode_return": jnp.sum(tr.done_return) / safe * nan_if_none,
      "episode_length": jnp.sum(tr.done_length) / safe * nan_if_none,
      "success_rate": jnp.sum(tr.truncation) / safe * nan_if_none,
      "termination_rate": jnp.mean(tr.termination),
      "reward": jnp.mean(tr.reward),
  }
  for k, v in tr.metrics.items():
    out[f"env/{k}"] = jnp.mean(v)
  return out
