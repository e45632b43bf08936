"""Orbax checkpoints of whole train states, and the exported inference bundle.

Checkpoints (``Checkpointer``): an Orbax ``CheckpointManager`` under ``<workdir>/checkpoints``; each
step directory holds the full state pytree (``state``: params, optimizer state, normalizer, env
state incl. any env-side buffers, RNG, step counter, ...) and the run config (``config``, JSON).
The pytree is stored flat (``leaf_00000``...) with its key paths in a ``layout`` JSON item, so
any pytree node types (brax ``State``, ``mjx.Data``, flax structs) round-trip and a structure
mismatch on restore names the differing path; zero-size leaves (e.g. ``mjx.Data.act`` of a model
without actuator states), which Orbax cannot store, are recreated from the restore target.
Orbax writes into a temporary directory and renames it when complete, so a killed run never leaves
a corrupt checkpoint: unfinished ``*.orbax-checkpoint-tmp-*`` directories are ignored (and removed
when the manager opens). ``max_to_keep`` keeps the newest N.

Inference bundle (``export_bundle`` / ``load_bundle``): ``<dir>/policy.msgpack`` (actor params +
observation normalizer) and ``<dir>/config.json`` (the run config plus ``action_size``),
written to a temporary directory and renamed into place. Evaluation and later stages load it with
no knowledge of the training state.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shutil
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from flax import serialization

from interprior_jax.training import normalization

CHECKPOINT_DIR = "checkpoints"
BUNDLE_DIR = "policy"
BUNDLE_PARAMS = "policy.msgpack"
BUNDLE_CONFIG = "config.json"


def _config_dict(config) -> dict:
  if isinstance(config, ml_collections.ConfigDict):
    config = config.to_dict()
  return json.loads(json.dumps(config, default=_json_default))


def _json_default(x):
  if isinstance(x, (tuple, list)):
    return list(x)
  if isinstance(x, (np.generic,)):
    return x.item()
  return str(x)


def abstract_like(tree):
  """``ShapeDtypeStruct`` pytree (with shardings) of ``tree``: the restore target."""
  return jax.tree.map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)), tree)


def _leaf_key(i: int) -> str:
  return f"leaf_{i:05d}"


def _flatten(tree) -> tuple[dict, dict]:
  """``({leaf_i: leaf}`` for non-empty leaves, ``{'paths': [...], 'shapes': [...]}``)."""
  with_path, _ = jax.tree_util.tree_flatten_with_path(tree)
  flat = {_leaf_key(i): x for i, (_, x) in enumerate(with_path) if int(np.prod(x.shape)) > 0}
  layout = {"paths": [jax.tree_util.keystr(p) for p, _ in with_path],
            "shapes": [list(map(int, x.shape)) for _, x in with_path]}
  return flat, layout


def _zeros_like(t):
  z = jnp.zeros(t.shape, t.dtype)
  sh = getattr(t, "sharding", None)
  return jax.device_put(z, sh) if sh is not None else z


class Checkpointer:
  """Keep-N atomic Orbax checkpoints of a pytree + config (``directory`` is created)."""

  def __init__(self, directory: str | os.PathLike, max_to_keep: int = 3, async_save: bool = True):
    self.directory = pathlib.Path(directory).absolute()
    opts = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                        cleanup_tmp_directories=True,
                                        enable_async_checkpointing=async_save)
    self.manager = ocp.CheckpointManager(self.directory, options=opts,
                                         item_names=("state", "config", "layout"))
    # Opening may remove unfinished temp directories in the background: finish that now, so a
    # second manager on the same directory (a resume, a test) never races it for the same files.
    self.manager.wait_until_finished()

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state, config, force: bool = True) -> bool:
    """Saves ``state`` (any pytree of arrays) and ``config`` at ``step`` (asynchronously when
    enabled: device->host copy now, write in the background)."""
    flat, layout = _flatten(state)
    return self.manager.save(int(step), args=ocp.args.Composite(
        state=ocp.args.StandardSave(flat), config=ocp.args.JsonSave(_config_dict(config)),
        layout=ocp.args.JsonSave(layout)), force=force)

  def restore(self, target, step: int | None = None,
              new_leaves_ok: tuple[str, ...] = ()) -> tuple[Any, dict]:
    """Restores ``(state, config_dict)`` at ``step`` (default latest). ``target``: a pytree like
    the saved one (arrays or ``ShapeDtypeStruct`` with shardings), which fixes structure,
    dtypes and placement. FileNotFoundError when there is no checkpoint; ValueError naming the
    first differing key path when the structure does not match.

    ``new_leaves_ok``: key-path prefixes (``jax.tree_util.keystr``, e.g. ``".env_state"``) under
    which the target may hold leaves the checkpoint lacks (state added since it was written):
    those keep the target's values (so ``target`` must then hold arrays) and every other leaf is
    restored by path.  A saved leaf the target lacks, or one of another shape, is still an error:
    nothing is dropped.  The config dict then carries ``"new_leaves"``: the paths filled in."""
    self.manager.wait_until_finished()
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    abstract = abstract_like(target)
    flat_t, layout_t = _flatten(abstract)
    saved_layout = self.saved_layout(step)
    if saved_layout == layout_t:
      out = self.manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(flat_t), config=ocp.args.JsonRestore()))
      leaves, treedef = jax.tree_util.tree_flatten(abstract)
      rebuilt = [out.state[_leaf_key(i)] if _leaf_key(i) in out.state else _zeros_like(t)
                 for i, t in enumerate(leaves)]
      return jax.tree_util.tree_unflatten(treedef, rebuilt), out.config
    return self._restore_by_path(target, abstract, step, saved_layout, layout_t, new_leaves_ok)

  def saved_layout(self, step: int | None = None) -> dict:
    """``{'paths': [...], 'shapes': [...]}`` of the checkpoint at ``step`` (default latest): the
    key paths (``jax.tree_util.keystr``) and shapes of the saved pytree's leaves, in order."""
    self.manager.wait_until_finished()
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"no checkpoint in {self.directory}")
    return self.manager.restore(step, args=ocp.args.Composite(
        layout=ocp.args.JsonRestore())).layout

  def read_leaves(self, step: int | None = None) -> dict[str, np.ndarray]:
    """``{key path: array}`` of every saved leaf at ``step`` (default latest), without a restore
    target: for reading part of a run's state (e.g. a student's params as a bundle) without
    rebuilding its trainer. Zero-size leaves come back as zeros of their shape."""
    step = self.latest_step() if step is None else step
    layout = self.saved_layout(step)
    flat = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore())).state
    return {p: (np.asarray(flat[_leaf_key(i)]) if _leaf_key(i) in flat else
                np.zeros(shape, np.float32))
            for i, (p, shape) in enumerate(zip(layout["paths"], layout["shapes"]))}

  def _restore_by_path(self, target, abstract, step, saved_layout, layout_t, new_leaves_ok):
    where = f"{self.directory}/{step}"
    saved = {p: (i, shape) for i, (p, shape) in
             enumerate(zip(saved_layout["paths"], saved_layout["shapes"]))}
    target_paths = set(layout_t["paths"])
    dropped = [p for p in saved_layout["paths"] if p not in target_paths]
    new = [p for p in layout_t["paths"] if p not in saved]
    not_ok = [p for p in new if not any(p.startswith(pre) for pre in new_leaves_ok)]
    if dropped or not_ok or not new_leaves_ok:
      diff = next((f"{a} != {b}" for a, b in zip(saved_layout["paths"], layout_t["paths"])
                   if a != b), f"{len(saved_layout['paths'])} vs {len(layout_t['paths'])} leaves")
      raise ValueError(f"{where}: checkpoint structure differs from the restore target (saved vs "
                       f"target: {diff}; only in the checkpoint: {dropped[:5]}; only in the "
                       f"target: {not_ok[:5] or new[:5]})")
    leaves_a = jax.tree_util.tree_leaves(abstract)
    leaves_t = jax.tree_util.tree_leaves(target)
    flat = {}
    for p, shape, a in zip(layout_t["paths"], layout_t["shapes"], leaves_a):
      if p in saved:
        i, saved_shape = saved[p]
        if list(saved_shape) != list(shape):
          raise ValueError(f"{where}: leaf {p} has shape {saved_shape} in the checkpoint, "
                           f"{shape} in the restore target")
        if int(np.prod(shape)) > 0:
          flat[_leaf_key(i)] = a
    out = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(flat), config=ocp.args.JsonRestore()))
    rebuilt = []
    for p, a, t in zip(layout_t["paths"], leaves_a, leaves_t):
      key = _leaf_key(saved[p][0]) if p in saved else None
      rebuilt.append(out.state[key] if key in out.state else
                     (t if p not in saved else _zeros_like(a)))
    treedef = jax.tree_util.tree_structure(abstract)
    config = dict(out.config)
    config["new_leaves"] = new
    return jax.tree_util.tree_unflatten(treedef, rebuilt), config

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()


# ------------------------------------------------------------------------------ inference bundle
@dataclasses.dataclass(frozen=True)
class InferenceBundle:
  """Actor params, observation normalizer and the run config (a plain dict)."""
  actor_params: Any
  normalizer: normalization.RunningStats
  config: dict


def export_bundle(directory: str | os.PathLike, actor_params, normalizer, config,
                  **meta) -> pathlib.Path:
  """Writes the bundle atomically (temp dir + rename); ``meta`` entries join ``config.json``."""
  directory = pathlib.Path(directory)
  directory.parent.mkdir(parents=True, exist_ok=True)
  payload = {"actor": jax.device_get(actor_params),
             "normalizer": serialization.to_state_dict(jax.device_get(normalizer))}
  cfg = {**_config_dict(config), **_config_dict(meta)}
  tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
  try:
    (tmp / BUNDLE_PARAMS).write_bytes(serialization.msgpack_serialize(payload))
    (tmp / BUNDLE_CONFIG).write_text(json.dumps(cfg, indent=2, sort_keys=True))
    old = None
    if directory.exists():
      old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
      os.replace(directory, old)
    os.replace(tmp, directory)
    if old is not None:
      shutil.rmtree(old, ignore_errors=True)
  finally:
    if tmp.exists():
      shutil.rmtree(tmp, ignore_errors=True)
  return directory


def load_bundle(directory: str | os.PathLike) -> InferenceBundle:
  """Loads :func:`export_bundle` output from its folder or from a workdir holding it in
  ``BUNDLE_DIR`` (FileNotFoundError / ValueError naming the file)."""
  directory = pathlib.Path(directory)
  if not (directory / BUNDLE_PARAMS).is_file() and (directory / BUNDLE_DIR).is_dir():
    directory = directory / BUNDLE_DIR
  pfile, cfile = directory / BUNDLE_PARAMS, directory / BUNDLE_CONFIG
  for f in (pfile, cfile):
    if not f.is_file():
      raise FileNotFoundError(f"inference bundle: missing {f}")
  try:
    payload = serialization.msgpack_restore(pfile.read_bytes())
  except Exception as e:  # msgpack raises several types on corrupt input
    raise ValueError(f"{pfile}: cannot decode ({e})") from None
  for field in ("actor", "normalizer"):
    if field not in payload:
      raise ValueError(f"{pfile}: missing field {field!r}")
  n = payload["normalizer"]
  for field in ("count", "mean", "m2"):
    if field not in n:
      raise ValueError(f"{pfile}: normalizer is missing field {field!r}")
  to_jnp = lambda t: jax.tree.map(jnp.asarray, t)  # noqa: E731
  norm = normalization.RunningStats(count=jnp.asarray(n["count"]), mean=to_jnp(n["mean"]),
                                    m2=to_jnp(n["m2"]))
  return InferenceBundle(actor_params=to_jnp(payload["actor"]), normalizer=norm,
                         config=json.loads(cfile.read_text()))


# ------------------------------------------------------------------------------ weight averaging
ACTOR_PREFIX = ".params['actor']"
NORMALIZER_PREFIX = ".normalizer"


def average_actor_bundle(run_dir: str | os.PathLike, steps, out: str | os.PathLike,
                         template: str | os.PathLike | None = None) -> pathlib.Path:
  """Writes an inference bundle whose actor is the uniform average of the actor params saved at
  ``steps`` in ``run_dir/checkpoints`` (weight averaging of a PPO expert's iterates, "SWA"), with
  the observation normaliser of the last of those steps (late in a run it moves little).

  ``template``: a bundle of the same run (default ``run_dir/policy``, else ``run_dir/best_policy``)
  giving the tree structure and the config; the written ``config.json`` adds
  ``trained_iterations`` (the last step) and ``averaged_steps``.  Errors name the run and the
  missing step or leaf.  Returns the bundle's directory.
  """
  run_dir = pathlib.Path(run_dir)
  steps = sorted({int(s) for s in steps})
  if not steps:
    raise ValueError(f"{run_dir}: no checkpoint steps to average")
  if template is None:
    template = next((run_dir / d for d in (BUNDLE_DIR, "best_policy")
                     if (run_dir / d / BUNDLE_PARAMS).is_file()), None)
    if template is None:
      raise FileNotFoundError(f"{run_dir}: neither {BUNDLE_DIR}/ nor best_policy/ holds a bundle "
                              "to take the structure and config from; pass template")
  bundle = load_bundle(template)
  ckpt = Checkpointer(run_dir / CHECKPOINT_DIR, max_to_keep=1_000_000, async_save=False)
  try:
    missing = sorted(set(steps) - set(ckpt.all_steps()))
    if missing:
      raise FileNotFoundError(f"{run_dir / CHECKPOINT_DIR}: no checkpoint at steps {missing} "
                              f"(saved: {ckpt.all_steps()})")
    total, last = None, None
    for s in steps:
      last = ckpt.read_leaves(s)
      actor = [np.asarray(last[_path(ACTOR_PREFIX, p, run_dir, s, last)], np.float64)
               for p in _paths(bundle.actor_params)]
      total = actor if total is None else [a + b for a, b in zip(total, actor)]
  finally:
    ckpt.close()
  mean = [(t / len(steps)).astype(np.asarray(x).dtype)
          for t, x in zip(total, jax.tree_util.tree_leaves(bundle.actor_params))]
  norm = [last[_path(NORMALIZER_PREFIX, p, run_dir, steps[-1], last)]
          for p in _paths(bundle.normalizer)]
  unflat = lambda like, leaves: jax.tree_util.tree_unflatten(  # noqa: E731
      jax.tree_util.tree_structure(like), leaves)
  config = {**bundle.config, "trained_iterations": steps[-1], "averaged_steps": steps}
  return export_bundle(out, unflat(bundle.actor_params, mean), unflat(bundle.normalizer, norm),
                       config)


def select_average_steps(saved, last: int = 0, first_step=None, last_step=None) -> list[int]:
  """The saved steps ``experiments/average_policy.py`` averages: those within ``last``
  iterations of the newest (or of ``last_step``), or those in ``[first_step, last_step]``.
  ValueError when the choice is ambiguous or empty."""
  saved = sorted(int(s) for s in saved)
  if not saved:
    raise ValueError("no checkpoints saved")
  if bool(last) == (first_step is not None):
    raise ValueError("give either --last N or --first_step (with an optional --last_step)")
  hi = saved[-1] if last_step is None else int(last_step)
  lo = hi - int(last) if last else int(first_step)
  chosen = [s for s in saved if lo <= s <= hi and (not last or s > lo)]
  if not chosen:
    raise ValueError(f"no checkpoint in the range ({lo}, {hi}]; saved: {saved}")
  return chosen


def _paths(tree) -> list[str]:
  return [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _path(prefix: str, path: str, run_dir, step, leaves: dict) -> str:
  full = prefix + path
  if full not in leaves:
    raise ValueError(f"{run_dir}/{CHECKPOINT_DIR}/{step}: no leaf {full} (is this a PPO expert's "
                     "run with the template bundle's networks?)")
  return full
