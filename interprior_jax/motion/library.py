"""The motion library: every clip of a dataset stacked into padded device arrays, sampled by time.

:class:`MotionLibrary` is a ``flax.struct`` pytree (device arrays + static metadata) built once
from a list of :class:`~interprior_jax.motion.clip.Clip` (one humanoid) with
:meth:`MotionLibrary.from_clips`.  Derived per-frame features (velocities) are precomputed in numpy
at build time so :meth:`MotionLibrary.frame` is a handful of gathers plus interpolation; it is
jittable, vmappable and also accepts any leading batch dims directly.

Feature table (documented once, here).  N clips padded to T = max clip length (padding repeats the
last real frame, and every lookup clamps to ``lengths - 1``, so padding never leaks); B bodies and
A hinges in the clips' (= the scene's) layout.  Every track is float32, world frame, z up:

================  ============  =======  ==================================================================
track             shape         interp   source
================  ============  =======  ==================================================================
root_pos          (N, T, 3)     linear   clip
root_quat         (N, T, 4)     slerp    clip, canonical w >= 0
joint_pos         (N, T, A)     linear   clip (radians)
joint_vel         (N, T, A)     linear   central differences of joint_pos (modulo 2 pi)
body_pos          (N, T, B, 3)  linear   clip
body_quat         (N, T, B, 4)  slerp    clip, canonical w >= 0
body_lin_vel      (N, T, B, 3)  linear   central differences of body_pos
body_ang_vel      (N, T, B, 3)  linear   central differences on SO(3) of body_quat (world frame)
obj_pos           (N, T, 3)     linear   clip
obj_quat          (N, T, 4)     slerp    clip, canonical w >= 0
obj_lin_vel       (N, T, 3)     linear   central differences of obj_pos
obj_ang_vel       (N, T, 3)     linear   central differences on SO(3) of obj_quat
body_contact      (N, T, B)     nearest  clip ternary label {-1, 0, 1}
obj_contact       (N, T)        nearest  1.0 where the clip's flag is 1, else 0.0
body_obj_vec      (N, T, B, 3)  linear   each body -> its nearest object-surface point (world), per frame
================  ============  =======  ==================================================================

Per clip: ``lengths (N,)`` int32 real frame counts, ``fps (N,)``, ``object_index (N,)`` int32 into
the object table ``obj_points (O, P, 3)`` (object frame, already scaled by the clip's
``object_scale``; one entry per distinct (object name, scale)).  ``body_obj_vec`` is precomputed
at build time for every frame (bodies moved into the object frame and matched by brute force
against the P points, in chunks of :data:`VEC_CHUNK_FRAMES` frames) and interpolated linearly
between frames like the positions: exact at frame times (where every 30 Hz env step lands on a
30 fps clip), an interpolation in between.  Computing it at lookup instead cost B * P distances per
sample: 30 ms per lookup of 256 envs on 2 CPU cores, 85 % of the observation (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from interprior_jax import geometry
from interprior_jax.motion import features
from interprior_jax.motion.clip import Clip, ClipError, validate_clip
from interprior_jax.motion.frame import RefFrame


# ----------------------------------------------------------------------------------------------
# Track table and interpolation registry
# ----------------------------------------------------------------------------------------------

def _lerp(x0: jax.Array, x1: jax.Array, t: jax.Array) -> jax.Array:
  return x0 + t * (x1 - x0)


def _slerp(q0: jax.Array, q1: jax.Array, t: jax.Array) -> jax.Array:
  return geometry.quat_canonicalize(geometry.quat_slerp(q0, q1, t[..., 0]))


#: Interpolation kind -> ``f(value_at_i0, value_at_i1, t)`` with t broadcast to the value's rank.
#: 'nearest' is handled by gathering the nearest frame (no blend).
INTERPOLATORS: dict[str, Callable[[jax.Array, jax.Array, jax.Array], jax.Array] | None] = {
    "linear": _lerp, "slerp": _slerp, "nearest": None,
}


@dataclasses.dataclass(frozen=True)
class Track:
  """One stacked per-frame array of the library: its name and interpolation kind."""
  name: str
  interp: str


#: The library's tracks (names == RefFrame fields); order is irrelevant, names are the keys.
TRACKS: tuple[Track, ...] = (
    Track("root_pos", "linear"), Track("root_quat", "slerp"),
    Track("joint_pos", "linear"), Track("joint_vel", "linear"),
    Track("body_pos", "linear"), Track("body_quat", "slerp"),
    Track("body_lin_vel", "linear"), Track("body_ang_vel", "linear"),
    Track("obj_pos", "linear"), Track("obj_quat", "slerp"),
    Track("obj_lin_vel", "linear"), Track("obj_ang_vel", "linear"),
    Track("body_contact", "nearest"), Track("obj_contact", "nearest"),
    Track("body_obj_vec", "linear"),
)
#: Frames per chunk of the build-time ``body_obj_vec`` computation (bounds its temporary memory).
VEC_CHUNK_FRAMES = 64
TRACK_NAMES: tuple[str, ...] = tuple(t.name for t in TRACKS)


#: Tracks copied from the clips (the others are derived in :func:`_derive`).
_RAW_TRACKS = ("root_pos", "root_quat", "joint_pos", "body_pos", "body_quat", "obj_pos",
               "obj_quat", "body_contact", "obj_contact")


def _raw_tracks(c: Clip) -> dict[str, np.ndarray]:
  """The stored per-frame tracks of one clip (numpy float32, time first, quats canonical)."""
  out = {k: np.asarray(getattr(c, k)) for k in _RAW_TRACKS}
  for k in ("root_quat", "body_quat", "obj_quat"):
    out[k] = features.canonical_quat_series(out[k])
  out["obj_contact"] = out["obj_contact"] > 0
  return {k: v.astype(np.float32) for k, v in out.items()}


def _derive(raw: dict[str, jax.Array], lengths: np.ndarray, fps: np.ndarray) -> dict[str, jax.Array]:
  """Velocity tracks of the padded stacks: central differences, one-sided at each clip's ends."""
  prev, nxt = features.neighbour_indices(lengths, raw["body_pos"].shape[1])
  dt = jnp.asarray(1.0 / fps, jnp.float32)
  diff = functools.partial(features.padded_central_diff, prev=prev, nxt=nxt, dt=dt)
  angvel = functools.partial(features.padded_quat_angvel, prev=prev, nxt=nxt, dt=dt)
  return {
      "joint_vel": diff(raw["joint_pos"], periodic_angles=True),
      "body_lin_vel": diff(raw["body_pos"]),
      "body_ang_vel": angvel(raw["body_quat"]),
      "obj_lin_vel": diff(raw["obj_pos"]),
      "obj_ang_vel": angvel(raw["obj_quat"]),
  }


@jax.jit
def _vec_chunk(body_pos, obj_pos, obj_quat, points):
  """(N, F, B, 3) nearest-surface vectors of F frames; points (N, P, 3)."""
  return features.nearest_surface_vec_posed(body_pos, obj_pos, obj_quat, points[:, None])


def _body_obj_vecs(stacked: dict, points: jax.Array) -> jax.Array:
  """(N, T, B, 3) ``body_obj_vec`` of every padded frame; ``points`` (N, P, 3) per clip."""
  T = stacked["body_pos"].shape[1]
  out = []
  for t0 in range(0, T, VEC_CHUNK_FRAMES):
    sl = slice(t0, min(t0 + VEC_CHUNK_FRAMES, T))
    chunk = [stacked[k][:, sl] for k in ("body_pos", "obj_pos", "obj_quat")]
    if chunk[0].shape[1] < VEC_CHUNK_FRAMES:  # one compiled shape for every chunk
      pad = VEC_CHUNK_FRAMES - chunk[0].shape[1]
      chunk = [jnp.concatenate([c, jnp.repeat(c[:, -1:], pad, axis=1)], axis=1) for c in chunk]
    out.append(_vec_chunk(*chunk, points)[:, :sl.stop - sl.start])
  return jnp.concatenate(out, axis=1)


def _pad_to(x: np.ndarray, length: int) -> np.ndarray:
  """(T, ...) -> (length, ...) by repeating the last frame."""
  return np.concatenate([x, np.repeat(x[-1:], length - x.shape[0], axis=0)], axis=0)


# ----------------------------------------------------------------------------------------------
# The library
# ----------------------------------------------------------------------------------------------

@struct.dataclass
class MotionLibrary:
  """Stacked clips (see the module docstring for the track table). Build with :meth:`from_clips`."""
  # Tracks, (N, T, ...) float32.
  root_pos: jax.Array
  root_quat: jax.Array
  joint_pos: jax.Array
  joint_vel: jax.Array
  body_pos: jax.Array
  body_quat: jax.Array
  body_lin_vel: jax.Array
  body_ang_vel: jax.Array
  obj_pos: jax.Array
  obj_quat: jax.Array
  obj_lin_vel: jax.Array
  obj_ang_vel: jax.Array
  body_contact: jax.Array
  obj_contact: jax.Array
  body_obj_vec: jax.Array
  # Per clip.
  lengths: jax.Array  # (N,) int32 real frames
  fps: jax.Array  # (N,) float32
  object_index: jax.Array  # (N,) int32 into obj_points
  # Object table.
  obj_points: jax.Array  # (O, P, 3) float32, object frame, scaled
  obj_scales: jax.Array  # (O,) float32 scale applied to each entry
  # Static metadata.
  clip_names: tuple[str, ...] = struct.field(pytree_node=False, default=())
  object_names: tuple[str, ...] = struct.field(pytree_node=False, default=())  # (O,)
  humanoid: str = struct.field(pytree_node=False, default="")
  body_names: tuple[str, ...] = struct.field(pytree_node=False, default=())
  joint_names: tuple[str, ...] = struct.field(pytree_node=False, default=())

  # -- construction ------------------------------------------------------------------------------

  @classmethod
  def from_clips(cls, clips: Sequence[Clip],
                 surface_points: Mapping[str, np.ndarray] | None = None,
                 spec=None) -> "MotionLibrary":
    """Stacks clips (all of one humanoid) into a library.

    Args:
      clips: the clips; each is validated.
      surface_points: object name -> (P, 3) object-frame surface points (same P for all); None
        takes them from ``assets.objects.make_object(name).surface_points``.  Each clip's
        points are multiplied by its ``object_scale``.
      spec: optional :class:`~interprior_jax.assets.scene.SceneSpec`; when given, every clip's
        body and joint names must equal ``spec.body_names`` / ``spec.joint_names``.
    Raises:
      ClipError: naming the clip and the field (invalid clip, mismatched names or humanoid,
        object without surface points).
    """
    if not clips:
      raise ValueError("MotionLibrary.from_clips: no clips")
    ref = clips[0]
    want_bodies = tuple(spec.body_names) if spec is not None else ref.body_names
    want_joints = tuple(spec.joint_names) if spec is not None else ref.joint_names
    against = f"scene '{spec.humanoid}'" if spec is not None else f"clip '{ref.name}'"
    for c in clips:
      validate_clip(c)
      where = c.source or c.name
      if c.humanoid != ref.humanoid or (spec is not None and c.humanoid != spec.humanoid):
        want = spec.humanoid if spec is not None else ref.humanoid
        raise ClipError(f"{where}: field 'humanoid': {c.humanoid!r} differs from {against} "
                        f"({want!r})")
      for field, have, want in (("body_names", c.body_names, want_bodies),
                                ("joint_names", c.joint_names, want_joints)):
        if tuple(have) != want:
          diff = _first_difference(tuple(have), want)
          raise ClipError(f"{where}: field '{field}' does not match {against}: {diff}")

    # Object table: one entry per distinct (name, scale).
    keys = sorted({(c.object_name, float(c.object_scale)) for c in clips})
    base: dict[str, np.ndarray] = {}
    for name, _ in keys:
      if name in base:
        continue
      if surface_points is None:
        from interprior_jax.assets import objects as objects_lib
        base[name] = np.asarray(objects_lib.make_object(name).surface_points, np.float32)
      elif name in surface_points:
        base[name] = np.asarray(surface_points[name], np.float32)
      else:
        bad = next(c for c in clips if c.object_name == name)
        raise ClipError(f"{bad.source or bad.name}: field 'object_name': no surface points for "
                        f"{name!r} (given: {sorted(surface_points)})")
      if base[name].ndim != 2 or base[name].shape[1] != 3:
        raise ValueError(f"surface_points[{name!r}]: shape {base[name].shape}, expected (P, 3)")
    counts = {n: p.shape[0] for n, p in base.items()}
    if len(set(counts.values())) != 1:
      raise ValueError(f"surface point counts differ between objects: {counts}")
    obj_points = np.stack([base[n] * s for n, s in keys]).astype(np.float32)
    obj_index = np.array([keys.index((c.object_name, float(c.object_scale))) for c in clips],
                         np.int32)

    lengths = np.array([c.num_frames for c in clips], np.int32)
    t_max = int(lengths.max())
    fps = np.array([c.fps for c in clips], np.float32)
    per_clip = [_raw_tracks(c) for c in clips]
    stacked = {k: jnp.asarray(np.stack([_pad_to(tr[k], t_max) for tr in per_clip]))
               for k in _RAW_TRACKS}
    stacked.update(_derive(stacked, lengths, fps))
    stacked["body_obj_vec"] = _body_obj_vecs(stacked, jnp.asarray(obj_points)[obj_index])
    return cls(
        **stacked, lengths=jnp.asarray(lengths),
        fps=jnp.asarray(fps),
        object_index=jnp.asarray(obj_index), obj_points=jnp.asarray(obj_points),
        obj_scales=jnp.asarray(np.array([s for _, s in keys], np.float32)),
        clip_names=tuple(c.name for c in clips), object_names=tuple(n for n, _ in keys),
        humanoid=ref.humanoid, body_names=want_bodies, joint_names=want_joints)

  # -- sizes and helpers -------------------------------------------------------------------------

  @property
  def num_clips(self) -> int:
    return int(self.lengths.shape[0])

  @property
  def max_frames(self) -> int:
    """T, the padded length."""
    return int(self.body_pos.shape[1])

  @property
  def num_bodies(self) -> int:
    return len(self.body_names)

  @property
  def num_joints(self) -> int:
    return len(self.joint_names)

  def clip_index(self, name: str) -> int:
    """Index of the clip called ``name`` (KeyError listing the names)."""
    try:
      return self.clip_names.index(name)
    except ValueError:
      raise KeyError(f"no clip {name!r}; clips: {self.clip_names}") from None

  def duration(self, clip_idx: jax.Array) -> jax.Array:
    """Seconds from first to last real frame. int (...) -> float32 (...)."""
    clip_idx = jnp.asarray(clip_idx, jnp.int32)
    return (self.lengths[clip_idx] - 1).astype(jnp.float32) / self.fps[clip_idx]

  def sample_times(self, key: jax.Array, clip_idx: jax.Array) -> jax.Array:
    """Uniform times in [0, duration(clip_idx)]. int (...) -> float32 (...)."""
    clip_idx = jnp.asarray(clip_idx, jnp.int32)
    return jax.random.uniform(key, clip_idx.shape) * self.duration(clip_idx)

  def sample_contact_times(self, key: jax.Array, clip_idx: jax.Array) -> jax.Array:
    """Times of frames where the reference touches the object (``obj_contact``), uniform over
    them; a clip without any: uniform over its frames.  int (...) -> float32 (...)."""
    clip_idx = jnp.asarray(clip_idx, jnp.int32)
    t = jnp.arange(self.obj_contact.shape[1])
    valid = t < self.lengths[clip_idx][..., None]
    touch = (self.obj_contact[clip_idx] > 0) & valid
    allowed = jnp.where(jnp.any(touch, axis=-1, keepdims=True), touch, valid)
    idx = jax.random.categorical(key, jnp.where(allowed, 0.0, -jnp.inf))
    return idx.astype(jnp.float32) / self.fps[clip_idx]

  def sample_clips(self, key: jax.Array, shape: tuple[int, ...] = (),
                   weights: jax.Array | None = None) -> jax.Array:
    """Clip indices (int32, ``shape``) drawn uniformly or with (N,) non-negative ``weights``."""
    logits = (jnp.zeros(self.num_clips) if weights is None
              else jnp.log(jnp.asarray(weights, jnp.float32)))
    return jax.random.categorical(key, logits, shape=shape).astype(jnp.int32)

  # -- lookup ------------------------------------------------------------------------------------

  def frame(self, clip_idx: jax.Array, time_s: jax.Array) -> RefFrame:
    """Reference frame of clip ``clip_idx`` at ``time_s`` seconds.

    Time is clamped to [0, duration]; positions, velocities and joint values are interpolated
    linearly between the two neighbouring frames, rotations by slerp, contact labels are taken
    from the nearest frame.  ``clip_idx`` int (...), ``time_s`` float (...) (same shape) ->
    :class:`RefFrame` with leading dims (...).  Jittable and vmappable.
    """
    clip_idx = jnp.asarray(clip_idx, jnp.int32)
    last = self.lengths[clip_idx] - 1
    f = jnp.clip(jnp.asarray(time_s, jnp.float32) * self.fps[clip_idx], 0.0,
                 last.astype(jnp.float32))
    i0 = jnp.minimum(jnp.floor(f).astype(jnp.int32), last)
    i1 = jnp.minimum(i0 + 1, last)
    alpha = f - i0.astype(jnp.float32)
    nearest = jnp.where(alpha < 0.5, i0, i1)
    return self._assemble(clip_idx, i0, i1, alpha, nearest)

  def frame_at_index(self, clip_idx: jax.Array, frame_idx: jax.Array) -> RefFrame:
    """Reference frame at integer frame ``frame_idx`` (clamped to [0, length - 1]); shapes as
    :meth:`frame`."""
    clip_idx = jnp.asarray(clip_idx, jnp.int32)
    i = jnp.clip(jnp.asarray(frame_idx, jnp.int32), 0, self.lengths[clip_idx] - 1)
    return self._assemble(clip_idx, i, i, jnp.zeros(i.shape, jnp.float32), i)

  def _assemble(self, clip_idx, i0, i1, alpha, nearest) -> RefFrame:
    out = {}
    for tr in TRACKS:
      table = getattr(self, tr.name)
      fn = INTERPOLATORS[tr.interp]
      if fn is None:
        out[tr.name] = table[clip_idx, nearest]
        continue
      x0, x1 = table[clip_idx, i0], table[clip_idx, i1]
      t = alpha.reshape(alpha.shape + (1,) * (x0.ndim - alpha.ndim))
      out[tr.name] = fn(x0, x1, t)
    return RefFrame(**out)


def _first_difference(have: tuple[str, ...], want: tuple[str, ...]) -> str:
  if len(have) != len(want):
    return f"{len(have)} names, expected {len(want)}"
  i = next(i for i, (a, b) in enumerate(zip(have, want)) if a != b)
  return f"entry {i} is {have[i]!r}, expected {want[i]!r}"


__all__ = ["MotionLibrary", "Track", "TRACKS", "TRACK_NAMES", "INTERPOLATORS"]
