"""Goal-conditioned student observations for Stage 2 / 3: the :class:`GoalEnv` wrapper.

``GoalEnv`` wraps one (unbatched) brax env (the HOI env or the toy env) and turns its observation
into a :class:`StudentObs`: the inner observation (the expert's input = the full future reference,
used for expert labels and by the training-only encoder), the last ``k`` student state vectors,
``G = H + 1`` goal tokens (a trajectory preview ``y_{t+1..t+H}`` and one snapshot ``y_{t+L}``) as
residuals ``y (-) x_t`` (unmasked; the networks apply the mask), their 0/1 masks and the
per-episode latent noise ``eps``.

Per episode (at reset and at every auto-reset): one mask for the trajectory tokens and one for the
snapshot token, each drawn from a configurable mixture of mask families
(:data:`interprior_jax.envs.goals.MASK_SAMPLERS`, ``"a+b"`` = union, ``"none"`` = token absent),
``eps ~ N(0, I)``, and the snapshot horizon ``L ~ U[snapshot_min, snapshot_max]`` steps. The
snapshot target is a fixed *absolute* reference time: the remaining steps count down to 0 (the
state at the goal's frame, which can still reach it); one step later a new horizon is drawn from
the current time (a goal chain).  With
``GoalConfig.advance_on_reach`` (evaluation chains, Stage 3) a snapshot goal that is reached is
replaced at once by the next one, ``L`` steps after the later of now and the reached goal's frame
(goals advance along the reference), the horizon being its time limit; ``info[REACHED]`` counts
the goals reached this episode.  A goal frame never lies past the clip's last frame
(:attr:`GoalSource.steps_left_fn`: the horizon is capped there, so ``snap_steps`` is the goal
frame's true distance); once that last frame has been reached as a goal no later one exists, and
the snapshot token is empty (mask 0, as family ``"none"``) until the episode ends -- a goal is
never re-issued at the frame just reached (a reach the policy would be credited for again at every
step: measured on the chain task before this rule, 2026-12-03, docs/results.md).

Env-specific access lives in a :class:`GoalSource` (registry :data:`GOAL_SOURCES`, keyed by
``config.env_kind``): the state vector, goal residuals at given step offsets, the per-entry field
ids (for tolerances) and a mask builder. Every size comes from the env / scene spec.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from brax.envs.base import Env, State
from flax import struct

from interprior_jax.envs import contract
from interprior_jax.training import rollout as rollout_lib

# info keys owned by GoalEnv (all prefixed, fixed shapes per env).
KEY = "goal_key"
HISTORY = "goal_history"
MASK = "goal_mask"
EPS = "goal_eps"
SNAP = "goal_snap_steps"
REACHED = "goal_reached_count"
#: The skills a student observation can ask for (``StudentObs.task`` = the index): reaching the
#: masked goals (Stage 2 / 3) and getting up after a fall (Stage 3, ``envs/inbetween_env.py``).
TASKS = ("goal", "get_up")


@struct.dataclass
class StudentObs:
  """One env's student observation (leaves gain leading batch dims when batched).

  reference ``(R,)`` inner env observation; history ``(k, D_s)`` oldest first; goals / mask
  ``(G, D_g)`` (trajectory tokens then the snapshot token); eps ``(Z,)``; snap_steps ``()`` int32
  steps left until the snapshot target; action_context ``(A,)`` what the expert's actions are
  relative to (HOI: the residual's base, ``HOIEnv.reference_targets`` of the next reference frame,
  for an expert with residual actions;
  :attr:`GoalSource.action_context_fn`) -- used to relabel expert actions, never a student input;
  task ``()`` int32: which skill the episode asks for (:data:`TASKS`; 0 = reach the goals, the
  only one a Stage-2 student knows; Stage 3's get-up skill sets 1), a policy input through the
  prior's learned task token (``LatentPolicyConfig.num_tasks``).
  """
  reference: jax.Array
  history: jax.Array
  goals: jax.Array
  mask: jax.Array
  eps: jax.Array
  snap_steps: jax.Array
  action_context: jax.Array
  task: jax.Array


@dataclasses.dataclass(frozen=True)
class GoalConfig:
  history: int = 5                 # k states (method.md default 5)
  trajectory_steps: int = 4        # H preview frames (0: no trajectory tokens)
  snapshot_min: int = 10           # L range in policy steps (method.md: [10, 90] at 30 Hz)
  snapshot_max: int = 90
  trajectory_families: tuple[str, ...] = ("full", "extremities", "object", "none")
  trajectory_probs: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2)
  snapshot_families: tuple[str, ...] = ("full", "object", "extremities", "contact",
                                        "object+extremities", "random_body", "none")
  snapshot_probs: tuple[float, ...] = (0.2, 0.15, 0.15, 0.1, 0.15, 0.15, 0.1)
  latent_size: int = 64
  advance_on_reach: bool = False  # next snapshot goal as soon as this one is reached (chains)
  # Each goal token also carries its lead time, the seconds from now to its frame (a trailing
  # goal entry, field TIME_FIELD, given whenever the token is; GoalSource.with_time_input): the
  # snapshot's L is otherwise not an input, and a student cannot tell a goal 10 steps away from
  # one 90 steps away.  False: the layout of every bundle before 2026-12-04.
  time_input: bool = False

  @property
  def num_goals(self) -> int:
    return self.trajectory_steps + 1

  def validate(self) -> "GoalConfig":
    if self.history < 1 or self.trajectory_steps < 0:
      raise ValueError(f"config.goals: history={self.history} must be >= 1 and "
                       f"trajectory_steps={self.trajectory_steps} >= 0")
    if not 1 <= self.snapshot_min <= self.snapshot_max:
      raise ValueError(f"config.goals: need 1 <= snapshot_min ({self.snapshot_min}) <= "
                       f"snapshot_max ({self.snapshot_max})")
    for fam, p in ((self.trajectory_families, self.trajectory_probs),
                   (self.snapshot_families, self.snapshot_probs)):
      if len(fam) != len(p) or not fam or min(p) < 0 or sum(p) <= 0:
        raise ValueError(f"config.goals: families {fam} / probabilities {p} mismatch")
    return self


@dataclasses.dataclass(frozen=True)
class GoalSource:
  """Env-specific goal access (all functions act on one unbatched inner ``State``).

  state_fn(state) -> (D_s,); goals_fn(state, offsets (G,) int32 policy steps) -> (G, D_g);
  mask_fn(key, family) -> (D_g,); field_ids (D_g,) int index into field_names (per-entry field);
  tolerance: field name -> goal-reached tolerance (|residual| per entry, units of the field);
  action_context_fn(state) -> (A,): :attr:`StudentObs.action_context`;
  steps_left_fn(state) -> () int32 policy steps from the state's reference time to the last frame
  a goal can be taken from (:data:`NO_END` for a source without one).
  """
  state_size: int
  goal_size: int
  field_names: tuple[str, ...]
  field_ids: np.ndarray
  state_fn: Callable[[State], jax.Array]
  goals_fn: Callable[[State, jax.Array], jax.Array]
  mask_fn: Callable[[jax.Array, str], jax.Array]
  tolerance: dict
  families: tuple[str, ...]
  action_context_fn: Callable[[State], jax.Array]
  steps_left_fn: Callable[[State], jax.Array]

  def check_families(self, names, where: str) -> None:
    for n in names:
      for p in n.split("+"):
        if p not in self.families:
          raise ValueError(f"{where}: mask family {n!r} unknown for this env; known "
                           f"{self.families} (unions with '+')")

  def reach_bounds(self) -> tuple[np.ndarray, np.ndarray]:
    """``(lower, upper)`` (D_g,) bounds of a reached goal residual (:func:`goals.reach_bounds`:
    +-tolerance per field, the ternary contact rule for contacts)."""
    from interprior_jax.envs import goals as goals_lib
    return goals_lib.reach_bounds(self.field_names, self.field_ids, self.tolerance)

  def with_tolerance_scale(self, scale: float) -> "GoalSource":
    """This source with every field's tolerance times ``scale`` (contacts excepted: they are
    judged per label, :data:`goals.CONTACT_REACH_BOUNDS`); ``scale`` 1 returns ``self``."""
    if not scale > 0:
      raise ValueError(f"goal tolerance scale {scale} must be > 0")
    if scale == 1.0:
      return self
    return dataclasses.replace(self, tolerance={
        k: v if k == "contact" else v * scale for k, v in self.tolerance.items()})

  def with_time_input(self, dt: float) -> "GoalSource":
    """This source with one more goal entry per token (field :data:`TIME_FIELD`, last): the
    token's lead time ``offset * dt`` in seconds, given (mask 1) whenever any other entry of the
    token is; never judged for reach (tolerance inf)."""
    if TIME_FIELD in self.field_names:
      raise ValueError("GoalSource.with_time_input: the source already has a time entry")
    goals_fn, mask_fn = self.goals_fn, self.mask_fn

    def timed_goals(s, offsets):
      lead = offsets.astype(jnp.float32)[:, None] * dt
      return jnp.concatenate([goals_fn(s, offsets), lead], axis=-1)

    def timed_mask(key, family):
      m = mask_fn(key, family)
      return jnp.concatenate([m, jnp.any(m > 0)[None].astype(m.dtype)])

    return dataclasses.replace(
        self, goal_size=self.goal_size + 1, field_names=self.field_names + (TIME_FIELD,),
        field_ids=np.append(self.field_ids, len(self.field_names)).astype(np.int32),
        goals_fn=timed_goals, mask_fn=timed_mask,
        tolerance={**self.tolerance, TIME_FIELD: float("inf")})

  def sample_mask(self, key, families, probs) -> jax.Array:
    """Flat (D_g,) mask from the mixture (every family built, one selected: jit-able)."""
    k_pick, k_fam = jax.random.split(key)
    flat = jnp.stack([self.mask_fn(jax.random.fold_in(k_fam, i), f)
                      for i, f in enumerate(families)])
    p = jnp.asarray(probs, jnp.float32)
    return flat[jax.random.choice(k_pick, len(families), p=p / jnp.sum(p))]


# ------------------------------------------------------------------------------- goal sources
# Goal-reached tolerances per field (defaults; configs may override). Positions in m, rotations
# in rad (log-map norm per axis entry); contacts are judged per label instead
# (goals.CONTACT_REACH_BOUNDS: 1 touching, -1 not touching, 0 ignored), their entry is unused.
#: :attr:`GoalSource.steps_left_fn` of a source whose goals never run out (the toy's targets).
NO_END = 2 ** 30
HOI_TOLERANCE = {"root_height": 0.1, "body_pos": 0.15, "body_rot": 0.5, "obj_pos": 0.1,
                 "obj_rot": 0.5, "contact": 0.5, "interaction": 0.5}
TOY_TOLERANCE = {"pos": 0.1, "vel": 0.5}
#: Field of the goal tokens' lead time (seconds; ``GoalConfig.time_input``).
TIME_FIELD = "time"


def _toy_source(env, cfg: GoalConfig) -> GoalSource:
  """Point-mass env: state (p, v); goal residual (target(t+k) - p, target_vel(t+k) - v)."""
  from interprior_jax.envs import toy_env

  d = toy_env.DIM
  field_names = ("pos", "vel")
  field_ids = np.repeat(np.arange(2, dtype=np.int32), d)

  def state_fn(s):
    return jnp.concatenate([s.pipeline_state["p"], s.pipeline_state["v"]])

  def goals_fn(s, offsets):
    ps = s.pipeline_state
    tp, tv = jax.vmap(lambda k: env._target(ps["t"] + k, ps["phase0"]))(
        offsets.astype(jnp.float32))
    return jnp.concatenate([tp - ps["p"], tv - ps["v"]], axis=-1)

  fams = {"full": lambda key: jnp.ones(2 * d), "none": lambda key: jnp.zeros(2 * d),
          "pos": lambda key: jnp.asarray(field_ids == 0, jnp.float32),
          "vel": lambda key: jnp.asarray(field_ids == 1, jnp.float32),
          "random_field": lambda key: jax.random.bernoulli(key, 0.5, (2,)).astype(
              jnp.float32)[jnp.asarray(field_ids)]}

  def mask_fn(key, family):
    parts = family.split("+")
    return jnp.max(jnp.stack([fams[p](jax.random.fold_in(key, i))
                              for i, p in enumerate(parts)]), axis=0)

  return GoalSource(state_size=2 * d, goal_size=2 * d, field_names=field_names,
                    field_ids=field_ids, state_fn=state_fn, goals_fn=goals_fn, mask_fn=mask_fn,
                    tolerance=dict(TOY_TOLERANCE), families=tuple(fams),
                    action_context_fn=lambda s: jnp.zeros((env.action_size,)),
                    steps_left_fn=lambda s: jnp.asarray(NO_END, jnp.int32))


def hoi_sim_features(env, s: State):
  """``(SimFrame, Features)`` of one HOI env state: the simulated state in the heading frame of
  its own root (:func:`goals.hoi_features`), the interaction field over *all* surface points (as
  the library's reference ``body_obj_vec``: a state equal to the reference has a zero interaction
  residual; the observation's subset would not), contacts zeroed right after a reset (stale)."""
  from interprior_jax.envs import goals as goals_lib
  from interprior_jax.motion import features as mfeatures

  info = s.info
  sim = env.physics.frame(s.pipeline_state)
  valid = (info[contract.INFO_STEPS] > 0).astype(jnp.float32)
  points = env.surface_points(info[contract.INFO_CLIP], info[contract.INFO_OBJ_PARAMS])
  world = mfeatures.object_points_world(sim.obj_pos, sim.obj_quat, points)
  vec = mfeatures.nearest_surface_vec(sim.body_pos, world)
  x = goals_lib.hoi_features(sim, sim.root_pos, sim.root_quat, vec,
                             sim.body_obj_contact[jnp.asarray(env.spec.contact_body_idx)] * valid)
  return sim, x


def _hoi_source(env, cfg: GoalConfig) -> GoalSource:
  """HOI env: state = the obs' ``self`` + ``floor_contact`` blocks; goals = masked-residual
  layout (:data:`goals.RESIDUAL_LAYOUT`) of the reference at the given offsets vs the simulated
  state, both in the simulated root's heading frame (like the env's own goal blocks)."""
  from interprior_jax.envs import goals as goals_lib

  contract.check(env, "HOI goal source")
  spec = env.spec
  B, C = spec.num_bodies, len(spec.contact_body_idx)
  state_end = contract.student_state_size(env.obs_spec)
  ext = np.concatenate([np.asarray(spec.hand_idx), np.asarray(spec.foot_idx),
                        np.asarray([spec.head_idx])]).astype(np.int32)
  cidx = np.asarray(spec.contact_body_idx)

  def state_fn(s):
    return s.obs[:state_end]

  def goals_fn(s, offsets):
    info = s.info
    sim, x = hoi_sim_features(env, s)
    times = info[contract.INFO_TIME] + offsets.astype(jnp.float32) * env.dt
    refs = env.library.frame(jnp.broadcast_to(info[contract.INFO_CLIP], offsets.shape), times)
    ys = goals_lib.hoi_features(refs, sim.root_pos[None], sim.root_quat[None],
                                refs.body_obj_vec, refs.body_contact[:, jnp.asarray(cidx)])
    xb = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (offsets.shape[0],) + a.shape), x)
    res = goals_lib.goal_residual(xb, ys)
    return jnp.nan_to_num(goals_lib.flatten(res, goals_lib.RESIDUAL_LAYOUT))

  def mask_fn(key, family):
    return goals_lib.mask_to_flat(goals_lib.family_mask(family, key, B, C, ext), B, C)

  return GoalSource(
      state_size=state_end, goal_size=goals_lib.layout_size(goals_lib.RESIDUAL_LAYOUT, B, C),
      field_names=goals_lib.FIELDS, field_ids=goals_lib.residual_field_ids(B, C),
      state_fn=state_fn, goals_fn=goals_fn, mask_fn=mask_fn, tolerance=dict(HOI_TOLERANCE),
      families=tuple(goals_lib.MASK_SAMPLERS),
      action_context_fn=lambda s: env.reference_targets(env.library.frame(
          s.info[contract.INFO_CLIP], s.info[contract.INFO_TIME] + env.dt)),
      steps_left_fn=lambda s: jnp.floor(
          (env.library.duration(s.info[contract.INFO_CLIP]) - s.info[contract.INFO_TIME])
          / env.dt + 1e-3).astype(jnp.int32))


GOAL_SOURCES: dict[str, Callable[[Env, GoalConfig], GoalSource]] = {
    "toy": _toy_source, "hoi": _hoi_source}


def make_goal_source(env_kind: str, env: Env, cfg: GoalConfig) -> GoalSource:
  if env_kind not in GOAL_SOURCES:
    raise ValueError(f"env_kind={env_kind!r} has no goal source; known {sorted(GOAL_SOURCES)}")
  source = GOAL_SOURCES[env_kind](env, cfg)
  return source.with_time_input(float(env.dt)) if cfg.time_input else source


# ------------------------------------------------------------------------------------ wrapper
class GoalEnv(Env):
  """brax ``Env`` with :class:`StudentObs` observations (see the module docstring).

  Works under :class:`~interprior_jax.training.rollout.VecEnv` with self-resetting inner envs
  (per-episode draws are redone where ``done``) and with envs VecEnv resets (via ``reset``).
  """

  def __init__(self, env: Env, source: GoalSource, cfg: GoalConfig):
    self.env = env
    self.source = source
    self.cfg = cfg.validate()
    self._reach_lower, self._reach_upper = (jnp.asarray(b) for b in source.reach_bounds())
    source.check_families(cfg.trajectory_families, "config.goals.trajectory_families")
    source.check_families(cfg.snapshot_families, "config.goals.snapshot_families")

  @property
  def observation_size(self):
    return self.env.observation_size

  @property
  def action_size(self) -> int:
    return self.env.action_size

  @property
  def backend(self) -> str:
    return self.env.backend

  @property
  def unwrapped(self):
    return self.env

  def _episode_draws(self, key):
    """(mask (G, D_g), eps (Z,), snapshot horizon ()) for a new episode."""
    c = self.cfg
    k_traj, k_snap, k_eps, k_len = jax.random.split(key, 4)
    traj = self.source.sample_mask(k_traj, c.trajectory_families, c.trajectory_probs)
    snap = self.source.sample_mask(k_snap, c.snapshot_families, c.snapshot_probs)
    mask = jnp.concatenate([jnp.broadcast_to(traj, (c.trajectory_steps, traj.shape[0])),
                            snap[None]], axis=0)
    eps = jax.random.normal(k_eps, (c.latent_size,))
    return mask, eps, self._horizon(k_len)

  def _horizon(self, key):
    return jax.random.randint(key, (), self.cfg.snapshot_min, self.cfg.snapshot_max + 1)

  @staticmethod
  def next_goal(ahead, horizon, left):
    """``(steps, none_left)``: the next snapshot goal ``horizon`` steps after the later of now
    and the current goal's frame (``ahead`` steps from now; <= 0 once passed), capped at the
    last frame (``left`` steps from now; at least 1 step ahead); ``none_left`` when the current
    goal already is that last frame (no later one exists). int32 ``()`` each."""
    steps = jnp.minimum(jnp.maximum(ahead, 0) + horizon, left)
    return jnp.maximum(steps, 1).astype(jnp.int32), ahead >= left

  def _offsets(self, snap_steps):
    traj = jnp.arange(1, self.cfg.trajectory_steps + 1, dtype=jnp.int32)
    return jnp.concatenate([traj, snap_steps[None].astype(jnp.int32)])

  def _observe(self, s: State, info) -> StudentObs:
    return StudentObs(reference=s.obs, history=info[HISTORY],
                      goals=self.source.goals_fn(s, self._offsets(info[SNAP])),
                      mask=info[MASK], eps=info[EPS], snap_steps=info[SNAP],
                      action_context=self.source.action_context_fn(s),
                      task=jnp.zeros((), jnp.int32))

  @staticmethod
  def _inner_info(info: dict) -> dict:
    """The inner env's info without its ``final_obs`` (an inner-observation array: the student's
    observation is a :class:`StudentObs`, and distillation bootstraps no value, so the vector
    wrapper's own pre-reset fallback is used)."""
    return {k: v for k, v in info.items() if k != rollout_lib.ENV_FINAL_OBS}

  def reset(self, rng: jax.Array) -> State:
    k_env, k_draw, k_next = jax.random.split(rng, 3)
    s = self.env.reset(k_env)
    mask, eps, snap = self._episode_draws(k_draw)
    snap, _ = self.next_goal(0, snap, self.source.steps_left_fn(s))
    x = self.source.state_fn(s)
    info = self._inner_info(s.info)
    info.update({KEY: k_next, HISTORY: jnp.broadcast_to(x, (self.cfg.history,) + x.shape),
                 MASK: mask, EPS: eps, SNAP: snap.astype(jnp.int32),
                 REACHED: jnp.zeros((), jnp.int32)})
    return s.replace(obs=self._observe(s, info), info=info)

  def snapshot_reached(self, obs: StudentObs) -> jax.Array:
    """() float32: the snapshot goal is given (non-empty mask) and reached
    (:func:`interprior_jax.envs.goals.goal_reached`)."""
    from interprior_jax.envs import goals as goals_lib
    given = (jnp.sum(obs.mask[-1]) > 0).astype(jnp.float32)
    return given * goals_lib.goal_reached(obs.goals[-1], obs.mask[-1], self._reach_lower,
                                          self._reach_upper)

  def step(self, state: State, action: jax.Array) -> State:
    info = state.info
    ns = self.env.step(state.replace(obs=state.obs.reference), action)
    done = ns.done > 0
    key, k_draw, k_len = jax.random.split(info[KEY], 3)
    mask, eps, snap_new = self._episode_draws(k_draw)
    x = self.source.state_fn(ns)
    rolled = jnp.concatenate([info[HISTORY][1:], x[None]], axis=0)
    fresh_hist = jnp.broadcast_to(x, rolled.shape)
    left = self.source.steps_left_fn(ns)  # after an auto-reset: the new episode's
    snap_new, _ = self.next_goal(0, snap_new, left)
    # The goal stays until the state at its own frame (snap 0) has been seen; then the next one
    # (a goal chain).  Before 2026-12-03 it was replaced at snap 0, so that state never counted.
    snap = info[SNAP] - 1
    snap = jnp.where(snap < 0, self.next_goal(0, self._horizon(k_len), left)[0], snap)
    new = self._inner_info(ns.info)
    new.update({KEY: key, HISTORY: jnp.where(done, fresh_hist, rolled),
                MASK: jnp.where(done, mask, info[MASK]), EPS: jnp.where(done, eps, info[EPS]),
                SNAP: jnp.where(done, snap_new, snap).astype(jnp.int32),
                REACHED: jnp.where(done, 0, info[REACHED]).astype(jnp.int32)})
    obs = self._observe(ns, new)
    if self.cfg.advance_on_reach:
      hit = (self.snapshot_reached(obs) > 0) & ~done
      nxt, none_left = self.next_goal(new[SNAP], self._horizon(jax.random.fold_in(k_len, 1)),
                                      left)
      new[SNAP] = jnp.where(hit, nxt, new[SNAP]).astype(jnp.int32)
      # The last frame reached as a goal: the snapshot token is empty until the episode ends.
      new[MASK] = jnp.where(hit & none_left, new[MASK].at[-1].set(0.0), new[MASK])
      new[REACHED] = (new[REACHED] + hit).astype(jnp.int32)
      obs = self._observe(ns, new)
    return ns.replace(obs=obs, info=new)
