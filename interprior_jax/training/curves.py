"""Learning curves of a training workdir: a PNG figure (matplotlib, headless Agg backend) and
TensorBoard events rebuilt from the logs.

Reads ``history.jsonl`` (one line per logged iteration, :func:`loop.read_history`) and
``evals.json`` (periodic evaluations, :func:`loop.read_evals`); draws episode return, episode
length and success (training episodes, and the periodic evaluation from each clip's first frame
when present) against environment steps.  :func:`write_tensorboard` replays the same two logs into
one event file: a run resumed across processes or workdirs (whose ``history.jsonl`` was carried
along) gets one continuous TensorBoard curve.

  python -m interprior_jax.training.curves WORKDIR [OUT.png]
"""

from __future__ import annotations

import os
import pathlib
import sys

from interprior_jax.training import loop as loop_lib

#: (history key, panel title) of the panels, left to right.
PANELS = (("episode_return", "episode return"), ("episode_length", "episode length (steps)"),
          ("success_rate", "success"))


def plot_workdir(workdir: str | os.PathLike, out: str | os.PathLike | None = None,
                 title: str | None = None) -> pathlib.Path:
  """Writes the figure (default ``WORKDIR/learning_curve.png``); returns its path.

  Raises:
    ValueError: the workdir has no ``history.jsonl`` rows.
  """
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  workdir = pathlib.Path(workdir)
  hist, evals = loop_lib.read_history(workdir), loop_lib.read_evals(workdir)
  if not hist:
    raise ValueError(f"{workdir / 'history.jsonl'}: no logged iterations to plot")
  out = pathlib.Path(out) if out else workdir / "learning_curve.png"
  fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.2))
  x = [h["env_steps"] for h in hist]
  for ax, (key, name) in zip(axes, PANELS):
    y = [h.get(key) for h in hist]
    ax.plot(x, [float("nan") if v is None else v for v in y], lw=1.2, label="training episodes")
    ax.set_title(name)
    ax.set_xlabel("env steps")
    ax.grid(alpha=0.3)
  if evals:
    ex = [e["env_steps"] for e in evals]
    axes[1].plot(ex, [e["mean_length"] for e in evals], "o-", ms=3, lw=1.0,
                 label="eval from frame 0")
    axes[2].plot(ex, [e["success_rate"] for e in evals], "o-", ms=3, lw=1.0,
                 label="eval from frame 0")
    axes[2].legend(fontsize=7)
  axes[2].set_ylim(-0.02, 1.02)
  fig.suptitle(title or workdir.name, fontsize=10)
  fig.tight_layout()
  fig.savefig(out, dpi=110)
  plt.close(fig)
  return out


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


if __name__ == "__main__":
  if len(sys.argv) not in (2, 3):
    sys.exit("usage: python -m interprior_jax.training.curves WORKDIR [OUT.png]")
  print(plot_workdir(*sys.argv[1:]))
