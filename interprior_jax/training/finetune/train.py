"""Stage 3 trainer: PPO on in-betweening goals with prior preservation (method.md "RL finetuning").

``train_step(state, key, frozen) -> (state, metrics)``, composed of the trainer core's pieces
(``training/core.py``):

1. **rollout** of ``unroll_length`` steps of the :class:`~interprior_jax.envs.inbetween_env.
   InbetweenEnv` (goal reward); every env samples ``a ~ N(decode(h, z_prior), sigma_a^2)``
   (``networks.py``: the distribution PPO optimises); the frozen expert labels every step;
2. **labels**: GAE on the goal reward (value bootstrap from the critic), expert actions;
3. **update** (:func:`core.update`, env-trajectory minibatches): one loss, one optimiser step for
   both objectives -- the PPO loss on the envs ``[n_distill, N)`` and the Stage-2 imitation loss
   through the deployed path (prior -> decoder vs the expert's action) on the first
   ``n_distill = round(distill_fraction * N)`` envs ("prior preservation"; by default their own
   env group in the student's Stage-2 setting, ``distill_starts``), plus optionally
   ``w_prior_kl * KL(p_theta || p_distilled)`` over all envs. Two Adams (:func:`make_optimizer`):
   the policy's (optionally KL-adaptive, ``lr_schedule``) and the new critic's (its own rate;
   alone for the first ``value_warmup_iterations``);
4. the input normaliser stays the distilled student's (frozen: the prior's inputs keep their
   meaning);
5. :func:`core.finish`.

``frozen`` = ``{"expert": (params, normaliser), "prior": distilled student params}`` are passed
to the jitted step as arguments (not closed over). Switches for the ablation:
``distill_fraction = 0`` (no preservation), ``w_prior_kl = 0`` (no KL).

The student's imitation loss here uses the prior path (the deployed policy), not Stage 2's
posterior: the student bundle a finetune starts from holds only the prior and the decoder
(``distill.TRAINING_ONLY_MODULES``).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from interprior_jax import config as config_lib
from interprior_jax.envs import goal_env
from interprior_jax.envs import inbetween_env
from interprior_jax.networks import latent_policy as lp
from interprior_jax.networks import mlp
from interprior_jax.motion import sources
from interprior_jax.training import core
from interprior_jax.training.distill import train as distill
from interprior_jax.training import gae as gae_lib
from interprior_jax.training.ppo import train as ppo_lib
from interprior_jax.training import rollout as rollout_lib
from interprior_jax.training import sharding
from interprior_jax.training.finetune import losses as L
from interprior_jax.training.finetune import networks


DISTILL_STARTS = ("stage2", "inbetween")
#: What PPO samples and scores (``FinetuneConfig.explore``; networks.py):
#: ``"action"``: ``a ~ N(decode(h, z_eps), sigma_a^2)``, ``z_eps`` the prior's latent at the
#: episode's fixed noise (in the observation); the gradient reaches decoder and prior.
#: ``"latent"``: per step ``u ~ N(mu_p, sigma_p^2)`` (the prior's own Gaussian), ``a =
#: decode(h, project(u))`` without action noise (ASE / PULSE-style exploration in the skill space:
#: a latent step is a coherent change of motion); PPO's gradient reaches the prior only, the
#: decoder learns from the distillation share (and the KL) alone.
EXPLORE = ("action", "latent")
#: How the policy's objectives share an optimiser (``FinetuneConfig.anchor_optimizer``):
#: ``"shared"``: one Adam over the sum of PPO's surrogate and the anchor terms (the
#: distillation share's imitation loss, the prior KL), its rate under the KL rule (method.md's
#: one loss). ``"separate"``: the anchor terms' gradient gets its own Adam at the constant
#: ``anchor_learning_rate``; PPO's surrogate (and entropy) keep the policy's Adam and its rate
#: rule. The two updates are added in one step. Why: per batch, PPO's goal gradient is mostly
#: noise and 14-40x the imitation gradient's norm (docs/results.md), so in one Adam it sets the
#: per-parameter scale, and the KL rule it drives slows the anchor too.
ANCHOR_OPTIMIZERS = ("shared", "separate")


@dataclasses.dataclass(frozen=True)
class FinetuneConfig(ppo_lib.KLRateRule):
  # The policy's rate rule is PPO's (``ppo.train.KLRateRule``: lr_schedule, desired_kl,
  # lr_factor, lr_min, lr_max), with three defaults of its own: a distilled prior finetuned at
  # small rates (2e-5) tolerates a looser KL target and needs a lower floor and ceiling than
  # Stage 1's experts trained from scratch.
  desired_kl: float = 0.01
  lr_min: float = 1e-7
  lr_max: float = 1e-3
  num_envs: int = 4096
  unroll_length: int = 32
  num_epochs: int = 4
  num_minibatches: int = 8          # over envs (each keeps the full time axis)
  learning_rate: float = 2e-5       # the policy's (student + log_std): the actor group
  # The critic is new in Stage 3 (random init) while the policy starts distilled: its own Adam
  # (0: learning_rate) and, for the first value_warmup_iterations, the critic alone is trained
  # (the policy's parameters are kept) so PPO's first advantages come from a fitted baseline.
  critic_learning_rate: float = 0.0
  value_warmup_iterations: int = 0
  max_grad_norm: float = 1.0        # per group (policy, critic)
  gamma: float = 0.99
  gae_lambda: float = 0.95
  clip_eps: float = 0.2
  value_coef: float = 1.0
  entropy_coef: float = 0.0
  reward_scale: float = 1.0
  explore: str = "action"           # EXPLORE
  latent_std_scale: float = 1.0     # "latent": u ~ N(mu_p, (scale * sigma_p)^2)
  # The exploration noise (of either mode) is drawn anew every noise_hold_steps steps and kept in
  # between (gSDE-style, ``rollout.held_keys``): a coherent perturbation of the motion for that
  # long instead of i.i.d. per-step noise whose effect on a goal tens of steps away averages
  # out. PPO still scores each step's sample under that step's Gaussian. 1: every step.
  noise_hold_steps: int = 1
  init_log_std: float = -2.0        # action noise sigma_a at the start ("action")
  learn_log_std: bool = True
  distill_fraction: float = 0.25    # share of envs keeping the distillation loss (method.md 25 %)
  # Where the distillation share's envs start and what goals they get: "stage2" (the student's
  # own Stage-2 env and goal mixture: reference-frame starts, where the expert's labels mean
  # something) or "inbetween" (like the RL envs: random poses, failure states; the first HOI runs).
  distill_starts: str = "stage2"
  # Share of envs that learn the get-up skill (method.md's optional new skill; envs/
  # inbetween_env.py): their own env group after the distillation share, starting fallen
  # (config.getup_env_overrides) and asking for task 1 through the prior's task token, which a
  # finetune with getup_fraction > 0 adds (zeros) to the student. PPO on the same update; no
  # distillation loss and no prior KL there (the distilled prior has no such skill).
  getup_fraction: float = 0.0
  w_distill: float = 1.0
  w_policy: float = 1.0             # PPO's surrogate (0: preservation only, the control ablation)
  w_prior_kl: float = 0.0           # KL to the frozen distilled prior (0: off)
  anchor_optimizer: str = "shared"  # ANCHOR_OPTIMIZERS
  anchor_learning_rate: float = 0.0  # "separate": the anchor Adam's constant rate (0: learning_rate)
  critic_hidden: tuple[int, ...] = (512, 256)
  activation: str = "elu"

  def num_distill_envs(self) -> int:
    return int(round(self.distill_fraction * self.num_envs))

  def num_getup_envs(self) -> int:
    return int(round(self.getup_fraction * self.num_envs))

  def validate(self) -> "FinetuneConfig":
    if self.distill_starts not in DISTILL_STARTS:
      raise ValueError(f"config.finetune.distill_starts={self.distill_starts!r}; valid "
                       f"{DISTILL_STARTS}")
    if not 0.0 <= self.distill_fraction <= 1.0:
      raise ValueError(f"config.finetune.distill_fraction={self.distill_fraction} not in [0, 1]")
    if not 0.0 <= self.getup_fraction or self.num_distill_envs() + self.num_getup_envs() > \
        self.num_envs:
      raise ValueError(f"config.finetune.getup_fraction={self.getup_fraction}: must be >= 0 "
                       f"and leave room for the distillation share ({self.distill_fraction})")
    if not self.latent_std_scale > 0:
      raise ValueError(f"config.finetune.latent_std_scale={self.latent_std_scale} must be > 0")
    if self.noise_hold_steps < 1:
      raise ValueError(f"config.finetune.noise_hold_steps={self.noise_hold_steps} must be >= 1")
    if self.explore not in EXPLORE:
      raise ValueError(f"config.finetune.explore={self.explore!r}; valid {EXPLORE}")
    self.validate_rate_rule("finetune")
    if self.anchor_optimizer not in ANCHOR_OPTIMIZERS:
      raise ValueError(f"config.finetune.anchor_optimizer={self.anchor_optimizer!r}; valid "
                       f"{ANCHOR_OPTIMIZERS}")
    if self.num_envs % self.num_minibatches:
      raise ValueError(f"config.finetune: num_envs={self.num_envs} not divisible by "
                       f"num_minibatches={self.num_minibatches}")
    return self

  @classmethod
  def from_config(cls, c: ml_collections.ConfigDict) -> "FinetuneConfig":
    return config_lib.dataclass_from_config(cls, c, "config.finetune").validate()


#: The optimiser's parameter groups: the critic (new in Stage 3) and the policy (the rest).
CRITIC_PARAMS = ("critic",)


class SplitOptState(NamedTuple):
  """``make_optimizer``'s state with ``anchor_optimizer="separate"``."""
  rl: Any       # the shared layout's state (policy and critic Adams)
  anchor: Any   # the anchor terms' Adam over the student's params


def make_optimizer(cfg: FinetuneConfig) -> optax.GradientTransformation:
  """Two Adams over the params ``{"student", "log_std", "critic"}``, each after its own global-norm
  clip: the policy's with an injected learning rate (the KL-adaptive rule changes it inside the
  jitted step; :func:`learning_rate`), the critic's at ``critic_learning_rate``.

  With ``anchor_optimizer="separate"`` a third Adam (own clip, constant ``anchor_learning_rate``)
  takes the anchor terms' gradient over ``params["student"]``; the transform then takes gradients
  ``{"rl": grads, "anchor": grads}`` (:meth:`Finetuner.loss_terms`, ``core.value_and_split_grad``)
  and adds the two updates."""
  def group(lr, inject):
    adam = optax.inject_hyperparams(optax.adam)(learning_rate=lr) if inject else optax.adam(lr)
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), adam)
  labels = lambda params: {k: jax.tree.map(  # noqa: E731
      lambda _, k=k: "critic" if k in CRITIC_PARAMS else "policy", v) for k, v in params.items()}
  shared = optax.multi_transform(
      {"policy": group(cfg.learning_rate, True),
       "critic": group(cfg.critic_learning_rate or cfg.learning_rate, False)}, labels)
  if cfg.anchor_optimizer == "shared":
    return shared
  anchor = group(cfg.anchor_learning_rate or cfg.learning_rate, False)

  def init(params):
    return SplitOptState(shared.init(params), anchor.init(params["student"]))

  def update(grads, state, params=None):
    u, s_rl = shared.update(grads["rl"], state.rl, params)
    u_a, s_a = anchor.update(grads["anchor"]["student"], state.anchor,
                             None if params is None else params["student"])
    return {**u, "student": jax.tree.map(jnp.add, u["student"], u_a)}, SplitOptState(s_rl, s_a)
  return optax.GradientTransformation(init, update)


def hold_policy_state(warm: jax.Array, old, new):
  """``new`` (a :func:`make_optimizer` state after an update) with the policy's Adam, and the
  anchor's, put back to ``old`` where ``warm`` (the value warm-up).  With zero gradients their
  step counts would still advance while their moments stay 0; Adam's bias correction would then
  take the first real steps after the warm-up as late ones: with a steady gradient, after 160
  held steps (10 iterations x 16 minibatch steps) the steps reach 2.6x the learning rate and
  are still 1.5x it 100 steps later (after 1,600: 5.9x).  Held, the first step after the
  warm-up is Adam's first step."""
  hold = lambda o, n: jax.tree.map(lambda a, b: jnp.where(warm, a, b), o, n)  # noqa: E731
  if isinstance(new, SplitOptState):
    return SplitOptState(hold_policy_state(warm, old.rl, new.rl), hold(old.anchor, new.anchor))
  inner = dict(new.inner_states)
  inner["policy"] = hold(old.inner_states["policy"], new.inner_states["policy"])
  return new._replace(inner_states=inner)


def learning_rate(opt_state) -> jax.Array:
  """The policy's current learning rate in a :func:`make_optimizer` state."""
  return optax.tree_utils.tree_get(opt_state, "learning_rate")


class Finetuner:
  """Stage 3 over a vectorised :class:`InbetweenEnv`, from a distilled student bundle."""

  def __init__(self, env: rollout_lib.VecEnv | rollout_lib.ConcatVecEnv, cfg: FinetuneConfig,
               student_bundle,
               expert_bundle=None, expert_adapter=None, mesh=None):
    self.env = env
    self.cfg = cfg.validate()
    if env.num_envs != cfg.num_envs:
      raise ValueError(f"Finetuner: env has {env.num_envs} copies, config.finetune.num_envs="
                       f"{cfg.num_envs}")
    if expert_bundle is None and cfg.num_distill_envs() > 0:
      raise ValueError("Finetuner: distill_fraction > 0 needs the expert (--expert)")
    self.mesh = mesh if mesh is not None else sharding.make_mesh(1)
    sharding.check_divisible(cfg.num_envs, self.mesh)
    self.model, self.student_cfg = distill.student_from_bundle(student_bundle)
    student_params = student_bundle.actor_params
    prior_params = student_bundle.actor_params
    if cfg.num_getup_envs() > 0 and self.model.cfg.num_tasks < len(goal_env.TASKS):
      # the get-up skill's task token: a prior with task tokens, all zeros (= the student)
      net = dataclasses.replace(self.model.cfg, num_tasks=len(goal_env.TASKS))
      self.student_cfg = dataclasses.replace(self.student_cfg, network=net)
      self.model = self.model.clone(cfg=net)
      add = lambda p: lp.with_task_tokens(p, net.num_tasks, net.prior.d_model)  # noqa: E731
      student_params, prior_params = add(student_params), add(prior_params)
    self.student_params = student_params
    self.student_bundle = student_bundle
    self.critic = networks.make_critic(cfg.critic_hidden, cfg.activation)
    self.optimizer = make_optimizer(cfg)
    if expert_bundle is not None:
      self.expert_params, self.expert_fn = ppo_lib.bundle_apply(expert_bundle)
    else:
      self.expert_params, self.expert_fn = None, None
    self.expert_adapter = expert_adapter or (lambda a, ctx: a)
    self.frozen = {"expert": self.expert_params, "prior": prior_params}
    n_d, n_g = cfg.num_distill_envs(), cfg.num_getup_envs()
    # Env layout: [0, n_d) the distillation share, [n_d, n_d + n_g) the get-up envs, the rest
    # PPO on goals; a ConcatVecEnv's groups must start at those boundaries.
    sizes = getattr(env, "sizes", None)
    ends = set(np.cumsum(sizes).tolist()) if sizes is not None else set()
    need = {b for b in (n_d, n_d + n_g) if 0 < b < cfg.num_envs} if (
        sizes is not None or n_g > 0) else set()
    if not need <= ends:
      raise ValueError(f"Finetuner: env groups {sizes} do not end at the distillation share "
                       f"({n_d} envs) and the get-up envs ({n_g})")
    i = jnp.arange(cfg.num_envs)
    self.distill_weight = (i < n_d).astype(jnp.float32)                          # [N]
    self.getup_weight = ((i >= n_d) & (i < n_d + n_g)).astype(jnp.float32)      # [N]

  @property
  def env_steps_per_iteration(self) -> int:
    return self.cfg.num_envs * self.cfg.unroll_length

  # ----------------------------------------------------------------------------------- init
  def init(self, key: jax.Array, extra: Any = None) -> core.TrainState:
    k_env, k_critic, k_run = jax.random.split(key, 3)
    env_shape = jax.eval_shape(self.env.reset, k_env)
    env_state = jax.jit(self.env.reset, out_shardings=sharding.batch_shardings(
        env_shape, self.mesh))(k_env)
    obs = jax.tree.map(lambda x: jnp.zeros((1,) + x.shape[1:], x.dtype), env_shape.obs)
    a = self.env.action_size

    def init_rest(k):
      h, g, _ = self.inputs(self.student_bundle.normalizer, obs)
      params = {"student": self.student_params,
                "critic": self.critic.init(k, networks.critic_input(h, g, obs.mask)),
                "log_std": jnp.full((a,), self.cfg.init_log_std, jnp.float32)}
      # fresh buffers (the state is donated to the train step; the bundle's arrays must live on)
      norm = jax.tree.map(jnp.copy, self.student_bundle.normalizer)
      return params, self.optimizer.init(params), norm

    params, opt_state, norm = jax.jit(init_rest, out_shardings=sharding.replicated(self.mesh))(
        k_critic)
    return core.fresh_train_state(params, opt_state, norm, env_state, k_run, extra, self.mesh)

  def state_shardings(self, state: core.TrainState) -> core.TrainState:
    return core.train_state_shardings(state, self.mesh)

  # ------------------------------------------------------------------------------ policy
  def inputs(self, norm, obs: goal_env.StudentObs):
    c = self.student_cfg
    return distill.normalize_inputs(norm, obs, c.normalize_obs,
                                    c.obs_clip if c.bound_obs else None)

  def log_std(self, params) -> jax.Array:
    ls = params["log_std"]
    return ls if self.cfg.learn_log_std else jax.lax.stop_gradient(ls)

  def distribution(self, params, norm, obs: goal_env.StudentObs) -> dict:
    """The policy on ``obs``: normalised ``h``, ``g``; the action Gaussian ``mean`` / ``log_std``
    ``[..., A]``; the prior's ``mu_p`` / ``log_std_p`` ``[..., Z]`` (one place for rollout, loss
    and :meth:`act`)."""
    h, g, _ = self.inputs(norm, obs)
    mean, mu_p, ls_p = networks.policy_outputs(self.model, params["student"], h, g, obs.mask,
                                               obs.eps, obs.task)
    return {"h": h, "g": g, "mean": mean, "mu_p": mu_p, "log_std_p": ls_p,
            "log_std": jnp.broadcast_to(self.log_std(params), mean.shape)}

  def explored(self, d: dict) -> tuple[jax.Array, jax.Array]:
    """``(mean, log_std)`` of the Gaussian PPO samples and scores (``cfg.explore``): the action's
    ``[..., A]`` or the prior latent's ``[..., Z]``."""
    if self.cfg.explore == "latent":
      return d["mu_p"], d["log_std_p"] + jnp.log(self.cfg.latent_std_scale)
    return d["mean"], d["log_std"]

  def env_action(self, params, d: dict, raw: jax.Array) -> jax.Array:
    """The env action ``[..., A]`` for a sample ``raw`` of :meth:`explored`'s Gaussian."""
    if self.cfg.explore == "latent":
      z = lp.project_to_sphere(raw) if self.model.cfg.project_latent else raw
      raw = self.model.apply(params["student"], d["h"], z, method=self.model.decode)
    b = self.student_cfg.action_bound
    return jnp.clip(raw, -b, b)

  def value(self, params, h, g, mask) -> jax.Array:
    """Critic value ``[...]`` from normalised history / goals (as :meth:`inputs` gives them)."""
    return self.critic.apply(params["critic"], networks.critic_input(h, g, mask))

  def act(self, params, norm, obs: goal_env.StudentObs, key: jax.Array | None = None):
    """Env action ``[N, A]``: the deployed path (``key`` None: the decoder at the episode's
    latent) or a sample of the Gaussian PPO explores with (``cfg.explore``)."""
    d = self.distribution(params, norm, obs)
    if key is None:
      b = self.student_cfg.action_bound
      return jnp.clip(d["mean"], -b, b)
    return self.env_action(params, d, mlp.gaussian_sample(key, *self.explored(d)))

  def expert_label(self, frozen, obs: goal_env.StudentObs) -> jax.Array:
    if self.expert_fn is None:
      return jnp.zeros(obs.action_context.shape[:-1] + (self.env.action_size,))
    return self.expert_adapter(self.expert_fn(frozen["expert"], obs.reference),
                               obs.action_context)

  # ---------------------------------------------------------------------------- losses
  def loss(self, params, norm, mb: dict, frozen) -> tuple[jax.Array, dict]:
    """Both objectives on one time-major minibatch (leaves ``[T, n, ...]``); ``mb['distill_w']``
    ``[T, n]`` marks the distillation share. The sum of :meth:`loss_terms`."""
    terms, m = self.loss_terms(params, norm, mb, frozen)
    return terms["rl"] + terms["anchor"], m

  def loss_terms(self, params, norm, mb: dict, frozen) -> tuple[dict, dict]:
    """``({"rl": PPO's surrogate + value + entropy terms, "anchor": imitation + prior KL},
    metrics)``: the two objectives, which ``anchor_optimizer`` gives one or two Adams."""
    c = self.cfg
    obs = mb["obs"]
    d = self.distribution(params, norm, obs)
    mean = d["mean"]
    w_d = mb["distill_w"]
    w_rl = 1.0 - w_d
    ones = jnp.ones_like(w_d)
    log_prob = mlp.gaussian_log_prob(*self.explored(d), mb["raw_action"])
    adv = L.normalize_advantages(mb["advantage"], w_rl)
    pg, aux = L.surrogate_loss(log_prob, mb["log_prob"], adv, c.clip_eps, w_rl)
    vl = L.value_loss(self.value(params, d["h"], d["g"], obs.mask), mb["return"], ones)
    ent = L.wmean(mlp.gaussian_entropy(self.explored(d)[1]), ones)
    l_d = L.imitation_loss(mean, mb["expert_action"], w_d)
    rl = c.w_policy * pg + c.value_coef * vl - c.entropy_coef * ent
    anchor = c.w_distill * l_d
    m = {"policy_loss": pg, "value_loss": vl, "entropy": ent, "loss_distill": l_d, **aux}
    if c.w_prior_kl > 0:  # not on the get-up envs: the distilled prior has no such skill
      mu0, ls0 = self.model.apply(frozen["prior"], d["h"], d["g"], obs.mask, obs.task,
                                  method=self.model.prior)
      l_kl = L.prior_kl_loss(d["mu_p"], d["log_std_p"], mu0, ls0,
                             1.0 - mb.get("getup_w", jnp.zeros_like(w_d)))
      anchor = anchor + c.w_prior_kl * l_kl
      m["loss_prior_kl"] = l_kl
    m["loss"] = rl + anchor
    return {"rl": rl, "anchor": anchor}, m

  # ------------------------------------------------------------------------ train step
  def collect(self, state: core.TrainState, key: jax.Array, frozen):
    """One rollout of every env under the current policy, labelled: ``(env_state, tr, data)``,
    ``tr`` the rollout (time-major ``[T, N, ...]``), ``data`` the update's batch (observations,
    PPO's sampled actions / log-probs / GAE advantages and returns, the expert's labels, the
    distillation and get-up shares). :meth:`train_step` and the gradient probes use it."""
    c = self.cfg
    params, norm = state.params, state.normalizer

    def policy_fn(obs, k):
      d = self.distribution(params, norm, obs)
      u = mlp.gaussian_sample(k, *self.explored(d))
      return self.env_action(params, d, u), {
          "raw_action": u, "log_prob": mlp.gaussian_log_prob(*self.explored(d), u),
          "value": self.value(params, d["h"], d["g"], obs.mask),
          "expert_action": self.expert_label(frozen, obs)}

    def bootstrap_fn(final_obs):  # the critic only: no policy pass
      h, g, _ = self.inputs(norm, final_obs)
      return {"next_value": self.value(params, h, g, final_obs.mask)}

    env_state, tr = rollout_lib.rollout(self.env, state.env_state, policy_fn, key,
                                        c.unroll_length, bootstrap_fn, c.noise_hold_steps)
    tr = sharding.constrain_batch(tr, self.mesh, axis=1)
    adv, ret = gae_lib.compute_gae(tr.reward * c.reward_scale, tr.extras["value"],
                                   tr.next_extras["next_value"], tr.termination, tr.done,
                                   c.gamma, c.gae_lambda)
    data = {"obs": tr.obs, "raw_action": tr.extras["raw_action"],
            "log_prob": tr.extras["log_prob"], "advantage": adv, "return": ret,
            "expert_action": tr.extras["expert_action"],
            "distill_w": jnp.broadcast_to(self.distill_weight, adv.shape),
            "getup_w": jnp.broadcast_to(self.getup_weight, adv.shape)}
    return env_state, tr, data

  def train_step(self, state: core.TrainState, key: jax.Array, frozen
                 ) -> tuple[core.TrainState, dict]:
    c = self.cfg
    mesh = self.mesh
    k_roll, k_perm = jax.random.split(key)
    params, norm = state.params, state.normalizer
    env_state, tr, data = self.collect(state, k_roll, frozen)
    # value warm-up: no gradient reaches the policy (its Adam moments stay 0, so it does not move)
    warm = state.step < c.value_warmup_iterations

    def terms_fn(p, mb):
      p = {k: v if k in CRITIC_PARAMS else jax.tree.map(
          lambda x: jnp.where(warm, jax.lax.stop_gradient(x), x), v) for k, v in p.items()}
      return self.loss_terms(p, norm, mb, frozen)

    def loss_fn(p, mb):
      terms, m = terms_fn(p, mb)
      return terms["rl"] + terms["anchor"], m

    def step_hook(o, ok, i, m):
      # as PPO's: the first minibatch has seen no update (kl = 0) and does not move the rate
      lr = learning_rate(o)
      new = ppo_lib.adapt_learning_rate(lr, m["approx_kl"], c)
      return optax.tree_utils.tree_set(o, learning_rate=jnp.where(ok & (i > 0) & ~warm, new, lr))

    separate = c.anchor_optimizer == "separate"
    params, opt_state, bad, m = core.update(
        None if separate else loss_fn, self.optimizer, params, state.opt_state, data, k_perm,
        num_epochs=c.num_epochs, minibatcher=core.env_minibatches(c.num_minibatches, mesh),
        step_hook=step_hook, grad_fn=core.value_and_split_grad(terms_fn) if separate else None)
    opt_state = hold_policy_state(warm, state.opt_state, opt_state)
    # goal metrics over the RL goal envs (all envs when every env is in the distillation share),
    # get-up metrics (getup_*) over the get-up envs
    w_rl = 1.0 - self.distill_weight - self.getup_weight
    w_rl = jnp.where(jnp.sum(w_rl) > 0, w_rl, jnp.ones_like(w_rl))
    per_env = lambda k, w: jnp.sum(jnp.mean(tr.metrics[k], axis=0) * w) / jnp.sum(w)  # noqa
    goal_metrics = {k: per_env(k, w_rl) for k in inbetween_env.REWARD_TERMS if k in tr.metrics}
    if c.num_getup_envs() > 0:
      goal_metrics.update({f"getup_{k}": per_env(k, self.getup_weight)
                           for k in inbetween_env.GETUP_TERMS + ("ib_reward",)})
    return core.finish(state, params, opt_state, norm, env_state, tr, m, bad,
                       advantage_mean=jnp.mean(data["advantage"]),
                       return_mean=jnp.mean(data["return"]),
                       value_mean=jnp.mean(tr.extras["value"]),
                       action_std=jnp.mean(jnp.exp(params["log_std"])),
                       learning_rate=learning_rate(opt_state), **goal_metrics)

  def jit_train_step(self, state: core.TrainState):
    """``(state, key) -> (state, metrics)``, jitted with the frozen networks as arguments."""
    rep = sharding.replicated(self.mesh)
    sh = self.state_shardings(state)
    f = jax.jit(self.train_step, in_shardings=(sh, rep, rep), out_shardings=(sh, rep),
                donate_argnums=0)
    frozen = sharding.replicate(self.frozen, self.mesh)
    return lambda s, k: f(s, k, frozen)

  def export(self, state: core.TrainState, directory, config) -> None:
    """The finetuned student in the Stage-2 bundle format (prior + decoder + the distilled
    normaliser), so evaluation and play load it unchanged."""
    from interprior_jax.training import checkpoint as ckpt_lib
    genv = self.env.env.genv
    ckpt_lib.export_bundle(directory, state.params["student"], state.normalizer, config,
                           action_size=self.env.action_size, state_size=genv.source.state_size,
                           goal_size=genv.source.goal_size, trained_iterations=int(state.step),
                           stage=3)


# ------------------------------------------------------------------------------- assembly
#: Sections of the student bundle's config a finetune inherits (the network's shapes, the env the
#: student was distilled in, its action parameterisation).
INHERITED = ("env_kind", "env", "data", "distill", "goals", "student_action", "expert_action",
             "episode_length")
#: Goal-config fields a finetune may change (the others fix the network's shapes).
GOAL_OVERRIDES = ("snapshot_min", "snapshot_max", "snapshot_families", "snapshot_probs",
                  "trajectory_families", "trajectory_probs")


def resolve_config(config: ml_collections.ConfigDict, student_config: dict
                   ) -> ml_collections.ConfigDict:
  """The finetune ``config`` with the student bundle's env / data / network sections and the
  finetune's goal overrides (``config.goal_overrides``) and augmentation applied."""
  c = ml_collections.ConfigDict(config.to_dict())
  for k in INHERITED:
    if k in student_config:
      # the student's clips, whatever this run's seed (motion/sources.py:pinned_data)
      v = sources.pinned_data(student_config) if k == "data" else student_config[k]
      c[k] = ml_collections.ConfigDict(v) if isinstance(v, dict) else v
    elif k in ("env_kind", "env", "distill", "goals"):
      raise ValueError(f"student bundle config.json: missing field {k!r}")
  # The distillation share's setting (finetune.distill_starts = "stage2"): the student's goals,
  # and its env with this finetune's augmentation but without env_overrides.
  c.preserve = ml_collections.ConfigDict({"goals": c.goals.to_dict()})
  over = c.get("goal_overrides", ml_collections.ConfigDict()).to_dict()
  bad = set(over) - set(GOAL_OVERRIDES)
  if bad:
    raise ValueError(f"config.goal_overrides: {sorted(bad)} cannot change (they fix the "
                     f"network's shapes); allowed {GOAL_OVERRIDES}")
  for k, v in over.items():
    c.goals[k] = tuple(v) if isinstance(v, list) else v
  # The augmentation: the student's switches, with the finetune's own (config.augment) on top,
  # so a field the finetune does not set (e.g. the steering student's heading noise) is kept.
  aug = dict(student_config.get("augment") or {})
  aug.update(c.get("augment", ml_collections.ConfigDict()).to_dict())
  c.augment = ml_collections.ConfigDict(aug)
  distill.AUGMENTERS[c.env_kind](c.env, c.augment)
  c.preserve.env = ml_collections.ConfigDict(c.env.to_dict())
  if c.env_kind == "hoi":
    from interprior_jax.envs import hoi_env
    _override(c.env, c.get("env_overrides", ml_collections.ConfigDict()).to_dict(),
              hoi_env.load_env_config(), "config.env_overrides")
  if float(c.finetune.get("getup_fraction", 0.0)) > 0:
    if c.env_kind != "hoi":
      raise ValueError(f"config.finetune.getup_fraction > 0 needs the HOI env (env_kind "
                       f"{c.env_kind!r})")
    # the get-up envs: the RL envs' config with config.getup_env_overrides on top; the exported
    # prior carries the task tokens
    c.getup_env = ml_collections.ConfigDict(c.env.to_dict())
    known = hoi_env.load_env_config()
    for k, v in known.init.items():  # start fields newer than the student's bundle: today's
      if k not in c.getup_env.init:
        c.getup_env.init[k] = v
    _override(c.getup_env, c.get("getup_env_overrides", ml_collections.ConfigDict()).to_dict(),
              known, "config.getup_env_overrides")
    c.distill.network.num_tasks = len(goal_env.TASKS)
  impl = c.get("physics_impl", "")
  if impl:  # one backend for every env group (a run-level choice, not an env override)
    from interprior_jax.envs import physics
    physics.check_impl(impl)
    for section in (c.env, c.preserve.env, c.get("getup_env")):
      if section is not None:
        section.impl = impl
  return c


def _override(section: ml_collections.ConfigDict, over: dict, known, where: str) -> None:
  """Sets ``over``'s (nested) values in ``section`` (a student's env config); a field it lacks is
  added when today's env config ``known`` has it (bundles older than the field), otherwise
  ValueError names it."""
  for k, v in over.items():
    if k not in section and (known is None or k not in known):
      raise ValueError(f"{where}.{k}: no such env config field")
    if isinstance(v, dict):
      if k not in section:
        section[k] = ml_collections.ConfigDict()
      _override(section[k], v, known.get(k) if known is not None else None, f"{where}.{k}")
    else:
      section[k] = v


def build(config: ml_collections.ConfigDict, student_bundle, expert_bundle=None, env=None,
          clips=None) -> Finetuner:
  """Finetuner over ``config`` (already :func:`resolve_config`-ed)."""
  from interprior_jax.envs import registry

  cfg = FinetuneConfig.from_config(config.finetune)
  dcfg = distill.DistillConfig.from_config(config.distill)
  entry = registry.entry(config)
  n_d = cfg.num_distill_envs()

  def group(cfg_g, num, base=None, **inbetween):
    gcfg = distill.goal_config_from(cfg_g.goals, dcfg.network.latent_size)
    base = base if base is not None else entry.build(cfg_g, clips)
    source = goal_env.make_goal_source(cfg_g.env_kind, base, gcfg)
    genv = goal_env.GoalEnv(base, source, gcfg)
    ib = inbetween_env.InbetweenEnv(genv, inbetween_env.InbetweenConfig(
        **{**config.inbetween.to_dict(), **inbetween}))
    return rollout_lib.VecEnv(ib, num, int(config.episode_length), entry.self_resetting)

  n_g = cfg.num_getup_envs()
  groups = []
  split_share = cfg.distill_starts == "stage2" and 0 < n_d < cfg.num_envs and "preserve" in config
  if split_share:
    # envs [0, n_d): the distillation share in the student's Stage-2 setting
    pc = ml_collections.ConfigDict(config.to_dict())
    pc.env, pc.goals = config.preserve.env, config.preserve.goals
    groups.append(group(pc, n_d))
  if n_g > 0:
    # then the get-up envs (fallen starts, task 1); the share, when not split off, is in the
    # RL group: it must then be empty (the layout puts it first)
    if n_d > 0 and not split_share:
      raise ValueError("config.finetune.getup_fraction > 0 needs the distillation share in its "
                       "own group (distill_starts='stage2') or no share")
    gc = ml_collections.ConfigDict(config.to_dict())
    gc.env = config.getup_env
    groups.append(group(gc, n_g, task="get_up"))
  # the rest: PPO on goals (the main group)
  groups.append(group(config, cfg.num_envs - (n_d if split_share else 0) - n_g, env))
  venv = groups[0] if len(groups) == 1 else rollout_lib.ConcatVecEnv(groups)
  mesh = sharding.make_mesh(int(config.num_devices) or None)
  return Finetuner(venv, cfg, student_bundle, expert_bundle,
                   distill.expert_adapter(config, venv.env.env), mesh)


def load_bundle(directory):
  """An exported bundle from a workdir or its ``policy/`` folder (:func:`checkpoint.load_bundle`)."""
  from interprior_jax.training import checkpoint as ckpt_lib
  return ckpt_lib.load_bundle(directory)


def train(config: ml_collections.ConfigDict, workdir, student_dir, expert_dir=None,
          algo: Finetuner | None = None, **loop_kwargs):
  """Finetunes (or resumes) in ``workdir``; exports the bundle to ``workdir/policy``."""
  from interprior_jax.training import checkpoint as ckpt_lib
  from interprior_jax.training import expert as expert_lib
  from interprior_jax.training import loop as loop_lib

  student = load_bundle(student_dir)
  if "distill" not in student.config:
    raise ValueError(f"{student_dir}: config.json has no 'distill' section: not a Stage-2 "
                     f"student bundle")
  expert_b = load_bundle(expert_dir) if expert_dir else None
  config = resolve_config(config, student.config)
  algo = algo or build(config, student, expert_b)
  workdir = pathlib.Path(workdir)

  def export(state, wd):
    algo.export(state, wd / ckpt_lib.BUNDLE_DIR, config)

  return loop_lib.run(algo, config, workdir, expert_lib.loop_config(config),
                      seed=int(config.seed), export_fn=export, **loop_kwargs)
