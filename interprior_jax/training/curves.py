"""Learning-curve figure of a training workdir (matplotlib, headless Agg backend).

Reads ``history.jsonl`` (one line per logged iteration, :func:`loop.read_history`) and
``evals.json`` (periodic evaluations, :func:`loop.read_evals`); draws episode return, episode
length and success (training episodes, and the periodic evaluation from each clip's first frame
when present) against environment steps.

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


if __name__ == "__main__":
  if len(sys.argv) not in (2, 3):
    sys.exit("usage: python -m interprior_jax.training.curves WORKDIR [OUT.png]")
  print(plot_workdir(*sys.argv[1:]))
