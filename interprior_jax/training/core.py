"""The trainer core: the small pure pieces every stage's ``train_step`` is composed of.

A stage's iteration (PureJaxRL-style, one jitted function of ``(state, key)``) reads

1. **rollout**: :func:`rollout.rollout` with the stage's ``policy_fn`` (and ``bootstrap_fn``);
2. **labels**: GAE (:func:`gae.compute_gae`), expert actions, ... -- a dict ``data`` of arrays
   ``[T, N, ...]``;
3. **update**: :func:`update` -- ``num_epochs`` passes over minibatches laid out by a
   :data:`Minibatcher` (:func:`shuffled_minibatches`: flat transitions, PPO;
   :func:`env_minibatches`: whole env trajectories, distillation), one NaN-guarded optimiser
   step per minibatch on ``loss_fn(params, minibatch) -> (loss, metrics)``; two objectives
   share one rollout and one step by adding their losses inside ``loss_fn``;
4. **normaliser merge**: :func:`merge_normalizer` (statistics frozen during the iteration, merged
   after it, left unchanged by a non-finite batch);
5. **finish**: :func:`finish` -- the next :class:`TrainState` and the iteration's mean metrics.

The host loop (``loop.py``: checkpoints, logging, NaN restores, evaluation) drives any trainer
exposing ``init``, ``jit_train_step`` and ``env_steps_per_iteration``.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import Mesh

from interprior_jax.training import nan_guard
from interprior_jax.training import normalization
from interprior_jax.training import rollout as rollout_lib
from interprior_jax.training import sharding


@struct.dataclass
class TrainState:
  """Everything a run needs to continue exactly (all checkpointed), for every stage.

  params: flax params of the stage (e.g. ``{'actor', 'critic'}``, ``{'student'}``; replicated);
  opt_state: optax state; normalizer: :class:`RunningStats`; env_state: batched brax State
  (``[num_envs]`` leaves, sharded); key: run root key ``uint32[2]`` (step keys are
  ``fold_in(key, step)``); step: int32 iterations done; extra: optional env-side pytree (e.g. a
  PSI buffer), carried untouched by the trainers.
  """
  params: Any
  opt_state: Any
  normalizer: normalization.RunningStats
  env_state: Any
  key: jax.Array
  step: jax.Array
  extra: Any = None


def fresh_train_state(params, opt_state, normalizer, env_state, key: jax.Array, extra,
                      mesh: Mesh) -> TrainState:
  """A step-0 :class:`TrainState` (key, step and extra replicated over ``mesh``)."""
  return TrainState(params=params, opt_state=opt_state, normalizer=normalizer,
                    env_state=env_state, key=sharding.replicate(key, mesh),
                    step=sharding.replicate(jnp.zeros((), jnp.int32), mesh),
                    extra=None if extra is None else sharding.replicate(extra, mesh))


def train_state_shardings(state: TrainState, mesh: Mesh) -> TrainState:
  """Shardings of a TrainState: env_state along envs (``mesh`` data axis), the rest replicated."""
  rep = sharding.replicated(mesh)
  r = lambda t: jax.tree.map(lambda _: rep, t)  # noqa: E731
  return TrainState(params=r(state.params), opt_state=r(state.opt_state),
                    normalizer=r(state.normalizer),
                    env_state=sharding.batch_shardings(state.env_state, mesh),
                    key=rep, step=rep, extra=r(state.extra))


#: ``(data, key) -> minibatches``: every leaf gains a leading minibatch axis ``[M, ...]``.
Minibatcher = Callable[[Any, jax.Array], Any]


def shuffled_minibatches(num_minibatches: int, mesh: Mesh) -> Minibatcher:
  """Transitions flattened over time and envs, permuted: leaves ``[T, N, ...]`` ->
  ``[M, T*N/M, ...]`` (PPO: every transition carries its own advantage and return)."""
  def split(data, key):
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), data)
    b = jax.tree.leaves(flat)[0].shape[0]
    perm = jax.random.permutation(key, b)
    mbs = jax.tree.map(lambda x: x[perm].reshape((num_minibatches, b // num_minibatches)
                                                 + x.shape[1:]), flat)
    return sharding.constrain_batch(mbs, mesh, axis=1)
  return split


def env_minibatches(num_minibatches: int, mesh: Mesh) -> Minibatcher:
  """Whole env trajectories, envs permuted: leaves ``[T, N, ...]`` -> ``[M, T, N/M, ...]``
  (distillation: the temporal-consistency loss needs consecutive steps of one env)."""
  def split(data, key):
    n = jax.tree.leaves(data)[0].shape[1]
    perm = jax.random.permutation(key, n)
    mbs = jax.tree.map(lambda x: jnp.moveaxis(
        x[:, perm].reshape((x.shape[0], num_minibatches, n // num_minibatches) + x.shape[2:]),
        1, 0), data)
    return sharding.constrain_batch(mbs, mesh, axis=2)
  return split


#: ``(opt_state, ok, index, metrics) -> opt_state`` after each optimiser step (``index`` counts
#: the steps of this iteration from 0), e.g. PPO's KL-adaptive learning rate.
StepHook = Callable[[Any, jax.Array, jax.Array, dict], Any]


def value_and_split_grad(terms_fn: Callable[[Any, Any], tuple[dict, dict]]):
  """``grad_fn(params, minibatch) -> ((loss, metrics), {name: grads})`` for :func:`update`, from
  ``terms_fn(params, minibatch) -> ({name: scalar loss}, metrics)``: one forward pass and one
  backward pass per named term, ``loss`` their sum. For objectives that one optimiser step
  combines with separate statistics (an optimiser over ``{name: grads}``, e.g. Stage 3's
  ``finetune.train.make_optimizer`` with ``anchor_optimizer="separate"``); the sum of the
  per-term gradients is the gradient of ``loss``."""
  def grad_fn(params, mb):
    terms, vjp, metrics = jax.vjp(lambda p: terms_fn(p, mb), params, has_aux=True)
    grads = {k: vjp({j: jnp.full_like(v, float(j == k)) for j, v in terms.items()})[0]
             for k in terms}
    return (sum(terms.values()), metrics), grads
  return grad_fn


def update(loss_fn: Callable[[Any, Any], tuple[jax.Array, dict]] | None,
           optimizer: optax.GradientTransformation, params, opt_state, data, key: jax.Array, *,
           num_epochs: int, minibatcher: Minibatcher, step_hook: StepHook | None = None,
           grad_fn: Callable | None = None):
  """``num_epochs`` passes of guarded optimiser steps over ``minibatcher(data, k_epoch)``.

  ``loss_fn(params, minibatch) -> (loss, metrics)``, or instead ``grad_fn(params, minibatch) ->
  ((loss, metrics), grads)`` when the optimiser takes gradients in another layout
  (:func:`value_and_split_grad`). A step whose loss or gradients are non-finite leaves params
  and optimiser state unchanged and is counted. Returns ``(params, opt_state, nonfinite_steps,
  metrics)`` with metrics leaves ``[E, M]``.
  """
  if (loss_fn is None) == (grad_fn is None):
    raise ValueError("core.update: give exactly one of loss_fn and grad_fn")
  grad_fn = grad_fn or jax.value_and_grad(loss_fn, has_aux=True)

  def sgd_step(carry, mb):
    p, o, bad, i = carry
    (loss, m), g = grad_fn(p, mb)
    p, o, ok = nan_guard.guarded_update(optimizer, p, o, loss, g)
    if step_hook is not None:
      o = step_hook(o, ok, i, m)
    return (p, o, bad + (~ok).astype(jnp.int32), i + 1), m

  def epoch(carry, k):
    return jax.lax.scan(sgd_step, carry, minibatcher(data, k))

  zero = jnp.zeros((), jnp.int32)
  (params, opt_state, bad, _), metrics = jax.lax.scan(
      epoch, (params, opt_state, zero, zero), jax.random.split(key, num_epochs))
  return params, opt_state, bad, metrics


def merge_normalizer(norm: normalization.RunningStats, batch, enabled: bool = True
                     ) -> normalization.RunningStats:
  """``norm`` merged with ``batch`` (leaves ``[..., *stat_shape]``); unchanged when disabled or
  when the batch holds a non-finite value."""
  if not enabled:
    return norm
  new = normalization.update(norm, batch)
  return nan_guard.select(nan_guard.tree_all_finite(batch), new, norm)


def finish(state: TrainState, params, opt_state, normalizer, env_state, transitions,
           update_metrics: dict, nonfinite_steps: jax.Array, **extra_metrics
           ) -> tuple[TrainState, dict]:
  """The next state (``step + 1``) and the iteration's metrics: means of ``update_metrics``,
  the rollout's episode summary, ``nonfinite_updates``, ``state_finite`` and ``extra_metrics``."""
  new_state = state.replace(params=params, opt_state=opt_state, normalizer=normalizer,
                            env_state=env_state, step=state.step + 1)
  metrics = {k: jnp.mean(v) for k, v in update_metrics.items()}
  metrics.update(rollout_lib.episode_summary(transitions))
  metrics["nonfinite_updates"] = nonfinite_steps
  metrics["state_finite"] = nan_guard.tree_all_finite((params, opt_state, normalizer))
  metrics.update(extra_metrics)
  return new_state, metrics
