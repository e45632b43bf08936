"""Retarget a smpl/smplx :class:`~interprior_jax.motion.clip.Clip` to the Unitree G1 by keypoint IK.

Method:

1. **Correspondence** (:data:`KEYPOINT_MAP`, by names): pelvis, hips, knees, ankles, toes (onto
   the ankle-roll link, ``G1_TOE_OFFSET`` ahead of it), shoulders, elbows, wrists, head (onto the
   torso link, ``G1_HEAD_OFFSET`` above it).
2. **Scale**: ``s = G1 leg length / source leg length`` (hip -> knee -> ankle bone lengths at the
   rest pose of each model).  The whole scene is scaled by ``s`` about the world origin (floor
   stays z = 0): human keypoints, root and object positions; the human targets are then shifted
   vertically so the source's ankle height on the floor maps to the G1's (its ankle joint sits
   lower above the sole); the retargeted clip records
   ``object_scale = clip.object_scale * s`` so the env builds the object at the same scale, and
   footholds stay planted (a uniform scaling maps fixed points to fixed points).
3. **IK** (:mod:`interprior_jax.motion.ik`) on the G1 scene: keypoint targets, root position and
   orientation targets (the source pelvis), posture prior toward the G1 home pose, G1 joint
   ranges as limits; frames warm-started in sequence.
4. G1 bodies from FK of the solution; contact labels carried over by :data:`LABEL_MAP` (bodies
   without a source counterpart get 0, "unknown").

The report gives the keypoint error (after scaling) as mean / max over frames and keypoints.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from interprior_jax import paths
from interprior_jax.assets import scene as scene_lib
from interprior_jax.motion import clip as clip_lib
from interprior_jax.motion import ik as ik_lib

G1_TOE_OFFSET = (0.12, 0.0, -0.02)  # approx. ball of the foot in the ankle-roll link frame (m)
G1_HEAD_OFFSET = (0.0, 0.0, 0.42)  # approx. head centre in the torso link frame (m)

# (source body, G1 body, G1 local offset, weight)
KEYPOINT_MAP: tuple[tuple[str, str, tuple[float, float, float], float], ...] = (
    ("Pelvis", "pelvis", (0.0, 0.0, 0.0), 1.0),
    ("L_Hip", "left_hip_pitch_link", (0.0, 0.0, 0.0), 0.5),
    ("R_Hip", "right_hip_pitch_link", (0.0, 0.0, 0.0), 0.5),
    ("L_Knee", "left_knee_link", (0.0, 0.0, 0.0), 1.0),
    ("R_Knee", "right_knee_link", (0.0, 0.0, 0.0), 1.0),
    ("L_Ankle", "left_ankle_roll_link", (0.0, 0.0, 0.0), 2.0),
    ("R_Ankle", "right_ankle_roll_link", (0.0, 0.0, 0.0), 2.0),
    ("L_Toe", "left_ankle_roll_link", G1_TOE_OFFSET, 1.0),
    ("R_Toe", "right_ankle_roll_link", G1_TOE_OFFSET, 1.0),
    ("L_Shoulder", "left_shoulder_roll_link", (0.0, 0.0, 0.0), 0.5),
    ("R_Shoulder", "right_shoulder_roll_link", (0.0, 0.0, 0.0), 0.5),
    ("L_Elbow", "left_elbow_link", (0.0, 0.0, 0.0), 1.0),
    ("R_Elbow", "right_elbow_link", (0.0, 0.0, 0.0), 1.0),
    ("L_Wrist", "left_wrist_yaw_link", (0.0, 0.0, 0.0), 2.0),
    ("R_Wrist", "right_wrist_yaw_link", (0.0, 0.0, 0.0), 2.0),
    ("Head", "torso_link", G1_HEAD_OFFSET, 0.5),
)
# G1 body -> source body whose contact label it inherits.
LABEL_MAP: dict[str, str] = {
    "pelvis": "Pelvis", "torso_link": "Chest", "waist_yaw_link": "Torso", "waist_roll_link": "Spine",
    **{f"{g}_{part}": f"{s}_{src}" for g, s in (("left", "L"), ("right", "R")) for part, src in (
        ("hip_pitch_link", "Hip"), ("hip_roll_link", "Hip"), ("hip_yaw_link", "Hip"),
        ("knee_link", "Knee"), ("ankle_pitch_link", "Ankle"), ("ankle_roll_link", "Ankle"),
        ("shoulder_pitch_link", "Shoulder"), ("shoulder_roll_link", "Shoulder"),
        ("shoulder_yaw_link", "Shoulder"), ("elbow_link", "Elbow"), ("wrist_roll_link", "Wrist"),
        ("wrist_pitch_link", "Wrist"), ("wrist_yaw_link", "Wrist"))},
}
LEG_CHAIN = (("Hip", "Knee"), ("Knee", "Ankle"))
G1_ANKLES = ("left_ankle_roll_link", "right_ankle_roll_link")
ANKLE_FLOOR_PERCENTILE = 5.0
G1_LEG_CHAIN = (("left_hip_pitch_link", "left_knee_link"), ("left_knee_link", "left_ankle_roll_link"))


@dataclasses.dataclass(frozen=True)
class RetargetConfig:
  """Weights and solver settings of the G1 retargeting IK."""
  w_root_pos: float = 1.0
  w_root_rot: float = 0.5
  w_posture: float = 0.05
  ik: ik_lib.IKSettings = ik_lib.IKSettings(iterations=4, first_frame_iterations=30)


@dataclasses.dataclass(frozen=True)
class RetargetReport:
  """Keypoint error (m, after scaling) of the retargeted clip, and the scale used."""
  scale: float
  mean_error: float
  max_error: float
  per_keypoint_mean: dict


@functools.lru_cache(maxsize=2)
def _g1(cfg: RetargetConfig):
  paths.ensure_menagerie_root()
  scene = scene_lib.build_scene(scene_lib.SceneOptions(humanoid="g1", objects=()))
  kps = [ik_lib.Keypoint(g, off) for _, g, off, _ in KEYPOINT_MAP]
  solver = ik_lib.IKSolver(scene.model, scene.spec, kps, settings=cfg.ik)
  return scene, solver


def _rest_body_pos(solver: ik_lib.IKSolver, spec: scene_lib.SceneSpec, hinges) -> np.ndarray:
  root = spec.init_qpos[spec.root_qpos_adr:spec.root_qpos_adr + 7]
  pos, _ = solver.forward_kinematics(root[None, :3], root[None, 3:], np.asarray(hinges)[None])
  return pos[0]


def _leg_length(body_pos: np.ndarray, names: tuple[str, ...], chain) -> float:
  return float(sum(np.linalg.norm(body_pos[names.index(a)] - body_pos[names.index(b)])
                   for a, b in chain))


def source_leg_length(clip: clip_lib.Clip) -> float:
  """Left hip -> knee -> ankle length of the source clip (bone lengths are constant under FK)."""
  chain = tuple((f"L_{a}", f"L_{b}") for a, b in LEG_CHAIN)
  return _leg_length(clip.body_pos[0], tuple(clip.body_names), chain)


def retarget_to_g1(clip: clip_lib.Clip, config: RetargetConfig = RetargetConfig()
                   ) -> tuple[clip_lib.Clip, RetargetReport]:
  """Retargets a smpl/smplx clip to G1; returns the validated G1 clip and its report."""
  if clip.humanoid not in ("smpl", "smplx"):
    raise clip_lib.ClipError(f"{clip.source}: field 'humanoid': retargeting needs smpl/smplx, "
                             f"got {clip.humanoid!r}")
  names = tuple(clip.body_names)
  missing = [s for s, *_ in KEYPOINT_MAP if s not in names]
  if missing:
    raise clip_lib.ClipError(f"{clip.source}: field 'body_names': missing {missing}")
  scene, solver = _g1(config)
  spec = scene.spec
  g1_rest = _rest_body_pos(solver, spec, spec.action_offset)
  scale = _leg_length(g1_rest, spec.body_names, G1_LEG_CHAIN) / source_leg_length(clip)

  src = np.asarray(clip.body_pos, np.float64)[:, [names.index(s) for s, *_ in KEYPOINT_MAP]]
  # Vertical shift so the scaled source ankles stand at the G1 ankle height above the floor
  # (the source's ankle height on the floor: a low percentile over the clip, both ankles).
  ankles = [names.index(f"{s}_Ankle") for s in "LR"]
  src_ankle_floor = float(np.percentile(clip.body_pos[:, ankles, 2], ANKLE_FLOOR_PERCENTILE))
  g1_ankle = float(np.mean([g1_rest[spec.body_names.index(n), 2] for n in G1_ANKLES]))
  shift = np.array([0.0, 0.0, g1_ankle - scale * src_ankle_floor])
  targets = scale * src + shift
  T = clip.num_frames
  weights = np.tile(np.array([w for *_, w in KEYPOINT_MAP]), (T, 1))
  res = solver.solve(targets, weights, np.tile(spec.action_offset, (T, 1)),
                     np.full(spec.action_size, config.w_posture),
                     root_pos_target=scale * np.asarray(clip.root_pos, np.float64) + shift,
                     root_quat_target=np.asarray(clip.root_quat, np.float64),
                     root_weights=(config.w_root_pos, config.w_root_rot))
  body_pos, body_quat = solver.forward_kinematics(res.root_pos, res.root_quat, res.joint_pos)
  labels = np.zeros((T, spec.num_bodies), np.int8)
  for k, b in enumerate(spec.body_names):
    if b in LABEL_MAP and LABEL_MAP[b] in names:
      labels[:, k] = clip.body_contact[:, names.index(LABEL_MAP[b])]
  out = clip_lib.Clip(
      name=f"{clip.name}_g1", source=f"retarget_g1(scale={scale:.4f}):{clip.source}",
      humanoid="g1", object_name=clip.object_name, fps=clip.fps, body_names=spec.body_names,
      joint_names=spec.joint_names, root_pos=res.root_pos.astype(np.float64),
      root_quat=res.root_quat.astype(np.float64), joint_pos=res.joint_pos.astype(np.float64),
      body_pos=body_pos.astype(np.float64), body_quat=body_quat.astype(np.float64),
      obj_pos=scale * np.asarray(clip.obj_pos, np.float64),
      obj_quat=np.asarray(clip.obj_quat, np.float64), body_contact=labels,
      obj_contact=np.asarray(clip.obj_contact, np.int8),
      object_scale=clip.object_scale * scale, object_density_scale=clip.object_density_scale)
  err = res.keypoint_err
  report = RetargetReport(scale=float(scale), mean_error=float(err.mean()),
                          max_error=float(err.max()),
                          per_keypoint_mean={s: float(e) for (s, *_), e in
                                             zip(KEYPOINT_MAP, err.mean(0))})
  return clip_lib.validate_clip(out), report


def main(argv=None) -> None:
  """``python -m interprior_jax.motion.retarget [--omomo FILE ...] [--synth N]``: prints the
  keypoint error of each retargeted clip (OMOMO files are converted to smpl first)."""
  import argparse
  import json

  from interprior_jax import runtime
  from interprior_jax.motion import convert
  from interprior_jax.motion import synth
  from interprior_jax.motion.io.interact_pt import load_interact_clip

  p = argparse.ArgumentParser(description=main.__doc__)
  p.add_argument("--omomo", nargs="*", default=[], help="clip file names under <shared>/interact_omomo/clips")
  p.add_argument("--synth", type=int, default=0, help="number of synthetic smpl clips (seed 0)")
  args = p.parse_args(argv)
  runtime.enable_compilation_cache()
  sources = [convert.interact_to_clip(load_interact_clip(paths.omomo_root() / "clips" / f),
                                      humanoid="smpl") for f in args.omomo]
  if args.synth:
    sources += synth.generate_dataset(args.synth, humanoid="smpl", seed=0)
  for c in sources:
    _, rep = retarget_to_g1(c)
    print(json.dumps({"clip": c.name, "frames": c.num_frames, "scale": round(rep.scale, 4),
                      "mean_error_m": round(rep.mean_error, 4),
                      "max_error_m": round(rep.max_error, 4)}))


if __name__ == "__main__":
  main()
