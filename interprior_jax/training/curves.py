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

#: (history keys, panel title) of the panels, left to right: Stage 1 (PPO) ...
PANELS = ((("episode_return",), "episode return"), (("episode_length",), "episode length (steps)"),
          (("success_rate",), "success"))
#: ... and Stage 2 (distillation: the deployed prior path's and the posterior's action loss, the
#: rollout's own action error, the DAgger expert share).
DISTILL_PANELS = ((("loss_action_prior", "loss_action"), "imitation loss (prior / posterior)"),
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


def plot_workdir(workdir: str | os.PathLike, out: str | os.PathLike | None = None,
                 title: str | None = None, panels=None) -> pathlib.Path:
  """Writes the figure (default ``WORKDIR/learning_curve.png``); returns its path.  ``panels``:
  :data:`PANELS` (default), :data:`DISTILL_PANELS` (chosen by default when the history has
  ``loss_action_prior``) or :data:`FINETUNE_PANELS` (when it has ``ib_reached``), plus
  :data:`GETUP_PANELS` when it has the get-up skill's metrics; the periodic evaluations are drawn
  on the episode-length and success panels.

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
  if panels is None:
    panels = (DISTILL_PANELS if "loss_action_prior" in hist[-1] else
              FINETUNE_PANELS if "ib_reached" in hist[-1] else PANELS)
    if "getup_gu_height" in hist[-1]:
      panels = panels + GETUP_PANELS
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2))
  x = [h["env_steps"] for h in hist]
  where = {keys[0]: ax for ax, (keys, _) in zip(axes, panels)}
  for ax, (keys, name) in zip(axes, panels):
    for key in keys:
      y = [h.get(key) for h in hist]
      ax.plot(x, [float("nan") if v is None else v for v in y], lw=1.2,
              label=key if len(keys) > 1 else "training episodes")
    if len(keys) > 1:
      ax.legend(fontsize=7)
    ax.set_title(name)
    ax.set_xlabel("env steps")
    ax.grid(alpha=0.3)
  if evals and "episode_length" in where and "success_rate" in where:
    ex = [e["env_steps"] for e in evals]
    where["episode_length"].plot(ex, [e["mean_length"] for e in evals], "o-", ms=3, lw=1.0,
                                 label="eval from frame 0")
    where["success_rate"].plot(ex, [e["success_rate"] for e in evals], "o-", ms=3, lw=1.0,
                               label="eval from frame 0")
    where["success_rate"].legend(fontsize=7)
  if "success_rate" in where:
    where["success_rate"].set_ylim(-0.02, 1.02)
  fig.suptitle(title or workdir.name, fontsize=10)
  fig.tight_layout()
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


if __name__ == "__main__":
  if len(sys.argv) not in (2, 3):
    sys.exit("usage: python -m interprior_jax.training.curves WORKDIR [OUT.png]")
  print(plot_workdir(*sys.argv[1:]))
