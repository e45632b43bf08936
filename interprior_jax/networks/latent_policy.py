"""The Stage-2 masked, goal-conditioned variational policy (method.md "Variational distillation").

Inputs (already normalised by the trainer; k = history length, G goal tokens, D_s state size,
D_g goal-residual size, R reference size; any leading batch dims ``...``):

* ``history`` ``[..., k, D_s]``: the last k state vectors, oldest first (the newest is ``x_t``);
* ``goals`` ``[..., G, D_g]``: goal residuals ``y (-) x_t`` (trajectory tokens, then the snapshot
  token), *unmasked*; the networks only ever see ``goals * mask`` (so a hidden entry has exactly
  zero influence on every output, see the gradient test) plus the mask itself;
* ``mask`` ``[..., G, D_g]`` in {0, 1};
* ``reference`` ``[..., R]``: the full future reference (the expert's observation), encoder only;
* ``eps`` ``[..., Z]``: standard-normal noise, drawn once per episode (temporal coherence).

Parts: **prior** ``p(z | history, masked goals)`` = Transformer over k state tokens, G goal tokens
and one learned latent token (whose output gives ``mu_p, log_std_p``); **encoder** (training only)
= MLP over history, full goals, mask and reference giving the *residual* ``mu_q, log_std_q``;
**decoder** = MLP 1024-1024-512 over (history, z) -> action mean; **goal reconstruction** head =
MLP over (history, z) -> all goal entries (the loss scores only the hidden ones).

Latents: training ``z = (mu_p + mu_q) + sigma_q * eps``; inference ``z = mu_p + sigma_p * eps``;
then optionally ``z <- z / |z|`` (bounded latent; the KL is taken before the projection).
"""

from __future__ import annotations

import dataclasses
import flax.linen as nn
import jax
import jax.numpy as jnp

from interprior_jax.networks import mlp
from interprior_jax.networks.transformer import TransformerConfig, TransformerEncoder

# Floor of |z| in the unit-sphere projection (avoids 0/0 for an exactly zero latent).
PROJECTION_EPS = 1e-6
ACTION_HEAD_INIT_SCALE = mlp.POLICY_HEAD_INIT_SCALE
# Initial scale of the encoder's residual mean: q starts equal to p (KL ~ 0 at init).
RESIDUAL_HEAD_INIT_SCALE = 0.01


@dataclasses.dataclass(frozen=True)
class LatentPolicyConfig:
  latent_size: int = 64
  prior: TransformerConfig = TransformerConfig()
  encoder_hidden: tuple[int, ...] = (1024, 512)
  decoder_hidden: tuple[int, ...] = (1024, 1024, 512)
  recon_hidden: tuple[int, ...] = (512,)
  activation: str = "elu"
  project_latent: bool = True      # bounded latent (unit sphere)
  # Added to the prior's and the encoder's raw log-std outputs, so both start near
  # std = exp(init_log_std).  At 0 the prior starts at std ~1-3 per latent dim, and a 64-dim noise
  # of that size swamps |mu_p| ~ 1 in the unit-sphere projection: the deployed (prior) path then
  # decodes a random direction and has to unlearn it through a KL weighted 1e-4..1e-2.
  init_log_std: float = -2.0
  min_log_std: float = -5.0
  max_log_std: float = 2.0
  # Skills the prior is told apart by a learned task token (``goal_env.TASKS``; Stage 3's get-up
  # skill): with num_tasks > 1 a parameter ``task_tokens [num_tasks, d_model]`` (zeros at init)
  # is added to the latent token, row ``task`` of it; 1 (Stage 2): no such parameter, and the
  # prior is the one distilled (a finetune adds the rows: ``with_task_tokens``).
  num_tasks: int = 1


def project_to_sphere(z: jax.Array) -> jax.Array:
  """``z / |z|`` over the last axis (unit norm)."""
  return z / jnp.maximum(jnp.linalg.norm(z, axis=-1, keepdims=True), PROJECTION_EPS)


def sample_latent(mu: jax.Array, log_std: jax.Array, eps: jax.Array, project: bool) -> jax.Array:
  """``mu + exp(log_std) * eps``, projected to the unit sphere when ``project``."""
  z = mu + jnp.exp(log_std) * eps
  return project_to_sphere(z) if project else z


def _flat(x: jax.Array, n: int) -> jax.Array:
  """Merges the last ``n`` axes."""
  return x.reshape(x.shape[:-n] + (-1,))


class LatentPolicy(nn.Module):
  """See the module docstring. ``num_history`` = k, ``num_goals`` = G, ``goal_size`` = D_g."""
  action_size: int
  num_history: int
  num_goals: int
  goal_size: int
  cfg: LatentPolicyConfig = LatentPolicyConfig()

  def setup(self):
    c = self.cfg
    d = c.prior.d_model
    init = nn.initializers.normal(0.02)
    self.state_embed = nn.Dense(d, name="state_embed")
    self.goal_embed = nn.Dense(d, name="goal_embed")
    self.token_pos = self.param("token_pos", init, (self.num_history + self.num_goals + 1, d))
    self.latent_token = self.param("latent_token", init, (d,))
    if c.num_tasks > 1:
      self.task_tokens = self.param("task_tokens", nn.initializers.zeros, (c.num_tasks, d))
    self.transformer = TransformerEncoder(c.prior, name="prior_transformer")
    self.prior_head = nn.Dense(
        2 * c.latent_size, kernel_init=nn.initializers.variance_scaling(
            1.0, "fan_in", "truncated_normal"), name="prior_head")
    self.encoder = mlp.MLP(tuple(c.encoder_hidden), 2 * c.latent_size, c.activation,
                           RESIDUAL_HEAD_INIT_SCALE, name="encoder")
    self.decoder = mlp.MLP(tuple(c.decoder_hidden), self.action_size, c.activation,
                           ACTION_HEAD_INIT_SCALE, name="decoder")
    self.recon_head = mlp.MLP(tuple(c.recon_hidden), self.num_goals * self.goal_size,
                              c.activation, 1.0, name="recon_head")

  def _split(self, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    mu, log_std = jnp.split(h, 2, axis=-1)
    return mu, jnp.clip(log_std + self.cfg.init_log_std, self.cfg.min_log_std,
                        self.cfg.max_log_std)

  def _check(self, history, goals, mask):
    if history.shape[-2:-1] != (self.num_history,) or goals.shape[-2:] != (
        self.num_goals, self.goal_size) or mask.shape != goals.shape:
      raise ValueError(f"LatentPolicy: history {history.shape} (k={self.num_history}), goals "
                       f"{goals.shape} and mask {mask.shape} (G={self.num_goals}, "
                       f"D_g={self.goal_size}) do not match")

  def prior(self, history: jax.Array, goals: jax.Array, mask: jax.Array,
            task: jax.Array | None = None):
    """``(mu_p, log_std_p)`` ``[..., Z]`` from the history and the *masked* goals; ``task``
    ``[...]`` int (``goal_env.TASKS``; None: 0) selects the task token when ``num_tasks > 1``
    (ignored otherwise)."""
    self._check(history, goals, mask)
    s_tok = self.state_embed(history)                                         # [..., k, d]
    g_tok = self.goal_embed(jnp.concatenate([goals * mask, mask], axis=-1))   # [..., G, d]
    lat = jnp.broadcast_to(self.latent_token, s_tok.shape[:-2] + (s_tok.shape[-1],))
    if self.cfg.num_tasks > 1 and task is not None:
      lat = lat + self.task_tokens[jnp.asarray(task, jnp.int32)]
    lat = lat[..., None, :]
    tokens = jnp.concatenate([lat, s_tok, g_tok], axis=-2) + self.token_pos
    out = self.transformer(tokens)
    return self._split(self.prior_head(out[..., 0, :]))

  def posterior_residual(self, history, goals, mask, reference):
    """Encoder ``(mu_q, log_std_q)`` ``[..., Z]`` (sees full goals and the full reference)."""
    x = jnp.concatenate([_flat(history, 2), _flat(goals, 2), _flat(mask, 2), reference], axis=-1)
    return self._split(self.encoder(x))

  def decode(self, history: jax.Array, z: jax.Array) -> jax.Array:
    """Action mean ``[..., A]`` (unclipped) from the history and the latent."""
    return self.decoder(jnp.concatenate([_flat(history, 2), z], axis=-1))

  def reconstruct(self, history: jax.Array, z: jax.Array) -> jax.Array:
    """Predicted (normalised) goals ``[..., G, D_g]``."""
    out = self.recon_head(jnp.concatenate([_flat(history, 2), z], axis=-1))
    return out.reshape(out.shape[:-1] + (self.num_goals, self.goal_size))

  def act(self, history, goals, mask, eps, task=None) -> jax.Array:
    """Inference path (no encoder): ``z = mu_p + sigma_p * eps`` -> action mean ``[..., A]``."""
    mu_p, log_std_p = self.prior(history, goals, mask, task)
    return self.decode(history, sample_latent(mu_p, log_std_p, eps, self.cfg.project_latent))

  def __call__(self, history, goals, mask, reference, eps) -> dict[str, jax.Array]:
    """Training path: every quantity the losses need (``z`` from the residual posterior)."""
    mu_p, log_std_p = self.prior(history, goals, mask)
    mu_r, log_std_q = self.posterior_residual(history, goals, mask, reference)
    mu_q = mu_p + mu_r
    z = sample_latent(mu_q, log_std_q, eps, self.cfg.project_latent)
    return {"mu_p": mu_p, "log_std_p": log_std_p, "mu_q": mu_q, "mu_residual": mu_r,
            "log_std_q": log_std_q, "z": z, "action": self.decode(history, z),
            "goal_recon": self.reconstruct(history, z)}


def make_latent_policy(action_size: int, num_history: int, num_goals: int, goal_size: int,
                       cfg: LatentPolicyConfig) -> LatentPolicy:
  return LatentPolicy(action_size=action_size, num_history=num_history, num_goals=num_goals,
                      goal_size=goal_size, cfg=cfg)


def with_task_tokens(params, num_tasks: int, d_model: int):
  """``params`` of a prior without task tokens plus ``task_tokens`` zeros ``[num_tasks, d]``
  (the model with ``num_tasks`` tasks then acts as the given one on task 0 and, until they are
  trained, on every task); params that have them are returned unchanged."""
  inner = dict(params["params"])
  if "task_tokens" in inner:
    return params
  inner["task_tokens"] = jnp.zeros((num_tasks, d_model), jnp.float32)
  return {**params, "params": inner}


def config_from_dict(d: dict) -> LatentPolicyConfig:
  """``config.distill.network`` (a dict with a ``prior`` sub-dict) -> :class:`LatentPolicyConfig`;
  ValueError names a misspelt field."""
  from interprior_jax import config as config_lib
  return config_lib.dataclass_from_config(LatentPolicyConfig, d, "config.distill.network")
