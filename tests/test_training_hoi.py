"""PPO on the real HOI env: two iterations of ``configs/expert.py:smoke`` (embedded synthetic
clip).  The learning check that used to live here (``stand``) measured a humanoid whose hinges were
compiled to +-pi/180 rad; its successor runs in CI: tests/test_stage1_expert.py (``push``).

Compiling the MJX HOI env's train step takes minutes on 2 CPU cores, so these tests only run with
``INTERPRIOR_SLOW_TESTS=1``."""

from __future__ import annotations

import io
import math

import pytest

from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training import expert
from interprior_jax.training import logging as log_lib

from test_training import expert_config

pytestmark = pytest.mark.slow  # HOI env compile (tests/conftest.py)

def test_smoke_config_two_iterations(tmp_path):
  config = expert_config("smoke")
  config.ppo.network.actor_hidden = (16,)
  config.ppo.network.critic_hidden = (16,)
  assert config.loop.num_iterations == 2
  stream = io.StringIO()
  res = expert.train(config, tmp_path, logger=log_lib.MetricsLogger(tmp_path / "tb", stream))
  assert int(res.state.step) == 2 and not res.nan_events
  for h in res.history:
    assert math.isfinite(h["loss"]) and h["state_finite"] == 1.0
    assert 0.0 <= h["env/e_h"] < 1.0
  assert "r_track" in stream.getvalue()
  bundle = ckpt_lib.load_bundle(tmp_path / ckpt_lib.BUNDLE_DIR)
  assert bundle.config["action_size"] == expert.build(config).env.action_size
