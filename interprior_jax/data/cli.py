"""Data command line: ``python -m interprior_jax.data {inspect,convert,generate,render,split}``.

* ``inspect PATH [--json] [--humanoid H] [--no-fk]``: an InterAct ``.pt`` file, a folder of them,
  or a native dataset folder (``manifest.json``): per clip frames, fps, duration, object, bodies and
  (for ``.pt``) the FK error of the conversion to our humanoid; then a dataset summary.
* ``convert SRC --out DIR [--humanoid smplx|smpl]``: ``.pt`` file(s)/folder -> native dataset.
* ``generate --num_clips N --out DIR --seed S [--humanoid smpl]``: procedural clips
  (:func:`interprior_jax.motion.synth.generate_dataset`) -> native dataset.
* ``render CLIP --out x.mp4``: kinematic replay of a ``.pt`` file or a native ``.npz`` clip (its
  folder's manifest is read) to a video; exits non-zero with the reason when no GL backend works.
* ``split DIR --out DIR --val_fraction f --seed s``: deterministic train/val split written as two
  native manifests (``DIR/train``, ``DIR/val``, loadable with ``motion.io.native.load_clips``;
  entries point to the original ``.npz`` files) plus ``split.json``.

Every command is ``main(argv) -> exit code`` (0 ok, 1 failed action, 2 bad input); bad input
prints the reader's message (naming the file and the field) to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
from typing import Callable, Sequence

import numpy as np

from interprior_jax.motion.clip import Clip, ClipError
from interprior_jax.motion.io import native
from interprior_jax.motion.io.interact_pt import ClipFormatError, load_interact_clip

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
PT_SUFFIX = ".pt"
MANIFEST = "manifest.json"
SPLIT_FORMAT = "interprior-split"
SPLIT_FILE = "split.json"
CM = 100.0
#: Errors that mean "bad input": reported with their message, exit code EXIT_BAD_INPUT.
BAD_INPUT_ERRORS = (ClipFormatError, ClipError, FileNotFoundError, NotADirectoryError, KeyError,
                    ValueError)


class UsageError(ValueError):
  """Bad command-line input (path of the wrong kind, bad option value)."""


# ----------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------

def pt_files(path: pathlib.Path) -> list[pathlib.Path]:
  """A ``.pt`` file, or the sorted ``.pt`` files of a folder (UsageError when there are none)."""
  if path.is_file():
    if path.suffix != PT_SUFFIX:
      raise UsageError(f"{path}: not a {PT_SUFFIX} file")
    return [path]
  if not path.exists():
    raise FileNotFoundError(f"{path}: not found")
  files = sorted(path.glob(f"*{PT_SUFFIX}"))
  if not files:
    raise UsageError(f"{path}: no {PT_SUFFIX} files and no {MANIFEST}")
  return files


def _clip_summary(c: Clip) -> dict:
  return {"name": c.name, "source": c.source, "humanoid": c.humanoid, "frames": c.num_frames,
          "fps": c.fps, "duration_s": round(c.duration, 3), "object": c.object_name,
          "object_scale": c.object_scale, "bodies": len(c.body_names),
          "joints": len(c.joint_names)}


def _conversion_summary(path: pathlib.Path, humanoid: str, fk: bool,
                        skeleton: str = "default") -> tuple[dict, Clip | None]:
  ic = load_interact_clip(path)
  out = {"name": path.stem, "source": str(path), "format": "interact-pt", "frames": ic.num_frames,
         "fps": ic.fps, "duration_s": round(ic.duration, 3), "object": ic.object_name,
         "bodies": len(ic.body_names)}
  if not fk:
    return out, None
  from interprior_jax.motion import convert
  conv = convert.convert_interact(ic, humanoid=humanoid, skeleton=skeleton)
  r = conv.report
  out.update({
      "humanoid": humanoid, "skeleton": skeleton, "library_object": conv.clip.object_name,
      "fk_mean_cm": round(r.fk.mean * CM, 3), "fk_max_cm": round(r.fk.max * CM, 3),
      "fk_worst_body": r.fk.worst_body,
      "fk_file_skeleton_mean_cm": round(r.fk_file_skeleton.mean * CM, 5),
      "clipped_fraction": r.clipped_fraction, "clipped_joints": list(r.clipped_joints)})
  return out, conv.clip


# ----------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------

def cmd_inspect(args) -> int:
  path = pathlib.Path(args.path)
  if path.is_dir() and (path / MANIFEST).is_file():
    clips = [_clip_summary(c) for c in native.load_clips(path)]
    kind = "native"
  else:
    clips = [_conversion_summary(p, args.humanoid, not args.no_fk, args.skeleton)[0]
             for p in pt_files(path)]
    kind = "interact-pt"
  report = {"path": str(path), "kind": kind, "num_clips": len(clips),
            "total_frames": int(sum(c["frames"] for c in clips)),
            "total_duration_s": round(sum(c["duration_s"] for c in clips), 3),
            "objects": sorted({c["object"] for c in clips}), "clips": clips}
  fk = [c for c in clips if "fk_mean_cm" in c]
  if fk:
    w = np.array([c["frames"] for c in fk], np.float64)
    report["fk_mean_cm"] = round(float(np.average([c["fk_mean_cm"] for c in fk], weights=w)), 3)
    report["fk_max_cm"] = max(c["fk_max_cm"] for c in fk)
  if args.json:
    print(json.dumps(report, indent=1))
  else:
    print(format_report(report))
  return EXIT_OK


def format_report(report: dict) -> str:
  """Human-readable dataset report (a markdown table, one row per clip)."""
  has_fk = "fk_mean_cm" in report
  head = ["clip", "frames", "fps", "duration s", "object", "bodies"]
  if has_fk:
    head += ["FK mean cm", "FK max cm", "worst body", "file-skeleton FK mean cm",
             "clipped angles %"]
  rows = []
  for c in report["clips"]:
    row = [c["name"], c["frames"], c["fps"], c["duration_s"], c["object"], c["bodies"]]
    if has_fk:
      row += [f"{c['fk_mean_cm']:.2f}", f"{c['fk_max_cm']:.2f}", c["fk_worst_body"],
              f"{c['fk_file_skeleton_mean_cm']:.5f}", f"{100 * c['clipped_fraction']:.3f}"]
    rows.append(row)
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
  summary = (f"{report['num_clips']} clips ({report['kind']}), {report['total_frames']} frames, "
             f"{report['total_duration_s']:.1f} s, objects {report['objects']}")
  if has_fk:
    summary += (f"; FK mean {report['fk_mean_cm']:.2f} cm (frame-weighted), "
                f"max {report['fk_max_cm']:.2f} cm")
  return "\n".join(lines + ["", summary])


def cmd_convert(args) -> int:
  from interprior_jax.motion import convert
  clips = []
  for p in pt_files(pathlib.Path(args.src)):
    conv = convert.convert_interact(load_interact_clip(p), humanoid=args.humanoid,
                                    skeleton=args.skeleton)
    r = conv.report
    print(f"{p.name}: {r.num_frames} frames, FK mean {r.fk.mean * CM:.2f} cm, max "
          f"{r.fk.max * CM:.2f} cm, clipped {r.clipped_entries} angles")
    clips.append(conv.clip)
  manifest = native.save_clips(args.out, clips)
  print(f"wrote {len(clips)} clips ({args.humanoid}) to {manifest}")
  return EXIT_OK


def cmd_generate(args) -> int:
  try:
    from interprior_jax.motion import synth
    generate_dataset = synth.generate_dataset
  except (ImportError, AttributeError) as e:
    print(f"error: the synthetic generator is not available ({e})", file=sys.stderr)
    return EXIT_FAILED
  if args.num_clips < 1:
    raise UsageError(f"--num_clips must be positive, got {args.num_clips}")
  clips = generate_dataset(args.num_clips, humanoid=args.humanoid, seed=args.seed)
  manifest = native.save_clips(args.out, clips)
  print(f"wrote {len(clips)} generated clips ({args.humanoid}, seed {args.seed}) to {manifest}")
  return EXIT_OK


def load_any_clip(path: pathlib.Path, humanoid: str, skeleton: str = "default") -> Clip:
  """A ``.pt`` file (converted to ``humanoid``) or a native ``.npz`` clip of a dataset folder."""
  if path.suffix == PT_SUFFIX:
    from interprior_jax.motion import convert
    return convert.interact_to_clip(load_interact_clip(path), humanoid=humanoid,
                                    skeleton=skeleton)
  if path.suffix == ".npz":
    for c in native.load_clips(path.parent):
      if pathlib.Path(c.source).resolve() == path.resolve():
        return c
    raise ClipError(f"{path}: not listed in {path.parent / MANIFEST}")
  raise UsageError(f"{path}: expected a {PT_SUFFIX} or .npz clip")


def replay_qpos(clip: Clip):
  """Scene for a clip (its humanoid and object) and the per-frame qpos (T, nq) of its replay."""
  from interprior_jax.assets import objects as objects_lib
  from interprior_jax.assets.scene import ObjectPlacement, SceneOptions, build_scene
  asset = objects_lib.make_object(objects_lib.object_def(clip.object_name).scaled(
      clip.object_scale)) if clip.object_scale != 1.0 else clip.object_name
  from interprior_jax.assets import humanoid as humanoid_lib
  build = humanoid_lib.HumanoidBuildOptions(
      body_offsets=humanoid_lib.skeleton_offsets(clip.skeleton)) if clip.humanoid != "g1" else (
          humanoid_lib.HumanoidBuildOptions())
  scene = build_scene(SceneOptions(humanoid=clip.humanoid, objects=(ObjectPlacement(asset),),
                                   humanoid_build=build))
  s = scene.spec
  if tuple(s.joint_names) != clip.joint_names:
    raise ClipError(f"{clip.source}: field 'joint_names' does not match the {s.humanoid} model")
  qpos = np.tile(s.init_qpos, (clip.num_frames, 1))
  r, o = s.root_qpos_adr, s.objects[0].qpos_adr
  qpos[:, r:r + 3], qpos[:, r + 3:r + 7] = clip.root_pos, clip.root_quat
  qpos[:, s.qpos_adr] = clip.joint_pos
  qpos[:, o:o + 3], qpos[:, o + 3:o + 7] = clip.obj_pos, clip.obj_quat
  return scene, qpos


def cmd_render(args) -> int:
  from interprior_jax import render
  render.default_gl_backend()
  clip = load_any_clip(pathlib.Path(args.clip), args.humanoid, args.skeleton)
  scene, qpos = replay_qpos(clip)
  if args.max_frames:
    qpos = qpos[:args.max_frames]
  status = render.try_render_video(scene.model, qpos, args.out, clip.fps, width=args.width,
                                   height=args.height)
  if status["status"] != "ok":
    print(f"error: cannot render {args.clip}: {status['reason']} (set MUJOCO_GL=egl or osmesa "
          f"and install the matching GL library)", file=sys.stderr)
    return EXIT_FAILED
  print(f"wrote {status['frames']} frames to {status['path']}")
  return EXIT_OK


def split_names(names: Sequence[str], val_fraction: float, seed: int) -> tuple[list, list]:
  """Deterministic split: names sorted, permuted by ``default_rng(seed)``, the first
  ``round(val_fraction * N)`` (at least 1 when the fraction is positive and N > 1) go to val.
  Returns (train, val), each sorted."""
  if not 0.0 <= val_fraction < 1.0:
    raise UsageError(f"--val_fraction must be in [0, 1), got {val_fraction}")
  names = sorted(names)
  n_val = int(round(val_fraction * len(names)))
  if val_fraction > 0 and len(names) > 1:
    n_val = min(max(n_val, 1), len(names) - 1)
  perm = np.random.default_rng(seed).permutation(len(names))
  val = sorted(names[i] for i in perm[:n_val])
  train = sorted(names[i] for i in perm[n_val:])
  return train, val


def cmd_split(args) -> int:
  src = pathlib.Path(args.dir)
  clips = native.load_clips(src)  # validates the dataset
  manifest = json.loads((src / MANIFEST).read_text())
  entries = {e["name"]: e for e in manifest["clips"]}
  train, val = split_names(list(entries), args.val_fraction, args.seed)
  out = pathlib.Path(args.out)
  for part, names in (("train", train), ("val", val)):
    folder = out / part
    folder.mkdir(parents=True, exist_ok=True)
    part_manifest = dict(manifest, clips=[
        dict(entries[n], file=str((src / entries[n]["file"]).resolve())) for n in names])
    (folder / MANIFEST).write_text(json.dumps(part_manifest, indent=1))
  (out / SPLIT_FILE).write_text(json.dumps(
      {"format": SPLIT_FORMAT, "version": 1, "dataset": str(src.resolve()), "seed": args.seed,
       "val_fraction": args.val_fraction, "train": train, "val": val}, indent=1))
  print(f"{len(clips)} clips -> {len(train)} train, {len(val)} val (seed {args.seed}) in {out}")
  return EXIT_OK


# ----------------------------------------------------------------------------------------------
# Parser
# ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Command:
  help: str
  run: Callable[[argparse.Namespace], int]
  add_args: Callable[[argparse.ArgumentParser], None]


def _humanoid_arg(p: argparse.ArgumentParser, default: str) -> None:
  from interprior_jax.motion.convert import CONVERTIBLE_HUMANOIDS
  p.add_argument("--humanoid", default=default, choices=CONVERTIBLE_HUMANOIDS)
  p.add_argument("--skeleton", default="default",
                 help="humanoid skeleton for .pt conversion: default, omomo_sub2 or a .json path")


def _inspect_args(p):
  p.add_argument("path", help=".pt file, folder of .pt files, or native dataset folder")
  p.add_argument("--json", action="store_true", help="print the report as JSON")
  p.add_argument("--no-fk", action="store_true", help="skip the conversion / FK check")
  _humanoid_arg(p, "smplx")


def _convert_args(p):
  p.add_argument("src", help=".pt file or folder of .pt files")
  p.add_argument("--out", required=True, help="output dataset folder")
  _humanoid_arg(p, "smplx")


def _generate_args(p):
  p.add_argument("--num_clips", type=int, required=True)
  p.add_argument("--out", required=True)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--humanoid", default="smpl")


def _render_args(p):
  p.add_argument("clip", help=".pt file or .npz clip of a native dataset")
  p.add_argument("--out", required=True, help="output .mp4")
  p.add_argument("--width", type=int, default=320)
  p.add_argument("--height", type=int, default=240)
  p.add_argument("--max_frames", type=int, default=0, help="0: all frames")
  _humanoid_arg(p, "smplx")


def _split_args(p):
  p.add_argument("dir", help="native dataset folder")
  p.add_argument("--out", required=True)
  p.add_argument("--val_fraction", type=float, default=0.1)
  p.add_argument("--seed", type=int, default=0)


COMMANDS: dict[str, Command] = {
    "inspect": Command("report on clips / datasets", cmd_inspect, _inspect_args),
    "convert": Command("InterAct .pt -> native dataset", cmd_convert, _convert_args),
    "generate": Command("procedural clips -> native dataset", cmd_generate, _generate_args),
    "render": Command("kinematic replay video", cmd_render, _render_args),
    "split": Command("deterministic train/val split", cmd_split, _split_args),
}


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="python -m interprior_jax.data",
                                   description=__doc__.split("\n")[0])
  sub = parser.add_subparsers(dest="command", required=True)
  for name, cmd in COMMANDS.items():
    cmd.add_args(sub.add_parser(name, help=cmd.help))
  return parser


def main(argv: Sequence[str] | None = None) -> int:
  """Runs one command; returns the exit code (argparse errors exit via SystemExit(2))."""
  args = build_parser().parse_args(argv)
  try:
    return COMMANDS[args.command].run(args)
  except BAD_INPUT_ERRORS as e:
    msg = e.args[0] if isinstance(e, KeyError) and e.args else e
    print(f"error: {msg}", file=sys.stderr)
    return EXIT_BAD_INPUT


__all__ = ["main", "build_parser", "COMMANDS", "split_names", "replay_qpos", "load_any_clip",
           "format_report", "EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT"]
