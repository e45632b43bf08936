"""Metrics logging: TensorBoard event files (tensorboardX) and a console progress line."""

from __future__ import annotations

import math
import os
import pathlib
import sys
from typing import Mapping

# Metrics shown on the console line, in order (others go to TensorBoard only); env reward terms
# (``env/r_*``) are appended automatically.
CONSOLE_KEYS = ("episode_return", "episode_length", "success_rate", "reward", "loss",
                "value_loss", "approx_kl")


def _fmt(v: float) -> str:
  if not math.isfinite(v):
    return str(v)
  return f"{v:.4g}"


def console_line(step: int, env_steps: int, sps: float, metrics: Mapping[str, float]) -> str:
  """``it 12 | 3.1e+05 env steps | 5.2e+04 steps/s | episode_return 12.3 | ...``."""
  parts = [f"it {step}", f"{env_steps:.3g} env steps", f"{sps:.3g} steps/s"]
  for k in CONSOLE_KEYS:
    if k in metrics:
      parts.append(f"{k} {_fmt(float(metrics[k]))}")
  for k in sorted(metrics):
    if k.startswith("env/r_") or k in ("env/e_h", "env/e_o"):
      parts.append(f"{k[4:]} {_fmt(float(metrics[k]))}")
  return " | ".join(parts)


class MetricsLogger:
  """Writes scalars to ``<logdir>`` (TensorBoard) and prints a progress line to ``stream``."""

  def __init__(self, logdir: str | os.PathLike | None, stream=sys.stdout):
    self.writer = None
    if logdir is not None:
      from tensorboardX import SummaryWriter
      pathlib.Path(logdir).mkdir(parents=True, exist_ok=True)
      self.writer = SummaryWriter(str(logdir))
    self.stream = stream

  def write(self, step: int, env_steps: int, sps: float, metrics: Mapping[str, float],
            console: bool = True) -> None:
    if self.writer is not None:
      for k, v in metrics.items():
        v = float(v)
        if math.isfinite(v):
          self.writer.add_scalar(k, v, env_steps)
      self.writer.add_scalar("perf/env_steps_per_s", sps, env_steps)
      self.writer.add_scalar("perf/iteration", step, env_steps)
      self.writer.flush()
    if console and self.stream is not None:
      print(console_line(step, env_steps, sps, metrics), file=self.stream, flush=True)

  def event(self, message: str) -> None:
    """A notable event (e.g. a NaN restore), printed and stored as TensorBoard text."""
    if self.stream is not None:
      print(message, file=self.stream, flush=True)
    if self.writer is not None:
      self.writer.add_text("events", message)
      self.writer.flush()

  def close(self) -> None:
    if self.writer is not None:
      self.writer.close()
