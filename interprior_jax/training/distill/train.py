"""Stage 2: DAgger distillation of the expert into the masked latent policy (method.md).

``train_step(state, key) -> (state, metrics)`` (jitted by :meth:`Distiller.jit_train_step`) =

1. **rollout** of ``unroll_length`` batched steps of the :class:`~goal_env.GoalEnv`; in every
   step each env executes the expert's action with probability ``beta(step)`` (linear decay to
   0, :func:`distill_losses.dagger_beta`) and the student's (prior path, ``z = mu_p + sigma_p
   eps``, eps fixed per episode) otherwise; the label is always the expert's **mean** action on
   the state actually visited (the expert = an exported Stage-1 inference bundle, frozen);
2. ``num_epochs`` passes of Adam over minibatches of *envs* (each minibatch keeps the time axis,
   so ``L_tc`` sees consecutive priors) of ``w_action L_act + w_rec L_rec + w_kl(step) KL +
   w_scale L_scale + w_tc L_tc`` (+ ``w_action_prior L_act(prior path)``, 0 in method.md;
   every term and weight logged);
3. the running input statistics are merged with the rollout (frozen during the iteration, as in
   Stage 1).

Inputs are normalised by one :class:`RunningStats` over ``{"state": (D_s,), "goals": (G, D_g),
"reference": (R,)}`` (state stats apply to every history entry) and clipped to ``+-obs_clip``
when ``bound_obs`` (the "bounded observations" switch). The train state is
:class:`~interprior_jax.training.core.TrainState` (``params = {"student": ...}``), so the Stage-1
loop, checkpoints, NaN guard, sharding and bundle export are reused unchanged.

Table 1 ablation rows (``config.distill.ablation``, :data:`ABLATIONS`): ``plain`` (no latent
shaping, unbounded latent and observations), ``shaping`` (+ L_scale, L_tc), ``bounded`` (+ unit-
sphere latent and clipped observations; the default).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import Mesh

from interprior_jax import config as config_lib
from interprior_jax.networks import latent_policy as lp
from interprior_jax.training import core
from interprior_jax.envs import goal_env
from interprior_jax.envs import init_states
from interprior_jax.motion import sources
from interprior_jax.training.distill import losses as L
from interprior_jax.training import normalization
from interprior_jax.training import rollout as rollout_lib
from interprior_jax.training.ppo import train as ppo_lib
from interprior_jax.training import sharding
from interprior_jax.training.core import TrainState

# Table 1 rows -> the switches they set (applied over the config's own values).
ABLATIONS: dict[str, dict[str, Any]] = {
    "plain": {"w_scale": 0.0, "w_tc": 0.0, "project_latent": False, "bound_obs": False},
    "shaping": {"project_latent": False, "bound_obs": False},
    "bounded": {},
}


@dataclasses.dataclass(frozen=True)
class DistillConfig:
  num_envs: int = 4096
  unroll_length: int = 32
  num_epochs: int = 4
  num_minibatches: int = 8          # over envs (each keeps the full time axis)
  learning_rate: float = 1e-4
  max_grad_norm: float = 1.0
  action_bound: float = 1.0
  beta_start: float = 1.0           # expert share of executed actions at iteration 0
  beta_decay_iterations: int = 2000  # linear decay to 0
  w_action: float = 1.0
  # Imitation through the deployed path (prior sample -> decoder), not in method.md (0 there): the
  # paper trains the prior only through the KL; a weight > 0 also regresses the prior path's action
  # onto the expert's (docs/results.md, Stage 2 on the CPU: the prior path lagged the posterior).
  w_action_prior: float = 0.0
  w_rec: float = 0.1
  kl_start: float = 1e-4            # annealed KL weight (log-linear)
  kl_end: float = 1e-2
  kl_anneal_iterations: int = 5000
  w_scale: float = 0.01
  w_tc: float = 0.01
  project_latent: bool = True       # bounded latent
  normalize_obs: bool = True        # running mean / std normalisation of the inputs
  bound_obs: bool = True            # clip normalised inputs
  obs_clip: float = 5.0
  ablation: str = "bounded"
  network: lp.LatentPolicyConfig = lp.LatentPolicyConfig()

  def resolved(self) -> "DistillConfig":
    """Applies :data:`ABLATIONS` [ablation] and pushes ``project_latent`` into the network."""
    if self.ablation not in ABLATIONS:
      raise ValueError(f"config.distill.ablation={self.ablation!r}; valid {sorted(ABLATIONS)}")
    c = dataclasses.replace(self, **ABLATIONS[self.ablation])
    if c.num_envs % c.num_minibatches:
      raise ValueError(f"config.distill: num_envs={c.num_envs} not divisible by "
                       f"num_minibatches={c.num_minibatches}")
    return dataclasses.replace(c, network=dataclasses.replace(
        c.network, project_latent=c.project_latent))

  @classmethod
  def from_config(cls, c: ml_collections.ConfigDict) -> "DistillConfig":
    return config_lib.dataclass_from_config(cls, c, "config.distill").resolved()


def goal_config_from(c: ml_collections.ConfigDict, latent_size: int) -> goal_env.GoalConfig:
  return config_lib.dataclass_from_config(goal_env.GoalConfig, c, "config.goals",
                                         latent_size=latent_size).validate()


def input_stats_example(obs: goal_env.StudentObs) -> dict:
  """The normalizer's pytree for one (unbatched) observation (arrays or ShapeDtypeStructs)."""
  h = obs.history
  state = (jax.ShapeDtypeStruct(h.shape[1:], h.dtype) if isinstance(h, jax.ShapeDtypeStruct)
           else h[-1])
  return {"state": state, "goals": obs.goals, "reference": obs.reference}


def normalize_inputs(norm: normalization.RunningStats, obs: goal_env.StudentObs,
                     normalize: bool, clip: float | None):
  """``(history [..., k, D_s], goals [..., G, D_g], reference [..., R])`` normalised (and clipped
  when ``clip``); ``normalize=False`` only clips."""
  if not normalize:
    f = (lambda x: x) if clip is None else (lambda x: jnp.clip(x, -clip, clip))  # noqa: E731
    return f(obs.history), f(obs.goals), f(obs.reference)
  m, s = norm.mean, norm.std

  def n(x, mean, std):
    y = (x - mean) / std
    return y if clip is None else jnp.clip(y, -clip, clip)
  return (n(obs.history, m["state"], s["state"]), n(obs.goals, m["goals"], s["goals"]),
          n(obs.reference, m["reference"], s["reference"]))


class Distiller:
  """DAgger distillation over a :class:`VecEnv` of :class:`GoalEnv` copies.

  ``expert``: the frozen expert as ``(params, apply(params, reference [N, R]) -> mean action
  [N, A])`` (:func:`ppo.bundle_apply`; its params are an argument of the jitted step, not a
  constant baked into it), or a plain ``act(reference)`` callable (closed over: tests);
  ``expert_adapter(action [N, A], action_context [N, A]) -> env action [N, A]`` turns it into the
  env's action parameterisation (:func:`expert_adapter`; default: the same parameterisation).
  """

  def __init__(self, env: rollout_lib.VecEnv, cfg: DistillConfig, expert,
               mesh: Mesh | None = None,
               expert_adapter: Callable[[jax.Array, jax.Array], jax.Array] | None = None):
    self.env = env
    self.cfg = cfg
    if callable(expert):
      self.expert_params, self._expert_apply = None, lambda params, obs: expert(obs)
    else:
      self.expert_params, self._expert_apply = expert
    self.expert_adapter = expert_adapter or (lambda a, ctx: a)
    self.normalize_obs = cfg.normalize_obs
    if env.num_envs != cfg.num_envs:
      raise ValueError(f"Distiller: env has {env.num_envs} copies, config.distill.num_envs="
                       f"{cfg.num_envs}")
    self.mesh = mesh if mesh is not None else sharding.make_mesh(1)
    sharding.check_divisible(cfg.num_envs, self.mesh)
    genv: goal_env.GoalEnv = env.env
    self.goal_cfg = genv.cfg
    if genv.cfg.latent_size != cfg.network.latent_size:
      raise ValueError(f"goal latent_size {genv.cfg.latent_size} != network latent_size "
                       f"{cfg.network.latent_size}")
    self.model = lp.make_latent_policy(env.action_size, genv.cfg.history, genv.cfg.num_goals,
                                       genv.source.goal_size, cfg.network)
    self.optimizer = optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                                 optax.adam(cfg.learning_rate))

  @property
  def env_steps_per_iteration(self) -> int:
    return self.cfg.num_envs * self.cfg.unroll_length

  # ----------------------------------------------------------------------------------- init
  def init(self, key: jax.Array, extra: Any = None) -> TrainState:
    k_env, k_net, k_run = jax.random.split(key, 3)
    env_shape = jax.eval_shape(self.env.reset, k_env)
    env_state = jax.jit(self.env.reset, out_shardings=sharding.batch_shardings(
        env_shape, self.mesh))(k_env)
    one = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:], x.dtype), env_shape.obs)

    def init_rest(k):
      dummy = jax.tree.map(lambda s: jnp.zeros((1,) + s.shape, s.dtype), one)
      params = {"student": self.model.init(k, dummy.history, dummy.goals, dummy.mask,
                                           dummy.reference, dummy.eps)}
      return params, self.optimizer.init(params), normalization.init(input_stats_example(one))

    params, opt_state, norm = jax.jit(init_rest, out_shardings=sharding.replicated(self.mesh))(
        k_net)
    return core.fresh_train_state(params, opt_state, norm, env_state, k_run, extra, self.mesh)

  def state_shardings(self, state: TrainState) -> TrainState:
    return core.train_state_shardings(state, self.mesh)

  # ------------------------------------------------------------------------------ policy
  def inputs(self, norm, obs):
    clip = self.cfg.obs_clip if self.cfg.bound_obs else None
    return normalize_inputs(norm, obs, self.normalize_obs, clip)

  def student_act(self, params, norm, obs: goal_env.StudentObs) -> jax.Array:
    """Deployed student (prior path, no encoder): env action ``[N, A]``."""
    h, g, _ = self.inputs(norm, obs)
    a = self.model.apply(params["student"], h, g, obs.mask, obs.eps, method=self.model.act)
    return jnp.clip(a, -self.cfg.action_bound, self.cfg.action_bound)

  def expert_act(self, obs_reference: jax.Array, expert_params=None) -> jax.Array:
    """The frozen expert's mean action on the reference observation ``[N, R]``."""
    p = self.expert_params if expert_params is None else expert_params
    return self._expert_apply(p, obs_reference)

  def collect(self, state: TrainState, key: jax.Array, beta: jax.Array, expert_params=None):
    """DAgger rollout: ``(env_state, Transition)``; extras hold ``expert_action`` (label),
    ``student_action`` and ``used_expert`` ``[T, N]``."""
    params, norm = state.params, state.normalizer

    def policy_fn(obs, k):
      a_exp = self.expert_adapter(self.expert_act(obs.reference, expert_params),
                                  obs.action_context)
      a_stu = self.student_act(params, norm, obs)
      use = jax.random.bernoulli(k, beta, (a_exp.shape[0],))
      action = jnp.where(use[:, None], a_exp, a_stu)
      return action, {"expert_action": a_exp, "student_action": a_stu,
                      "used_expert": use.astype(jnp.float32)}

    return rollout_lib.rollout(self.env, state.env_state, policy_fn, key, self.cfg.unroll_length)

  # ---------------------------------------------------------------------------- losses
  def loss(self, params, norm, mb: dict, kl_w: jax.Array) -> tuple[jax.Array, dict]:
    """Total loss on a time-major minibatch (``obs`` StudentObs ``[T, n, ...]``,
    ``expert_action [T, n, A]``, ``done [T, n]``)."""
    c = self.cfg
    obs = mb["obs"]
    h, g, ref = self.inputs(norm, obs)
    out = self.model.apply(params["student"], h, g, obs.mask, ref, obs.eps)
    l_act = L.imitation_loss(out["action"], mb["expert_action"])
    l_rec = L.masked_reconstruction_loss(out["goal_recon"], jax.lax.stop_gradient(g), obs.mask)
    l_kl = L.kl_loss(out["mu_q"], out["log_std_q"], out["mu_p"], out["log_std_p"])
    l_scale = L.scale_loss(out["mu_p"])
    l_tc = L.temporal_consistency_loss(out["mu_p"], out["log_std_p"], 1.0 - mb["done"][:-1])
    # The deployed prior path's action error on the same batch: optimised with w_action_prior
    # (> 0), otherwise a diagnostic only.
    z_p = lp.sample_latent(out["mu_p"], out["log_std_p"], obs.eps, c.network.project_latent)
    a_p = self.model.apply(params["student"], h, z_p, method=self.model.decode)
    l_act_prior = L.imitation_loss(a_p, mb["expert_action"])
    if not c.w_action_prior:
      l_act_prior = jax.lax.stop_gradient(l_act_prior)
    total = (c.w_action * l_act + c.w_action_prior * l_act_prior + c.w_rec * l_rec
             + kl_w * l_kl + c.w_scale * l_scale + c.w_tc * l_tc)
    return total, {"loss": total, "loss_action": l_act,
                   "loss_action_prior": l_act_prior, "loss_rec": l_rec, "loss_kl": l_kl,
                   "loss_scale": l_scale, "loss_tc": l_tc,
                   "prior_mean_norm": jnp.mean(jnp.linalg.norm(out["mu_p"], axis=-1)),
                   "prior_std": jnp.mean(jnp.exp(out["log_std_p"])),
                   "posterior_std": jnp.mean(jnp.exp(out["log_std_q"]))}

  # ------------------------------------------------------------------------ train step
  def train_step(self, state: TrainState, key: jax.Array, expert_params=None
                 ) -> tuple[TrainState, dict]:
    c = self.cfg
    mesh = self.mesh
    k_roll, k_perm = jax.random.split(key)
    beta = L.dagger_beta(state.step, c.beta_start, c.beta_decay_iterations)
    kl_w = L.kl_weight(state.step, c.kl_start, c.kl_end, c.kl_anneal_iterations)
    env_state, tr = self.collect(state, k_roll, beta, expert_params)
    tr = sharding.constrain_batch(tr, mesh, axis=1)
    norm = state.normalizer
    data = {"obs": tr.obs, "expert_action": tr.extras["expert_action"], "done": tr.done}
    params, opt_state, bad, m = core.update(
        lambda p, mb: self.loss(p, norm, mb, kl_w), self.optimizer, state.params,
        state.opt_state, data, k_perm, num_epochs=c.num_epochs,
        minibatcher=core.env_minibatches(c.num_minibatches, mesh))
    stats_batch = {"state": tr.obs.history[..., -1, :], "goals": tr.obs.goals,
                   "reference": tr.obs.reference}
    new_norm = core.merge_normalizer(norm, stats_batch, self.normalize_obs)
    return core.finish(
        state, params, opt_state, new_norm, env_state, tr, m, bad,
        beta=beta, w_kl=kl_w, w_rec=jnp.asarray(c.w_rec), w_scale=jnp.asarray(c.w_scale),
        w_tc=jnp.asarray(c.w_tc), w_action_prior=jnp.asarray(c.w_action_prior),
        expert_share=jnp.mean(tr.extras["used_expert"]),
        rollout_action_error=jnp.mean(
            (tr.extras["student_action"] - tr.extras["expert_action"]) ** 2))

  def jit_train_step(self, state: TrainState):
    """``(state, key) -> (state, metrics)``: ``jax.jit(train_step)`` with the state's shardings
    pinned (input donated) and the frozen expert's params passed as an argument."""
    if self.expert_params is None:
      return sharding.jit_train_step(self.train_step, self.state_shardings(state), self.mesh)
    rep = sharding.replicated(self.mesh)
    sh = self.state_shardings(state)
    f = jax.jit(self.train_step, in_shardings=(sh, rep, rep), out_shardings=(sh, rep),
                donate_argnums=0)
    expert_params = sharding.replicate(self.expert_params, self.mesh)
    return lambda s, k: f(s, k, expert_params)

  def export(self, state: TrainState, directory, config) -> None:
    """Inference bundle: the deployed student params (prior + decoder: the encoder and the goal
    reconstruction head are training-only, :data:`TRAINING_ONLY_MODULES`) + input normalizer +
    config + sizes."""
    from interprior_jax.training import checkpoint as ckpt_lib
    genv = self.env.env
    ckpt_lib.export_bundle(directory, deployed_params(state.params["student"]), state.normalizer,
                           config,
                           action_size=self.env.action_size, state_size=genv.source.state_size,
                           goal_size=genv.source.goal_size, trained_iterations=int(state.step))


# ------------------------------------------------------------------------------ inference
#: Submodules of the latent policy used only in training (the posterior encoder sees the
#: reference; the reconstruction head is an auxiliary loss): left out of inference bundles.
TRAINING_ONLY_MODULES = ("encoder", "recon_head")


def deployed_params(student_params: dict) -> dict:
  """The student's flax variables without :data:`TRAINING_ONLY_MODULES` (what ``act`` uses)."""
  return {**student_params, "params": {k: v for k, v in student_params["params"].items()
                                       if k not in TRAINING_ONLY_MODULES}}


def student_from_bundle(bundle) -> tuple[lp.LatentPolicy, DistillConfig]:
  cfg = DistillConfig.from_config(ml_collections.ConfigDict(bundle.config["distill"]))
  gcfg = goal_config_from(ml_collections.ConfigDict(bundle.config["goals"]),
                          cfg.network.latent_size)
  model = lp.make_latent_policy(int(bundle.config["action_size"]), gcfg.history,
                                gcfg.num_goals, int(bundle.config["goal_size"]), cfg.network)
  return model, cfg


def inference_policy(bundle) -> tuple[dict, Callable]:
  """``(params, policy)`` with ``policy(params, obs_history [..., k, D_s], goal [..., G, D_g],
  mask [..., G, D_g], key) -> action [..., A]``: prior + decoder only (no encoder, no expert).
  ``key`` draws the latent noise: hold it fixed over an episode (temporal coherence)."""
  params, act_eps, latent_size = latent_inference_policy(bundle)

  def policy(params, obs_history, goal, mask, key):
    eps = jax.random.normal(key, obs_history.shape[:-2] + (latent_size,))
    return act_eps(params, obs_history, goal, mask, eps)

  return params, policy


def latent_inference_policy(bundle) -> tuple[dict, Callable, int]:
  """``(params, act_eps, Z)``: like :func:`inference_policy` but taking the per-episode noise
  ``eps [..., Z]`` directly (what :class:`GoalEnv` observations carry) and, optionally, the
  skill ``task [...]`` (``goal_env.TASKS``; read by a prior with task tokens only)."""
  model, cfg = student_from_bundle(bundle)
  params = {"student": bundle.actor_params, "normalizer": bundle.normalizer}
  clip = cfg.obs_clip if cfg.bound_obs else None

  def act_eps(params, obs_history, goal, mask, eps, task=None):
    obs = goal_env.StudentObs(reference=jnp.zeros(obs_history.shape[:-2] + (0,)),
                                 history=obs_history, goals=goal, mask=mask, eps=eps,
                                 snap_steps=jnp.zeros(obs_history.shape[:-2], jnp.int32),
                                 action_context=jnp.zeros(obs_history.shape[:-2] + (0,)),
                                 task=jnp.zeros(obs_history.shape[:-2], jnp.int32))
    norm = params["normalizer"]
    if cfg.normalize_obs:  # the reference input is encoder-only: drop its statistics
      norm = norm.replace(mean={**norm.mean, "reference": jnp.zeros((0,))},
                          m2={**norm.m2, "reference": jnp.zeros((0,))})
    h, g, _ = normalize_inputs(norm, obs, cfg.normalize_obs, clip)
    a = model.apply(params["student"], h, g, mask, eps, task, method=model.act)
    return jnp.clip(a, -cfg.action_bound, cfg.action_bound)

  return params, act_eps, cfg.network.latent_size


# ------------------------------------------------------------------------------- assembly
def _augment_hoi(env_cfg: ml_collections.ConfigDict, aug: ml_collections.ConfigDict) -> None:
  """Physical-perturbation augmentation switches -> HOI env config (in place)."""
  env_cfg.perturb.mode = "random" if aug.impulses else "off"
  env_cfg.final_obs = False  # no critic to bootstrap: skip the env's extra pre-reset observation
  env_cfg.randomize.enabled = bool(aug.randomize_object)
  if not aug.perturbed_starts:
    for k in init_states.START_NOISE_KEYS:
      env_cfg.init[k] = 0.0
  else:
    # the steering augmentation: the humanoid starts facing away from its reference; and, set
    # here too rather than inherited from the expert's training starts, displaced from it
    env_cfg.init["root_yaw_noise"] = float(aug.get("heading_noise", 0.0))
    env_cfg.init["root_xy_noise"] = float(aug.get("position_noise", 0.0))


# env_kind -> how the augmentation switches map onto that env's config (toy: nothing to switch).
AUGMENTERS: dict[str, Callable] = {"hoi": _augment_hoi, "toy": lambda env_cfg, aug: None}


def resolve_config(config: ml_collections.ConfigDict, expert_config: dict | None
                   ) -> ml_collections.ConfigDict:
  """A copy of the distill ``config`` with the expert's ``env_kind`` / ``env`` / ``data`` (when
  ``config.inherit_expert_env`` and an expert config is given: the student's reference input must
  be the expert's observation) and the augmentation switches applied."""
  c = ml_collections.ConfigDict(config.to_dict())
  if expert_config is not None and c.inherit_expert_env:
    for k in ("env_kind", "env", "data"):
      if k not in expert_config:
        raise ValueError(f"expert bundle config.json: missing field {k!r}")
      # the expert's clips, whatever this run's seed (motion/sources.py:pinned_data)
      v = sources.pinned_data(expert_config) if k == "data" else expert_config[k]
      c[k] = ml_collections.ConfigDict(v) if isinstance(v, dict) else v
    if c.env_kind == "hoi":
      # The student acts in config.student_action (method.md: absolute PD targets; a residual
      # around the reference would hand the goal-conditioned student the reference it must not
      # see); the expert's actions are relabelled from its own parameterisation.
      c.expert_action = ml_collections.ConfigDict(
          {"mode": str(c.env.get("action_mode", "absolute")),
           "scale": float(c.env.get("action_scale", 0.0))})
      if c.get("student_action") is not None:
        c.env.action_mode = str(c.student_action.mode)
        c.env.action_scale = float(c.student_action.scale)
  if c.env_kind not in AUGMENTERS:
    raise ValueError(f"config.env_kind={c.env_kind!r}: no augmentation mapping; known "
                     f"{sorted(AUGMENTERS)}")
  AUGMENTERS[c.env_kind](c.env, c.augment)
  return c


def build(config: ml_collections.ConfigDict, expert, env=None, clips=None,
          expert_obs_size: int | None = None) -> Distiller:
  """Distiller over ``config`` (already :func:`resolve_config`-ed); ``expert`` as
  :class:`Distiller` takes it; the base env comes from the registry unless given.
  ``expert_obs_size`` (from the bundle) is checked against the env."""
  from interprior_jax.envs import registry

  cfg = DistillConfig.from_config(config.distill)
  gcfg = goal_config_from(config.goals, cfg.network.latent_size)
  entry = registry.entry(config)
  base = env if env is not None else entry.build(config, clips)
  if expert_obs_size is not None and int(expert_obs_size) != int(base.observation_size):
    raise ValueError(f"expert observation size {expert_obs_size} != env observation size "
                     f"{base.observation_size}: distill with the expert's env config")
  source = goal_env.make_goal_source(config.env_kind, base, gcfg)
  genv = goal_env.GoalEnv(base, source, gcfg)
  venv = rollout_lib.VecEnv(genv, cfg.num_envs, int(config.episode_length), entry.self_resetting)
  mesh = sharding.make_mesh(int(config.num_devices) or None)
  return Distiller(venv, cfg, expert, mesh, expert_adapter(config, base))


def expert_adapter(config: ml_collections.ConfigDict, env) -> Callable | None:
  """``(expert action [..., A], action_context [..., A]) -> env action [..., A]`` with the same
  PD targets (:func:`interprior_jax.envs.hoi_env.pd_targets`, then its inverse in the env's
  ``action_mode`` / ``action_scale``), for an HOI expert whose parameterisation
  (``config.expert_action``, set by :func:`resolve_config`) differs from the env's; None when
  they agree (or for other envs)."""
  ea = config.get("expert_action")
  if config.env_kind != "hoi" or ea is None:
    return None
  from interprior_jax.envs import hoi_env
  mode, scale = str(config.env.action_mode), float(config.env.action_scale)
  if (str(ea.mode), float(ea.scale)) == (mode, scale):
    return None
  spec = env.spec

  def adapt(action, context):
    targets = hoi_env.pd_targets(action, context, str(ea.mode), float(ea.scale), spec)
    return hoi_env.action_for_targets(targets, context, mode, scale, spec)

  return adapt


def expert_from_bundle(directory) -> tuple[Any, Callable, int]:
  """``(bundle, act(obs) -> mean action, observation size)`` of an exported expert; accepts the
  expert's workdir or its ``policy/`` folder."""
  from interprior_jax.training import checkpoint as ckpt_lib

  bundle = ckpt_lib.load_bundle(directory)
  obs_size = int(jax.tree.leaves(bundle.normalizer.mean)[0].shape[-1])
  return bundle, ppo_lib.bundle_policy(bundle, deterministic=True), obs_size


def train(config: ml_collections.ConfigDict, workdir, expert_dir, algo: Distiller | None = None,
          **loop_kwargs):
  """Distils (or resumes) in ``workdir``; exports the student bundle to ``workdir/policy``."""
  import pathlib

  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training import expert as expert_lib
  from interprior_jax.training import loop as loop_lib

  bundle, _, obs_size = expert_from_bundle(expert_dir)
  config = resolve_config(config, bundle.config)
  algo = algo or build(config, ppo_lib.bundle_apply(bundle), expert_obs_size=obs_size)
  workdir = pathlib.Path(workdir)

  def export(state, wd):
    algo.export(state, wd / ckpt_lib.BUNDLE_DIR, config)

  return loop_lib.run(algo, config, workdir, expert_lib.loop_config(config),
                      seed=int(config.seed), export_fn=export, **loop_kwargs)
