"""Stage 3's in-betweening env (method.md "RL finetuning"): a :class:`~goal_env.GoalEnv` whose
reward is the goal's, not the reference's.

Episodes start where the inner env resets them (the HOI env: a dataset frame with the configured
pose / velocity noise, ``env.init.*_noise``; the toy env: a random phase); each carries one
snapshot goal (a future dataset frame under a random mask, ``GoalConfig.snapshot_families``) and,
with ``advance_on_reach`` (forced on here), the next goal as soon as one is reached. Reward per
step, as named terms (logged):

``r = w_style * r_energy * r_hand  +  r_succ * [goal reached this step]  +  r_term
      (+ w_goal * r_goal + w_place * r_place)``

``r_goal = exp(-mean_i v_i)`` is an optional dense goal term (not in method.md; ``w_goal = 0``
by default): ``v_i = max(|r_i - c_i| - h_i, 0) / h_i`` is how far the masked goal residual entry
``r_i`` lies outside its reach interval ``[c_i - h_i, c_i + h_i]`` (the per-field tolerances
``goals.reach_bounds``, in units of the half-width), averaged over the given entries with a
finite interval; 1 on a reached goal. ``r_place = exp(-d / place_scale)`` is an optional dense
placement term (HOI env only, not in method.md, ``w_place = 0`` by default): ``d`` is the
horizontal distance from the simulated pelvis to the snapshot goal's (the goal token's root
position residual, :func:`goals.root_xy_entries`), 1 on a reached goal, 0 when the token does
not ask for the pelvis (docs/results.md: the walking student misses snapshot goals mostly by
where its pelvis is). ``r_energy`` / ``r_hand`` are the inner env's terms of the same name (``State.metrics``; 1 for an
env without them, e.g. the toy), ``r_term = term_penalty`` on a termination (not a time limit).
Failure-state starts come from the HOI env's PSI buffer in its "failure" mode
(``env.init.psi_harvest``, set by ``configs/finetune.py``).

**The get-up skill** (method.md: "optional new skill with a learned task token: getting up after
a fall (upright + raise centre of mass rewards)"; ``task = "get_up"``, HOI env only): the
observation asks for task 1 (``StudentObs.task``, the prior's task token) with no goal (mask
zero), and the reward is

``r = w_up * r_up + w_height * r_height + w_feet * r_feet + w_stand * stood``

with ``r_up = max(u_z, 0)``, ``u`` the unit vector from the root (pelvis) to the head, and
``r_height = clip(h / h_ref, 0, 1)``, ``h`` the mean height of root and head (the trunk, which
carries most of the mass: the centre-of-mass proxy) and ``h_ref`` the same of the reference frame
of the episode's current time (the motion the humanoid fell out of). The episode has *stood up*
(``stood`` = 1) on a step with ``r_up >= up_min`` and ``r_height >= height_min``. ``r_feet =
exp(-(d / feet_scale)^2)``, ``d`` the horizontal distance from the root to the feet's mean: the
support under the pelvis that rising from a sit needs (method.md names only the first two terms;
``w_feet`` and ``w_stand`` default to 0; docs/results.md measures them). Its starts (``fallen_prob``
of the HOI env's ``config.init``) and terminations (none but the time limit) are the env's config:
``training/finetune/train.py`` builds the get-up env group. These terms (``gu_*``) are logged by
every HOI in-betweening env, so the goal envs report how upright they stay too.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State

from interprior_jax.envs import contract
from interprior_jax.envs import goal_env as goal_env_lib
from interprior_jax.envs import goals as goals_lib

#: Inner-env metrics the style term multiplies (absent -> 1).
STYLE_TERMS = ("r_energy", "r_hand")
#: Reward terms written to ``State.metrics`` (prefixed ``ib_``: the inner env's own terms stay).
REWARD_TERMS = ("ib_r_style", "ib_r_succ", "ib_r_term", "ib_r_goal", "ib_r_place", "ib_reward",
                "ib_reached")
#: The get-up terms (HOI envs; see the module docstring): r_up, r_height, r_feet, stood up (0 / 1).
GETUP_TERMS = ("gu_up", "gu_height", "gu_feet", "gu_standing")


@dataclasses.dataclass(frozen=True)
class InbetweenConfig:
  w_style: float = 1.0
  r_succ: float = 10.0
  term_penalty: float = -1.0
  w_goal: float = 0.0   # dense goal term (not in method.md; see the module docstring)
  w_place: float = 0.0  # dense pelvis placement term (HOI only; not in method.md; docstring)
  place_scale: float = 0.3  # m: r_place = exp(-d / place_scale)
  # Training goals are reached within this multiple of the evaluation tolerances (the goal
  # source's, contacts excepted: they are judged per label); 1 = the evaluation's. Not in
  # method.md: a wider band makes the success bonus less rare (docs/results.md).
  reach_tolerance_scale: float = 1.0
  # The skill asked for (goal_env.TASKS): "goal" (in-betweening) or "get_up" (HOI only).
  task: str = "goal"
  w_up: float = 1.0
  w_height: float = 1.0
  up_min: float = 0.9      # stood up: r_up at least this (the trunk within ~25 deg of vertical)
  height_min: float = 0.9  # ... and r_height at least this
  w_feet: float = 0.0      # feet under the pelvis (not in method.md)
  feet_scale: float = 0.2  # m: r_feet = exp(-(d / feet_scale)^2)
  w_stand: float = 0.0     # bonus on each step stood up (not in method.md)


class InbetweenEnv(Env):
  """Wraps a :class:`GoalEnv` (rebuilt with ``advance_on_reach=True``); same observations."""

  def __init__(self, genv: goal_env_lib.GoalEnv, cfg: InbetweenConfig = InbetweenConfig()):
    if not cfg.reach_tolerance_scale > 0:
      raise ValueError(f"config.inbetween.reach_tolerance_scale={cfg.reach_tolerance_scale} "
                       "must be > 0")
    if not cfg.feet_scale > 0:
      raise ValueError(f"config.inbetween.feet_scale={cfg.feet_scale} must be > 0")
    if not cfg.place_scale > 0:
      raise ValueError(f"config.inbetween.place_scale={cfg.place_scale} must be > 0")
    if cfg.task not in goal_env_lib.TASKS:
      raise ValueError(f"config.inbetween.task={cfg.task!r}; valid {goal_env_lib.TASKS}")
    inner = genv.env
    # The get-up terms read the HOI env's physics and reference (envs/contract.py).
    self._hoi = all(hasattr(inner, a) for a in contract.ATTRIBUTES)
    if cfg.task == "get_up" and not self._hoi:
      raise ValueError(f"config.inbetween.task='get_up' needs the HOI env; "
                       f"{type(inner).__name__} lacks its contract (envs/contract.py)")
    if cfg.w_place != 0 and not self._hoi:
      raise ValueError(f"config.inbetween.w_place={cfg.w_place} needs the HOI env (a pelvis); "
                       f"{type(inner).__name__} lacks its contract (envs/contract.py)")
    source = genv.source.with_tolerance_scale(cfg.reach_tolerance_scale)
    if not genv.cfg.advance_on_reach or source is not genv.source:
      genv = goal_env_lib.GoalEnv(genv.env, source,
                                  dataclasses.replace(genv.cfg, advance_on_reach=True))
    self.genv = genv
    self.cfg = cfg
    lower, upper = (np.asarray(b, np.float64) for b in genv.source.reach_bounds())
    finite = np.isfinite(lower) & np.isfinite(upper) & (upper > lower)
    lower, upper = np.where(finite, lower, -1.0), np.where(finite, upper, 1.0)
    self._centre = (0.5 * (lower + upper)).astype(np.float32)
    self._half = (0.5 * (upper - lower)).astype(np.float32)
    self._finite = finite.astype(np.float32)
    if self._hoi:
      self._root_xy = goals_lib.root_xy_entries(inner.spec.num_bodies,
                                                len(inner.spec.contact_body_idx))

  # brax Env interface: everything but the reward is the goal env's.
  @property
  def observation_size(self):
    return self.genv.observation_size

  @property
  def action_size(self) -> int:
    return self.genv.action_size

  @property
  def backend(self) -> str:
    return self.genv.backend

  @property
  def unwrapped(self):
    return self.genv.unwrapped

  @property
  def env(self):
    """The inner (reference-tracking) env, as on :class:`GoalEnv`."""
    return self.genv.env

  @property
  def source(self):
    return self.genv.source

  @property
  def task_id(self) -> int:
    return goal_env_lib.TASKS.index(self.cfg.task)

  def _with_terms(self, s: State, terms: dict) -> State:
    obs = s.obs.replace(task=jnp.full_like(s.obs.task, self.task_id))
    if self.cfg.task == "get_up":  # no goal is asked for
      obs = obs.replace(mask=jnp.zeros_like(obs.mask))
    return s.replace(obs=obs, reward=terms["ib_reward"], metrics={**s.metrics, **terms})

  def getup_terms(self, s: State) -> dict:
    """``gu_up``, ``gu_height``, ``gu_feet``, ``gu_standing`` (``()`` each) of an HOI env state
    (module docstring)."""
    inner = self.genv.env
    f = inner.physics.frame(s.pipeline_state)
    ref = inner.library.frame(s.info[contract.INFO_CLIP], s.info[contract.INFO_TIME])
    head = inner.spec.head_idx
    root, hd = f.root_pos, f.body_pos[head]
    ref_root, ref_hd = ref.root_pos, ref.body_pos[head]
    u = hd - root
    up = jnp.maximum(u[2] / jnp.maximum(jnp.linalg.norm(u), 1e-6), 0.0)
    h_ref = jnp.maximum(0.5 * (ref_root[2] + ref_hd[2]), 1e-3)
    height = jnp.clip(0.5 * (root[2] + hd[2]) / h_ref, 0.0, 1.0)
    standing = ((up >= self.cfg.up_min) & (height >= self.cfg.height_min)).astype(jnp.float32)
    feet = jnp.mean(f.body_pos[jnp.asarray(inner.spec.foot_idx)], axis=0)
    d = jnp.linalg.norm(feet[:2] - root[:2])
    r_feet = jnp.exp(-jnp.square(d / self.cfg.feet_scale))
    return {"gu_up": up, "gu_height": height, "gu_feet": r_feet, "gu_standing": standing}

  def reset(self, rng) -> State:
    s = self.genv.reset(rng)
    zero = jnp.zeros(())
    terms = {k: zero for k in REWARD_TERMS}
    if self._hoi:
      terms.update(self.getup_terms(s))
    return self._with_terms(s, terms)

  def goal_closeness(self, goals, mask):
    """``r_goal`` (see the module docstring) of the snapshot token: ``goals`` / ``mask``
    ``[..., K, D]`` (the student observation's) -> ``[...]`` in (0, 1]; 0 for an empty token."""
    r, m = goals[..., -1, :], mask[..., -1, :] * self._finite
    v = jnp.maximum(jnp.abs(r - self._centre) - self._half, 0.0) / self._half
    mean = jnp.sum(v * m, axis=-1) / jnp.maximum(jnp.sum(m, axis=-1), 1.0)
    given = jnp.any(mask[..., -1, :] > 0, axis=-1)  # no goal (e.g. none left in the clip): 0
    return jnp.where(given, jnp.exp(-mean), 0.0)

  def placement(self, goals, mask):
    """``r_place`` (module docstring) of the snapshot token: ``goals`` / ``mask`` ``[..., K, D]``
    -> ``[...]`` in (0, 1]; 0 where the token does not give the pelvis position."""
    idx = jnp.asarray(self._root_xy)
    r, m = goals[..., -1, idx], mask[..., -1, idx]
    d = jnp.linalg.norm(r, axis=-1)
    return jnp.where(jnp.all(m > 0, axis=-1), jnp.exp(-d / self.cfg.place_scale), 0.0)

  def step(self, state: State, action) -> State:
    ns = self.genv.step(state, action)
    c = self.cfg
    m = ns.metrics
    style = jnp.ones(())
    for k in STYLE_TERMS:
      if k in m:
        style = style * m[k]
    reached = goal_env_lib.REACHED
    # Goals reached this step (the count restarts at 0 on an episode end).
    hit = jnp.where(ns.done > 0, 0, ns.info[reached] - state.info[reached]).astype(jnp.float32)
    hit = jnp.maximum(hit, 0.0)
    trunc = ns.info.get("truncation", jnp.zeros(()))
    terminated = ns.done * (1.0 - trunc)
    # Dense terms: the new state against the goal it was acting for (1 when reached: the observed
    # goal has then advanced to the next one; 0 on an episode end, whose observation is the reset
    # state's).
    def dense(value):
      return jnp.where(hit > 0, 1.0, jnp.where(ns.done > 0, 0.0, value))
    closeness = dense(self.goal_closeness(ns.obs.goals, ns.obs.mask))
    place = dense(self.placement(ns.obs.goals, ns.obs.mask)) if self._hoi else jnp.zeros(())
    terms = {"ib_r_style": c.w_style * style, "ib_r_succ": c.r_succ * hit,
             "ib_r_term": c.term_penalty * terminated, "ib_r_goal": c.w_goal * closeness,
             "ib_r_place": c.w_place * place, "ib_reached": hit}
    terms["ib_reward"] = (terms["ib_r_style"] + terms["ib_r_succ"] + terms["ib_r_term"]
                          + terms["ib_r_goal"] + terms["ib_r_place"])
    if self._hoi:
      # the state this action reached; on an episode end (the env has reset itself) the terms
      # of the state before the action, the last one of the episode that is kept
      gu = self.getup_terms(ns)
      terms.update({k: jnp.where(ns.done > 0, state.metrics[k], gu[k]) for k in GETUP_TERMS})
      if c.task == "get_up":
        zero = jnp.zeros(())
        terms.update({"ib_r_style": zero, "ib_r_succ": zero, "ib_r_goal": zero,
                      "ib_r_place": zero, "ib_reached": zero})
        terms["ib_reward"] = (c.w_up * terms["gu_up"] + c.w_height * terms["gu_height"]
                              + c.w_feet * terms["gu_feet"] + c.w_stand * terms["gu_standing"]
                              + terms["ib_r_term"])
    return self._with_terms(ns, terms)
