"""Data parallelism: 4 forced host devices give the same PPO iterations as 1 device.

XLA_FLAGS must be set before JAX initializes, so the check runs in a subprocess."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    from interprior_jax import runtime
    runtime.enable_compilation_cache()
    from interprior_jax.training import rollout, sharding
    from interprior_jax.training.ppo import train as ppo
    from interprior_jax.envs import toy_env
    assert jax.device_count() == 4, jax.devices()
    cfg = ppo.PPOConfig(num_envs=16, unroll_length=8, minibatch_size=32, num_epochs=2,
                        learning_rate=1e-3,
                        network=ppo.NetworkConfig((32, 32), (32, 32), "elu", -1.0, False))
    env = rollout.VecEnv(toy_env.PointMassTracking(), cfg.num_envs)

    def run(n):
      algo = ppo.PPO(env, cfg, sharding.make_mesh(n))
      s = algo.init(jax.random.PRNGKey(3))
      step = algo.jit_train_step(s)
      for _ in range(2):
        s, m = step(s, jax.random.fold_in(s.key, s.step))
      return s, m

    s1, m1 = run(1)
    s4, m4 = run(4)
    assert len(s4.env_state.obs.sharding.device_set) == 4
    assert s4.env_state.obs.sharding.shard_shape(s4.env_state.obs.shape)[0] == 4
    for a, b in zip(jax.tree.leaves((s1.params, s1.normalizer, s1.env_state.obs)),
                    jax.tree.leaves((s4.params, s4.normalizer, s4.env_state.obs))):
      np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-5)
    for k in ("loss", "episode_length", "reward"):
      np.testing.assert_allclose(float(m1[k]), float(m4[k]), rtol=1e-3, atol=1e-5, err_msg=k)
    print("SHARDING_OK")
""")


def test_four_devices_match_one_device():
  env = dict(os.environ)
  env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
  env["JAX_PLATFORMS"] = "cpu"
  out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True,
                       text=True, timeout=600)
  assert out.returncode == 0 and "SHARDING_OK" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
