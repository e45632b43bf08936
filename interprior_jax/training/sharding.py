"""Data parallelism with ``jax.sharding``: one mesh axis ``data`` over all devices (all hosts).

Environment copies, rollouts and minibatches are sharded along their env/batch axis; parameters,
optimizer state, normalizer and RNG are replicated. Everything runs in one ``jit`` (GSPMD): the
program has *global* semantics, so results equal the single-device run up to float reduction
order, on 1..N devices. Multi-host: call :func:`maybe_initialize_distributed` first; the mesh then
spans ``jax.devices()`` of all processes and each host only materializes its shards.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def maybe_initialize_distributed() -> bool:
  """Calls ``jax.distributed.initialize()`` when a multi-process launch is detected
  (``JAX_COORDINATOR_ADDRESS`` / SLURM / cloud-TPU env vars handled by JAX itself when
  ``INTERPRIOR_DISTRIBUTED=1``). Returns whether it initialized."""
  if os.environ.get("INTERPRIOR_DISTRIBUTED", "0") != "1":
    return False
  jax.distributed.initialize()
  return True


def make_mesh(num_devices: int | None = None) -> Mesh:
  """1-D mesh over the first ``num_devices`` devices (default: all, across hosts)."""
  devs = jax.devices()
  n = len(devs) if num_devices is None else int(num_devices)
  if not 1 <= n <= len(devs):
    raise ValueError(f"make_mesh: asked for {n} devices, {len(devs)} available")
  return Mesh(np.asarray(devs[:n]), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh, axis: int = 0) -> NamedSharding:
  """Sharding that splits array axis ``axis`` over the ``data`` mesh axis."""
  return NamedSharding(mesh, P(*([None] * axis), DATA_AXIS))


def check_divisible(num_envs: int, mesh: Mesh) -> None:
  n = mesh.devices.size
  if num_envs % n:
    raise ValueError(f"num_envs={num_envs} must be divisible by the number of devices ({n})")


def batch_shardings(tree, mesh: Mesh, axis: int = 0):
  """Pytree of shardings splitting every leaf with ``ndim > axis`` along ``axis``; scalars
  replicated."""
  return jax.tree.map(
      lambda x: data_sharded(mesh, axis) if np.ndim(x) > axis else replicated(mesh), tree)


def constrain_batch(tree, mesh: Mesh, axis: int = 0):
  """``with_sharding_constraint`` of every leaf along ``axis`` (inside ``jit``)."""
  return jax.tree.map(
      lambda x: jax.lax.with_sharding_constraint(
          x, data_sharded(mesh, axis) if x.ndim > axis else replicated(mesh)), tree)


def replicate(tree, mesh: Mesh):
  """Places a host pytree replicated on every device of ``mesh``."""
  return jax.device_put(tree, replicated(mesh))


def jit_train_step(train_step, state_shardings, mesh: Mesh):
  """``jax.jit(train_step)`` for ``train_step(state, key) -> (state, metrics)`` with the state's
  shardings pinned on input and output, the key and metrics replicated, the state donated."""
  rep = replicated(mesh)
  return jax.jit(train_step, in_shardings=(state_shardings, rep),
                 out_shardings=(state_shardings, rep), donate_argnums=0)
