"""What PPO needs on top of the distilled latent policy (``networks/latent_policy.py``).

**The distribution PPO optimises** (``FinetuneConfig.explore``, ``train.EXPLORE``) is by default
the decoder's action noise: ``a ~ N(decode(h, z), sigma_a^2)`` with the latent ``z = mu_p +
sigma_p * eps`` from the prior and the episode's fixed noise ``eps`` (given in the observation,
so ``z`` is a deterministic function of the observation). The log-probability is the Gaussian's
over the action; the gradient reaches the decoder and, through ``z``, the prior. ``sigma_a``
(``log_std``, ``[A]``) is a learned parameter of Stage 3. With ``explore = "latent"`` it is the
prior's own Gaussian ``u ~ N(mu_p, sigma_p^2)``, sampled every step, and the action is
``decode(h, project(u))`` (no action noise).

The **value head** is a separate MLP over the same normalised inputs the prior sees (history,
masked goals and the mask, flattened); it is new in Stage 3 (distillation has no value).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from interprior_jax.networks import latent_policy as lp
from interprior_jax.networks import mlp


def critic_input(history: jax.Array, goals: jax.Array, mask: jax.Array) -> jax.Array:
  """``[..., k * D_s + 2 * G * D_g]`` from normalised history ``[..., k, D_s]``, goals and mask
  ``[..., G, D_g]`` (goals masked, as the prior sees them)."""
  flat = lambda x: x.reshape(x.shape[:-2] + (-1,))  # noqa: E731
  return jnp.concatenate([flat(history), flat(goals * mask), flat(mask)], axis=-1)


def make_critic(hidden: tuple[int, ...], activation: str) -> mlp.ValueNet:
  return mlp.ValueNet(tuple(hidden), activation)


def policy_outputs(model: lp.LatentPolicy, student_params, history, goals, mask, eps,
                   task=None):
  """``(action_mean [..., A], mu_p [..., Z], log_std_p [..., Z])`` of the deployed path
  (``task [...]``: the observation's skill, ``goal_env.TASKS``)."""
  mu_p, log_std_p = model.apply(student_params, history, goals, mask, task, method=model.prior)
  z = lp.sample_latent(mu_p, log_std_p, eps, model.cfg.project_latent)
  return model.apply(student_params, history, z, method=model.decode), mu_p, log_std_p
