"""A small pre-LayerNorm Transformer encoder over a set of tokens (flax.linen), used by the
Stage-2 prior ``p(z | state history, masked goals)``.

Tokens are ``[..., T, d_model]``; every token attends to every other one (no causal mask: the
tokens are the last k states and the goal tokens of one time step, not a sequence to predict).
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax


@dataclasses.dataclass(frozen=True)
class TransformerConfig:
  d_model: int = 256
  num_heads: int = 4
  num_layers: int = 4       # method.md: 4 layers in the paper
  mlp_ratio: int = 4        # hidden width of the token MLP = mlp_ratio * d_model
  dropout: float = 0.0      # kept for completeness; training here is deterministic (0)


class TransformerBlock(nn.Module):
  """``x + MHA(LN(x))`` then ``x + MLP(LN(x))``: ``[..., T, D] -> [..., T, D]``."""
  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    c = self.cfg
    h = nn.LayerNorm(name="ln_attn")(x)
    h = nn.MultiHeadDotProductAttention(num_heads=c.num_heads, qkv_features=c.d_model,
                                        out_features=c.d_model, deterministic=True,
                                        dropout_rate=c.dropout, name="attn")(h, h)
    x = x + h
    h = nn.LayerNorm(name="ln_mlp")(x)
    h = nn.Dense(c.mlp_ratio * c.d_model, name="mlp_in")(h)
    h = nn.Dense(c.d_model, name="mlp_out")(nn.gelu(h))
    return x + h


class TransformerEncoder(nn.Module):
  """``num_layers`` blocks and a final LayerNorm: ``[..., T, D] -> [..., T, D]``."""
  cfg: TransformerConfig

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if x.shape[-1] != self.cfg.d_model:
      raise ValueError(f"TransformerEncoder: tokens have width {x.shape[-1]}, d_model is "
                       f"{self.cfg.d_model}")
    for i in range(self.cfg.num_layers):
      x = TransformerBlock(self.cfg, name=f"block_{i}")(x)
    return nn.LayerNorm(name="ln_out")(x)
