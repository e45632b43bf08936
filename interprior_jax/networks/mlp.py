"""MLPs and the PPO actor / critic heads (flax.linen).

Action distribution (our choice, documented once here): a **diagonal Gaussian without tanh
squashing**. The policy samples ``u ~ N(mu(obs), exp(log_std)^2)`` and the environment receives
``clip(u, -1, 1)`` (actions live in [-1, 1]: PD target = mid + half_range * a). Log-probabilities are
those of the *unclipped* sample ``u`` (stored in the rollout), so the PPO ratio is exact; the mean is
kept inside the bounds by :func:`interprior_jax.training.ppo.losses.action_bound_loss`. This matches
InterMimic's fixed-std setup (log-std -2.9, std ~0.055) where squashing would distort the tiny noise
near the joint limits.

Separate actor and critic networks (no shared trunk), so stage 2/3 can reuse the actor alone.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# Final-layer init scales: a near-zero initial mean action and value (standard PPO practice).
POLICY_HEAD_INIT_SCALE = 0.01
VALUE_HEAD_INIT_SCALE = 1.0

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu, "elu": nn.elu, "silu": nn.silu, "tanh": jnp.tanh, "gelu": nn.gelu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
  try:
    return ACTIVATIONS[name]
  except KeyError:
    raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}") from None


class MLP(nn.Module):
  """``[..., in] -> [..., hidden[-1]]`` (or ``out_size`` when given) with activations between.

  The last (output) layer is linear, initialized with ``variance_scaling(out_scale)``.
  """
  hidden: Sequence[int]
  out_size: int | None = None
  act: str = "elu"
  out_scale: float = 1.0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    f = activation(self.act)
    init = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")
    for i, h in enumerate(self.hidden):
      x = f(nn.Dense(h, kernel_init=init, name=f"hidden_{i}")(x))
    if self.out_size is not None:
      out_init = nn.initializers.variance_scaling(self.out_scale, "fan_in", "truncated_normal")
      x = nn.Dense(self.out_size, kernel_init=out_init, name="out")(x)
    return x


# Bounds of a state-dependent log-std (``GaussianPolicy.state_dependent_std``).
STATE_LOG_STD_RANGE = (-5.0, 1.0)


class GaussianPolicy(nn.Module):
  """obs ``[..., obs_dim]`` -> (mean ``[..., act_dim]``, log_std ``[..., act_dim]``).

  Three log-std modes: fixed ``init_log_std`` (a constant, not a parameter; method.md's expert);
  ``learn_log_std``: a state-independent parameter initialized to ``init_log_std``;
  ``state_dependent_std`` (overrides the former): a second head of the actor MLP, ``init_log_std +
  out`` clipped to :data:`STATE_LOG_STD_RANGE` (brax's default policy is state-dependent too).  A
  lone log-std parameter moves at most ~learning_rate per Adam step; the head's output sums many
  weights and can follow the return much faster at the same learning rate.
  """
  action_size: int
  hidden: Sequence[int] = (1024, 1024, 512)
  act: str = "elu"
  init_log_std: float = -2.9
  learn_log_std: bool = False
  state_dependent_std: bool = False

  @nn.compact
  def __call__(self, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    n_out = 2 * self.action_size if self.state_dependent_std else self.action_size
    out = MLP(self.hidden, n_out, self.act, POLICY_HEAD_INIT_SCALE, name="mlp")(obs)
    if self.state_dependent_std:
      mean, raw = jnp.split(out, 2, axis=-1)
      return mean, jnp.clip(raw + self.init_log_std, *STATE_LOG_STD_RANGE)
    mean = out
    if self.learn_log_std:
      log_std = self.param("log_std", nn.initializers.constant(self.init_log_std),
                           (self.action_size,))
    else:
      log_std = jnp.full((self.action_size,), self.init_log_std, mean.dtype)
    return mean, jnp.broadcast_to(log_std, mean.shape)


class ValueNet(nn.Module):
  """obs ``[..., obs_dim]`` -> value ``[...]``."""
  hidden: Sequence[int] = (1024, 1024, 512)
  act: str = "elu"

  @nn.compact
  def __call__(self, obs: jax.Array) -> jax.Array:
    return MLP(self.hidden, 1, self.act, VALUE_HEAD_INIT_SCALE, name="mlp")(obs)[..., 0]


_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_log_prob(mean: jax.Array, log_std: jax.Array, x: jax.Array) -> jax.Array:
  """Diagonal Gaussian log-density, summed over the last axis: ``[..., A] -> [...]``."""
  z = (x - mean) * jnp.exp(-log_std)
  return jnp.sum(-0.5 * z * z - log_std - 0.5 * _LOG_2PI, axis=-1)


def gaussian_entropy(log_std: jax.Array) -> jax.Array:
  """Diagonal Gaussian entropy, summed over the last axis: ``[..., A] -> [...]``."""
  return jnp.sum(log_std + 0.5 * (1.0 + _LOG_2PI), axis=-1)


def gaussian_sample(key: jax.Array, mean: jax.Array, log_std: jax.Array) -> jax.Array:
  """``u = mean + exp(log_std) * eps``, same shape as ``mean`` (unclipped)."""
  return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape, mean.dtype)
