"""HOIEnv under jit + vmap (MuJoCo C backend): sizes, finiteness over 200 random steps,
auto-reset / truncation, NaN guard, determinism, the single-env replay front end; reset/step for
smplx and g1 (one compile each)."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from env_helpers import standing_clip  # noqa: E402
from interprior_jax.envs import load_env_config, make_env, wrap_for_training  # noqa: E402

NUM_ENVS = 2


def _build(humanoid, variant, num_frames=90, impl="c"):
  """The env on the MuJoCo C backend by default: the logic tested here is backend-neutral and
  "c" compiles in seconds (MJX parity: tests/test_c_physics.py)."""
  cfg = load_env_config(variant)
  cfg.impl = impl
  env = make_env(cfg, [standing_clip(humanoid, num_frames=num_frames)])
  return env, jax.jit(jax.vmap(env.reset)), jax.jit(jax.vmap(env.step))


@pytest.fixture(scope="module")
def smpl():
  env, reset, step = _build("smpl", "smoke")
  state = reset(jax.random.split(jax.random.PRNGKey(0), NUM_ENVS))
  return env, reset, step, state


def test_sizes_match_spec(smpl):
  env, _, _, state = smpl
  assert state.obs.shape == (NUM_ENVS, env.observation_size)
  assert env.observation_size == env.obs_spec.size
  sl = env.obs_spec.slices()
  assert max(s.stop for s in sl.values()) == env.observation_size
  assert env.action_size == env.spec.action_size
  assert set(env.metric_names) <= set(state.metrics)
  for name in ("r_body_pos", "r_hand", "reward_total", "e_h", "e_o", "terminated", "truncated",
               "term_fall", "term_hand_contact_loss", "nan_reset"):
    assert name in state.metrics
  for key in ("clip", "time", "steps", "truncation", "hand_loss", "obj_params", "psi"):
    assert key in state.info


def test_random_actions_200_steps(smpl):
  env, _, step, state = smpl
  rng = np.random.default_rng(0)
  dones, truncs, terms = 0, 0, 0
  for t in range(200):
    a = jnp.asarray(rng.uniform(-0.3, 0.3, (NUM_ENVS, env.action_size)), jnp.float32)
    state = step(state, a)
    assert np.all(np.isfinite(np.asarray(state.obs))), t
    assert np.all(np.isfinite(np.asarray(state.reward))), t
    dones += int(np.sum(state.done))
    truncs += int(np.sum(state.info["truncation"]))
    terms += int(np.sum(state.metrics["terminated"]))
    # Truncation and termination are exclusive; done is their union (no NaN here).
    assert np.all(state.metrics["truncated"] * state.metrics["terminated"] == 0)
    np.testing.assert_array_equal(state.done, np.maximum(state.metrics["truncated"],
                                                         state.metrics["terminated"]))
    assert np.all(np.asarray(state.info["steps"]) <= env.cfg.max_episode_steps)
  assert dones > 0  # episodes ended (clip end / max length 64 / termination) and were reset
  assert float(np.max(state.metrics["nan_reset"])) == 0.0


def test_truncation_at_max_length(smpl):
  env, reset, step, _ = smpl
  state = reset(jax.random.split(jax.random.PRNGKey(5), NUM_ENVS))
  # Start the (constant) clip's time at 0 so that the first episodes end by max_episode_steps.
  state = state.replace(info={**state.info, "time": jnp.zeros_like(state.info["time"])})
  zero = jnp.zeros((NUM_ENVS, env.action_size))
  saw_trunc = False
  for _ in range(env.cfg.max_episode_steps):
    prev = state
    state = step(state, zero)
    t = np.asarray(state.info["truncation"])
    live = np.asarray(state.done) == 0
    # final_obs = obs where no reset happened ...
    np.testing.assert_array_equal(np.asarray(state.info["final_obs"])[live],
                                  np.asarray(state.obs)[live])
    if t.any():
      saw_trunc = True
      assert np.all(np.asarray(state.info["steps"])[t > 0] == 0)  # reset happened
      assert np.all(np.asarray(state.metrics["terminated"])[t > 0] == 0)
      # ... and, on the truncated step, the observation of the state reached before the reset:
      # replay the same step one count short of the limit (no truncation, same physics).
      again = step(prev.replace(info={**prev.info, "steps": prev.info["steps"] - 1}), zero)
      assert np.all(np.asarray(again.done)[t > 0] == 0)
      np.testing.assert_allclose(np.asarray(state.info["final_obs"])[t > 0],
                                 np.asarray(again.obs)[t > 0], rtol=1e-6, atol=1e-6)
      assert not np.allclose(np.asarray(state.info["final_obs"])[t > 0],
                             np.asarray(state.obs)[t > 0])
  assert saw_trunc
  r_cf = np.asarray(state.metrics["r_contact_force"])
  assert np.all((r_cf > 0) & (r_cf <= 1))


def test_nan_guard_resets_only_that_env(smpl):
  env, _, step, state = smpl
  d = state.pipeline_state
  bad = state.replace(pipeline_state=d.replace(qvel=d.qvel.at[0].set(jnp.nan)))
  out = step(bad, jnp.zeros((NUM_ENVS, env.action_size)))
  assert out.metrics["nan_reset"].tolist() == [1.0, 0.0]
  assert float(out.done[0]) == 1.0 and float(out.reward[0]) == 0.0
  assert float(out.info["truncation"][0]) == 0.0  # no bootstrap from a broken state
  for leaf in jax.tree_util.tree_leaves(out.pipeline_state):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert np.all(np.isfinite(np.asarray(leaf)))
  assert np.all(np.isfinite(np.asarray(out.obs)))
  assert int(out.info["steps"][0]) == 0 and int(out.info["steps"][1]) == int(
      state.info["steps"][1]) + 1


def test_determinism_given_keys(smpl):
  env, reset, step, _ = smpl
  keys = jax.random.split(jax.random.PRNGKey(11), NUM_ENVS)
  a = jnp.full((NUM_ENVS, env.action_size), 0.1)
  runs = []
  for _ in range(2):
    s = reset(keys)
    for _ in range(3):
      s = step(s, a)
    runs.append(s)
  np.testing.assert_array_equal(runs[0].obs, runs[1].obs)
  np.testing.assert_array_equal(runs[0].pipeline_state.qpos, runs[1].pipeline_state.qpos)
  other = reset(jax.random.split(jax.random.PRNGKey(12), NUM_ENVS))
  assert not np.array_equal(np.asarray(other.obs), np.asarray(runs[0].obs))


def test_wrap_for_training_checks(smpl):
  env = smpl[0]
  wrapped = wrap_for_training(env, episode_length=env.cfg.max_episode_steps)
  assert type(wrapped).__name__ == "VmapWrapper" and wrapped.unwrapped is env
  with pytest.raises(ValueError, match="max_episode_steps"):
    wrap_for_training(env, episode_length=env.cfg.max_episode_steps + 1)
  with pytest.raises(ValueError, match="action_repeat"):
    wrap_for_training(env, action_repeat=2)


# The HOI env of smplx and g1 on the C backend by default; the MJX compile of each (2-2.5 min on 2
# cores, cold) is slow-marked (their MJX physics is covered by test_scene_mjx's box scenes).
@pytest.mark.parametrize("humanoid,impl", [
    (h, i) if i == "c" else pytest.param(h, i, marks=pytest.mark.slow)
    for h in ("smplx", "g1") for i in ("c", "jax")])
def test_other_embodiments_reset_step(humanoid, impl, request):
  if humanoid == "g1":
    request.getfixturevalue("menagerie_available")
  cfg = load_env_config(humanoid)
  cfg.max_episode_steps = 16
  cfg.impl = impl
  env = make_env(cfg, [standing_clip(humanoid, num_frames=20)])
  state = jax.jit(env.reset)(jax.random.PRNGKey(0))
  assert state.obs.shape == (env.obs_spec.size,)
  step = jax.jit(env.step)
  for _ in range(3):
    state = step(state, jnp.zeros(env.action_size))
  assert np.all(np.isfinite(np.asarray(state.obs)))
  assert float(state.metrics["nan_reset"]) == 0.0


def test_mujoco_replay_reproduces_the_env(smpl):
  """Sim-to-sim front end: MujocoReplay started from env 0 of a batch and fed the same actions
  reproduces that env's trajectory (one state at a time vs the vmapped batch, same C physics)."""
  from interprior_jax.envs.mujoco_backend import MujocoReplay
  env, reset, step, _ = smpl
  state = reset(jax.random.split(jax.random.PRNGKey(21), NUM_ENVS))
  replay = MujocoReplay(env)
  assert replay.env is env and replay.env.backend == "c"
  obs0 = replay.set_from_mjx(state, 0)
  np.testing.assert_allclose(obs0, np.asarray(state.obs[0]), atol=1e-5)
  rng = np.random.default_rng(1)
  compared = 0
  for t in range(8):
    a = rng.uniform(-0.2, 0.2, env.action_size).astype(np.float32)
    state = step(state, jnp.broadcast_to(jnp.asarray(a), (NUM_ENVS, env.action_size)))
    if float(jnp.abs(state.info["impulse"][0]).sum()) != 0.0 or bool(state.done[0]):
      break  # a random impulse or an episode end in the batch: the runs part ways
    obs, reward, done, metrics = replay.step(a)
    np.testing.assert_allclose(replay.data.qpos, np.asarray(state.pipeline_state.qpos[0]),
                               atol=1e-4, err_msg=str(t))
    assert reward == pytest.approx(float(state.reward[0]), abs=1e-3)
    compared += 1
  assert compared >= 3
