"""The human-object-interaction tracking environment (brax ``Env`` interface) on any physics
backend of :mod:`interprior_jax.envs.physics` (``config.impl``: MJX "jax" / "warp", MuJoCo C "c").

``reset(rng) -> State`` and ``step(state, action) -> State`` are pure functions of one env
(vmap them, or let brax's ``VmapWrapper`` / ``ppo.train`` do it).  Everything per env lives in
the :class:`brax.envs.base.State`:

* ``pipeline_state``: the backend's state (``mjx.Data``; :class:`c_physics.CData` on "c");
* ``info``: ``rng``, ``clip`` (int32), ``time`` (s, reference time of the current frame),
  ``steps`` (int32), ``truncation`` (1.0 when the episode ended by clip end / max length, so PPO
  bootstraps), ``hand_loss`` ((2,) int32 counters), ``obj_params`` (:class:`ObjectParams`),
  ``psi`` (:class:`PSIBuffer`), ``impulse`` ((2, 3) forces applied in the last step),
  ``clip_weights`` ((num_clips,) non-negative sampling weights of the clips at the env's
  auto-resets: ones after ``reset``; a trainer may overwrite them, e.g. prioritised sampling of
  the clips the policy fails, :mod:`interprior_jax.training.clip_priority`),
  ``final_obs`` ((obs_size,) observation of the state the last step reached, *before* any
  auto-reset: equal to ``obs`` unless the env was reset; PPO bootstraps truncated episodes with
  ``V(final_obs)``), ``episode_done`` and ``episode_metrics`` (brax ``EpisodeWrapper``
  conventions, kept here because the env resets itself);
* ``metrics``: every reward term ``r_<name>``, ``reward_total``, ``e_h``, ``e_o``,
  ``terminated``, ``truncated``, ``term_<reason>``, ``nan_reset``, ``impulse``.

Auto-reset is built in: when an env is done, ``step`` returns the *post-reset* state and
observation (brax ``AutoResetWrapper`` semantics, but with a fresh reference-state sample instead
of a fixed first state).  ``done`` / ``reward`` / metrics describe the finished transition;
``info['final_obs']`` is the exact observation of the state it reached (``config.final_obs``: one
more kinematics pass + observation per step; off -> the key is absent).  So wrap it with
:func:`interprior_jax.envs.wrappers.wrap_for_training` (vmap only), not brax's default
(whose ``EpisodeWrapper`` would overwrite ``truncation``).

Step = PD targets (:meth:`HOIEnv.targets_from_ref`, ``config.action_mode``) -> physics
(``substeps`` steps of the backend with any impulse) -> NaN / divergence guard ->
errors -> terminations / truncation -> reward -> PSI insert -> reset of done envs
(``where``-select of qpos / qvel) -> one kinematics pass (``physics.refresh``: MJX
``kinematics`` + ``com_pos`` + ``com_vel``, or its C equivalent; no solver) -> observation (-> with ``config.final_obs`` a second
kinematics pass on the pre-reset data and its observation).  Rewards and terminations read the body
state as MuJoCo leaves it after ``mj_step`` (kinematics of the last substep's start, i.e. one
physics step = 8 ms stale, consistent with that pass's contacts); the observation reads the
refreshed kinematics.  Contacts of reset envs are zeroed in the observation.  Keeping a single
kinematics pass (and no ``mjx.forward`` at reset) is what keeps compile time and reset cost low.

Object: one object body in the scene (every clip must name the same library object, see
:func:`make_env`); per-clip ``object_scale`` / ``object_density_scale`` and the per-episode
randomisation are applied per env through :mod:`perturbations`.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from brax.envs.base import Env, State

from interprior_jax.assets.scene import Scene
from interprior_jax.envs import contract
from interprior_jax.envs import goals
from interprior_jax.envs import init_states
from interprior_jax.envs import observations
from interprior_jax.envs import perturbations
from interprior_jax.envs import physics as physics_lib
from interprior_jax.envs import rewards
from interprior_jax.envs import terminations
from interprior_jax.envs.sim_frame import SimIndex, contact_dist_from_config, sim_index
from interprior_jax.motion import features as mfeatures

def _hand_groups(model, spec) -> np.ndarray:
  """(2, H) body-layout indices of each hand's bodies (hand_body_idx split by ancestry)."""
  groups = []
  for h in spec.hand_idx:
    hid = int(spec.body_ids[h])
    members = []
    for i in spec.hand_body_idx:
      b = int(spec.body_ids[i])
      while b > 0 and b != hid:
        b = int(model.body_parentid[b])
      if b == hid:
        members.append(int(i))
    if int(h) not in members:
      members.insert(0, int(h))
    members.remove(int(h))
    groups.append([int(h)] + members)  # hand body first (its frame carries the palm axis)
  width = max(len(g) for g in groups)
  return np.array([g + [g[0]] * (width - len(g)) for g in groups], np.int32)


ACTION_MODES = ("residual", "absolute")
#: What the per-env PSI buffer keeps (config.env.init.psi_harvest; configs/env.py).
PSI_HARVEST = ("good", "failure")
# Key streams of the optional reset draws (``fold_in`` of the reset key, beside its 6-way split,
# so that switching an option on leaves every other draw unchanged).
_RANDOM_POSE_STREAM, _CONTACT_START_STREAM, _FALLEN_STREAM = 6, 7, 8


def _metric_names() -> tuple[str, ...]:
  return (rewards.reward_metric_names()
          + ("reward_total", "e_h", "e_o", "terminated", "truncated", "nan_reset", "impulse")
          + tuple(f"term_{n}" for n in terminations.CONDITIONS))


class HOIEnv(Env):
  """See the module docstring.  Build with :func:`make_env`."""

  def __init__(self, cfg: ml_collections.ConfigDict, scene: Scene, library: Any,
               clip_scale: np.ndarray, clip_density: np.ndarray):
    self.cfg = cfg
    self.scene = scene
    self.spec = spec = scene.spec
    self.library = library
    terminations.check_names(cfg.termination.enabled)
    rewards._check_names(dict(cfg.reward.track), rewards.TRACK_TERMS, "track")
    rewards._check_names(dict(cfg.reward.energy), rewards.ENERGY_TERMS, "energy")
    if int(cfg.substeps) < 1:
      raise ValueError(f"config.substeps must be >= 1, got {cfg.substeps}")
    self.psi_harvest = str(cfg.init.get("psi_harvest", "good"))
    if self.psi_harvest not in PSI_HARVEST:
      raise ValueError(f"config.env.init.psi_harvest={self.psi_harvest!r}; valid: {PSI_HARVEST}")
    if float(cfg.init.get("fallen_prob", 0.0)) > 0:
      init_states.check_tilt_range(cfg.init.fallen_tilt_deg, "config.env.init.fallen_tilt_deg")
    if cfg.action_mode not in ACTION_MODES:
      raise ValueError(f"config.env.action_mode={cfg.action_mode!r}; valid: {ACTION_MODES}")
    if float(cfg.action_scale) < 0 or (cfg.action_mode == "residual"
                                       and float(cfg.action_scale) <= 0):
      raise ValueError(f"config.env.action_scale={cfg.action_scale}: radians per action unit, "
                       "> 0 (0 only in 'absolute' mode: half the joint range, method.md)")
    # Configs saved before pd_lead existed mean no feed-forward.  'absolute' PD targets do not
    # use the residual's base; a distilled student acting in them still relabels its residual
    # expert from it (the goal env's action context), so the key is kept, not refused.
    self.pd_lead = bool(cfg.get("pd_lead", False))
    bias = scene.model.actuator_biasprm[np.asarray(spec.actuator_ids)]
    self._lead_s = jnp.asarray(bias[:, 2] / bias[:, 1], jnp.float32)  # (A,) kv / kp, seconds
    grip = float(cfg.reward.hand.get("grip_dist", 0.0))
    if grip < 0 or grip > contact_dist_from_config(cfg).obj:
      raise ValueError(f"config.env.reward.hand.grip_dist={grip}: 0 (the contact flag) or in "
                       f"(0, config.env.obj_contact_dist={contact_dist_from_config(cfg).obj}] m: "
                       "the simulated hand distances are capped at obj_contact_dist")
    self.idx: SimIndex = sim_index(scene.model, spec)
    self.physics = physics_lib.make_physics(cfg.impl, scene, self.idx, int(cfg.substeps),
                                            contact_dist_from_config(cfg),
                                            threads=int(cfg.get("c_threads", 0)))
    self._d0 = self.physics.init_data()
    self.dt = float(cfg.substeps) * spec.timestep
    self.obj_base = perturbations.object_base(scene.model, spec.objects[0].body_id,
                                              spec.objects[0].geom_ids)
    self.clip_scale = jnp.asarray(clip_scale, jnp.float32)
    self.clip_density = jnp.asarray(clip_density, jnp.float32)
    self.hand_groups = _hand_groups(scene.model, spec)
    self.palm_axis = np.asarray(spec.palm_axes, np.float32)  # from the HumanoidDef
    self.body_weight = float(scene.model.body_subtreemass[spec.root_body_id]
                             * np.linalg.norm(scene.model.opt.gravity))
    P = int(library.obj_points.shape[-2])
    self.obs_point_idx = np.linspace(0, P - 1, min(int(cfg.obs.num_surface_points), P)).astype(
        np.int32)
    self.anchor_idx = np.linspace(0, P - 1, min(int(cfg.reward.ig_num_anchors), P)).astype(
        np.int32)
    self.obs_spec = observations.ObsSpec(
        num_bodies=spec.num_bodies, num_contacts=len(spec.contact_body_idx),
        future_offsets=tuple(int(k) for k in cfg.obs.future_offsets))
    self.metric_names = _metric_names()
    self.final_obs = bool(cfg.final_obs)

  # -- brax Env interface ------------------------------------------------------------------------

  @classmethod
  def default_config(cls) -> ml_collections.ConfigDict:
    return load_env_config("smpl")

  @property
  def observation_size(self) -> int:
    return self.obs_spec.size

  @property
  def action_size(self) -> int:
    return self.spec.action_size

  @property
  def backend(self) -> str:
    """The physics backend (``config.impl``): "jax", "warp" or "c"."""
    return self.physics.name

  def reset(self, rng: jax.Array) -> State:
    """A fresh episode: clip start / random frame (PSI is empty at the first reset)."""
    key, k = jax.random.split(rng)
    psi = init_states.psi_empty(int(self.cfg.init.psi_capacity), self.spec.nq, self.spec.nv)
    weights = self.uniform_clip_weights()
    return self._fresh_state(key, self._sample_reset(k, psi, weights), psi, weights)

  def uniform_clip_weights(self) -> jax.Array:
    """(num_clips,) ones: ``info['clip_weights']`` after a reset (uniform clip sampling)."""
    return jnp.ones((self.library.num_clips,), jnp.float32)

  def reset_to(self, rng: jax.Array, clip_idx: jax.Array, time_s: jax.Array,
               perturb: bool = False) -> State:
    """Episode starting exactly on clip ``clip_idx`` at ``time_s`` (evaluation)."""
    key, k1, k2 = jax.random.split(rng, 3)
    clip = jnp.asarray(clip_idx, jnp.int32)
    time = jnp.asarray(time_s, jnp.float32)
    ref = self.library.frame(clip, time)
    qpos, qvel = init_states.reference_state(ref, self._d0.qpos, self.idx, self.spec.nv)
    if perturb:
      qpos, qvel = init_states.perturb_state(k1, qpos, qvel, self.idx, self.cfg.init)
    params = perturbations.sample_object_params(k2, self.clip_scale[clip], self.clip_density[clip],
                                                self.cfg.randomize)
    psi = init_states.psi_empty(int(self.cfg.init.psi_capacity), self.spec.nq, self.spec.nv)
    return self._fresh_state(key, (qpos, qvel, clip, time, params), psi,
                             self.uniform_clip_weights())

  def step(self, state: State, action: jax.Array) -> State:
    cfg, info = self.cfg, state.info
    d0 = state.pipeline_state
    key, k_imp, k_reset, k_psi = jax.random.split(info["rng"], 4)
    params = info["obj_params"]
    clip, steps = info["clip"], info["steps"] + 1
    time = info["time"] + self.dt
    ref = self.library.frame(clip, time)  # the frame this step aims at (and is scored against)

    # Physics.
    f_pel, f_obj = perturbations.impulse_forces(k_imp, info["steps"], self.dt, cfg.perturb)
    nbody = self.scene.model.nbody
    xfrc = jnp.zeros((nbody, 6))
    xfrc = xfrc.at[self.spec.root_body_id, :3].set(f_pel).at[self.idx.obj_body_id, :3].set(f_obj)
    ctrl = d0.ctrl.at[jnp.asarray(self.spec.actuator_ids)].set(
        self.targets_from_ref(action, self.reference_targets(ref)))
    d, finite = self.physics.step(d0, params, ctrl, xfrc)
    # Divergence guard: a finite but exploded state (a launched object) counts as NaN.
    finite = finite & (jnp.max(jnp.abs(d.qvel)) < cfg.max_qvel)
    d = jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), d, d0)

    # Errors, terminations, reward.
    sim = self.physics.frame(d)
    points = self.surface_points(clip, params)
    errs = self.errors(sim, ref, points, d0.qvel)
    hand_loss = terminations.update_hand_loss(info["hand_loss"], errs)
    tin = terminations.TermInputs(root_height=sim.root_pos[2], errors=errs,
                                  ref_obj_contact=ref.obj_contact, hand_loss_steps=hand_loss)
    term, term_flags = terminations.terminations(tin, cfg.termination)
    in_grace = steps <= int(cfg.termination.grace_steps)
    term = term & finite & ~in_grace
    term_flags = {k: v * term for k, v in term_flags.items()}
    ended = (time + self.dt > self.library.duration(clip)) | (steps >= int(cfg.max_episode_steps))
    trunc = ended & ~term & finite
    nan = ~finite
    done = term | trunc | nan
    reward, terms = rewards.compute_reward(errs, term, cfg.reward)
    reward = jnp.where(finite, reward, 0.0)

    r_track = terms["r_track"]
    if self.psi_harvest == "failure":
      psi_ok, psi_score = r_track < cfg.init.get("psi_max_track", 0.3), 1.0 - r_track
    else:
      psi_ok, psi_score = r_track > cfg.init.psi_min_track, r_track
    psi = init_states.psi_insert(info["psi"], k_psi, d.qpos, d.qvel, clip, time, psi_score,
                                 finite & ~term & psi_ok, cfg.init.psi_insert_prob)

    metrics = dict(terms)
    metrics.update(term_flags)
    metrics.update(reward_total=reward, e_h=errs.e_h, e_o=errs.e_o,
                   terminated=term.astype(jnp.float32), truncated=trunc.astype(jnp.float32),
                   nan_reset=nan.astype(jnp.float32),
                   impulse=(jnp.any(f_pel != 0) | jnp.any(f_obj != 0)).astype(jnp.float32))
    metrics = {k: jnp.where(finite, v, 0.0) if k not in ("nan_reset",) else v
               for k, v in metrics.items()}

    # Auto-reset of finished envs.
    rq, rv, rclip, rtime, rparams = self._sample_reset(k_reset, psi, info["clip_weights"])
    sel = lambda a, b: jax.tree_util.tree_map(lambda x, y: jnp.where(done, x, y), a, b)  # noqa
    next_params = sel(rparams, params)
    d_next = self.physics.refresh(self.physics.reset_state(d, rq, rv, done), next_params)
    new_info = dict(info)
    new_info.update(
        rng=key, clip=jnp.where(done, rclip, clip), time=jnp.where(done, rtime, time),
        steps=jnp.where(done, 0, steps).astype(jnp.int32),
        hand_loss=jnp.where(done, 0, hand_loss).astype(jnp.int32),
        obj_params=next_params, psi=psi, truncation=trunc.astype(jnp.float32),
        impulse=jnp.stack([f_pel, f_obj]))
    prev_done = info["episode_done"]
    em = {k: v * (1.0 - prev_done) for k, v in info["episode_metrics"].items()}
    em["sum_reward"] = em["sum_reward"] + reward
    em["length"] = em["length"] + 1.0
    for k in self.metric_names:
      em[k] = em[k] + metrics[k]
    new_info.update(episode_metrics=em, episode_done=done.astype(jnp.float32))
    obs = self._observe(d_next, new_info["clip"], new_info["time"], new_info["obj_params"],
                        contacts_valid=~done)
    if self.final_obs:
      # The state this step reached, before the reset (the terminal s_T of a finished episode).
      final = self._observe(self.physics.refresh(d, params), clip, time, params,
                            contacts_valid=jnp.ones((), bool))
      new_info["final_obs"] = jnp.where(done, final, obs)
    return state.replace(pipeline_state=d_next, obs=obs, reward=reward,
                         done=done.astype(jnp.float32), metrics=metrics, info=new_info)

  # -- internals ---------------------------------------------------------------------------------

  def pd_targets(self, action, clip, time):
    """Absolute PD targets (A,) (radians, action order) of policy ``action`` (A,) taken at
    reference ``time`` of ``clip``: the one function every consumer of a policy uses (env step,
    evaluation, distillation labels, sim-to-sim).  See :meth:`targets_from_ref`."""
    ref = self.library.frame(jnp.asarray(clip, jnp.int32), jnp.asarray(time) + self.dt)
    return self.targets_from_ref(action, self.reference_targets(ref))

  def reference_targets(self, ref) -> jax.Array:
    """The residual's base (A,) for reference frame ``ref`` (the next one): its hinge angles,
    plus kv/kp x its hinge velocities with ``config.pd_lead`` (PD velocity feed-forward)."""
    if not self.pd_lead:
      return ref.joint_pos
    return ref.joint_pos + self._lead_s * ref.joint_vel

  def targets_from_ref(self, action, ref_joint_pos):
    """PD targets (A,) from ``action`` (A,) and the residual's base (A,;
    :meth:`reference_targets`) in this env's ``config.action_mode`` / ``config.action_scale``
    (:func:`pd_targets`)."""
    return pd_targets(action, ref_joint_pos, self.cfg.action_mode,
                      float(self.cfg.action_scale), self.spec)

  def surface_points(self, clip, params) -> jax.Array:
    """(P, 3) object-frame surface points of this env's (scaled) object."""
    lib = self.library
    base = lib.obj_points[lib.object_index[clip]]  # already scaled by the clip's object_scale
    return base * (params.size_scale / self.clip_scale[clip])

  def errors(self, sim, ref, points, qvel_prev) -> rewards.StepErrors:
    """Step errors of a :class:`SimFrame` vs a reference; ``qvel_prev`` (nv,) before the step."""
    sim_pts = mfeatures.object_points_world(sim.obj_pos, sim.obj_quat, points)
    ref_pts = mfeatures.object_points_world(ref.obj_pos, ref.obj_quat, points)
    a = jnp.asarray(self.anchor_idx)
    o = self.idx.obj_qvel_adr
    return rewards.step_errors(
        sim, ref, sim_points=sim_pts, ref_points=ref_pts, sim_anchors=sim_pts[a],
        ref_anchors=ref_pts[a],
        joint_vel_prev=qvel_prev[jnp.asarray(self.idx.qvel_adr)],
        obj_lin_vel_prev=qvel_prev[o:o + 3], dt=self.dt,
        key_body_idx=jnp.asarray(self.spec.key_body_idx),
        contact_body_idx=jnp.asarray(self.spec.contact_body_idx),
        hand_groups=jnp.asarray(self.hand_groups), palm_axis=jnp.asarray(self.palm_axis),
        near_decay=self.cfg.reward.near_decay, ig_eps=self.cfg.reward.ig_eps,
        body_weight=self.body_weight)

  def _reset_data(self, qpos, qvel, params):
    d = self.physics.reset_state(self._d0, qpos, qvel, jnp.ones((), bool))
    return self.physics.refresh(d, params)

  def _sample_reset(self, key, psi, clip_weights):
    """``(qpos, qvel, clip, time, obj_params)`` of a new episode (clip drawn with
    ``clip_weights``; clip start / random frame / PSI; then, with ``config.init.random_pose_prob``,
    a random-pose start away from the object; or, with ``config.init.fallen_prob``, the episode's
    reference frame tipped over: :func:`init_states.fallen_state`)."""
    c, lib = self.cfg.init, self.library
    k = jax.random.split(key, 6)
    clip = lib.sample_clips(k[0], weights=clip_weights)
    u = jax.random.uniform(k[1])
    margin = max(2, int(c.get("start_margin_steps", 2))) * self.dt
    latest = jnp.maximum(lib.duration(clip) - margin, 0.0)
    time = jnp.where(u < c.start_prob, 0.0, jax.random.uniform(k[2]) * latest)
    if float(c.get("contact_start_prob", 0.0)) > 0:  # random-frame starts in the contact phase
      kc = jax.random.split(jax.random.fold_in(key, _CONTACT_START_STREAM))
      t_contact = jnp.minimum(lib.sample_contact_times(kc[0], clip), latest)
      use = (u >= c.start_prob) & (jax.random.uniform(kc[1]) < c.contact_start_prob)
      time = jnp.where(use, t_contact, time)
    ref = lib.frame(clip, time)
    qpos, qvel = init_states.reference_state(ref, self._d0.qpos, self.idx, self.spec.nv)
    qpos, qvel = init_states.perturb_state(k[3], qpos, qvel, self.idx, c)
    pq, pv, pc, pt, avail = init_states.psi_sample(psi, k[4])
    use_psi = avail & (u >= c.start_prob) & (u < c.start_prob + c.psi_prob)
    qpos, qvel = jnp.where(use_psi, pq, qpos), jnp.where(use_psi, pv, qvel)
    clip, time = jnp.where(use_psi, pc, clip), jnp.where(use_psi, pt, time)
    if float(c.get("random_pose_prob", 0.0)) > 0:
      kr = jax.random.split(jax.random.fold_in(key, _RANDOM_POSE_STREAM), 4)
      pose_clip = lib.sample_clips(kr[0])
      pose = lib.frame(pose_clip, jax.random.uniform(kr[1]) * lib.duration(pose_clip))
      rq, rv = init_states.random_pose_state(kr[2], qpos, pose, lib.frame(clip, time).obj_pos,
                                             self.idx, self.spec.nv, tuple(c.random_pose_dist))
      use_pose = jax.random.uniform(kr[3]) < c.random_pose_prob
      qpos, qvel = jnp.where(use_pose, rq, qpos), jnp.where(use_pose, rv, qvel)
    if float(c.get("fallen_prob", 0.0)) > 0:  # the get-up skill's starts (Stage 3)
      kf = jax.random.split(jax.random.fold_in(key, _FALLEN_STREAM))
      fref = lib.frame(clip, time)  # the reference pose (not a PSI / random-pose state)
      fq, _ = init_states.reference_state(fref, self._d0.qpos, self.idx, self.spec.nv)
      fq, fv = init_states.fallen_state(
          kf[0], fq, fref.body_pos, self.idx, self.spec.nv,
          tuple(np.deg2rad(c.fallen_tilt_deg)), float(c.fallen_clearance))
      use_fall = jax.random.uniform(kf[1]) < c.fallen_prob
      qpos, qvel = jnp.where(use_fall, fq, qpos), jnp.where(use_fall, fv, qvel)
    params = perturbations.sample_object_params(k[5], self.clip_scale[clip],
                                                self.clip_density[clip], self.cfg.randomize)
    return qpos, qvel, clip, time, params

  def _fresh_state(self, key, reset, psi, clip_weights) -> State:
    qpos, qvel, clip, time, params = reset
    d = self._reset_data(qpos, qvel, params)
    zero = jnp.zeros(())
    metrics = {k: zero for k in self.metric_names}
    info = {
        "rng": key, contract.INFO_CLIP: clip, contract.INFO_TIME: time,
        contract.INFO_STEPS: jnp.zeros((), jnp.int32), contract.INFO_TRUNCATION: zero,
        "hand_loss": jnp.zeros((2,), jnp.int32), contract.INFO_OBJ_PARAMS: params,
        "psi": psi, "impulse": jnp.zeros((2, 3)), "episode_done": zero,
        "clip_weights": clip_weights,
        "episode_metrics": {k: zero for k in ("sum_reward", "length") + self.metric_names},
    }
    obs = self._observe(d, clip, time, params, contacts_valid=jnp.zeros((), bool))
    if self.final_obs:
      info["final_obs"] = obs
    return State(pipeline_state=d, obs=obs, reward=zero, done=zero, metrics=metrics, info=info)

  def _observe(self, d, clip, time, params, contacts_valid) -> jax.Array:
    """(obs_size,) observation of data ``d`` against the reference of ``clip`` at ``time``."""
    return self.observe_frame(self.physics.frame(d), clip, time, params, contacts_valid)

  def observe_frame(self, sim, clip, time, params, contacts_valid) -> jax.Array:
    """(obs_size,) observation of a :class:`SimFrame` (any backend)."""
    cfg, spec = self.cfg, self.spec
    valid = contacts_valid.astype(jnp.float32)
    cidx = jnp.asarray(spec.contact_body_idx)
    points = self.surface_points(clip, params)[jnp.asarray(self.obs_point_idx)]
    world = mfeatures.object_points_world(sim.obj_pos, sim.obj_quat, points)
    vec = mfeatures.nearest_surface_vec(sim.body_pos, world)
    x = goals.hoi_features(sim, sim.root_pos, sim.root_quat, vec,
                           sim.body_obj_contact[cidx] * valid)
    offsets = jnp.asarray(self.obs_spec.future_offsets, jnp.float32)
    refs = self.library.frame(jnp.broadcast_to(clip, offsets.shape), time + offsets * self.dt)
    ys = goals.hoi_features(refs, sim.root_pos[None], sim.root_quat[None], refs.body_obj_vec,
                            refs.body_contact[:, cidx])
    ylist = [jax.tree_util.tree_map(lambda a, i=i: a[i], ys) for i in range(offsets.shape[0])]
    obs = observations.build_observation(self.obs_spec, x, sim.body_floor_contact[cidx] * valid,
                                         ylist, cfg.obs.clip)
    return jnp.nan_to_num(obs)


def pd_targets(action, ref_joint_pos, mode: str, scale: float, spec) -> jax.Array:
  """PD targets (..., A) of ``action`` (..., A) in an action parameterisation.

  * ``"residual"``: ``ref_joint_pos + scale * clip(a, -1, 1)`` (zero action follows the reference
    kinematically; ``scale`` in radians; ``ref_joint_pos``: the next reference frame's angles);
  * ``"absolute"`` (method.md): ``mid + s * clip(a, -1, 1)`` with ``s`` = ``scale`` radians, or
    half the joint range when ``scale`` is 0 (method.md's exact form); ``ref_joint_pos`` unused.

  Clipped to the joint ranges of ``spec`` (the scene's :class:`~interprior_jax.assets.scene.
  HumanoidSpec`).  The one place that turns any policy's action into PD targets: the env step,
  expert labels for distillation (:func:`action_for_targets`) and sim-to-sim use it.
  """
  a = jnp.clip(action, -1.0, 1.0)
  lo, hi = jnp.asarray(spec.joint_range[:, 0]), jnp.asarray(spec.joint_range[:, 1])
  if mode == "residual":
    target = ref_joint_pos + scale * a
  elif mode == "absolute":
    target = jnp.asarray(spec.action_offset) + (
        scale if scale > 0 else jnp.asarray(spec.action_scale)) * a
  else:
    raise ValueError(f"action mode {mode!r}: expected one of {ACTION_MODES}")
  return jnp.clip(target, lo, hi)


def action_for_targets(targets, ref_joint_pos, mode: str, scale: float, spec) -> jax.Array:
  """The action (..., A) whose :func:`pd_targets` in ``mode`` / ``scale`` are ``targets``
  (..., A; within the joint ranges), clipped to [-1, 1] where a target is out of the mode's
  reach (a residual more than ``scale`` from the reference, an absolute target beyond
  ``mid +- scale``)."""
  if mode == "residual":
    a = (targets - ref_joint_pos) / scale
  elif mode == "absolute":
    a = (targets - jnp.asarray(spec.action_offset)) / (
        scale if scale > 0 else jnp.asarray(spec.action_scale))
  else:
    raise ValueError(f"action mode {mode!r}: expected one of {ACTION_MODES}")
  return jnp.clip(a, -1.0, 1.0)


def load_env_config(variant: str = "smpl") -> ml_collections.ConfigDict:
  """``configs/env.py:env_config(variant)`` (the repository's config file, loaded by path)."""
  import importlib.util
  import pathlib
  path = pathlib.Path(__file__).resolve().parents[2] / "configs" / "env.py"
  mod_spec = importlib.util.spec_from_file_location("interprior_configs_env", path)
  module = importlib.util.module_from_spec(mod_spec)
  mod_spec.loader.exec_module(module)
  return module.env_config(variant)


def make_env(cfg: ml_collections.ConfigDict, clips: Sequence[Any]) -> HOIEnv:
  """The env for ``clips`` (all of ``cfg.scene.humanoid`` and one library object).

  ``cfg.scene.objects`` empty -> the clips' object; otherwise it must name that object.  A
  dataset mixing objects is rejected (ValueError naming the clip and field): train one env per
  object (the alternative, every object parked in one scene, multiplies collision cost).
  """
  from interprior_jax import config as config_lib
  from interprior_jax.assets import scene as scene_lib
  from interprior_jax.motion.library import MotionLibrary

  if not clips:
    raise ValueError("make_env: no clips")
  name = clips[0].object_name
  skeleton = str(cfg.scene.get("skeleton", "default"))
  for c in clips:
    if c.skeleton != skeleton:
      raise ValueError(f"{c.source or c.name}: field 'skeleton': the clip was made with skeleton "
                       f"{c.skeleton!r} but config.scene.skeleton is {skeleton!r}")
    if c.object_name != name:
      raise ValueError(f"{c.source or c.name}: field 'object_name': {c.object_name!r} differs from "
                       f"{name!r} of clip {clips[0].name!r}; one object per env")
  cfg = ml_collections.ConfigDict(cfg.to_dict())
  if len(cfg.scene.objects) == 0:
    cfg.scene.objects = (name,)
    cfg.scene.object_xy = ((1.0, 0.0),)
    cfg.scene.object_yaw = (0.0,)
  elif tuple(cfg.scene.objects) != (name,):
    raise ValueError(f"config.scene.objects={tuple(cfg.scene.objects)} but the clips use {name!r}")
  scene = scene_lib.build_scene(config_lib.scene_options(cfg.scene))
  library = MotionLibrary.from_clips(
      clips, surface_points={name: scene.spec.objects[0].surface_points}, spec=scene.spec)
  clip_scale = np.array([c.object_scale for c in clips], np.float32)
  clip_density = np.array([c.object_density_scale for c in clips], np.float32)
  base = perturbations.object_base(scene.model, scene.spec.objects[0].body_id,
                                   scene.spec.objects[0].geom_ids)
  scales = np.concatenate([clip_scale, np.asarray(cfg.randomize.size_scale, np.float32)
                           if cfg.randomize.enabled else np.ones(1, np.float32)])
  perturbations.check_size_scalable(base, scales, f"clips/config.randomize.size_scale ({name})")
  return HOIEnv(cfg, scene, library, clip_scale, clip_density)
