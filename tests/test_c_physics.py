"""The MuJoCo C physics backend (config.env.impl = "c") against MJX ("jax"): parity of
trajectories, rewards and terminations; determinism at any thread count; object randomisation and
impulses; the NaN guard; contact summaries vs MuJoCo's contact list; refusal on accelerators."""

import functools
import os
import sys

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from env_helpers import standing_clip  # noqa: E402
from interprior_jax.envs import c_physics, load_env_config, make_env, physics  # noqa: E402
from interprior_jax.envs import perturbations  # noqa: E402
from interprior_jax.envs import sim_frame as sf  # noqa: E402

NUM_ENVS = 2


def _cfg(impl, **env):
  cfg = load_env_config("smoke")
  cfg.impl = impl
  cfg.perturb.mode = "off"
  cfg.randomize.enabled = False
  cfg.update(env)
  return cfg


def _env(cfg, clip):
  env = make_env(cfg, [clip])
  return env, jax.jit(jax.vmap(env.reset_to)), jax.jit(jax.vmap(env.step))


@pytest.fixture(scope="module")
def clip():
  return standing_clip("smpl", num_frames=90)


# Fixed impulses on pelvis and object every IMPULSE_PERIOD policy steps (at steps P-1, 2P-1, ...):
# the parity tests run from step 0 and stay before the first one; the randomisation test starts
# its states just before it.  One MJX env compile serves every test of this file.
IMPULSE_PERIOD = 50
IMPULSES = dict(mode="fixed", fixed_period_steps=IMPULSE_PERIOD, fixed_pelvis_impulse=15.0,
                fixed_object_impulse=3.0)


def _cfg_impulses(impl, **env):
  return _cfg(impl, perturb=dict(load_env_config("smoke").perturb.to_dict(), **IMPULSES), **env)


@pytest.fixture(scope="module")
def pair(clip):
  """(jax env, c env), each with its jitted vmapped reset_to / step (fixed impulses from step
  ``IMPULSE_PERIOD - 1`` on)."""
  return _env(_cfg_impulses("jax"), clip), _env(_cfg_impulses("c"), clip)


def _start(reset_to, key=0):
  keys = jax.random.split(jax.random.PRNGKey(key), NUM_ENVS)
  return reset_to(keys, jnp.zeros(NUM_ENVS, jnp.int32), jnp.zeros(NUM_ENVS))


def _actions(env, steps, seed=1, amp=0.2):
  rng = np.random.default_rng(seed)
  return [jnp.asarray(rng.uniform(-amp, amp, (NUM_ENVS, env.action_size)), jnp.float32)
          for _ in range(steps)]


def _body_pos(env, state):
  return np.asarray(jax.vmap(env.physics.frame)(state.pipeline_state).body_pos)


def test_parity_with_mjx(pair):
  """Same start and actions: body positions within 1 mm after 1 step (random actions) and 2 cm
  after 30 steps of zero residual action; rewards and terminations agree while the states agree.

  Measured tolerance (docs/benchmarks.md, "C backend parity"): without contacts MJX and MuJoCo C
  agree to 1e-7 m per step; with contacts the two solvers (float32 MJX vs float64 C, 4 Newton
  iterations) differ by ~0.6 mm per step, and random +-0.2 rad residual actions (feet impacts)
  amplify that to decimetres within 10 steps, so the 30-step check uses zero residual action."""
  (env_j, reset_j, step_j), (env_c, reset_c, step_c) = pair
  assert env_c.backend == "c" and env_j.backend == "jax"
  sj, sc = _start(reset_j), _start(reset_c)
  np.testing.assert_allclose(sc.obs, sj.obs, atol=1e-4)
  np.testing.assert_allclose(_body_pos(env_c, sc), _body_pos(env_j, sj), atol=1e-5)
  a = _actions(env_j, 1)[0]
  one_j, one_c = step_j(sj, a), step_c(sc, a)
  assert np.abs(_body_pos(env_c, one_c) - _body_pos(env_j, one_j)).max() < 1e-3
  np.testing.assert_allclose(one_c.reward, one_j.reward, atol=2e-3)
  zero = jnp.zeros((NUM_ENVS, env_j.action_size))
  for t in range(30):
    sj, sc = step_j(sj, zero), step_c(sc, zero)
    err = np.abs(_body_pos(env_c, sc) - _body_pos(env_j, sj)).max()
    assert err < (1e-3 if t == 0 else 0.02), (t, err)
    np.testing.assert_array_equal(sc.metrics["terminated"], sj.metrics["terminated"])
    np.testing.assert_array_equal(sc.done, sj.done)
    np.testing.assert_allclose(sc.reward, sj.reward, atol=0.01)
    for k in ("r_body_pos", "r_body_rot", "r_ig", "r_hand", "r_contact"):
      np.testing.assert_allclose(sc.metrics[k], sj.metrics[k], atol=0.01, err_msg=k)
  assert float(jnp.sum(sc.metrics["nan_reset"])) == 0.0


def test_deterministic_at_any_thread_count(clip, pair):
  """Same key -> bit-identical trajectories; 1 thread and 2 threads agree bit for bit."""
  _, (env_c, reset_c, step_c) = pair
  env_1, reset_1, step_1 = _env(_cfg_impulses("c", c_threads=1), clip)
  assert env_1.physics.threads == 1
  acts = _actions(env_c, 5, seed=3, amp=0.5)
  runs = []
  for reset, step in ((reset_c, step_c), (reset_c, step_c), (reset_1, step_1)):
    s = _start(reset, key=5)
    for a in acts:
      s = step(s, a)
    runs.append(s)
  for other in runs[1:]:
    for a, b in zip(jax.tree_util.tree_leaves(runs[0].pipeline_state),
                    jax.tree_util.tree_leaves(other.pipeline_state)):
      np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[0].obs, other.obs)


def test_randomisation_and_impulses_change_c_as_mjx(pair):
  """A heavy, slippery, offset object and fixed impulses on pelvis and object: the C trajectory
  moves away from the nominal one as the MJX trajectory does."""
  out = {}
  steps = 6
  for impl, (env, reset_to, step) in zip(("jax", "c"), pair):
    s0 = _start(reset_to, key=7)
    # float32, not weak-typed python floats: the same input types as the reset's, so the step
    # compiled by the parity test is reused (a weak type would recompile the MJX step, ~4 min)
    f32 = functools.partial(jnp.full, NUM_ENVS, dtype=jnp.float32)
    heavy = perturbations.ObjectParams(
        size_scale=f32(1.0), mass_scale=f32(3.0), inertia_scale=f32(1.5), friction_scale=f32(0.3),
        com_offset=jnp.tile(jnp.asarray([0.02, -0.01, 0.0], jnp.float32), (NUM_ENVS, 1)))
    # the impulse falls on the 3rd of the 6 steps (step counter IMPULSE_PERIOD - 1)
    pushed = jnp.full(NUM_ENVS, IMPULSE_PERIOD - 3, s0.info["steps"].dtype)
    starts = {"quiet": s0, "nominal": s0.replace(info={**s0.info, "steps": pushed})}
    starts["heavy"] = starts["nominal"].replace(info={**s0.info, "steps": pushed,
                                                      "obj_params": heavy})
    runs = {}
    for name, s in starts.items():
      hits = 0.0
      for _ in range(steps):
        s = step(s, jnp.zeros((NUM_ENVS, env.action_size)))
        hits += float(jnp.abs(s.info["impulse"]).sum())
      assert (hits > 0.0) == (name != "quiet"), (impl, name, hits)
      assert not np.any(np.asarray(s.done)), (impl, name)
      runs[name] = np.asarray(s.pipeline_state.qpos)
    out[impl] = runs
  r, o = pair[1][0].idx.root_qpos_adr, pair[1][0].idx.obj_qpos_adr
  j, c = out["jax"], out["c"]
  for sl in (slice(r, r + 3), slice(o, o + 3)):
    np.testing.assert_allclose(c["nominal"][:, sl], j["nominal"][:, sl], atol=0.02)
    np.testing.assert_allclose(c["heavy"][:, sl] - c["nominal"][:, sl],
                               j["heavy"][:, sl] - j["nominal"][:, sl], atol=0.01)
    np.testing.assert_allclose(c["nominal"][:, sl] - c["quiet"][:, sl],
                               j["nominal"][:, sl] - j["quiet"][:, sl], atol=0.01)
  # the impulses moved the pelvis and the object (vs no impulse at all)
  assert np.abs(c["nominal"][:, o:o + 3] - c["quiet"][:, o:o + 3]).max() > 0.003
  assert np.abs(c["nominal"][:, r:r + 3] - c["quiet"][:, r:r + 3]).max() > 0.01


def test_nan_is_reset_and_flagged_neighbours_unaffected(pair):
  _, (env_c, reset_c, step_c) = pair
  s = _start(reset_c, key=9)
  a = jnp.zeros((NUM_ENVS, env_c.action_size))
  clean = step_c(s, a)
  d = s.pipeline_state
  bad = s.replace(pipeline_state=d.replace(qvel=d.qvel.at[0].set(jnp.nan)))
  out = step_c(bad, a)
  assert out.metrics["nan_reset"].tolist() == [1.0, 0.0]
  assert float(out.done[0]) == 1.0 and float(out.reward[0]) == 0.0
  assert int(out.info["steps"][0]) == 0
  for leaf in jax.tree_util.tree_leaves(out.pipeline_state):
    assert np.all(np.isfinite(np.asarray(leaf)))
  for a_, b_ in zip(jax.tree_util.tree_leaves(out.pipeline_state),
                    jax.tree_util.tree_leaves(clean.pipeline_state)):
    np.testing.assert_array_equal(np.asarray(a_)[1], np.asarray(b_)[1])
  # A diverging simulation (MuJoCo C resets it internally) is detected the same way.
  huge = s.replace(pipeline_state=d.replace(qvel=d.qvel.at[0].set(1e12)))
  assert step_c(huge, a).metrics["nan_reset"].tolist() == [1.0, 0.0]
  # A finite but exploded state (|qvel| > config.max_qvel: a launched object) too.
  o = env_c.idx.obj_qvel_adr
  flung = s.replace(pipeline_state=d.replace(qvel=d.qvel.at[0, o].set(10 * env_c.cfg.max_qvel)))
  assert step_c(flung, a).metrics["nan_reset"].tolist() == [1.0, 0.0]


def test_contact_summaries_match_contact_list(pair):
  """Sensor-based flags and the humanoid-object force equal the MuJoCo contact list's."""
  _, (env_c, _, _) = pair
  cp = env_c.physics
  m, spec = cp.model, env_c.spec
  d = mujoco.MjData(m)
  d.qpos[:] = spec.init_qpos
  d.qpos[spec.root_qpos_adr + 2] -= 0.01  # feet 1 cm into the floor
  mujoco.mj_forward(m, d)
  obj = spec.objects[0]
  root = d.xpos[spec.root_body_id].copy()
  d.qpos[obj.qpos_adr:obj.qpos_adr + 3] = root + np.array([0.2, 0.0, -0.74])  # into the shins
  mujoco.mj_forward(m, d)
  ref = sf.sim_frame_from_mujoco(d, cp.idx, cp.contact_dist)
  body_obj, body_floor, force, dist = c_physics.contact_summaries(d.sensordata[None], cp.layout,
                                                                  cp.contact_dist)
  assert ref.body_obj_contact.sum() > 0 and ref.body_floor_contact.sum() > 0
  np.testing.assert_array_equal(body_obj[0], ref.body_obj_contact)
  np.testing.assert_array_equal(body_floor[0], ref.body_floor_contact)
  assert float(force[0]) == pytest.approx(float(ref.obj_contact_force), rel=1e-4)
  # Distances: the sensors' equal the contact list's, both clipped to +-obj_contact_dist (the
  # penetrating bodies at minus it, the others at the cap).
  np.testing.assert_allclose(dist[0], ref.body_obj_dist, atol=1e-6)
  inside = np.asarray(ref.body_obj_dist) < 0
  assert inside.sum() > 0
  np.testing.assert_allclose(dist[0][inside], -cp.contact_dist.obj, rtol=1e-6)


def test_object_contact_distance_threshold(clip, pair):
  """``obj_contact_dist`` flags a hand 1 cm from the object on the C backend (distance sensors;
  the contact list has no such contact) and leaves the physics unchanged."""
  _, (env_far, reset_far, step_far) = pair
  env_near = make_env(_cfg_impulses("c", obj_contact_dist=0.02), [clip])
  assert env_near.physics.contact_dist == sf.ContactDist(obj=0.02, floor=1e-3)
  spec = env_near.spec
  m = env_near.physics.model
  d = mujoco.MjData(m)
  d.qpos[:] = spec.init_qpos
  mujoco.mj_forward(m, d)
  obj = spec.objects[0]
  hand = int(env_near.spec.body_ids[env_near.spec.hand_idx[0]])
  # Put the object 1 cm beyond the hand's nearest geom point: near (< 2 cm) but not touching.
  d.qpos[obj.qpos_adr:obj.qpos_adr + 3] = d.xpos[hand] + np.array([0.0, 0.0, 2.0])
  mujoco.mj_forward(m, d)
  gids = [g for g in range(m.ngeom) if m.geom_bodyid[g] == hand]
  fromto = np.zeros(6)
  dist = min(mujoco.mj_geomDistance(m, d, g, obj.geom_ids[0], 5.0, fromto) for g in gids)
  d.qpos[obj.qpos_adr + 2] -= dist - 0.01
  mujoco.mj_forward(m, d)
  hand_i = int(env_near.spec.hand_idx[0])
  for env, expect in ((env_near, 1.0), (env_far, 0.0)):
    cp = env.physics
    dd = mujoco.MjData(cp.model)
    dd.qpos[:] = d.qpos
    mujoco.mj_forward(cp.model, dd)
    body_obj, _, _, dist = c_physics.contact_summaries(dd.sensordata[None], cp.layout,
                                                       cp.contact_dist)
    assert body_obj[0, hand_i] == expect
    # The hand's distance itself (1 cm), or the cap where the threshold is below it.
    assert dist[0, hand_i] == pytest.approx(min(0.01, cp.contact_dist.obj), abs=1e-5)
    ref = sf.sim_frame_from_mujoco(dd, cp.idx, cp.contact_dist)  # MJX-style flags from the list
    assert ref.body_obj_contact[hand_i] == 0.0  # MuJoCo C lists no contact 1 cm away
  # Same physics whatever the threshold.
  states = []
  for env, reset, step in ((env_far, reset_far, step_far),
                           (env_near, jax.jit(jax.vmap(env_near.reset_to)),
                            jax.jit(jax.vmap(env_near.step)))):
    s = _start(reset)
    for a in _actions(env, 5):
      s = step(s, a)
    states.append(np.asarray(s.pipeline_state.qpos))
  np.testing.assert_array_equal(states[0], states[1])


def test_threads_and_accelerator_refusal(monkeypatch, clip):
  monkeypatch.setenv(c_physics.THREADS_ENV_VAR, "3")
  assert c_physics.default_threads() == 3
  assert c_physics.default_threads(5) == 5
  monkeypatch.setenv(c_physics.THREADS_ENV_VAR, "zero")
  with pytest.raises(ValueError, match=c_physics.THREADS_ENV_VAR):
    c_physics.default_threads()
  monkeypatch.delenv(c_physics.THREADS_ENV_VAR)
  assert c_physics.default_threads() >= 1
  with pytest.raises(ValueError, match="impl"):
    physics.check_impl("cuda")
  monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
  with pytest.raises(ValueError, match='"jax" or "warp"'):
    make_env(_cfg("c"), [clip])
