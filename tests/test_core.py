"""The trainer core's pieces (training/core.py) on hand-made batches: minibatch layouts,
the guarded update with a step hook, the normaliser merge."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from interprior_jax.training import core
from interprior_jax.training import normalization
from interprior_jax.training import sharding

T, N = 3, 8


def _data():
  ids = jnp.arange(T * N, dtype=jnp.float32).reshape(T, N)
  return {"id": ids, "vec": jnp.stack([ids, -ids], axis=-1)}


def test_shuffled_minibatches_partition_the_transitions():
  mbs = core.shuffled_minibatches(4, sharding.make_mesh(1))(_data(), jax.random.PRNGKey(0))
  assert mbs["id"].shape == (4, T * N // 4) and mbs["vec"].shape == (4, T * N // 4, 2)
  np.testing.assert_array_equal(np.sort(np.asarray(mbs["id"]).ravel()), np.arange(T * N))
  np.testing.assert_array_equal(mbs["vec"][..., 0], mbs["id"])  # leaves permuted together
  assert not np.array_equal(np.asarray(mbs["id"]).ravel(), np.arange(T * N))


def test_env_minibatches_keep_whole_trajectories():
  mbs = core.env_minibatches(2, sharding.make_mesh(1))(_data(), jax.random.PRNGKey(1))
  ids = np.asarray(mbs["id"])
  assert ids.shape == (2, T, N // 2)
  # each column is one env's trajectory: ids t*N + n for t = 0..T-1
  np.testing.assert_array_equal(ids[:, 1:] - ids[:, :-1], N)
  np.testing.assert_array_equal(np.sort(ids[:, 0].ravel()), np.arange(N))


def test_update_skips_nonfinite_steps_and_runs_the_hook():
  data = _data()
  params = {"w": jnp.ones((2,))}
  opt = optax.sgd(0.1)

  def loss_fn(p, mb):
    # minibatches holding id 5 give a NaN loss
    bad = jnp.any(mb["id"] == 5)
    loss = jnp.mean(mb["vec"] @ p["w"]) * 0.01
    return jnp.where(bad, jnp.nan, loss), {"loss": loss}

  calls = []

  def hook(o, ok, i, m):
    calls.append(1)  # traced once per scan body
    return o

  p, o, bad, m = core.update(loss_fn, opt, params, opt.init(params), data, jax.random.PRNGKey(2),
                             num_epochs=3, minibatcher=core.env_minibatches(4, sharding.make_mesh(1)),
                             step_hook=hook)
  assert int(bad) == 3  # one of the 4 minibatches per epoch holds env 5
  assert m["loss"].shape == (3, 4) and calls
  assert bool(jnp.all(jnp.isfinite(p["w"]))) and not np.allclose(p["w"], 1.0)


def test_merge_normalizer_ignores_a_nonfinite_batch():
  norm = normalization.init(jax.ShapeDtypeStruct((2,), jnp.float32))
  good = jnp.ones((4, 2))
  merged = core.merge_normalizer(norm, good)
  assert float(merged.count) > float(norm.count)
  same = core.merge_normalizer(merged, good.at[0, 0].set(jnp.nan))
  jax.tree.map(np.testing.assert_array_equal, same, merged)
  off = core.merge_normalizer(norm, good, enabled=False)
  jax.tree.map(np.testing.assert_array_equal, off, norm)
