"""Locations of external, read-only data and of local caches.

Nothing here is required for the embedded default pipeline: the project builds its own humanoids,
objects and synthetic data.  The optional *shared* folder (real OMOMO clips, meshes, Menagerie G1)
is found, in order, from:

1. ``$INTERPRIOR_SHARED`` (an explicit path),
2. ``../shared`` relative to the repository root (the layout used by CI).

The Unitree G1 comes from ``mujoco_menagerie``; offline it reads ``$MENAGERIE_ROOT``, which
:func:`ensure_menagerie_root` sets to ``<shared>/menagerie`` when unset and that folder exists.
"""

from __future__ import annotations

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


class SharedDataNotFound(FileNotFoundError):
  """The optional shared data folder (or a file in it) is missing."""


def shared_root(required: bool = True) -> pathlib.Path | None:
  """The shared data folder, or None (``required=False``) when it cannot be found."""
  env = os.environ.get("INTERPRIOR_SHARED")
  candidates = [pathlib.Path(env)] if env else []
  candidates.append(REPO_ROOT.parent / "shared")
  for c in candidates:
    if c.is_dir():
      return c.resolve()
  if required:
    raise SharedDataNotFound(
        "shared data folder not found; set INTERPRIOR_SHARED (looked in: "
        + ", ".join(str(c) for c in candidates) + ")")
  return None


def shared_path(*parts: str, required: bool = True) -> pathlib.Path | None:
  """A path inside the shared folder; raises SharedDataNotFound naming it when missing."""
  root = shared_root(required=required)
  if root is None:
    return None
  p = root.joinpath(*parts)
  if not p.exists():
    if required:
      raise SharedDataNotFound(f"{p}: not found in the shared data folder")
    return None
  return p


def omomo_root(required: bool = True) -> pathlib.Path | None:
  """``<shared>/interact_omomo`` (clips/, objects/, humanoid/)."""
  return shared_path("interact_omomo", required=required)


def ensure_menagerie_root() -> str | None:
  """Sets ``$MENAGERIE_ROOT`` to ``<shared>/menagerie`` if unset and present; returns its value."""
  if not os.environ.get("MENAGERIE_ROOT"):
    p = shared_path("menagerie", required=False)
    if p is not None:
      os.environ["MENAGERIE_ROOT"] = str(p)
  return os.environ.get("MENAGERIE_ROOT")


def cache_dir(*parts: str) -> pathlib.Path:
  """A writable cache folder (``$INTERPRIOR_CACHE`` or ``~/.cache/interprior_jax``), created."""
  base = os.environ.get("INTERPRIOR_CACHE") or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "interprior_jax")
  p = pathlib.Path(base).joinpath(*parts)
  p.mkdir(parents=True, exist_ok=True)
  return p
