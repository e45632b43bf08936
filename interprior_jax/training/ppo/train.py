"""PPO (brax agents/ppo layout, PureJaxRL-style loop): config, train state, jitted ``train_step``.

``train_step(state, key) -> (state, metrics)`` = one iteration: ``unroll_length`` batched env
steps (``rollout.rollout``), GAE, ``num_epochs`` passes of shuffled minibatch Adam steps over the
clipped surrogate + value + action-bound (+ optional entropy) losses, then the running observation
statistics are updated with the rollout's observations.

Normalization detail: observations are normalized (and clipped to ``+-obs_clip``) with the
statistics *frozen at the start of the iteration* both while acting and in the losses, so the
PPO ratio starts at exactly 1; the stats are merged with the new observations after the update.

NaN guard (in-jit): a minibatch step whose loss or gradients are non-finite is skipped (params and
optimizer state unchanged) and counted in ``metrics['nonfinite_updates']``; a non-finite rollout
leaves the normalizer unchanged. ``metrics['state_finite']`` reports whether params / optimizer /
normalizer are all finite; the host loop (``loop.py``) restores the last good checkpoint then.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from interprior_jax import config as config_lib
from interprior_jax.networks import mlp
from interprior_jax.training import core
from interprior_jax.training import gae as gae_lib
from interprior_jax.training import normalization
from interprior_jax.training.ppo import losses as ppo_losses
from interprior_jax.training import rollout as rollout_lib
from interprior_jax.training import sharding


@dataclasses.dataclass(frozen=True)
class NetworkConfig:
  actor_hidden: tuple[int, ...] = (1024, 1024, 512)
  critic_hidden: tuple[int, ...] = (1024, 1024, 512)
  activation: str = "elu"
  init_log_std: float = -2.9
  learn_log_std: bool = False
  state_dependent_std: bool = False  # log-std from a second actor head (networks/mlp.py)


LR_SCHEDULES = ("constant", "adaptive")


@dataclasses.dataclass(frozen=True)
class KLRateRule:
  """The learning-rate rule of the PPO trainers, defined once: Stage 1's :class:`PPOConfig` and
  Stage 3's ``finetune.train.FinetuneConfig`` inherit these fields (the latter with its own
  defaults) and :func:`adapt_learning_rate` applies them.

  ``lr_schedule`` "constant", or "adaptive": after every minibatch step the learning rate is
  divided by ``lr_factor`` when that minibatch's approx_kl > 2 * desired_kl and multiplied by it
  when approx_kl < desired_kl / 2, within [lr_min, lr_max] (the rl_games rule InterMimic trains
  with). The current rate lives in the optimizer state (checkpointed) and is logged as
  learning_rate.
  """
  lr_schedule: str = "constant"
  desired_kl: float = 0.008
  lr_factor: float = 1.5
  lr_min: float = 1e-6
  lr_max: float = 1e-2

  def validate_rate_rule(self, section: str) -> None:
    """ValueError naming ``config.<section>.lr_schedule`` when it is not a known schedule."""
    if self.lr_schedule not in LR_SCHEDULES:
      raise ValueError(f"config.{section}.lr_schedule: {self.lr_schedule!r} is not one of "
                       f"{LR_SCHEDULES}")


@dataclasses.dataclass(frozen=True)
class PPOConfig(KLRateRule):
  """Defaults from method.md (InterMimic expert PPO); the learning-rate rule's fields come from
  :class:`KLRateRule`."""
  num_envs: int = 4096
  unroll_length: int = 32
  minibatch_size: int = 16384
  num_epochs: int = 6
  learning_rate: float = 2e-5
  max_grad_norm: float = 1.0
  gamma: float = 0.99
  gae_lambda: float = 0.95
  clip_eps: float = 0.2
  value_clip_eps: float = 0.0          # 0: unclipped value loss
  value_coef: float = 1.0
  entropy_coef: float = 0.0
  bound_coef: float = 10.0
  action_bound: float = 1.0
  normalize_advantages: bool = True
  normalize_obs: bool = True
  obs_clip: float = 5.0
  reward_scale: float = 1.0
  network: NetworkConfig = NetworkConfig()

  @property
  def batch_size(self) -> int:
    return self.num_envs * self.unroll_length

  @property
  def num_minibatches(self) -> int:
    return self.batch_size // self.minibatch_size

  def validate(self) -> "PPOConfig":
    self.validate_rate_rule("ppo")
    if self.batch_size % self.minibatch_size:
      raise ValueError(f"config.ppo: num_envs * unroll_length = {self.batch_size} is not a "
                       f"multiple of minibatch_size = {self.minibatch_size}")
    return self

  @classmethod
  def from_config(cls, c: ml_collections.ConfigDict) -> "PPOConfig":
    """``config.ppo`` section (with a ``network`` subsection) -> PPOConfig (ValueError names a
    misspelt field)."""
    return config_lib.dataclass_from_config(cls, c, "config.ppo").validate()


def ppo_config_dict(**overrides) -> ml_collections.ConfigDict:
  """The ``ppo`` config section with method.md defaults (override any field)."""
  return config_lib.dataclass_config(PPOConfig, **overrides)


# The train state and its helpers live in the trainer core (shared by every stage).
TrainState = core.TrainState
fresh_train_state = core.fresh_train_state
train_state_shardings = core.train_state_shardings


def make_networks(action_size: int, net: NetworkConfig) -> tuple[nn.Module, nn.Module]:
  actor = mlp.GaussianPolicy(action_size, tuple(net.actor_hidden), net.activation,
                             net.init_log_std, net.learn_log_std,
                             net.state_dependent_std)
  critic = mlp.ValueNet(tuple(net.critic_hidden), net.activation)
  return actor, critic


def make_optimizer(cfg: PPOConfig) -> optax.GradientTransformation:
  """Global-norm clipping then Adam whose learning rate is an injected hyperparameter (so the
  adaptive schedule can change it inside the jitted step; see :func:`learning_rate`)."""
  return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                     optax.inject_hyperparams(optax.adam)(learning_rate=cfg.learning_rate))


def learning_rate(opt_state) -> jax.Array:
  """The current Adam learning rate held in a :func:`make_optimizer` state."""
  return opt_state[1].hyperparams["learning_rate"]


def with_learning_rate(opt_state, lr: jax.Array):
  """``opt_state`` with its Adam learning rate replaced by ``lr`` (pure)."""
  adam = opt_state[1]
  hp = dict(adam.hyperparams, learning_rate=jnp.asarray(lr, adam.hyperparams["learning_rate"].dtype))
  return (opt_state[0], adam._replace(hyperparams=hp)) + tuple(opt_state[2:])


def adapt_learning_rate(lr: jax.Array, approx_kl: jax.Array, cfg: KLRateRule) -> jax.Array:
  """One step of the KL-adaptive rule (``cfg.lr_schedule == 'adaptive'``; identity otherwise)."""
  if cfg.lr_schedule != "adaptive":
    return lr
  lr = jnp.where(approx_kl > 2.0 * cfg.desired_kl, lr / cfg.lr_factor, lr)
  lr = jnp.where(approx_kl < 0.5 * cfg.desired_kl, lr * cfg.lr_factor, lr)
  return jnp.clip(lr, cfg.lr_min, cfg.lr_max)


class PPO:
  """PPO over a :class:`VecEnv`; ``mesh`` (optional) shards env copies and batches."""

  def __init__(self, env: rollout_lib.VecEnv, cfg: PPOConfig, mesh: Mesh | None = None):
    self.env = env
    self.cfg = cfg.validate()
    if env.num_envs != cfg.num_envs:
      raise ValueError(f"PPO: env has {env.num_envs} copies, config.ppo.num_envs={cfg.num_envs}")
    self.mesh = mesh if mesh is not None else sharding.make_mesh(1)
    sharding.check_divisible(cfg.num_envs, self.mesh)
    if cfg.minibatch_size % self.mesh.devices.size:
      raise ValueError(f"minibatch_size={cfg.minibatch_size} not divisible by "
                       f"{self.mesh.devices.size} devices")
    self.actor, self.critic = make_networks(env.action_size, cfg.network)
    self.optimizer = make_optimizer(cfg)

  @property
  def env_steps_per_iteration(self) -> int:
    return self.cfg.batch_size

  # ----------------------------------------------------------------------------------- init
  def init(self, key: jax.Array, extra: Any = None) -> TrainState:
    """Fresh state: env copies reset (sharded), networks and optimizer initialized (replicated)."""
    k_env, k_actor, k_critic, k_run = jax.random.split(key, 4)
    env_shape = jax.eval_shape(self.env.reset, k_env)
    env_sh = sharding.batch_shardings(env_shape, self.mesh)
    env_state = jax.jit(self.env.reset, out_shardings=env_sh)(k_env)
    obs_example = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype),
                               env_shape.obs)

    def init_rest(ka, kc):
      dummy = jax.tree.map(lambda s: jnp.zeros((1,) + s.shape, s.dtype), obs_example)
      params = {"actor": self.actor.init(ka, dummy), "critic": self.critic.init(kc, dummy)}
      return params, self.optimizer.init(params), normalization.init(obs_example)

    params, opt_state, norm = jax.jit(init_rest, out_shardings=sharding.replicated(self.mesh))(
        k_actor, k_critic)
    return fresh_train_state(params, opt_state, norm, env_state, k_run, extra, self.mesh)

  def state_shardings(self, state: TrainState) -> TrainState:
    """Shardings of a TrainState: env_state along envs, the rest replicated."""
    return train_state_shardings(state, self.mesh)

  # ------------------------------------------------------------------------------ policy
  def normalize(self, normalizer: normalization.RunningStats, obs):
    if not self.cfg.normalize_obs:
      return obs
    return normalization.normalize(normalizer, obs, self.cfg.obs_clip)

  def act(self, params, normalizer, obs, key: jax.Array | None = None) -> jax.Array:
    """Env action ``[N, A]`` in ``[-bound, bound]``: the mean when ``key`` is None, else a sample."""
    mean, log_std = self.actor.apply(params["actor"], self.normalize(normalizer, obs))
    u = mean if key is None else mlp.gaussian_sample(key, mean, log_std)
    return jnp.clip(u, -self.cfg.action_bound, self.cfg.action_bound)

  # ---------------------------------------------------------------------------- losses
  def loss(self, params, normalizer, mb: dict) -> tuple[jax.Array, dict]:
    """Total PPO loss on a minibatch dict (leaves ``[B, ...]``: obs, raw_action, log_prob,
    value, advantage, return)."""
    c = self.cfg
    obs = self.normalize(normalizer, mb["obs"])
    mean, log_std = self.actor.apply(params["actor"], obs)
    values = self.critic.apply(params["critic"], obs)
    log_prob = mlp.gaussian_log_prob(mean, log_std, mb["raw_action"])
    adv = mb["advantage"]
    if c.normalize_advantages:
      adv = ppo_losses.normalize_advantages(adv)
    pg, aux = ppo_losses.clipped_surrogate_loss(log_prob, mb["log_prob"], adv, c.clip_eps)
    vl = ppo_losses.value_loss(values, mb["value"], mb["return"],
                               c.value_clip_eps if c.value_clip_eps > 0 else None)
    bl = ppo_losses.action_bound_loss(mean, c.action_bound)
    ent = mlp.gaussian_entropy(log_std)
    total = pg + c.value_coef * vl + c.bound_coef * bl + c.entropy_coef * ppo_losses.entropy_bonus(ent)
    return total, {"loss": total, "policy_loss": pg, "value_loss": vl, "bound_loss": bl,
                   "entropy": jnp.mean(ent), **aux}

  # ------------------------------------------------------------------------ train step
  def train_step(self, state: TrainState, key: jax.Array) -> tuple[TrainState, dict]:
    """One PPO iteration (pure; jit it with :meth:`jit_train_step`)."""
    c = self.cfg
    mesh = self.mesh
    k_roll, k_perm = jax.random.split(key)
    params, norm = state.params, state.normalizer

    def policy_fn(obs, k):
      o = self.normalize(norm, obs)
      mean, log_std = self.actor.apply(params["actor"], o)
      u = mlp.gaussian_sample(k, mean, log_std)
      return jnp.clip(u, -c.action_bound, c.action_bound), {
          "raw_action": u, "log_prob": mlp.gaussian_log_prob(mean, log_std, u),
          "value": self.critic.apply(params["critic"], o)}

    def bootstrap_fn(final_obs):
      return {"next_value": self.critic.apply(params["critic"], self.normalize(norm, final_obs))}

    env_state, tr = rollout_lib.rollout(self.env, state.env_state, policy_fn, k_roll,
                                        c.unroll_length, bootstrap_fn)
    tr = sharding.constrain_batch(tr, mesh, axis=1)
    adv, ret = gae_lib.compute_gae(tr.reward * c.reward_scale, tr.extras["value"],
                                   tr.next_extras["next_value"], tr.termination, tr.done,
                                   c.gamma, c.gae_lambda)
    data = {"obs": tr.obs, "raw_action": tr.extras["raw_action"],
            "log_prob": tr.extras["log_prob"], "value": tr.extras["value"],
            "advantage": adv, "return": ret}

    def step_hook(o, ok, i, m):
      # approx_kl of this minibatch measures the updates made so far in this iteration; the
      # first minibatch has seen none (kl = 0), so it does not move the rate.
      lr = learning_rate(o)
      return with_learning_rate(o, jnp.where(ok & (i > 0),
                                             adapt_learning_rate(lr, m["approx_kl"], c), lr))

    params, opt_state, bad, m = core.update(
        lambda p, mb: self.loss(p, norm, mb), self.optimizer, params, state.opt_state, data,
        k_perm, num_epochs=c.num_epochs,
        minibatcher=core.shuffled_minibatches(c.num_minibatches, mesh), step_hook=step_hook)
    new_norm = core.merge_normalizer(norm, tr.obs, c.normalize_obs)
    return core.finish(state, params, opt_state, new_norm, env_state, tr, m, bad,
                       learning_rate=learning_rate(opt_state),
                       advantage_mean=jnp.mean(adv), return_mean=jnp.mean(ret),
                       value_mean=jnp.mean(tr.extras["value"]))

  def jit_train_step(self, state: TrainState):
    """``jax.jit(train_step)`` with the state's shardings pinned (input donated)."""
    return sharding.jit_train_step(self.train_step, self.state_shardings(state), self.mesh)

  def export(self, state: TrainState, directory, config) -> None:
    """Writes the inference bundle (actor params + normalizer + config) to ``directory``."""
    from interprior_jax.training import checkpoint as ckpt_lib
    ckpt_lib.export_bundle(directory, state.params["actor"], state.normalizer, config,
                           action_size=self.env.action_size, trained_iterations=int(state.step))


def bundle_apply(bundle, deterministic: bool = True):
  """``(params, apply(params, obs[N, ...], key=None) -> action[N, A])`` of an inference bundle
  (``checkpoint.py``): ``params = (actor params, normaliser)`` is an argument, so a jitted step can
  take a frozen network as an input rather than a constant."""
  cfg = PPOConfig.from_config(ml_collections.ConfigDict(bundle.config["ppo"]))
  actor, _ = make_networks(int(bundle.config["action_size"]), cfg.network)

  def apply(params, obs, key=None):
    actor_params, norm = params
    o = normalization.normalize(norm, obs, cfg.obs_clip) if cfg.normalize_obs else obs
    mean, log_std = actor.apply(actor_params, o)
    u = mean if (deterministic or key is None) else mlp.gaussian_sample(key, mean, log_std)
    return jnp.clip(u, -cfg.action_bound, cfg.action_bound)
  return (bundle.actor_params, bundle.normalizer), apply


def bundle_policy(bundle, deterministic: bool = True):
  """``act(obs[N, ...], key=None) -> action[N, A]`` from an inference bundle (``checkpoint.py``)."""
  params, apply = bundle_apply(bundle, deterministic)
  return lambda obs, key=None: apply(params, obs, key)
