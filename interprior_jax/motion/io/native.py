"""Native dataset format: one ``.npz`` per clip plus a versioned ``manifest.json``.

Layout of a dataset folder::

  manifest.json   {"format": "interprior-clips", "version": 1, "clips": [{"file", "name",
                   "humanoid", "object_name", "fps", "num_frames", "source"}, ...],
                   "body_names": [...], "joint_names": [...]}  (names per humanoid)
  <name>.npz      the arrays of :class:`~interprior_jax.motion.clip.Clip` (see its layout table)

Loading validates every clip and raises :class:`ClipError` naming the file and field.
"""

from __future__ import annotations

import json
import pathlib
from typing import Sequence

import numpy as np

from interprior_jax.motion.clip import ARRAY_FIELDS, Clip, ClipError, validate_clip

FORMAT = "interprior-clips"
VERSION = 1


def save_clips(folder: str | pathlib.Path, clips: Sequence[Clip]) -> pathlib.Path:
  """Writes clips and the manifest; returns the manifest path. Clip names must be unique."""
  folder = pathlib.Path(folder)
  folder.mkdir(parents=True, exist_ok=True)
  names = [c.name for c in clips]
  if len(set(names)) != len(names):
    raise ValueError(f"{folder}: duplicate clip names")
  entries = []
  for c in clips:
    validate_clip(c)
    fname = f"{c.name}.npz"
    np.savez_compressed(folder / fname, body_names=np.array(c.body_names),
                        joint_names=np.array(c.joint_names), **c.arrays())
    entries.append({"file": fname, "name": c.name, "humanoid": c.humanoid,
                    "object_name": c.object_name, "fps": c.fps, "num_frames": c.num_frames,
                    "source": c.source, "object_scale": c.object_scale,
                    "object_density_scale": c.object_density_scale, "skeleton": c.skeleton})
  manifest = {"format": FORMAT, "version": VERSION, "clips": entries}
  path = folder / "manifest.json"
  path.write_text(json.dumps(manifest, indent=1))
  return path


def load_clips(folder: str | pathlib.Path) -> list[Clip]:
  """Reads a dataset folder written by :func:`save_clips` (every clip validated)."""
  folder = pathlib.Path(folder)
  mpath = folder / "manifest.json"
  if not mpath.is_file():
    raise ClipError(f"{mpath}: manifest not found")
  try:
    manifest = json.loads(mpath.read_text())
  except json.JSONDecodeError as e:
    raise ClipError(f"{mpath}: not valid JSON ({e})") from None
  if manifest.get("format") != FORMAT:
    raise ClipError(f"{mpath}: field 'format' is {manifest.get('format')!r}, expected {FORMAT!r}")
  if manifest.get("version") != VERSION:
    raise ClipError(f"{mpath}: field 'version' is {manifest.get('version')!r}; this reader "
                    f"supports {VERSION}")
  clips = []
  for i, e in enumerate(manifest.get("clips", [])):
    for k in ("file", "name", "humanoid", "object_name", "fps"):
      if k not in e:
        raise ClipError(f"{mpath}: clips[{i}] lacks field '{k}'")
    f = folder / e["file"]
    if not f.is_file():
      raise ClipError(f"{f}: listed in the manifest but missing")
    with np.load(f, allow_pickle=False) as z:
      missing = [k for k in ARRAY_FIELDS + ("body_names", "joint_names") if k not in z]
      if missing:
        raise ClipError(f"{f}: missing field(s) {missing}")
      arrays = {k: z[k] for k in ARRAY_FIELDS}
      c = Clip(name=e["name"], source=str(f), humanoid=e["humanoid"],
               object_name=e["object_name"], fps=float(e["fps"]),
               body_names=tuple(str(s) for s in z["body_names"]),
               joint_names=tuple(str(s) for s in z["joint_names"]),
               object_scale=float(e.get("object_scale", 1.0)),
               object_density_scale=float(e.get("object_density_scale", 1.0)),
               skeleton=str(e.get("skeleton", "default")), **arrays)
    validate_clip(c)
    if "num_frames" in e and e["num_frames"] != c.num_frames:
      raise ClipError(f"{f}: field 'num_frames': manifest says {e['num_frames']}, file has "
                      f"{c.num_frames}")
    clips.append(c)
  return clips
