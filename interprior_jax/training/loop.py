"""The host training loop shared by all stages: resume, iterate, log, checkpoint, NaN recovery.

Works with any ``algo`` exposing ``init(key) -> state``, ``jit_train_step(state)`` returning a
``(state, key) -> (state, metrics)`` callable, and ``env_steps_per_iteration``; the state has
integer ``step`` and root ``key`` fields (see ``core.TrainState``).

* Resume: when ``<workdir>/checkpoints`` holds a checkpoint the run continues from it exactly
  (step keys are ``fold_in(key, step)``, the env copies are restored mid-episode).
* Checkpoints every ``checkpoint_every`` iterations and at the end (keep-N, atomic).
* NaN guard: when an iteration reports a non-finite loss / gradient / state, its result is
  discarded, the last good checkpoint is restored, the event is logged (console + TensorBoard)
  and counted; after ``max_nan_restores`` consecutive events the run raises. After a restore the
  step key also folds in the restore count so the failing iteration is not replayed identically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
import time
from typing import Any, Callable

import jax
import numpy as np

from interprior_jax.training import checkpoint as ckpt_lib
from interprior_jax.training import logging as log_lib


#: Where a resumed run may meet state its checkpoint lacks (added since it was written): the env
#: copies' per-episode state, which a fresh reset fills in (``Checkpointer.restore``).
RESUME_NEW_LEAVES_OK = (".env_state",)


class NonFiniteError(RuntimeError):
  """Raised when NaN recovery is impossible (no checkpoint) or keeps failing."""


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  num_iterations: int
  log_every: int = 1
  checkpoint_every: int = 10
  keep_checkpoints: int = 3
  max_nan_restores: int = 3
  async_checkpoints: bool = True
  eval_every: int = 0  # iterations between evaluations by the trainer's eval_fn (0: none)
  eval_perturb: str = "off"  # impulse mode of those evaluations (HOI: off | random | fixed)
  # HOI: episodes per clip of those evaluations, and whether they start from perturbed copies of
  # the clips' first frames (config.env.init noise) instead of the exact frames. One exact start
  # per clip is one chaotic outcome (a CPU's float rounding flips it; docs/results.md, "Stage-1
  # manifests reproduced by a rate"), so with the defaults best_policy and the clip priority
  # follow noise; several perturbed starts per clip make them follow a rate.
  eval_episodes_per_clip: int = 1
  eval_perturbed_start: bool = False
  max_wall_s: float = 0.0  # > 0: stop (checkpoint, export) after this many seconds of training
  # > 0: after each evaluation, sample the clips the policy fails more often, every clip at least
  # this relative weight (training/clip_priority.py); 0: uniform clip sampling.
  clip_priority_floor: float = 0.0
  # Warm start of a new run (ignored when the workdir has a checkpoint: that run resumes): the
  # params and observation normaliser of another run's checkpoint ("RUN", "RUN/checkpoints" or
  # "RUN/checkpoints/STEP"; latest step unless named) with the same networks, or the actor and
  # normaliser of an inference bundle ("RUN/policy", "pretrained/NAME/policy"; the critic starts
  # fresh); the optimizer, learning rate, env states, key and step count start fresh
  # (``warm_start``).
  init_from: str = ""


@dataclasses.dataclass
class LoopResult:
  state: Any
  history: list[dict]            # one dict of scalar metrics per completed iteration
  nan_events: list[dict]         # {'step', 'restored_step', 'metrics'} per restore
  resumed_from: int | None


def warm_start(state, source: str | os.PathLike) -> tuple[Any, str]:
  """``state`` with ``params`` and ``normalizer`` from the checkpoint ``source`` (a run directory,
  its ``checkpoints`` directory, or one step directory in it); everything else of ``state`` is
  kept.  The checkpoint must hold a state of the same structure and shapes (the same trainer,
  networks and observation layout): otherwise the ValueError names the first differing leaf.
  Returns ``(state, note)``."""
  src = pathlib.Path(source)
  if (src / ckpt_lib.BUNDLE_PARAMS).is_file():
    return _warm_start_from_bundle(state, src)
  step = None
  if src.name.isdigit():
    src, step = src.parent, int(src.name)
  elif (src / ckpt_lib.CHECKPOINT_DIR).is_dir():
    src = src / ckpt_lib.CHECKPOINT_DIR
  if not src.is_dir():
    raise FileNotFoundError(f"config.loop.init_from: {source}: no such checkpoint directory")
  ckpt = ckpt_lib.Checkpointer(src, max_to_keep=1_000_000, async_save=False)
  try:
    loaded, _ = ckpt.restore(state, step=step, new_leaves_ok=RESUME_NEW_LEAVES_OK)
  except (FileNotFoundError, ValueError) as e:
    raise ValueError(f"config.loop.init_from: {source}: {e}") from None
  finally:
    ckpt.close()
  state = state.replace(params=loaded.params, normalizer=loaded.normalizer)
  return state, (f"warm start: params and normaliser of {src}/{step if step is not None else 'latest'}"
                 " (optimizer, env states and step count fresh)")


def _warm_start_from_bundle(state, directory: pathlib.Path) -> tuple[Any, str]:
  """:func:`warm_start` from an inference bundle (``.../policy``, e.g. a committed
  ``pretrained/<name>/policy`` that has no checkpoint): its actor params and normaliser replace the
  state's; everything else, the critic included, starts fresh.  Stages whose params have no
  ``"actor"`` (the bundle's network) are refused."""
  bundle = ckpt_lib.load_bundle(directory)
  where = f"config.loop.init_from: {directory}"
  if not isinstance(state.params, dict) or "actor" not in state.params:
    raise ValueError(f"{where}: an inference bundle holds an actor; this trainer's params have "
                     f"none ({sorted(state.params) if isinstance(state.params, dict) else ''}); "
                     "give a checkpoint of the same trainer")
  pairs = (("actor params", state.params["actor"], bundle.actor_params),
           ("normaliser", state.normalizer, bundle.normalizer))
  for what, mine, theirs in pairs:
    a, b = jax.tree_util.tree_flatten_with_path(mine)[0], jax.tree_util.tree_leaves(theirs)
    if len(a) != len(b):
      raise ValueError(f"{where}: its {what} have {len(b)} arrays, this run's {len(a)}")
    for (path, x), y in zip(a, b):
      if np.shape(x) != np.shape(y):
        raise ValueError(f"{where}: {what} {jax.tree_util.keystr(path)}: shape {np.shape(y)} "
                         f"in the bundle, {np.shape(x)} in this run")
  cast = lambda mine, theirs: jax.tree_util.tree_map(  # noqa: E731
      lambda x, y: jax.numpy.asarray(y, x.dtype), mine,
      jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(mine),
                                   jax.tree_util.tree_leaves(theirs)))
  params = {**state.params, "actor": cast(state.params["actor"], bundle.actor_params)}
  state = state.replace(params=params, normalizer=cast(state.normalizer, bundle.normalizer))
  return state, (f"warm start: actor params and normaliser of the bundle {directory} (critic, "
                 "optimizer, env states and step count fresh)")


def is_finite_iteration(m: dict) -> bool:
  """Host check of one iteration's metrics (scalars)."""
  if int(m.get("nonfinite_updates", 0)) > 0 or not bool(m.get("state_finite", True)):
    return False
  return math.isfinite(float(m.get("loss", 0.0)))


def run(algo, config, workdir: str | os.PathLike, loop: LoopConfig, seed: int = 0,
        logger: log_lib.MetricsLogger | None = None,
        pre_step_hook: Callable[[Any], Any] | None = None,
        export_fn: Callable[[Any, pathlib.Path], None] | None = None,
        eval_fn: Callable[[Any], dict] | None = None,
        best_export_fn: Callable[[Any, pathlib.Path], None] | None = None,
        after_eval_fn: Callable[[Any, dict], tuple[Any, dict]] | None = None) -> LoopResult:
  """Trains until ``state.step == loop.num_iterations``; returns the final state and history.

  ``pre_step_hook(state) -> state`` runs before each iteration (tests use it to inject NaNs);
  ``export_fn(state, workdir)`` runs at the end (e.g. export the inference bundle);
  ``eval_fn(state) -> {name: float | records}`` runs every ``loop.eval_every`` iterations and at
  the end: its numbers go to TensorBoard (``eval/<name>``), the console and ``workdir/evals.json``;
  non-scalar entries (e.g. ``episodes``: ``[{name, length, ended_by}]``) go to evals.json and the
  console.  ``best_export_fn(state, directory)``: called with ``workdir/best_policy`` whenever a
  periodic evaluation beats every earlier one of the run (:func:`eval_score`: success rate, then
  mean length, then the lower E_h), which is recorded in ``workdir/best.json`` (kept across
  resumes).
  ``after_eval_fn(state, eval_record) -> (state, notes)``: runs after each evaluation (e.g. the
  clip-priority curriculum re-weights the env's clip sampling); ``notes`` join the evaluation's
  record in evals.json and the console.
  """
  # Loop settings this stage's trainer has nothing to run for are refused, not ignored.
  if loop.eval_every and eval_fn is None:
    raise ValueError(f"config.loop.eval_every={loop.eval_every}: this trainer has no periodic "
                     "evaluation (evaluate its bundle with experiments/evaluate.py); set it to 0")
  if loop.clip_priority_floor and after_eval_fn is None:
    raise ValueError(f"config.loop.clip_priority_floor={loop.clip_priority_floor}: this trainer "
                     "has no clip-priority curriculum; set it to 0")
  if (loop.eval_episodes_per_clip != 1 or loop.eval_perturbed_start) and eval_fn is None:
    raise ValueError("config.loop.eval_episodes_per_clip / eval_perturbed_start: this trainer "
                     "has no periodic evaluation; leave them at 1 / False")
  if loop.eval_episodes_per_clip < 1:
    raise ValueError(f"config.loop.eval_episodes_per_clip={loop.eval_episodes_per_clip}: must "
                     "be >= 1")
  workdir = pathlib.Path(workdir)
  ckpt = ckpt_lib.Checkpointer(workdir / ckpt_lib.CHECKPOINT_DIR, loop.keep_checkpoints,
                               loop.async_checkpoints)
  own_logger = logger is None
  logger = logger or log_lib.MetricsLogger(workdir / "tb")
  state = algo.init(jax.random.PRNGKey(seed))
  resumed_from = ckpt.latest_step()
  if resumed_from is not None:
    state, saved_config = ckpt.restore(state, new_leaves_ok=RESUME_NEW_LEAVES_OK)
    logger.event(f"resumed from checkpoint step {resumed_from} in {ckpt.directory}")
    if saved_config.get("new_leaves"):
      logger.event(f"the checkpoint predates {saved_config['new_leaves']}: those start fresh "
                   "(everything else resumes exactly)")
  elif loop.init_from:
    state, note = warm_start(state, loop.init_from)
    logger.event(note)
  step_fn = algo.jit_train_step(state)
  per_iter = int(algo.env_steps_per_iteration)
  history, nan_events = [], []
  restores = 0
  consecutive = 0
  t_last, steps_last = time.perf_counter(), int(state.step)
  t_start = t_last
  evals = _read_evals(workdir)
  try:
    while int(state.step) < loop.num_iterations:
      if pre_step_hook is not None:
        state = pre_step_hook(state)
      step = int(state.step)
      key = jax.random.fold_in(state.key, step)
      if restores:
        key = jax.random.fold_in(key, restores)
      new_state, metrics = step_fn(state, key)
      m = {k: float(v) for k, v in jax.device_get(metrics).items()}
      if not is_finite_iteration(m):
        restores += 1
        consecutive += 1
        good = ckpt.latest_step()
        if good is None or consecutive > loop.max_nan_restores:
          raise NonFiniteError(
              f"non-finite training state at iteration {step} (metrics: loss={m.get('loss')}, "
              f"nonfinite_updates={m.get('nonfinite_updates')}, state_finite="
              f"{m.get('state_finite')}); "
              + ("no checkpoint to restore" if good is None else
                 f"{consecutive - 1} restores did not help"))
        state, _ = ckpt.restore(new_state, new_leaves_ok=RESUME_NEW_LEAVES_OK)
        nan_events.append({"step": step, "restored_step": good, "metrics": m})
        logger.event(f"NaN guard: non-finite values at iteration {step}; restored checkpoint "
                     f"step {good} (restore #{restores})")
        t_last, steps_last = time.perf_counter(), int(state.step)
        continue
      consecutive = 0
      state = new_state
      step = int(state.step)
      history.append({"step": step, **m})
      if step % loop.log_every == 0 or step == loop.num_iterations:
        jax.block_until_ready(state.step)
        now = time.perf_counter()
        sps = (step - steps_last) * per_iter / max(now - t_last, 1e-9)
        t_last, steps_last = now, step
        m["env_steps_per_s"] = sps
        logger.write(step, step * per_iter, sps, m)
        _append_history(workdir, {"step": step, "env_steps": step * per_iter,
                                  "wall_s": now - t_start, **m})
      if eval_fn is not None and loop.eval_every and (
          step % loop.eval_every == 0 or step == loop.num_iterations):
        best = _read_best(workdir)
        ev = dict(eval_fn(state))
        scalars = {k: float(v) for k, v in ev.items() if np.isscalar(v)}
        detail = {k: v for k, v in ev.items() if k not in scalars}  # e.g. per-episode records
        evals.append({"step": step, "env_steps": step * per_iter,
                      "wall_s": time.perf_counter() - t_start, **scalars, **detail})
        if after_eval_fn is not None:
          state, notes = after_eval_fn(state, evals[-1])
          evals[-1].update(notes)
          if notes:
            logger.event(f"after eval it {step}: " + " | ".join(f"{k} {v}" for k, v in notes.items()))
        logger.write(step, step * per_iter, 0.0, {f"eval/{k}": v for k, v in scalars.items()},
                     console=False)
        logger.event(f"eval it {step}: " + " | ".join(f"{k} {v:.4g}" for k, v in scalars.items())
                     + episodes_line(detail.get("episodes", ())))
        _write_evals(workdir, evals)
        if best_export_fn is not None and (best is None or eval_score(evals[-1]) > eval_score(best)):
          best_export_fn(state, workdir / BEST_DIR)
          (workdir / BEST_FILE).write_text(json.dumps({k: v for k, v in evals[-1].items()
                                                       if np.isscalar(v)}, indent=1))
          logger.event(f"best evaluation so far at iteration {step}: bundle in {BEST_DIR}/")
      out_of_time = bool(loop.max_wall_s) and time.perf_counter() - t_start > loop.max_wall_s
      if step % loop.checkpoint_every == 0 or step == loop.num_iterations or out_of_time:
        ckpt.save(step, state, config)
      if out_of_time:
        logger.event(f"stopping at iteration {step}: loop.max_wall_s={loop.max_wall_s} s reached")
        break
    ckpt.wait()
    if export_fn is not None:
      export_fn(state, workdir)
  finally:
    ckpt.close()
    if own_logger:
      logger.close()
  return LoopResult(state=state, history=history, nan_events=nan_events,
                    resumed_from=resumed_from)


def episodes_line(episodes) -> str:
  """The console's account of an evaluation's episode records (``{name, success, length,
  ended_by}``): each episode's length and what ended it when every clip has one, else per clip
  the successes of its episodes (``name: 3/16``)."""
  names = [e["name"] for e in episodes]
  if len(set(names)) == len(names):
    return "".join(f" | {e['name']}: {e['length']} {','.join(e['ended_by'])}" for e in episodes)
  return "".join(f" | {n}: {sum(bool(e['success']) for e in episodes if e['name'] == n)}/"
                 f"{names.count(n)}" for n in dict.fromkeys(names))


def _append_history(workdir: pathlib.Path, row: dict) -> None:
  """One logged iteration as a JSON line of ``workdir/history.jsonl`` (appended across resumes)."""
  with open(workdir / "history.jsonl", "a") as f:
    f.write(json.dumps({k: (v if math.isfinite(v) else None) if isinstance(v, float) else v
                        for k, v in row.items()}) + "\n")


def read_history(workdir: str | os.PathLike) -> list[dict]:
  """The rows of ``workdir/history.jsonl`` (empty when absent)."""
  path = pathlib.Path(workdir) / "history.jsonl"
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


BEST_DIR = "best_policy"
BEST_FILE = "best.json"


def eval_score(record: dict) -> tuple[float, float, float]:
  """Ranking of periodic evaluations: success rate, then mean episode length, then the lower
  mean body error E_h (``e_h``, HOI; where absent, ties stay with the earlier evaluation)."""
  return (float(record.get("success_rate", 0.0)), float(record.get("mean_length", 0.0)),
          -float(record.get("e_h", 0.0)))


def _read_best(workdir: pathlib.Path) -> dict | None:
  path = workdir / BEST_FILE
  return json.loads(path.read_text()) if path.exists() else None


def read_evals(workdir: str | os.PathLike) -> list[dict]:
  """The periodic evaluations of ``workdir/evals.json`` (empty when absent)."""
  return _read_evals(pathlib.Path(workdir))


def _read_evals(workdir: pathlib.Path) -> list[dict]:
  path = workdir / "evals.json"
  return json.loads(path.read_text()) if path.exists() else []


def _write_evals(workdir: pathlib.Path, evals: list[dict]) -> None:
  (workdir / "evals.json").write_text(json.dumps(evals, indent=1))


def history_array(history: list[dict], key: str) -> np.ndarray:
  return np.asarray([h.get(key, np.nan) for h in history], np.float64)
