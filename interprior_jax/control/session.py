"""Closed-loop play of a policy bundle in plain MuJoCo, one env, driven by keyboard commands.

The sim-to-sim path: the policy's JAX inference, MuJoCo C physics (the HOI env on the "c"
backend, one env, perturbations / randomisation off, only the ``fall`` termination).  Bundles:

* a **Stage-2/3 student** (``config.goals`` present): goals come from the active command
  (:mod:`interprior_jax.control.commands`), recomputed every policy step from the current state,
  or from the dataset (snapshot / chain keys: reference frames of the bundle's clips, re-anchored
  at the simulated root, as during distillation).  The env's reference time is pinned to the
  episode's start: the clip only supplies the object and the first state, never an episode end.
* a **Stage-1 expert**: replays its clip (keys: reset, help), for debugging.

A fall or a diverged simulation resets the episode and raises a notice (:attr:`notice`); the
session keeps running.  :meth:`tick` is one policy step (30 Hz); :func:`run_realtime` paces it.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib
import time
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from interprior_jax import geometry
from interprior_jax.control import commands as cmd_lib
from interprior_jax.envs import goals as goals_lib
from interprior_jax.envs import init_states

CHAIN_LENGTH = 3
CHAIN_SPACING_S = 1.5  # s between the dataset frames of a goal chain
SNAPSHOT_AHEAD_S = 1.5  # s after the current dataset time of the next snapshot goal
RTF_WINDOW = 30  # ticks over which the shown real-time factor is measured
NEVER = 2 ** 30  # the env's max_episode_steps in play (episodes end by falls only)


def has_getup(config) -> bool:
  """The bundle's prior knows the get-up skill (task tokens from a finetune with it)."""
  from interprior_jax.envs import goal_env
  net = config.get("distill", {}).get("network", {})
  return int(net.get("num_tasks", 1)) > goal_env.TASKS.index("get_up")


def play_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The bundle's config for play: C physics, no perturbations / randomisation / start noise,
  only the fall termination (none for a bundle with the get-up skill: the humanoid lies where
  it fell until ``u``), no step limit."""
  c = ml_collections.ConfigDict(config.to_dict())
  e = c.env
  e.impl = "c"
  e.perturb.mode = "off"
  e.randomize.enabled = False
  e.termination.enabled = () if has_getup(config) else ("fall",)
  e.max_episode_steps = NEVER
  e.init.update(start_prob=1.0, psi_prob=0.0, random_pose_prob=0.0)
  for k in init_states.START_NOISE_KEYS:
    e.init[k] = 0.0
  return c


@dataclasses.dataclass
class Status:
  """What the screen shows after a tick."""
  step: int
  command: str
  kind: str
  root_pos: np.ndarray
  obj_pos: np.ndarray
  notice: str
  goals_reached: int
  markers: tuple = ()  # ((name, world position (3,)), ...) of the active goal (goal_markers)
  root_yaw: float = 0.0  # heading of the pelvis' x axis in the ground plane (rad, about world z)


class PlaySession:
  """One bundle played closed-loop (see the module docstring).

  Raises ValueError naming ``<bundle>/config.json`` and the field when the bundle is not an HOI
  policy, or its humanoid differs from ``humanoid`` (when given).
  """

  def __init__(self, bundle_dir, clip: int = 0, seed: int = 0, humanoid: str | None = None,
               clips=None, latent_mean: bool = False, move_lead_s: float = cmd_lib.MOVE_LEAD_S):
    from interprior_jax.training import checkpoint as ckpt_lib
    from interprior_jax.training.distill import train as distill
    from interprior_jax.envs import goal_env
    from interprior_jax.envs import registry
    from interprior_jax.motion import sources
    from interprior_jax.training.ppo import train as ppo

    bundle_dir = pathlib.Path(bundle_dir)
    if not (bundle_dir / ckpt_lib.BUNDLE_PARAMS).is_file() and (
        bundle_dir / ckpt_lib.BUNDLE_DIR).is_dir():
      bundle_dir = bundle_dir / ckpt_lib.BUNDLE_DIR
    bundle = ckpt_lib.load_bundle(bundle_dir)
    where = f"{bundle_dir}/config.json"
    if bundle.config.get("env_kind") != "hoi":
      raise ValueError(f"{where}: field 'env_kind' is {bundle.config.get('env_kind')!r}; play "
                       "needs an HOI policy (Stage-1 expert or Stage-2/3 student)")
    have = bundle.config["env"]["scene"]["humanoid"]
    if humanoid is not None and have != humanoid:
      raise ValueError(f"{where}: field 'env.scene.humanoid' is {have!r}, expected {humanoid!r}")
    self.kind = "student" if "goals" in bundle.config else "expert"
    self.getup = has_getup(bundle.config)
    self.config = play_config(ml_collections.ConfigDict(bundle.config))
    self.clips = clips if clips is not None else sources.load_clips(self.config)
    if not 0 <= clip < len(self.clips):
      raise ValueError(f"clip {clip}: the bundle's data has clips 0..{len(self.clips) - 1}")
    self.env = env = registry.make_env(self.config, self.clips)
    self.clip = int(clip)
    self.latent_mean = bool(latent_mean)  # student: the prior's mean latent instead of a sample
    self._key = jax.random.PRNGKey(seed)
    self.command = "stand"
    self.notice = ""
    self._spot = np.zeros(3)  # world target of "carry"
    self._dataset_goals: list[float] = []  # reference times of pending snapshot / chain goals
    self._dataset_time = 0.0
    self.goals_reached = 0
    spec = env.spec
    self._step_env = jax.jit(env.step)
    self._reset_env = jax.jit(lambda k, c, t: env.reset_to(k, c, t))
    self._summary = jax.jit(lambda s: _summary(env, s))
    if self.kind == "student":
      params, act_eps, z = distill.latent_inference_policy(bundle)
      gcfg = distill.goal_config_from(self.config.goals, z)
      self.goal_config = gcfg
      source = goal_env.make_goal_source("hoi", env, gcfg)
      self._source = source
      first = self.clips[self.clip]
      self.layout = cmd_lib.GoalLayout(
          num_bodies=spec.num_bodies, num_contacts=len(spec.contact_body_idx),
          root_idx=0, trajectory_steps=gcfg.trajectory_steps, dt=float(env.dt),
          obj_rest_z=float(first.obj_pos[0, 2]),
          stand_height=float(first.root_pos[0, 2]) * cmd_lib.STAND_HEIGHT_SCALE,
          move_lead_steps=int(round(move_lead_s / float(env.dt))),
          time_input=gcfg.time_input,
          hand_contact_slots=cmd_lib.hand_contact_slots(spec.contact_body_idx,
                                                        spec.hand_body_idx))
      self._lower, self._upper = (jnp.asarray(b) for b in source.reach_bounds())
      self._params = params
      # One compiled step for every goal source: lax.switch over the command builders, then the
      # dataset goal (index len(GOAL_COMMANDS)).
      branches = [self._make_goal_fn(c) for c in cmd_lib.GOAL_COMMANDS]
      branches.append(self._make_dataset_goal_fn())
      self._goal_index = {c: i for i, c in enumerate(cmd_lib.GOAL_COMMANDS)}
      lower, upper = self._lower, self._upper
      field_ids = goals_lib.residual_field_ids(spec.num_bodies, len(spec.contact_body_idx))

      def goal(s, which, spot, goal_time):
        return jax.lax.switch(which, branches, s, spot, goal_time)

      def student_step(params, s, hist, eps, pinned, which, spot, goal_time, task):
        goals, mask = goal(s, which, spot, goal_time)
        a = act_eps(params, hist[None], goals[None], mask[None], eps[None], task[None])[0]
        ns = env.step(s.replace(info={**s.info, "time": pinned}), a)
        x = source.state_fn(ns)
        rolled = jnp.concatenate([hist[1:], x[None]], axis=0)
        hist = jnp.where(ns.done > 0, jnp.broadcast_to(x, hist.shape), rolled)
        reached = _snapshot_reached(goals[-1], mask[-1], lower, upper)
        sim = env.physics.frame(s.pipeline_state)
        marks = goal_markers(goals, mask, sim.root_pos, sim.root_quat, sim.obj_pos, field_ids,
                             spec.num_bodies)
        return ns, hist, reached, {**_summary(env, ns), "markers": marks}

      self._goal = jax.jit(goal)
      self._student_step = jax.jit(student_step)
      self._latent = z
    else:
      expert = ppo.bundle_policy(bundle, deterministic=True)

      def expert_step(s):
        ns = env.step(s, expert(s.obs[None])[0])
        return ns, _summary(env, ns)

      self._expert_step = jax.jit(expert_step)
    self.reset()

  # ------------------------------------------------------------------------------ goals
  def _make_goal_fn(self, command: str) -> Callable:
    from interprior_jax.envs import goal_env

    lay, env = self.layout, self.env

    def fn(s, spot_world, goal_time):
      sim, x = goal_env.hoi_sim_features(env, s)
      spot = geometry.quat_rotate(geometry.heading_quat_inv(sim.root_quat),
                                  spot_world - sim.root_pos)
      if command == "carry":
        return cmd_lib.command_goal(lay, command, x, sim.root_pos[2], spot=spot)
      return cmd_lib.command_goal(lay, command, x, sim.root_pos[2])

    return fn

  def _make_dataset_goal_fn(self) -> Callable:
    source, lay = self._source, self.layout
    D = self._source.goal_size

    def fn(s, spot_world, goal_time):
      tok = source.goals_fn(s.replace(info={**s.info, "time": goal_time}),
                            jnp.zeros((1,), jnp.int32))[0]
      if lay.time_input:  # lead time of the dataset frame from now, not from goal_time
        tok = tok.at[-1].set(jnp.maximum(goal_time - s.info["time"], 0.0))
      empty = jnp.zeros((lay.trajectory_steps, D))
      goals = jnp.concatenate([empty, tok[None]], axis=0)
      mask = jnp.concatenate([empty, jnp.ones((1, D))], axis=0)
      return goals, mask

    return fn

  def _goal_args(self):
    """(branch index, carry spot, dataset goal time, task) of the active goal."""
    from interprior_jax.envs import goal_env
    if self._dataset_goals:
      which, t = len(cmd_lib.GOAL_COMMANDS), self._dataset_goals[0]
    else:
      which, t = self._goal_index.get(self.command, self._goal_index["stand"]), 0.0
    task = goal_env.TASKS.index(cmd_lib.TASK_COMMANDS.get(self.command, "goal"))
    return (jnp.int32(which), jnp.asarray(self._spot, jnp.float32), jnp.float32(t),
            jnp.int32(task))

  def current_goal(self) -> tuple[jax.Array, jax.Array]:
    """``(goals (G, D_g), mask (G, D_g))`` the policy gets this step."""
    return self._goal(self.state, *self._goal_args()[:3])

  # ------------------------------------------------------------------------------ control
  def reset(self) -> None:
    """Back to the first frame of the clip, standing (the active command is cleared, so the
    state after a reset does not depend on the keys pressed before it), with a new latent noise
    draw."""
    self._key, k_env, k_eps = jax.random.split(self._key, 3)
    self.state = self._reset_env(k_env, jnp.int32(self.clip), jnp.float32(0.0))
    self._pinned = jnp.float32(0.0)
    self._dataset_time = 0.0
    self._dataset_goals = []
    self.command = "stand"
    self.steps = 0
    if self.kind == "student":
      x = self._source.state_fn(self.state)
      self._hist = jnp.broadcast_to(x, (self.goal_config.history,) + x.shape)
      self._eps = jax.random.normal(k_eps, (self._latent,)) * (0.0 if self.latent_mean else 1.0)

  def press(self, key: str) -> str:
    """Applies a key; returns the message to show (a hint for unknown keys)."""
    command = cmd_lib.command_for_key(key)
    if command is None:
      return f"unknown key {key!r}: press h for the keys"
    if command == "help":
      return cmd_lib.help_text()
    if command == "reset":
      self.reset()
      return "reset"
    if self.kind == "expert":
      return f"{command!r} needs a Stage-2/3 student; this expert replays its clip (keys: 0, h)"
    clip = self.clips[self.clip]
    if command in ("snapshot", "chain"):
      n = 1 if command == "snapshot" else CHAIN_LENGTH
      gap = SNAPSHOT_AHEAD_S if command == "snapshot" else CHAIN_SPACING_S
      times = [(self._dataset_time + gap * (i + 1)) % clip.duration for i in range(n)]
      self._dataset_goals = times
      self._dataset_time = times[-1]
      self.command = command
      return f"{command}: {n} dataset goal(s) at t = " + ", ".join(f"{t:.1f}" for t in times)
    if command in cmd_lib.TASK_COMMANDS and not self.getup:
      return (f"{command!r} needs a Stage-3 finetune with that skill (finetune.getup_fraction); "
              "this policy has none")
    self._dataset_goals = []
    if command == "carry":
      sim = self.env.physics.frame(self.state.pipeline_state)
      head = np.asarray(geometry.quat_rotate(sim.root_quat, jnp.array([1.0, 0.0, 0.0])))
      head[2] = 0.0
      head /= max(np.linalg.norm(head), 1e-6)
      self._spot = np.asarray(sim.root_pos) + cmd_lib.CARRY_DIST * head
    self.command = command
    return command

  def tick(self) -> Status:
    """One policy step (1 / 30 s of simulated time)."""
    if self.kind == "student":
      s, self._hist, reached, summ = self._student_step(
          self._params, self.state, self._hist, self._eps, self._pinned, *self._goal_args())
      reached, summ = jax.device_get((reached, summ))
      if self._dataset_goals and float(reached) > 0:
        self._dataset_goals.pop(0)
        self.goals_reached += 1
        if not self._dataset_goals:
          self.command = "stand"
    else:
      s, summ = self._expert_step(self.state)
      summ = jax.device_get(summ)
    self.state = s
    self.steps += 1
    markers = ()
    if "markers" in summ:
      pos, given = summ["markers"]
      markers = tuple((n, np.asarray(p)) for n, p, g in zip(MARKER_NAMES, pos, given) if g > 0)
    if self.getup and float(summ["root_pos"][2]) < float(
        self.config.env.termination.min_root_height) and self.command != "get_up":
      self.notice = f"step {self.steps}: the humanoid is down; press u to get up"
    if summ["done"] > 0:
      why = "diverged" if summ["nan"] > 0 else "fell"
      self.notice = f"step {self.steps}: the humanoid {why}; the episode was reset"
      self.reset()
      summ = jax.device_get(self._summary(self.state))
    return Status(step=self.steps, command=self.command, kind=self.kind,
                  root_pos=np.asarray(summ["root_pos"]), obj_pos=np.asarray(summ["obj_pos"]),
                  notice=self.notice, goals_reached=self.goals_reached, markers=markers,
                  root_yaw=float(summ["root_yaw"]))

  def qpos(self) -> np.ndarray:
    """The simulated ``qpos`` (for rendering in the env's MuJoCo model)."""
    return np.asarray(jax.device_get(self.state.pipeline_state.qpos), np.float64)

  @property
  def model(self):
    return self.env.scene.model


def record_goal_episode(session: PlaySession, key: str = "n", max_steps: int = 90,
                        after_reach: int = 15) -> dict:
  """Resets ``session``, presses ``key`` (default: the next dataset snapshot goal) and ticks until
  the goal is reached (plus ``after_reach`` steps) or ``max_steps``; returns ``{"qpos" (T, nq),
  "markers": [per step], "reached_step": int | None, "message"}`` for rendering."""
  session.reset()
  message = session.press(key)
  qpos, markers, reached_at = [], [], None
  start = session.goals_reached
  for t in range(max_steps):
    st = session.tick()
    qpos.append(session.qpos())
    markers.append(st.markers)
    if reached_at is None and session.goals_reached > start:
      reached_at = t + 1
    if reached_at is not None and t + 1 >= reached_at + after_reach:
      break
  return {"qpos": np.stack(qpos), "markers": markers, "reached_step": reached_at,
          "message": message}


def parse_key_script(text: str, dt: float) -> list[tuple[str, int]]:
  """``"w:2,a:3,d:3"`` (key : seconds, comma separated; ``space`` names the space bar) ->
  ``[(key, policy steps), ...]``.  ValueError names the bad entry: an unknown key or a duration
  that is not a positive number."""
  out = []
  for entry in [e.strip() for e in text.split(",") if e.strip()]:
    key, sep, secs = entry.rpartition(":")
    key = " " if key == "space" else key
    if not sep or cmd_lib.command_for_key(key) is None:
      raise ValueError(f"key script entry {entry!r}: expected KEY:SECONDS with a key of the key "
                       f"map (commands.KEYMAP; 'space' for the space bar)")
    try:
      seconds = float(secs)
    except ValueError:
      seconds = -1.0
    if not seconds > 0:
      raise ValueError(f"key script entry {entry!r}: SECONDS must be a positive number")
    out.append((key, max(1, int(round(seconds / dt)))))
  if not out:
    raise ValueError(f"key script {text!r} is empty")
  return out


def record_key_script(session: PlaySession, script: list[tuple[str, int]]) -> dict:
  """Resets ``session``, then for each ``(key, steps)`` presses the key and ticks that many steps;
  returns ``{"qpos" (T, nq), "markers": [per step], "root_pos" (T, 3), "root_yaw" (T,),
  "commands": [per step], "notices": [per step]}`` for rendering and for checking what it did."""
  session.reset()
  rec = {"qpos": [], "markers": [], "root_pos": [], "root_yaw": [], "commands": [], "notices": []}
  for key, steps in script:
    session.press(key)
    for _ in range(steps):
      st = session.tick()
      rec["qpos"].append(session.qpos())
      rec["markers"].append(st.markers)
      rec["root_pos"].append(st.root_pos)
      rec["root_yaw"].append(st.root_yaw)
      rec["commands"].append(st.command)
      rec["notices"].append(st.notice)
  for k in ("qpos", "root_pos", "root_yaw"):
    rec[k] = np.stack(rec[k]) if k != "root_yaw" else np.asarray(rec[k])
  return rec


def script_segments(rec: dict, script: list[tuple[str, int]]) -> list[dict]:
  """Per ``(key, steps)`` of a :func:`record_key_script` recording: the heading change summed step
  by step (deg, + = left: a turn past 180 deg still counts its way), the pelvis path length and
  its displacement along the heading at the key (m), and the steps at which a fall reset the
  episode (a new notice).  The jump back to the clip's first frame at a fall is not part of the
  turn or the path."""
  notices = rec["notices"]
  fell = np.array([False] + [b != a for a, b in zip(notices, notices[1:])])
  yaw, pos = rec["root_yaw"], rec["root_pos"][:, :2]
  dyaw = np.concatenate([[0.0], (np.diff(yaw) + np.pi) % (2 * np.pi) - np.pi])
  dpos = np.concatenate([[0.0], np.linalg.norm(np.diff(pos, axis=0), axis=-1)])
  dyaw, dpos = np.where(fell, 0.0, dyaw), np.where(fell, 0.0, dpos)
  out, t = [], 0
  for key, steps in script:
    sl, t0 = slice(t, t + steps), max(t - 1, 0)
    head = np.array([np.cos(yaw[t0]), np.sin(yaw[t0])])
    out.append({"key": "space" if key == " " else key, "steps": steps,
                "turn_deg": round(float(np.degrees(dyaw[sl].sum())), 1),
                "path_m": round(float(dpos[sl].sum()), 2),
                "forward_m": round(float((pos[t + steps - 1] - pos[t0]) @ head), 2),
                "fall_steps": [int(i) + 1 for i in np.flatnonzero(fell[sl]) + t]})
    t += steps
  return out


def _summary(env, s) -> dict:
  """What a tick reports, computed inside the compiled step (one device transfer)."""
  sim = env.physics.frame(s.pipeline_state)
  heading = geometry.quat_rotate(sim.root_quat, jnp.array([1.0, 0.0, 0.0]))
  return {"root_pos": sim.root_pos, "root_yaw": jnp.arctan2(heading[1], heading[0]),
          "obj_pos": sim.obj_pos, "done": s.done, "nan": s.metrics["nan_reset"],
          "qpos": s.pipeline_state.qpos}


#: What :func:`goal_markers` draws: the pelvis target of the last trajectory token, and the
#: pelvis and object targets of the snapshot token.
MARKER_NAMES = ("pelvis_path", "pelvis", "object")


def goal_markers(goals, mask, root_pos, root_quat, obj_pos, field_ids, num_bodies: int):
  """World positions of a goal's pelvis and object targets (for drawing the active goal).

  ``goals`` / ``mask`` (G, D_g): the student's goal input (H trajectory tokens, then the snapshot
  token; residuals ``y - x`` in the heading frame of the simulated root, whose own ``body_pos`` is
  0); ``root_pos`` / ``root_quat`` / ``obj_pos``: the simulated state the goal was built from;
  ``field_ids`` (D_g,): :func:`goals.residual_field_ids`.  Returns ``(positions (3, 3), given
  (3,))`` in :data:`MARKER_NAMES` order; ``given`` is 0 where the goal hides that target.
  """
  fid = np.asarray(field_ids)
  body = np.flatnonzero(fid == goals_lib.FIELDS.index("body_pos")).reshape(num_bodies, 3)[0]
  obj = np.flatnonzero(fid == goals_lib.FIELDS.index("obj_pos"))
  heading = geometry.heading_quat_inv(root_quat)
  to_world = lambda v: geometry.quat_rotate_inv(heading, v)
  traj, snap = goals[-2] if goals.shape[0] > 1 else goals[-1], goals[-1]
  tmask, smask = mask[-2] if mask.shape[0] > 1 else mask[-1], mask[-1]
  pos = jnp.stack([root_pos + to_world(traj[body]), root_pos + to_world(snap[body]),
                   obj_pos + to_world(snap[obj])])
  given = jnp.stack([jnp.max(tmask[body]) * (goals.shape[0] > 1), jnp.max(smask[body]),
                     jnp.max(smask[obj])])
  return pos, given


def _snapshot_reached(goal, mask, lower, upper):
  given = (jnp.sum(mask) > 0).astype(jnp.float32)
  return given * goals_lib.goal_reached(goal, mask, lower, upper)


def run_realtime(session: PlaySession, seconds: float | None = None,
                 on_tick: Callable[[Status, float], bool] | None = None,
                 rate_hz: float | None = None) -> dict:
  """Ticks ``session`` at ``rate_hz`` (default the policy rate) for ``seconds`` (None: until
  ``on_tick(status, real_time_factor)`` returns False); returns ``{ticks, wall_s, rtf,
  ticks_per_s}`` (whole run).  ``on_tick`` gets the real-time factor of the last
  ``RTF_WINDOW`` ticks.  A tick that overruns is not made up for (the real-time factor shows
  it)."""
  dt = float(session.env.dt)
  period = 1.0 / (rate_hz or 1.0 / dt)
  t0 = time.perf_counter()
  n = 0
  nxt = t0
  recent = collections.deque([t0], maxlen=RTF_WINDOW + 1)
  while seconds is None or time.perf_counter() - t0 < seconds:
    st = session.tick()
    n += 1
    recent.append(time.perf_counter())
    rtf = (len(recent) - 1) * dt / max(recent[-1] - recent[0], 1e-9)
    if on_tick is not None and on_tick(st, rtf) is False:
      break
    nxt = max(nxt + period, time.perf_counter())
    time.sleep(max(0.0, nxt - time.perf_counter()))
  wall = time.perf_counter() - t0
  return {"ticks": n, "wall_s": wall, "rtf": n * dt / max(wall, 1e-9),
          "ticks_per_s": n / max(wall, 1e-9)}


__all__ = ["PlaySession", "Status", "play_config", "run_realtime", "goal_markers", "MARKER_NAMES",
           "record_goal_episode", "parse_key_script", "record_key_script", "script_segments"]
