"""A tiny pure-JAX brax ``Env`` for testing training code: 2-D point mass tracking a target.

The point mass (position ``p``, velocity ``v``, action = acceleration in ``[-1, 1]^2``) must follow
a target moving on a circle ("the reference clip"). It starts with a random drift velocity, so a
passive policy leaves the arena quickly:
  * **termination** when ``|p|_inf > arena`` (early failure, no bootstrap);
  * **truncation** when the target's "clip" ends after ``clip_steps`` steps (``info['truncation']``,
    bootstrap), mirroring the HOI env's contract.
Reward ``exp(-k |p - target|^2)``; metrics ``r_track``, ``e_pos``, ``terminated``, ``truncated``.
Compiles in well under a second; used by the PPO / checkpoint / sharding tests.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from brax.envs.base import Env, State

DIM = 2


@dataclasses.dataclass(frozen=True)
class ToyConfig:
  dt: float = 0.1
  accel: float = 2.0           # acceleration per unit action (m/s^2)
  damping: float = 0.0
  arena: float = 1.5           # termination bound on |p|_inf (m)
  init_pos: float = 0.5        # initial position ~ U(-init_pos, init_pos)
  init_speed: float = 1.0      # initial velocity ~ U(-init_speed, init_speed)
  target_radius: float = 0.5
  target_omega: float = 1.0    # rad/s
  clip_steps: int = 60         # "clip" length -> truncation
  reward_k: float = 4.0


class PointMassTracking(Env):
  """``observation_size`` 9: p, v, target - p, target velocity, phase fraction."""

  def __init__(self, cfg: ToyConfig = ToyConfig()):
    self.cfg = cfg

  @property
  def observation_size(self) -> int:
    return 4 * DIM + 1

  @property
  def action_size(self) -> int:
    return DIM

  @property
  def backend(self) -> str:
    return "jax"

  @property
  def dt(self) -> float:
    """Seconds per step (as brax's envs)."""
    return self.cfg.dt

  def _target(self, t, phase0):
    c = self.cfg
    ang = phase0 + c.target_omega * c.dt * t
    pos = c.target_radius * jnp.stack([jnp.cos(ang), jnp.sin(ang)])
    vel = c.target_radius * c.target_omega * jnp.stack([-jnp.sin(ang), jnp.cos(ang)])
    return pos, vel

  def _obs(self, ps):
    tp, tv = self._target(ps["t"], ps["phase0"])
    frac = ps["t"] / self.cfg.clip_steps
    return jnp.concatenate([ps["p"], ps["v"], tp - ps["p"], tv, frac[None]])

  def reset(self, rng: jax.Array) -> State:
    c = self.cfg
    k1, k2, k3 = jax.random.split(rng, 3)
    ps = {"p": jax.random.uniform(k1, (DIM,), minval=-c.init_pos, maxval=c.init_pos),
          "v": jax.random.uniform(k2, (DIM,), minval=-c.init_speed, maxval=c.init_speed),
          "phase0": jax.random.uniform(k3, (), maxval=2 * jnp.pi),
          "t": jnp.zeros(())}
    zero = jnp.zeros(())
    metrics = {"r_track": zero, "e_pos": zero, "terminated": zero, "truncated": zero}
    return State(pipeline_state=ps, obs=self._obs(ps), reward=zero, done=zero, metrics=metrics,
                 info={"truncation": zero})

  def step(self, state: State, action: jax.Array) -> State:
    c = self.cfg
    ps = state.pipeline_state
    a = jnp.clip(action, -1.0, 1.0)
    v = ps["v"] * (1.0 - c.damping * c.dt) + c.accel * c.dt * a
    p = ps["p"] + c.dt * v
    ps = {"p": p, "v": v, "phase0": ps["phase0"], "t": ps["t"] + 1.0}
    tp, _ = self._target(ps["t"], ps["phase0"])
    err = jnp.sum((p - tp) ** 2)
    reward = jnp.exp(-c.reward_k * err)
    terminated = (jnp.max(jnp.abs(p)) > c.arena).astype(jnp.float32)
    truncated = (ps["t"] >= c.clip_steps).astype(jnp.float32) * (1.0 - terminated)
    done = jnp.maximum(terminated, truncated)
    metrics = {"r_track": reward, "e_pos": jnp.sqrt(err), "terminated": terminated,
               "truncated": truncated}
    return state.replace(pipeline_state=ps, obs=self._obs(ps), reward=reward, done=done,
                         metrics=metrics, info={**state.info, "truncation": truncated})
