"""Procedural kinematic HOI clips: plan (numpy) -> batched keypoint IK (JAX) -> FK -> labels.

Pipeline of one clip (all randomness from one ``numpy.random.Generator``):

1. **Scene draw**: a library object (per family, :attr:`SynthConfig.objects`) scaled uniformly by
   ``object_scale`` with density multiplied by ``object_density_scale`` (both recorded in the
   :class:`~interprior_jax.motion.clip.Clip` fields of the same names and in ``source``; the env
   rebuilds the object as ``make_object(object_def(name).scaled(object_scale))`` with density
   ``* object_density_scale``), its rest pose, the approach side and hand contacts
   (:mod:`.shape`), the start pose of the human.
2. **Plan**: per-frame root path (x, y, yaw), pelvis drop, lean, hand blend free <-> contact,
   object pose, from a sequence of segments (walk, turn, reach, lift, carry, put down, push,
   drag, release, step back).  The object moves only while both hands hold it.
3. **Footsteps** from the root path: each foot alternately lifts every ``step_period`` and lands
   where the root will be at its mid-stance; steps that would move less than ``min_step`` are
   skipped, so a stance foot is exactly fixed (no skating by construction).
4. **IK** (:mod:`interprior_jax.motion.ik`): foot (3 points each), hand (3 points each, palm on
   the surface) and root targets plus an anatomical posture prior, solved for a batch of clips
   at once, frames warm-started in sequence.
5. **FK** of the solved joints gives ``body_pos`` / ``body_quat`` (so the clip is exactly the
   simulated humanoid's kinematics); contact labels come from the posed geoms' distance to the
   object (1: a holding hand, -1: farther than ``label.far``, else 0).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import numpy as np
from scipy import ndimage

from interprior_jax.assets import objects as objects_lib
from interprior_jax.assets import scene as scene_lib
from interprior_jax.motion import clip as clip_lib
from interprior_jax.motion import ik as ik_lib
from interprior_jax.motion.synth import npquat
from interprior_jax.motion.synth import shape as shape_lib
from interprior_jax.motion.synth.config import SynthConfig

SIDES = ("L", "R")
FOOT_LATERAL = 0.05  # lateral lever of the foot-roll keypoint (m)
UP = np.array([0.0, 0.0, 1.0])
_BOX_SAMPLES = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)],
                        np.float64)  # corners, edge and face centres, centre of a unit box
_CAPSULE_SAMPLES = np.linspace(-1.0, 1.0, 5)
_CLEAR_SAMPLES = (-1.0, 0.0, 1.0)  # clearance keypoints along a capsule's axis (x half-length)
_BOX_CORNERS = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], np.float64)
_MIN_LEG_REACH = 0.05  # floor of the horizontal-reach term in the leg-length constraint (m^2)
_EPS = 1e-9
_CLEAR_TOL = 1e-3  # a clearance point this close to its clearance is not re-solved (m)


def _yaw_quat(yaw) -> np.ndarray:
  """(...) -> (..., 4) rotation about world z."""
  yaw = np.asarray(yaw, np.float64)
  return np.stack([np.cos(yaw / 2), 0 * yaw, 0 * yaw, np.sin(yaw / 2)], -1)


def _rot2(yaw) -> np.ndarray:
  c, s = np.cos(yaw), np.sin(yaw)
  return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _rotz(yaw) -> np.ndarray:
  """(...) -> (..., 3, 3)."""
  c, s = np.cos(yaw), np.sin(yaw)
  z, o = np.zeros_like(c), np.ones_like(c)
  return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                   np.stack([z, z, o], -1)], -2)


def _wrap(a):
  return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def _smooth(u):
  """Minimum-jerk ramp on [0, 1] (clipped)."""
  u = np.clip(np.asarray(u, np.float64), 0.0, 1.0)
  return u * u * u * (10.0 + u * (-15.0 + 6.0 * u))


def _uniform(rng: np.random.Generator, r) -> float:
  return float(rng.uniform(r[0], r[1]))


# ------------------------------------------------------------------------------------------------
# Per-humanoid kit: scene, IK solver, rest keypoints, geom samples
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Kit:
  humanoid: str
  spec: scene_lib.SceneSpec
  solver: ik_lib.IKSolver
  foot_kp: np.ndarray  # (2, 3) keypoint indices per foot
  hand_kp: np.ndarray  # (2, 3) keypoint indices per hand: palm, palm + finger, palm + normal
  foot_local: np.ndarray  # (2, 3, 3) rest foot keypoints relative to the foot's footprint origin
  foot_origin: np.ndarray  # (2, 2) rest footprint xy relative to the root
  hand_rest: np.ndarray  # (2, 3, 3) rest hand keypoints relative to the root (yaw 0)
  hip_rel: np.ndarray  # (2, 3) rest hip joint position relative to the root
  leg_len: np.ndarray  # (2,) rest hip-ankle distance
  posture_ref: np.ndarray  # (A,) rest posture (arms hanging)
  posture_w: np.ndarray  # (A,)
  lean_idx: np.ndarray  # hinges carrying the spine lean (Torso/Spine/Chest y)
  geom_body: np.ndarray  # (P,) body-layout index of each geom sample point
  geom_local: np.ndarray  # (P, 3) sample point in its body frame
  geom_radius: np.ndarray  # (P,)
  hand_geom_mask: np.ndarray  # (P,) bool: sample belongs to a hand body
  root_height: float
  clear_kp: np.ndarray  # (C,) keypoint indices of the clearance points (IKConfig.clear_bodies)
  clear_radius: np.ndarray  # (C,) capsule radius at each clearance point (m)
  clear_side: np.ndarray  # (C,) hand (0: L, 1: R) whose arm the point belongs to; -1: not an arm


def _hinge_damping(spec: scene_lib.SceneSpec, cfg) -> tuple[float, ...]:
  """(A,) LM damping per hinge: ``cfg.damping`` on the legs (``cfg.leg_bodies``, which the feet
  targets pin), ``cfg.upper_damping`` on every other hinge (trunk, head, arms)."""
  return tuple(cfg.damping if _joint_body(name)[1] in cfg.leg_bodies else cfg.upper_damping
               for name in spec.joint_names)


def _joint_body(joint_name: str) -> tuple[str, str, str]:
  """``L_Knee_y`` -> (side "L" / "R" / "" for the midline, base body name, axis)."""
  body, axis = joint_name.rsplit("_", 1)
  side, base = (body[0], body[2:]) if body[:2] in ("L_", "R_") else ("", body)
  return side, base, axis


def _joint_limits(spec: scene_lib.SceneSpec, cfg) -> np.ndarray:
  """(A, 2) anatomical limits: config table (left/midline, right mirrored) within model ranges."""
  table = {(b, ax): (lo, hi) for b, ax, lo, hi in cfg.limits_deg}
  out = spec.joint_range.astype(np.float64).copy()
  for k, name in enumerate(spec.joint_names):
    side, base, axis = _joint_body(name)
    if (base, axis) in table:
      lo, hi = table[(base, axis)]
      if side == "R" and axis in ("x", "z"):
        lo, hi = -hi, -lo
    elif base.startswith(("Index", "Middle", "Pinky", "Ring", "Thumb")):
      continue
    else:
      lo, hi = -cfg.default_limit_deg, cfg.default_limit_deg
    out[k] = (max(out[k, 0], np.radians(lo)), min(out[k, 1], np.radians(hi)))
  return out.astype(np.float32)


def _geom_samples(model, spec: scene_lib.SceneSpec):
  """Sample points (body frame) and radii approximating every humanoid collision geom."""
  bodies, pts, rads, hands = [], [], [], []
  hand_set = set(int(i) for i in spec.hand_body_idx)
  for gid, bidx in zip(spec.humanoid_geom_ids, spec.humanoid_geom_body_idx):
    t, size = model.geom_type[gid], model.geom_size[gid]
    rot = npquat.quat_to_mat(model.geom_quat[gid])
    if t == 2:  # sphere
      local, r = np.zeros((1, 3)), size[0]
    elif t == 3:  # capsule (axis z)
      local, r = np.outer(_CAPSULE_SAMPLES * size[1], UP), size[0]
    elif t == 6:  # box
      local, r = _BOX_SAMPLES * size[:3], 0.0
    else:
      local, r = np.zeros((1, 3)), model.geom_rbound[gid]
    p = local @ rot.T + model.geom_pos[gid]
    bodies += [int(bidx)] * len(p)
    pts.append(p)
    rads += [float(r)] * len(p)
    hands += [int(bidx) in hand_set] * len(p)
  return (np.asarray(bodies, np.int32), np.concatenate(pts), np.asarray(rads),
          np.asarray(hands, bool))


@functools.lru_cache(maxsize=8)
def _kit(humanoid: str, cfg: SynthConfig) -> _Kit:
  scene = scene_lib.build_scene(scene_lib.SceneOptions(humanoid=humanoid, objects=()))
  spec, model = scene.spec, scene.model
  ikc, hc = cfg.ik, cfg.hand
  kps, foot_kp, hand_kp = [], [], []
  for s, sgn in zip(SIDES, (1.0, -1.0)):
    foot_kp.append([len(kps), len(kps) + 1, len(kps) + 2])
    kps += [ik_lib.Keypoint(f"{s}_Ankle"), ik_lib.Keypoint(f"{s}_Toe"),
            ik_lib.Keypoint(f"{s}_Ankle", (0.0, sgn * FOOT_LATERAL, 0.0))]
  for hb in spec.hand_idx:
    name = spec.body_names[hb]
    bid = spec.body_ids[hb]
    gid = [g for g in spec.humanoid_geom_ids if model.geom_bodyid[g] == bid][0]
    gpos, half = model.geom_pos[gid], model.geom_size[gid]
    palm = gpos - np.array([0.0, 0.0, half[2]])  # palm face (-z) of the hand box
    finger = np.array([0.0, np.sign(gpos[1]), 0.0])
    normal = np.array([0.0, 0.0, -1.0])
    L = hc.hand_axis_len
    hand_kp.append([len(kps), len(kps) + 1, len(kps) + 2])
    kps += [ik_lib.Keypoint(name, tuple(palm)), ik_lib.Keypoint(name, tuple(palm + L * finger)),
            ik_lib.Keypoint(name, tuple(palm + L * normal))]
  clear_kp, clear_radius, clear_side = [], [], []  # (none without clearance passes: K unchanged)
  for gid, bidx in zip(spec.humanoid_geom_ids, spec.humanoid_geom_body_idx):
    body = spec.body_names[bidx]
    base = body[2:] if body[:2] in ("L_", "R_") else body
    if not ikc.clear_rounds or base not in ikc.clear_bodies or model.geom_type[gid] not in (3, 6):
      continue  # capsules (axis points) and boxes (corners)
    size, rot = model.geom_size[gid], npquat.quat_to_mat(model.geom_quat[gid])
    if model.geom_type[gid] == 3:
      local, radius = np.outer(np.asarray(_CLEAR_SAMPLES) * size[1], UP), float(size[0])
    else:
      local, radius = _BOX_CORNERS * size[:3], 0.0
    arm = base in ikc.clear_arm_bodies and body[:1] in SIDES
    for p in local @ rot.T + model.geom_pos[gid]:
      clear_kp.append(len(kps))
      clear_radius.append(radius)
      clear_side.append(SIDES.index(body[:1]) if arm else -1)
      kps.append(ik_lib.Keypoint(body, tuple(p)))
  settings = ik_lib.IKSettings(iterations=ikc.iterations,
                               first_frame_iterations=ikc.first_frame_iterations,
                               damping=ikc.damping, hinge_damping=_hinge_damping(spec, ikc),
                               max_step=ikc.max_step)
  solver = ik_lib.IKSolver(model, spec, kps, _joint_limits(spec, ikc), settings)

  A = spec.action_size
  ref = np.zeros(A)
  w = np.full(A, ikc.w_posture)
  lean = []
  for k, name in enumerate(spec.joint_names):
    body, axis = name.rsplit("_", 1)
    side, base = (body[0], body[2:]) if body[:2] in ("L_", "R_") else ("", body)
    mirror = -1.0 if side == "R" and axis in ("x", "z") else 1.0
    ai = "xyz".index(axis)
    if base == "Shoulder":
      ref[k] = mirror * np.radians(ikc.rest_shoulder_deg[ai])
    elif base == "Elbow":
      ref[k] = mirror * np.radians(ikc.rest_elbow_deg[ai])
    elif base == "Knee" and axis == "y":
      ref[k] = np.radians(ikc.rest_knee_deg)  # slightly bent: breaks the straight-knee singularity
    if base in ("Shoulder", "Elbow", "Wrist", "Thorax"):
      w[k] = ikc.w_posture_arm
    elif base == "Toe" or base.startswith(("Index", "Middle", "Pinky", "Ring", "Thumb")):
      w[k] = ikc.w_posture_toe
    if base in ("Torso", "Spine", "Chest") and axis == "y":
      lean.append(k)
  h0 = spec.standing_root_height
  root = np.array([[0.0, 0.0, h0]])
  kp = solver.keypoint_positions(root, np.array([[1.0, 0, 0, 0]]), ref[None])[0]
  body_pos, _ = solver.forward_kinematics(root, np.array([[1.0, 0, 0, 0]]), ref[None])
  body_pos = body_pos[0]
  fk = np.asarray(foot_kp)
  foot_origin = kp[fk[:, 0], :2]
  foot_local = kp[fk] - np.concatenate([foot_origin, np.zeros((2, 1))], -1)[:, None]
  hips = np.stack([body_pos[spec.body_index(f"{s}_Hip")] for s in SIDES])
  ankles = kp[fk[:, 0]]
  gb, gl, gr, gh = _geom_samples(model, spec)
  return _Kit(humanoid=humanoid, spec=spec, solver=solver, foot_kp=fk, hand_kp=np.asarray(hand_kp),
              foot_local=foot_local, foot_origin=foot_origin - root[0, :2],
              hand_rest=kp[np.asarray(hand_kp)] - root[0], hip_rel=hips - root[0],
              leg_len=np.linalg.norm(hips - ankles, axis=-1), posture_ref=ref, posture_w=w,
              lean_idx=np.asarray(lean, np.int32), geom_body=gb, geom_local=gl, geom_radius=gr,
              hand_geom_mask=gh, root_height=h0, clear_kp=np.asarray(clear_kp, np.int64),
              clear_radius=np.asarray(clear_radius), clear_side=np.asarray(clear_side, np.int64))


# ------------------------------------------------------------------------------------------------
# Plan: per-frame tracks built segment by segment
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Track:
  """Mutable plan builder: current values and the per-frame lists they are appended to."""
  fps: float
  xy: np.ndarray
  yaw: float
  obj_xy: np.ndarray
  obj_z: float
  obj_yaw: float
  crouch: float = 0.0
  lean: float = 0.0
  blend: float = 0.0  # 0: free hands, 1: hands at the (pre)grasp
  offset: float = 1.0  # 1: at the pregrasp distance, 0: on the surface
  frames: list = dataclasses.field(default_factory=list)

  def n(self, seconds: float) -> int:
    return max(1, int(round(seconds * self.fps)))

  def emit(self, **kw):
    rec = dict(xy=self.xy.copy(), yaw=self.yaw, obj_xy=self.obj_xy.copy(), obj_z=self.obj_z,
               obj_yaw=self.obj_yaw, crouch=self.crouch, lean=self.lean, blend=self.blend,
               offset=self.offset)
    rec.update(kw)
    self.frames.append(rec)

  def hold(self, seconds: float):
    for _ in range(self.n(seconds)):
      self.emit()

  def ramp(self, seconds: float, **targets):
    """Min-jerk ramps of scalar attributes (crouch, lean, blend, offset, obj_z) to targets."""
    n = self.n(seconds)
    start = {k: getattr(self, k) for k in targets}
    for i in range(1, n + 1):
      u = _smooth(i / n)
      for k, v in targets.items():
        setattr(self, k, start[k] + u * (v - start[k]))
      self.emit()

  def turn(self, yaw_to: float, rate: float, carry: bool = False):
    d = float(_wrap(yaw_to - self.yaw))
    if abs(d) < _EPS:
      return
    self._move(np.zeros(2), d, abs(d) / rate, carry)

  def walk(self, dist: float, speed: float, accel: float, heading_turn: float = 0.0,
           backwards: bool = False, carry: bool = False):
    """Walks ``dist`` m along an arc that turns the heading by ``heading_turn`` rad."""
    dur = dist / speed + accel
    n = self.n(dur)
    t = np.arange(n + 1) / n * dur
    v = np.clip(np.minimum(t / accel, (dur - t) / accel), 0.0, 1.0)
    s = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]))])
    s = s / s[-1]
    sign = -1.0 if backwards else 1.0
    head = self.yaw + heading_turn * s
    fine = np.linspace(0.0, 1.0, 512)
    hf = self.yaw + heading_turn * fine
    pf = np.concatenate([[[0.0, 0.0]], np.cumsum(
        np.stack([np.cos(hf), np.sin(hf)], -1)[1:] * np.diff(fine)[:, None], 0)])
    disp = sign * dist * np.stack([np.interp(s, fine, pf[:, 0]), np.interp(s, fine, pf[:, 1])], -1)
    self._path(disp[1:], head[1:] - self.yaw, carry)

  def _move(self, delta_xy, delta_yaw, seconds, carry):
    n = self.n(seconds)
    u = _smooth(np.arange(1, n + 1) / n)
    self._path(u[:, None] * delta_xy, u * delta_yaw, carry)

  def _path(self, disp, dyaw, carry):
    x0, yaw0 = self.xy.copy(), self.yaw
    rel = _rot2(-yaw0) @ (self.obj_xy - x0)
    oyaw = self.obj_yaw - yaw0
    for d, a in zip(disp, dyaw):
      self.xy, self.yaw = x0 + d, yaw0 + a
      if carry:
        self.obj_xy = self.xy + _rot2(self.yaw) @ rel
        self.obj_yaw = self.yaw + oyaw
      self.emit()

  def carry_lift(self, seconds: float, rel_xy: np.ndarray, z: float, **targets):
    """Moves the object (hands on it) from its pose to ``rel_xy`` (root heading frame), ``z``."""
    n = self.n(seconds)
    xy0, z0 = self.obj_xy.copy(), self.obj_z
    xy1 = self.xy + _rot2(self.yaw) @ rel_xy
    start = {k: getattr(self, k) for k in targets}
    for i in range(1, n + 1):
      u = _smooth(i / n)
      self.obj_xy, self.obj_z = xy0 + u * (xy1 - xy0), z0 + u * (z - z0)
      for k, v in targets.items():
        setattr(self, k, start[k] + u * (v - start[k]))
      self.emit()

  def arrays(self) -> dict[str, np.ndarray]:
    return {k: np.asarray([f[k] for f in self.frames], np.float64) for k in self.frames[0]}


@dataclasses.dataclass(frozen=True)
class _Plan:
  family: str
  object_name: str
  scale: float
  density_scale: float
  shape: shape_lib.ObjectShape
  contacts: shape_lib.HandContacts
  fingers: np.ndarray  # (2, 3) object-frame finger directions
  tracks: dict
  description: str


def _walk_to(tr: _Track, goal_xy, goal_yaw, speed, g):
  d = np.asarray(goal_xy) - tr.xy
  dist = float(np.linalg.norm(d))
  if dist > g.min_step:
    tr.turn(float(np.arctan2(d[1], d[0])), np.radians(g.turn_rate_deg))
    tr.walk(dist, speed, g.accel_time)
  tr.turn(goal_yaw, np.radians(g.turn_rate_deg))


def _sit_back(crouch, r):
  """Balance shift of the pelvis behind the feet (m) for a pelvis drop ``crouch`` (m, any shape)."""
  return r.sit_back_gain * np.maximum(np.asarray(crouch, np.float64) - r.sit_back_from, 0.0)


def _crouch_for(height: float, r) -> tuple[float, float]:
  below = r.crouch_ref_height - height
  return (float(np.clip(r.crouch_gain * below, 0.0, r.max_crouch)),
          float(np.radians(np.clip(r.lean_gain_deg * below, 0.0, r.max_lean_deg))))


def _draw_scene(rng, family: str, cfg: SynthConfig):
  """Object, its rest pose, the approach side and hand contacts (object frame)."""
  r, hc = cfg.rand, cfg.hand
  for _ in range(cfg.rand.max_resample):
    names = cfg.objects_for(family)
    name = names[int(rng.integers(len(names)))]
    scale, dens = _uniform(rng, r.scale), _uniform(rng, r.density_scale)
    asset = objects_lib.make_object(objects_lib.object_def(name).scaled(scale))
    shape = shape_lib.ObjectShape(asset)
    try:
      if family == "push":
        opts = shape_lib.push_options(shape, hc.push_span, hc.push_min_span, hc.push_min_top)
        if not opts:
          continue
        side, span = opts[int(rng.integers(len(opts)))]
        contacts = shape_lib.push_contact(shape, side, span, _uniform(rng, hc.push_height))
        fingers = np.tile(UP, (2, 1))
      else:
        opts = shape_lib.side_grasp_options(shape, hc.span_range, hc.palm_margin)
        if not opts:
          continue
        side = opts[int(rng.integers(len(opts)))]
        contacts = shape_lib.side_grasp(shape, side, _uniform(rng, hc.grasp_height_frac),
                                        hc.inset)
        tilt = np.radians(hc.grasp_finger_tilt_deg)
        fingers = np.tile(side * np.cos(tilt) - UP * np.sin(tilt), (2, 1))
    except ValueError:  # no surface along the contact rays for this draw: draw again
      continue
    # Fingers lie in the contact plane.
    fingers = fingers - np.sum(fingers * contacts.normals, -1, keepdims=True) * contacts.normals
    fingers /= np.linalg.norm(fingers, axis=-1, keepdims=True)
    return name, scale, dens, shape, contacts, fingers
  raise RuntimeError(f"synth: no object of {cfg.objects_for(family)} allows a {family!r} contact "
                     f"after {cfg.rand.max_resample} draws")


def _walk_plan(rng: np.random.Generator, family: str, cfg: SynthConfig, kit: _Kit) -> _Plan:
  """Locomotion only (``SceneRandomConfig.walk_*``): stand, walk arcs and turns in place, stop.

  The object (drawn as for a side grasp, never touched: every hand label is -1 or 0) rests
  outside the circle around the path's centre that holds the whole path, ``walk_obj_clearance``
  m plus its own horizontal extent away from it.
  """
  r, g = cfg.rand, cfg.gait
  name, scale, dens, shape, contacts, fingers = _draw_scene(rng, family, cfg)
  start_xy = rng.uniform(-r.obj_xy, r.obj_xy, 2)
  tr = _Track(cfg.fps, start_xy, float(rng.uniform(-np.pi, np.pi)), start_xy.copy(),
              shape.rest_z, float(rng.uniform(-np.pi, np.pi)))
  tr.hold(_uniform(rng, r.stand_time))
  desc = []
  lo, hi = r.walk_segments
  for _ in range(int(rng.integers(lo, hi + 1))):
    sign = 1.0 if rng.uniform() < 0.5 else -1.0
    if rng.uniform() < r.walk_turn_in_place_prob:
      d = sign * np.radians(_uniform(rng, r.turn_in_place_deg))
      tr.turn(tr.yaw + d, np.radians(g.turn_rate_deg))
      desc.append(f"turn={np.degrees(d):.0f}deg")
    else:
      dist, turn = _uniform(rng, r.walk_dist), sign * np.radians(_uniform(rng, r.walk_turn_deg))
      tr.walk(dist, _uniform(rng, g.speed), g.accel_time, turn)
      desc.append(f"walk={dist:.2f}m turn={np.degrees(turn):.0f}deg")
  tr.hold(g.step_period[1] + _uniform(rng, r.stand_time))
  tracks = tr.arrays()
  centre = 0.5 * (tracks["xy"].min(0) + tracks["xy"].max(0))
  radius = float(np.linalg.norm(tracks["xy"] - centre, axis=-1).max())
  extent = float(np.linalg.norm(np.abs(shape.bbox[:, :2]).max(0)))
  ang = rng.uniform(-np.pi, np.pi)
  tracks["obj_xy"][:] = centre + (radius + r.walk_obj_clearance + extent) * np.array(
      [np.cos(ang), np.sin(ang)])
  tracks["holding"] = np.zeros(len(tracks["yaw"]), bool)
  return _Plan(family, name, scale, dens, shape, contacts, fingers, tracks, " ".join(desc))


def _plan(rng: np.random.Generator, family: str, cfg: SynthConfig, kit: _Kit) -> _Plan:
  r, g = cfg.rand, cfg.gait
  name, scale, dens, shape, contacts, fingers = _draw_scene(rng, family, cfg)
  obj_yaw = float(rng.uniform(-np.pi, np.pi))
  obj_xy = rng.uniform(-r.obj_xy, r.obj_xy, 2)
  approach = (_rotz(obj_yaw) @ contacts.approach)[:2]
  face_yaw = float(np.arctan2(approach[1], approach[0]))
  reach_dist = _uniform(rng, r.reach_dist)
  grasp_z = float(contacts.points[:, 2].mean() + shape.rest_z)
  crouch, lean = _crouch_for(grasp_z, r)
  # The feet stand closer by the pelvis' sit-back at the grasp crouch (see _targets).
  if family not in r.sit_back_families:
    r = dataclasses.replace(r, sit_back_gain=0.0)
  stand_xy = obj_xy - approach * (contacts.near_extent + reach_dist - _sit_back(crouch, r))
  ang = face_yaw + np.radians(rng.uniform(-r.start_angle_deg, r.start_angle_deg))
  start_xy = stand_xy - _uniform(rng, r.start_dist) * np.array([np.cos(ang), np.sin(ang)])
  start_yaw = face_yaw + np.radians(rng.uniform(-r.start_heading_deg, r.start_heading_deg))
  tr = _Track(cfg.fps, start_xy, start_yaw, obj_xy.copy(), shape.rest_z, obj_yaw)
  settle = g.step_period[1]  # lets the last footstep of a walk finish

  if family == "push":
    lean = max(lean, np.radians(r.push_lean_deg))
  tr.hold(_uniform(rng, r.stand_time))
  _walk_to(tr, stand_xy, face_yaw, _uniform(rng, g.speed), g)
  tr.hold(settle)
  reach, close = _uniform(rng, r.reach_time), _uniform(rng, r.close_time)
  tr.ramp(reach, crouch=crouch, lean=lean, blend=1.0)
  tr.ramp(close, offset=0.0)
  desc = [f"approach={np.degrees(face_yaw):.0f}deg"]
  turn_sign = 1.0 if rng.uniform() < 0.5 else -1.0
  turning = rng.uniform() < r.turn_prob
  if family == "carry":
    rel = _rot2(-tr.yaw) @ (tr.obj_xy - tr.xy)
    head = np.array([1.0, 0.0])
    rel = rel - head * (float(rel @ head) - (contacts.near_extent + _uniform(rng, r.carry_clearance)))
    z = _uniform(rng, r.carry_hand_height) - float(contacts.points[:, 2].mean())
    z = max(z, r.min_carry_bottom - shape.bbox[0, 2])
    hold_crouch, hold_lean = _crouch_for(_uniform(rng, r.carry_hand_height), r)
    tr.carry_lift(_uniform(rng, r.lift_time), rel, z, crouch=hold_crouch, lean=hold_lean)
    turn = turn_sign * np.radians(_uniform(rng, r.carry_turn_deg)) if turning else 0.0
    dist = _uniform(rng, r.carry_dist)
    tr.walk(dist, _uniform(rng, g.carry_speed), g.accel_time, turn, carry=True)
    tr.hold(settle)
    rel_now = _rot2(-tr.yaw) @ (tr.obj_xy - tr.xy)
    tr.carry_lift(_uniform(rng, r.lift_time), rel_now, shape.rest_z, crouch=crouch, lean=lean)
    desc.append(f"carry={dist:.2f}m turn={np.degrees(turn):.0f}deg")
  elif family == "push":
    turn = turn_sign * np.radians(_uniform(rng, r.push_turn_deg)) if turning else 0.0
    dist = _uniform(rng, r.push_dist)
    tr.walk(dist, _uniform(rng, g.push_speed), g.accel_time, turn, carry=True)
    tr.hold(settle)
    desc.append(f"push={dist:.2f}m turn={np.degrees(turn):.0f}deg")
  elif family == "drag":
    dist = _uniform(rng, r.drag_dist)
    tr.walk(dist, _uniform(rng, g.push_speed), g.accel_time, backwards=True, carry=True)
    tr.hold(settle)
    desc.append(f"drag={dist:.2f}m")
  else:
    raise KeyError(f"unknown family {family!r}; known: {sorted(FAMILIES)}")
  tr.ramp(_uniform(rng, r.release_time), offset=1.0)
  tr.ramp(reach, crouch=0.0, lean=0.0, blend=0.0)
  tr.walk(_uniform(rng, r.backstep_dist), g.backstep_speed, g.accel_time, backwards=True)
  tr.hold(settle)
  tracks = tr.arrays()
  tracks["holding"] = (tracks["blend"] >= 1.0 - 1e-6) & (tracks["offset"] <= 1e-6)
  return _Plan(family, name, scale, dens, shape, contacts, fingers, tracks, " ".join(desc))


FAMILIES: dict[str, Callable] = {"carry": _plan, "push": _plan, "drag": _plan, "walk": _walk_plan}


# ------------------------------------------------------------------------------------------------
# Footsteps and IK targets
# ------------------------------------------------------------------------------------------------


def _footsteps(rng, tracks, kit: _Kit, cfg: SynthConfig):
  """Per-foot footprint (T, 2, 3) = (x, y, yaw) and swing height (T, 2) from the root path."""
  g = cfg.gait
  xy, yaw = tracks["xy"], tracks["yaw"]
  T = len(yaw)
  P = max(2, int(round(_uniform(rng, g.step_period) * cfg.fps)))
  sw = max(1, int(round(g.swing_fraction * P)))
  clear = _uniform(rng, g.foot_clearance)

  def nominal(t, foot):
    t = min(t, T - 1)
    return np.array([*(xy[t] + _rot2(yaw[t]) @ kit.foot_origin[foot]), yaw[t]])

  foot = np.zeros((T, 2, 3))
  lift = np.zeros((T, 2))
  cur = [nominal(0, 0), nominal(0, 1)]
  foot[:] = np.stack(cur)
  k = 0
  for f in range(0, T - sw, P):
    i = k % 2
    k += 1
    tgt = nominal(f + sw // 2 + P, i)
    move = np.linalg.norm(tgt[:2] - cur[i][:2])
    dyaw = abs(float(_wrap(tgt[2] - cur[i][2])))
    if move < g.min_step and dyaw < np.radians(g.min_step_turn_deg):
      continue
    u = _smooth(np.arange(1, sw + 1) / sw)
    d = tgt - cur[i]
    d[2] = _wrap(d[2])
    foot[f + 1:f + sw + 1, i] = cur[i] + u[:, None] * d
    foot[f + sw + 1:, i] = cur[i] + d
    lift[f + 1:f + sw + 1, i] = clear * np.sin(np.pi * np.arange(1, sw + 1) / sw)
    cur[i] = cur[i] + d
  return foot, lift


def _targets(plan: _Plan, kit: _Kit, cfg: SynthConfig, rng):
  """IK targets of one plan: keypoints (T, K, 3), weights (T, K), root pose, posture."""
  tk, ikc, g = plan.tracks, cfg.ik, cfg.gait
  T = len(tk["yaw"])
  K = len(kit.solver.keypoints)
  foot, lift = _footsteps(rng, tk, kit, cfg)
  tgt = np.zeros((T, K, 3))
  w = np.zeros((T, K))
  for i in range(2):
    rot = _rotz(foot[:, i, 2])  # (T, 3, 3)
    base = np.concatenate([foot[:, i, :2], lift[:, i:i + 1]], -1)
    tgt[:, kit.foot_kp[i]] = np.einsum("tij,kj->tki", rot, kit.foot_local[i]) + base[:, None]
    w[:, kit.foot_kp[i]] = (ikc.w_foot_pos, ikc.w_toe_pos, ikc.w_foot_rot)

  # Root: xy = the path (which places the feet) less the balance sit-back along the heading
  # (SceneRandomConfig.sit_back_gain); height from crouch and the leg-length constraint
  # (min-filtered, smoothed).
  yaw = tk["yaw"]
  rotz = _rotz(yaw)
  r = cfg.rand if plan.family in cfg.rand.sit_back_families else dataclasses.replace(
      cfg.rand, sit_back_gain=0.0)
  root_xy = tk["xy"] - _sit_back(tk["crouch"], r)[:, None] * np.stack(
      [np.cos(yaw), np.sin(yaw)], -1)
  z = kit.root_height - g.stand_knee_bend - tk["crouch"]
  for i in range(2):
    hip_xy = root_xy + np.einsum("tij,j->ti", rotz[:, :2, :2], kit.hip_rel[i, :2])
    ankle = tgt[:, kit.foot_kp[i, 0]]
    reach = (g.knee_slack * kit.leg_len[i]) ** 2 - np.sum((hip_xy - ankle[:, :2]) ** 2, -1)
    z = np.minimum(z, ankle[:, 2] + np.sqrt(np.maximum(reach, _MIN_LEG_REACH ** 2)) - kit.hip_rel[i, 2])
  win = 2 * int(np.ceil(2 * g.pelvis_smooth_frames)) + 1
  z = ndimage.gaussian_filter1d(ndimage.minimum_filter1d(z, win), g.pelvis_smooth_frames,
                                mode="nearest")
  root_pos = np.concatenate([root_xy, z[:, None]], -1)
  pitch = 0.3 * tk["lean"]  # the pelvis takes a share of the lean, the spine the rest
  root_quat = npquat.quat_mul(_yaw_quat(yaw), np.stack(
      [np.cos(pitch / 2), 0 * pitch, np.sin(pitch / 2), 0 * pitch], -1))
  posture = np.tile(kit.posture_ref, (T, 1))
  posture[:, kit.lean_idx] = (0.7 * tk["lean"] / len(kit.lean_idx))[:, None]

  # Hands: free (rest offset in the root heading frame) blended to the (pre)grasp on the object.
  free = np.einsum("tij,hkj->thki", rotz, kit.hand_rest) + root_pos[:, None, None]
  orot = _rotz(tk["obj_yaw"])
  opos = np.concatenate([tk["obj_xy"], tk["obj_z"][:, None]], -1)
  L = cfg.hand.hand_axis_len
  for h in range(2):
    n = plan.contacts.normals[h]
    palm_local = plan.contacts.points[h] + n * (cfg.hand.palm_margin)
    local = np.stack([palm_local, palm_local + L * plan.fingers[h], palm_local - L * n])  # (3, 3)
    on = np.einsum("tij,kj->tki", orot, local) + opos[:, None]
    on = on + (tk["offset"] * cfg.hand.pregrasp_offset)[:, None, None] * np.einsum(
        "tij,j->ti", orot, n)[:, None]
    b = tk["blend"][:, None, None]
    tgt[:, kit.hand_kp[h]] = (1 - b) * free[:, h] + b * on
    wb = tk["blend"][:, None]
    w[:, kit.hand_kp[h]] = (1 - wb) * ikc.w_hand_free + wb * np.array(
        [ikc.w_hand_pos, ikc.w_hand_rot, ikc.w_hand_rot])
  obj_quat = _yaw_quat(tk["obj_yaw"])
  return dict(targets=tgt, weights=w, root_pos=root_pos, root_quat=root_quat, posture=posture,
              obj_pos=opos, obj_quat=obj_quat, foot=foot, lift=lift)


# ------------------------------------------------------------------------------------------------
# Geometry of a posed clip: distances to the object, labels
# ------------------------------------------------------------------------------------------------


def _sample_world(kit: _Kit, body_pos, body_quat) -> np.ndarray:
  """(T, B, 3), (T, B, 4) -> (T, P, 3) world geom sample points."""
  rot = npquat.quat_to_mat(body_quat[:, kit.geom_body])
  return np.einsum("tpij,pj->tpi", rot, kit.geom_local) + body_pos[:, kit.geom_body]


def _distances(kit: _Kit, shape, body_pos, body_quat, obj_pos, obj_quat):
  """Per-sample signed distance to the object surface (T, P) (radius subtracted)."""
  pts = _sample_world(kit, body_pos, body_quat)
  return shape.sdf_world(pts, obj_pos, obj_quat) - kit.geom_radius


def _body_min(kit: _Kit, d: np.ndarray, num_bodies: int) -> np.ndarray:
  """(T, P) -> (T, B) min over each body's samples (+inf for bodies without geoms)."""
  out = np.full((d.shape[0], num_bodies), np.inf)
  for b in np.unique(kit.geom_body):
    out[:, b] = d[:, kit.geom_body == b].min(-1)
  return out


def _labels(kit: _Kit, holding, body_dist, cfg: SynthConfig):
  lab = np.where(body_dist > cfg.label.far, -1, 0).astype(np.int8)
  hands = kit.spec.hand_idx
  lab[:, hands] = np.where(holding[:, None], 1, lab[:, hands])
  return lab


# ------------------------------------------------------------------------------------------------
# Public API
# ------------------------------------------------------------------------------------------------


def _solve(kit: _Kit, cfg: SynthConfig, items: list[dict]) -> list[ik_lib.IKResult]:
  """IK of several clips' targets: :meth:`IKSolver.solve_many` (``cfg.ik_batch`` lanes of
  ``cfg.ik_chunk`` frames: one compilation per humanoid whatever the clip lengths)."""
  problems = [ik_lib.IKProblem(
      targets=c["targets"], weights=c["weights"], posture_ref=c["posture"],
      posture_weights=kit.posture_w, root_pos_target=c["root_pos"], root_quat_target=c["root_quat"],
      root_weights=np.asarray((cfg.ik.w_root_pos, cfg.ik.w_root_rot))) for c in items]
  return kit.solver.solve_many(problems, slots=cfg.ik_batch, chunk=cfg.ik_chunk)


def _clearance_passes(kit: _Kit, cfg: SynthConfig, plans, items, results):
  """Re-solves the clips whose ``IKConfig.clear_bodies`` capsules enter the object while the
  hands reach for it: each such
  arm point gets a keypoint target moved out along the normal of *its hand's* contact face (the
  side face of a side grasp: the arm clears it by abducting, the palm stays) until it is
  ``clearance`` outside that face's plane; points pushed in an earlier round keep their place.
  ``IKConfig.clear_rounds`` rounds at most.  ``items`` (targets / weights) are updated in place."""
  ikc = cfg.ik
  if not len(kit.clear_kp):
    return results
  results = list(results)
  for _ in range(ikc.clear_rounds):
    redo = []
    for i, (plan, it, res) in enumerate(zip(plans, items, results)):
      reach = plan.tracks["blend"] > 0.0  # (T,)
      if not reach.any():
        continue
      pts = res.keypoint_pos[:, kit.clear_kp].astype(np.float64)  # (T, C, 3)
      gap = plan.shape.sdf_world(pts, it["obj_pos"], it["obj_quat"]) - kit.clear_radius
      near = (gap < -_CLEAR_TOL) & reach[:, None]  # inside the object
      if not near.any():
        continue
      # Arms: along their hand's face normal, to the face's plane; other bodies: along the
      # object's surface normal at the point.
      arm = kit.clear_side >= 0
      side = np.maximum(kit.clear_side, 0)
      rot = npquat.quat_to_mat(it["obj_quat"])  # (T, 3, 3)
      n_face = np.einsum("tij,cj->tci", rot, plan.contacts.normals[side])  # (T, C, 3)
      q = np.einsum("tij,cj->tci", rot, plan.contacts.points[side]) + it["obj_pos"][:, None]
      plane_gap = np.einsum("tci,tci->tc", pts - q, n_face) - kit.clear_radius
      n_surf = plan.shape.normal_world(pts, it["obj_pos"], it["obj_quat"])
      n = np.where(arm[:, None], n_face, n_surf)
      push = np.maximum(ikc.clearance - np.where(arm, plane_gap, gap), 0.0)[..., None] * n
      held = it["weights"][:, kit.clear_kp] > 0  # pushed in an earlier round
      active = near | held
      it["targets"][:, kit.clear_kp] = np.where(active[..., None], pts + push,
                                                it["targets"][:, kit.clear_kp])
      it["weights"][:, kit.clear_kp] = np.where(active, ikc.w_clear, 0.0)
      redo.append(i)
    if not redo:
      break
    for i, res in zip(redo, _solve(kit, cfg, [items[i] for i in redo])):
      results[i] = res
  return results


def _draw_plan(rng, family, cfg, kit):
  """A plan whose duration lies within the config bounds (redrawn otherwise)."""
  r = cfg.rand
  for _ in range(r.max_resample):
    plan = FAMILIES[family](rng, family, cfg, kit)
    dur = (len(plan.tracks["yaw"]) - 1) / cfg.fps
    if r.min_duration <= dur <= r.max_duration:
      return plan
  raise RuntimeError(f"synth: no {family!r} plan within [{r.min_duration}, {r.max_duration}] s "
                     f"after {r.max_resample} draws; widen SynthConfig.rand")


def _generate(rngs, families, humanoid: str, cfg: SynthConfig, tags) -> list[clip_lib.Clip]:
  kit = _kit(humanoid, cfg)
  for fam in families:
    if fam not in FAMILIES:
      raise KeyError(f"unknown family {fam!r}; known: {sorted(FAMILIES)}")
  plans, items = [], []
  for rng, fam in zip(rngs, families):
    plan = _draw_plan(rng, fam, cfg, kit)
    plans.append(plan)
    items.append(_targets(plan, kit, cfg, rng))
  results = _solve(kit, cfg, items)
  results = _clearance_passes(kit, cfg, plans, items, results)
  clips = []
  for plan, it, res, tag in zip(plans, items, results, tags):
    body_pos, body_quat = res.body_pos.astype(np.float64), res.body_quat.astype(np.float64)
    d = _distances(kit, plan.shape, body_pos, body_quat, it["obj_pos"], it["obj_quat"])
    body_dist = _body_min(kit, d, kit.spec.num_bodies)
    labels = _labels(kit, plan.tracks["holding"], body_dist, cfg)
    mass = plan.shape.asset.mass * plan.density_scale
    source = (f"synth:{plan.family}:{tag}:object={plan.object_name}:scale={plan.scale:.4f}:"
              f"density_scale={plan.density_scale:.4f}:mass={mass:.3f}kg:{plan.description}")
    c = clip_lib.Clip(
        name=f"synth_{plan.family}_{tag.replace('=', '').replace(',', '_')}", source=source,
        humanoid=humanoid, object_name=plan.object_name, fps=cfg.fps,
        body_names=kit.spec.body_names, joint_names=kit.spec.joint_names,
        root_pos=res.root_pos.astype(np.float64), root_quat=res.root_quat.astype(np.float64),
        joint_pos=res.joint_pos.astype(np.float64), body_pos=body_pos, body_quat=body_quat,
        obj_pos=it["obj_pos"], obj_quat=it["obj_quat"], body_contact=labels,
        obj_contact=np.any(labels == 1, axis=1).astype(np.int8),
        object_scale=plan.scale, object_density_scale=plan.density_scale)
    clips.append(clip_lib.validate_clip(c))
  return clips


def generate_clip(rng_or_seed, family: str, humanoid: str = "smpl",
                  config: SynthConfig = SynthConfig()) -> clip_lib.Clip:
  """One clip of ``family`` ('carry' | 'push' | 'drag' | 'walk') for ``humanoid`` ('smpl' | 'smplx').

  ``rng_or_seed``: an int seed or a ``numpy.random.Generator`` (consumed).  Deterministic: the
  same seed gives the same clip.
  """
  rng = rng_or_seed if isinstance(rng_or_seed, np.random.Generator) else np.random.default_rng(
      rng_or_seed)
  tag = f"seed={rng_or_seed}" if not isinstance(rng_or_seed, np.random.Generator) else "rng"
  return _generate([rng], [family], humanoid, config, [tag])[0]


def generate_dataset(num_clips: int, humanoid: str = "smpl", seed: int = 0,
                     families: tuple[str, ...] | None = None,
                     config: SynthConfig = SynthConfig()) -> list[clip_lib.Clip]:
  """``num_clips`` clips cycling through ``families`` (default ``config.families``).

  Clip ``i`` draws from ``numpy.random.default_rng([seed, i])``: deterministic by seed and
  independent of ``num_clips`` (a clip's IK does not depend on the other clips of the call; see
  :meth:`~interprior_jax.motion.ik.IKSolver.solve_many`, ``config.ik_batch`` lanes of
  ``config.ik_chunk`` frames).
  """
  families = tuple(families or config.families)
  if num_clips < 0:
    raise ValueError(f"num_clips must be >= 0, got {num_clips}")
  rngs = [np.random.default_rng([seed, i]) for i in range(num_clips)]
  fams = [families[i % len(families)] for i in range(num_clips)]
  tags = [f"seed={seed},i={i}" for i in range(num_clips)]
  return _generate(rngs, fams, humanoid, config, tags) if num_clips else []
