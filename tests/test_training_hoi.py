"""PPO on the real HOI env: two iterations of ``configs/expert.py:smoke`` (embedded synthetic
clip) and a seeded learning check on a short standing clip.

Compiling the MJX HOI env's train step takes minutes on 2 CPU cores, so these tests only run with
``INTERPRIOR_SLOW_TESTS=1``."""

from __future__ import annotations

import io
import math
import os

import numpy as np
import pytest

from interprior_jax.envs.standing import standing_clip
from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training import expert
from interprior_jax.training import logging as log_lib
from interprior_jax.training import loop as loop_lib

from test_training import expert_config

pytestmark = pytest.mark.skipif(os.environ.get("INTERPRIOR_SLOW_TESTS") != "1",
                                reason="slow (HOI env compile); set INTERPRIOR_SLOW_TESTS=1")

# Learning check (docs/results.md, "Stage 1 smoke (CPU)", run F): PPO sizes and budget.
LEARN_PPO = dict(num_envs=32, unroll_length=16, minibatch_size=128, num_epochs=4,
                 learning_rate=3e-4)
LEARN_LOG_STD = -1.0  # learned; in units of LEARN_ACTION_SCALE * half joint range
LEARN_ACTION_SCALE = 0.1  # one action unit = 0.1 pi rad on SMPL (1.0 = method.md: pi rad)
LEARN_ITERATIONS = 40
LEARN_WINDOW = 5  # iterations averaged at the start (after the first) and at the end


def learning_config():
  config = expert_config("smoke")
  config.ppo.update(**LEARN_PPO)
  config.ppo.network.init_log_std = LEARN_LOG_STD
  config.ppo.network.learn_log_std = True
  config.env.action_scale = LEARN_ACTION_SCALE
  config.loop.update(num_iterations=LEARN_ITERATIONS, checkpoint_every=LEARN_ITERATIONS,
                     log_every=1)
  return config


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


@pytest.mark.xfail(strict=False, reason="not met yet: returns plateau within CPU budgets "
                   "(docs/results.md, 'Stage 1 smoke (CPU)': runs A-F and the diagnosis)")
def test_smoke_learns_on_a_standing_clip(tmp_path):
  """Seeded: mean episode return, length and per-step reward rise over a fixed budget."""
  config = learning_config()
  clips = [standing_clip("smpl", num_frames=90)]
  res = expert.train(config, tmp_path, algo=expert.build(config, clips=clips),
                     logger=log_lib.MetricsLogger(None, stream=None))
  assert not res.nan_events
  out = {}
  for key in ("episode_return", "episode_length", "reward"):
    v = loop_lib.history_array(res.history, key)
    out[key] = (float(np.nanmean(v[1:1 + LEARN_WINDOW])), float(np.nanmean(v[-LEARN_WINDOW:])))
  print("learning (start, end):", out)
  for key, (start, end) in out.items():
    assert end > start, (key, out)
  assert out["episode_length"][1] > 1.2 * out["episode_length"][0], out
