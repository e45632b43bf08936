"""Learning curves of a training workdir: a PNG figure (matplotlib, headless Agg backend) and
TensorBoard events rebuilt from the logs.

Reads ``history.jsonl`` (one line per logged iteration, :func:`loop.read_history`) and
``evals.json`` (periodic evaluations, :func:`loop.read_evals`); draws episode return, episode
length and success (training episodes, and the periodic evaluations when present, labelled with
what they measured: :func:`eval_label`) against environment steps.  :func:`write_tensorboard` replays the same two logs into
one event file: a run resumed across processes or workdirs (whose ``history.jsonl`` was carried
along) gets one continuous TensorBoard curve.

  python -m interprior_jax.training.curves WORKDIR [OUT.png]
  python -m interprior_jax.training.curves --overlay OUT.png LABEL=WORKDIR [LABEL=WORKDIR ...]

``--overlay`` (:func:`plot_runs`) draws several runs on the same panels, one colour per run: an
ablation's rows, or a run beside its control.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys

from interprior_jax.training import loop as loop_lib

#: (history keys, panel title) of the panels, left to right: Stage 1 (PPO) ...
PANELS = ((("episode_return",), "episode return"), (("episode_length",), "episode length (steps)"),
          (("success_rate",), "success"))
#: A panel is ``(history keys, title)`` or ``(history keys, title, "log")`` (a log y axis: the
#: imitation loss spans 1e-2 .. 1e2 over a run).
#: ... and Stage 2 (distillation: the deployed prior path's and the posterior's action loss, the
#: rollout's own action error, the DAgger expert share).
DISTILL_PANELS = ((("loss_action_prior", "loss_action"), "imitation loss (prior / posterior)",
                   "log"),
                  (("rollout_action_error", "expert_share"), "rollout action error, expert share"),
                  (("episode_length",), "episode length (steps)"),
                  (("success_rate",), "success"))
#: ... and Stage 3 (finetuning: the share of steps reaching a goal, episode length and the fall
#: penalty per step, the preservation losses, the policy's move per iteration).
FINETUNE_PANELS = ((("ib_reached",), "share of steps reaching a goal"),
                   (("episode_length",), "episode length (steps)"),
                   (("ib_r_term",), "fall penalty per step"),
                   (("loss_distill", "loss_prior_kl"), "preservation losses"),
                   (("approx_kl",), "approx KL per iteration"))
#: A finetune with the get-up skill (its history has ``getup_gu_height``): these panels too.
GETUP_PANELS = ((("getup_gu_height", "getup_gu_up", "getup_gu_feet"),
                 "get-up envs: trunk height / upright / feet under"),
                (("getup_gu_standing",), "get-up envs: share of steps standing"))


def eval_label(workdir: str | os.PathLike) -> str:
  """What the periodic evaluations of a workdir measured, from its ``config.json`` (the
  trainer's ``loop.eval_perturbed_start`` / ``eval_episodes_per_clip`` / ``eval_perturb``):
  ``"eval from frame 0"``, or e.g. ``"eval: 16 perturbed starts per clip, fixed impulses"``.
  A workdir without those settings (or without a config) evaluated from each clip's first
  frame without impulses (:class:`loop.LoopConfig`'s defaults)."""
  path = pathlib.Path(workdir) / "config.json"
  saved = json.loads(path.read_text()).get("loop", {}) if path.exists() else {}
  default = loop_lib.LoopConfig(num_iterations=0)  # only its evaluation defaults are read
  n = int(saved.get("eval_episodes_per_clip", default.eval_episodes_per_clip))
  label = (f"eval: {n} perturbed start{'s' if n != 1 else ''} per clip"
           if saved.get("eval_perturbed_start", default.eval_perturbed_start)
           else "eval from frame 0")
  perturb = str(saved.get("eval_perturb", default.eval_perturb))
  return label if perturb == "off" else f"{label}, {perturb} impulses"


def plot_workdir(workdir: str | os.PathLike, out: str | os.PathLike | None = None,
                 title: str | None = None, panels=None) -> pathlib.Path:
  """Writes the figure of one run (default ``WORKDIR/learning_curve.png``); returns its path.
  ``panels``: :data:`PANELS` (default), :data:`DISTILL_PANELS` (chosen by default when the
  history has ``loss_action_prior``) or :data:`FINETUNE_PANELS` (when it has ``ib_reached``),
  plus :data:`GETUP_PANELS` when it has the get-up skill's metrics; the periodic evaluations are
  drawn on the episode-length and success panels.

  Raises:
    ValueError: the workdir has no ``history.jsonl`` rows.
  """
  workdir = pathlib.Path(workdir)
  return plot_runs({"": workdir}, out or workdir / "learning_curve.png", title or workdir.name,
                   panels)


def plot_runs(runs, out: str | os.PathLike, title: str | None = None,
              panels=None) -> pathlib.Path:
  """Overlays several runs on one figure (an ablation's rows, a run and its control):
  ``runs`` maps a label to a workdir (label ``""``: one run, unlabelled).  The panels are chosen
  from the first run's history as in :func:`plot_workdir`; a key another run did not log is
  left out of its lines.  Returns ``out``.

  Raises:
    ValueError: a workdir has no ``history.jsonl`` rows (named), or ``runs`` is empty.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  if not runs:
    raise ValueError("plot_runs: no runs given")
  logs = {}
  for label, workdir in runs.items():
    workdir = pathlib.Path(workdir)
    hist = loop_lib.read_history(workdir)
    if not hist:
      raise ValueError(f"{workdir / 'history.jsonl'}: no logged iterations to plot")
    logs[label] = (hist, loop_lib.read_evals(workdir), eval_label(workdir))
  first = next(iter(logs.values()))[0][-1]
  if panels is None:
    panels = (DISTILL_PANELS if "loss_action_prior" in first else
              FINETUNE_PANELS if "ib_reached" in first else PANELS)
    if "getup_gu_height" in first:
      panels = panels + GETUP_PANELS
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
  axes = list(axes) if len(panels) > 1 else [axes]
  where = {panel[0][0]: ax for ax, panel in zip(axes, panels)}
  colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
  for r, (label, (hist, evals, eval_name)) in enumerate(logs.items()):
    x = [h["env_steps"] for h in hist]
    for ax, (keys, *_) in zip(axes, panels):
      for k, key in enumerate(keys):
        y = [h.get(key) for h in hist]
        if all(v is None for v in y):
          continue
        name = key if len(keys) > 1 else "training episodes"
        ax.plot(x, [float("nan") if v is None else v for v in y], lw=1.2,
                ls=("-", "--", ":")[k % 3], color=colors[r % len(colors)] if label else None,
                label=f"{label}: {name}" if label else name)
    if evals and "episode_length" in where and "success_rate" in where:
      ex = [e["env_steps"] for e in evals]
      color = {"color": colors[r % len(colors)]} if label else {}
      name = f"{label}: {eval_name}" if label else eval_name
      where["episode_length"].plot(ex, [e["mean_length"] for e in evals], "o-", ms=3, lw=1.0,
                                   label=name, **color)
      where["success_rate"].plot(ex, [e["success_rate"] for e in evals], "o-", ms=3, lw=1.0,
                                 label=name, **color)
  for ax, (keys, name, *scale) in zip(axes, panels):
    if scale == ["log"]:
      ax.set_yscale("log")
    if len(keys) > 1 or len(logs) > 1 or (ax is where.get("success_rate") and
                                          any(ev for _, ev, _ in logs.values())):
      ax.legend(fontsize=7)
    ax.set_title(name)
    ax.set_xlabel("env steps")
    ax.grid(alpha=0.3)
  if "success_rate" in where:
    where["success_rate"].set_ylim(-0.02, 1.02)
  fig.suptitle(title or ", ".join(logs), fontsize=10)
  fig.tight_layout()
  out = pathlib.Path(out)
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out


def plot_if_logged(workdir: str | os.PathLike) -> pathlib.Path | None:
  """:func:`plot_workdir` at the end of a training job; ``None`` (with a warning) when the run
  logged nothing (e.g. it resumed a finished run)."""
  import logging

  try:
    return plot_workdir(workdir)
  except ValueError as e:
    logging.warning("learning curve not drawn: %s", e)
    return None


def write_tensorboard(workdir: str | os.PathLike, logdir: str | os.PathLike) -> pathlib.Path:
  """Writes ``history.jsonl`` (every numeric entry) and ``evals.json`` (``eval/<name>``) of
  ``workdir`` as TensorBoard scalars against env steps into ``logdir``; returns ``logdir``.

  Raises:
    ValueError: the workdir has no ``history.jsonl`` rows.
  """
  from interprior_jax.training import logging as log_lib

  workdir, logdir = pathlib.Path(workdir), pathlib.Path(logdir)
  hist, evals = loop_lib.read_history(workdir), loop_lib.read_evals(workdir)
  if not hist:
    raise ValueError(f"{workdir / 'history.jsonl'}: no logged iterations to write")
  logger = log_lib.MetricsLogger(logdir, stream=None)
  numeric = lambda d: {k: float(v) for k, v in d.items()  # noqa: E731
                       if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and k not in ("step", "env_steps")}
  for h in hist:
    logger.write(int(h["step"]), int(h["env_steps"]), float(h.get("env_steps_per_s", 0.0)),
                 numeric(h), console=False)
  for e in evals:
    logger.write(int(e["step"]), int(e["env_steps"]), 0.0,
                 {f"eval/{k}": v for k, v in numeric(e).items() if k != "wall_s"},
                 console=False)
  logger.close()
  return logdir


def main(argv) -> pathlib.Path:
  """``WORKDIR [OUT.png]``: one run; ``--overlay OUT.png LABEL=WORKDIR ...``: several."""
  if len(argv) >= 3 and argv[0] == "--overlay":
    runs = {}
    for arg in argv[2:]:
      label, sep, workdir = arg.partition("=")
      if not sep or not label:
        raise SystemExit(f"curves --overlay: {arg!r} is not LABEL=WORKDIR")
      runs[label] = workdir
    return plot_runs(runs, argv[1])
  if len(argv) not in (1, 2) or argv[0].startswith("-"):
    raise SystemExit("usage: python -m interprior_jax.training.curves WORKDIR [OUT.png]\n"
                     "       python -m interprior_jax.training.curves --overlay OUT.png "
                     "LABEL=WORKDIR [LABEL=WORKDIR ...]")
  return plot_workdir(*argv)


if __name__ == "__main__":
  print(main(sys.argv[1:]))
