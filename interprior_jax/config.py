"""Config building blocks shared by ``configs/*.py`` and conversion to library option types.

Configs are ``ml_collections.ConfigDict`` trees; the library takes typed frozen dataclasses.
This module is the single bridge (``scene_options(cfg.scene)``), so a misspelt key fails loudly.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import pathlib
import typing
from typing import Any

import ml_collections

from interprior_jax.assets import humanoid as humanoid_lib
from interprior_jax.assets import scene as scene_lib

# Per-embodiment physics defaults: policy at 30 Hz, 4 physics substeps (120 Hz) for all.
CONTROL_HZ = 30.0


def sibling_config(this_file: str, name: str, arg: str | None = None) -> ml_collections.ConfigDict:
  """``get_config(arg)`` of ``configs/<name>.py`` next to ``this_file`` (a config file): lets one
  config embed another (the configs folder is not a package, so it is loaded by path)."""
  path = pathlib.Path(this_file).resolve().parent / f"{name}.py"
  spec = importlib.util.spec_from_file_location(f"_interprior_{name}_config", path)
  if spec is None or spec.loader is None:
    raise ValueError(f"{this_file}: cannot load the sibling config {path}")
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod.get_config(arg)


def dataclass_config(cls, **overrides) -> ml_collections.ConfigDict:
  """A config section holding the defaults of the dataclass ``cls`` (nested dataclasses become
  sub-sections, tuples stay tuples), with ``overrides`` applied; a misspelt override fails. The
  defaults are written once, on the dataclass; its fields without a default (e.g.
  ``LoopConfig.num_iterations``) must be among ``overrides``."""
  required = [f.name for f in dataclasses.fields(cls)
              if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
  missing = [k for k in required if k not in overrides]
  if missing:
    raise ValueError(f"{cls.__name__}: no default for {missing}; give them")
  c = ml_collections.ConfigDict(dataclasses.asdict(cls(**{k: overrides[k] for k in required})))
  for k, v in overrides.items():
    if k not in c:
      raise ValueError(f"{cls.__name__}: unknown field {k!r}")
    if isinstance(v, dict):
      c[k].update(v)
    else:
      c[k] = v
  return c


def _tuples(v):
  """Lists (as JSON and ConfigDict hold sequences) -> tuples, recursively."""
  return tuple(_tuples(x) for x in v) if isinstance(v, (list, tuple)) else v


def dataclass_from_config(cls, c, where: str, **fixed):
  """The config section ``c`` (ConfigDict or dict) as an instance of the dataclass ``cls``: the
  one converter of every trainer config (the reverse of :func:`dataclass_config`). Sub-sections of
  dataclass-typed fields become those dataclasses, sequences tuples; missing fields keep their
  defaults; ``fixed`` fields are set by the caller. ValueError names ``where`` and the unknown
  fields."""
  d = c.to_dict() if hasattr(c, "to_dict") else dict(c)
  hints = typing.get_type_hints(cls)
  names = {f.name for f in dataclasses.fields(cls)}
  bad = set(d) - names
  if bad:
    raise ValueError(f"{where}: unknown fields {sorted(bad)}")
  kw = {}
  for k, v in d.items():
    if dataclasses.is_dataclass(hints[k]) and isinstance(v, dict):
      kw[k] = dataclass_from_config(hints[k], v, f"{where}.{k}")
    else:
      kw[k] = _tuples(v)
  kw.update(fixed)
  return cls(**kw)


def physics_config(**overrides) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict(dataclasses.asdict(scene_lib.PhysicsOptions()))
  c.update(overrides)
  return c


def scene_config(humanoid: str = "smpl", objects: tuple[str, ...] = ("box",),
                 object_xy: tuple[tuple[float, float], ...] = ((0.8, 0.0),),
                 object_yaw: tuple[float, ...] = (0.0,),
                 skeleton: str = humanoid_lib.DEFAULT_SKELETON) -> ml_collections.ConfigDict:
  """The ``scene`` section: humanoid, objects (names, xy positions, yaws), physics, build knobs.

  ``skeleton``: 'default' (the table's offsets), a packaged subject skeleton
  (``humanoid.list_skeletons()``, e.g. 'omomo_sub2') or a path to a skeleton ``.json``.
  """
  b = humanoid_lib.HumanoidBuildOptions()
  return ml_collections.ConfigDict({
      "humanoid": humanoid,
      "objects": tuple(objects),
      "object_xy": tuple(tuple(p) for p in object_xy),
      "object_yaw": tuple(object_yaw),
      "physics": physics_config(timestep=scene_lib.humanoid_definition(humanoid).timestep),
      "gain_scale": b.gain_scale,
      "arm_gain_scale": b.arm_gain_scale,
      "friction": tuple(b.friction),
      "floor_friction": tuple(scene_lib.SceneOptions().floor_friction),
      # () keeps each object's library friction; (sliding, torsional, rolling) replaces it for
      # every object.  MuJoCo takes the larger of two geoms' coefficients, so an object-floor
      # contact below the humanoid's 1.0 needs both this and floor_friction lowered (the feet and
      # hands keep the humanoid's 1.0 against either).
      "object_friction": (),
      "skeleton": str(skeleton),
      "object_contact_exclude": tuple(scene_lib.SceneOptions().object_contact_exclude),
  })


def scene_options(c: ml_collections.ConfigDict) -> scene_lib.SceneOptions:
  """``scene`` config section -> :class:`SceneOptions` (ValueError naming a bad field)."""
  n = len(c.objects)
  if len(c.object_xy) != n or len(c.object_yaw) != n:
    raise ValueError(f"config.scene: objects ({n}), object_xy ({len(c.object_xy)}) and "
                     f"object_yaw ({len(c.object_yaw)}) must have the same length")
  try:
    physics = scene_lib.PhysicsOptions(**c.physics.to_dict())
  except TypeError as e:
    raise ValueError(f"config.scene.physics: {e}") from None
  # Configs saved before object_friction existed mean the library's frictions.
  friction = tuple(float(v) for v in c.get("object_friction", ()))
  if friction and len(friction) != 3:
    raise ValueError(f"config.scene.object_friction: expected () or 3 values (sliding, torsional, "
                     f"rolling), got {friction}")
  over = {"friction": friction} if friction else {}
  placements = tuple(
      scene_lib.ObjectPlacement(name=name, pos=tuple(xy), yaw=float(yaw), overrides=dict(over))
      for name, xy, yaw in zip(c.objects, c.object_xy, c.object_yaw))
  # Configs saved before the skeleton key existed mean the default skeleton.
  skeleton = c.get("skeleton", humanoid_lib.DEFAULT_SKELETON)
  try:
    offsets = humanoid_lib.skeleton_offsets(skeleton)
  except ValueError as e:
    raise ValueError(f"config.scene.skeleton: {e}") from None
  # Configs saved before arm_gain_scale existed mean unscaled arms.
  build = humanoid_lib.HumanoidBuildOptions(gain_scale=float(c.gain_scale),
                                            arm_gain_scale=float(c.get("arm_gain_scale", 1.0)),
                                            friction=tuple(c.friction), body_offsets=offsets)
  # Configs saved before object_contact_exclude existed mean every body collides.
  return scene_lib.SceneOptions(humanoid=c.humanoid, objects=placements, physics=physics,
                                humanoid_build=build, floor_friction=tuple(c.floor_friction),
                                object_contact_exclude=tuple(c.get("object_contact_exclude", ())))


def save_config(config: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> pathlib.Path:
  """Writes ``workdir/config.json`` (the exact resolved config of a run)."""
  p = pathlib.Path(workdir) / "config.json"
  p.parent.mkdir(parents=True, exist_ok=True)
  p.write_text(json.dumps(_jsonable(config.to_dict()), indent=2, sort_keys=True))
  return p


def _jsonable(x: Any) -> Any:
  if isinstance(x, dict):
    return {k: _jsonable(v) for k, v in x.items()}
  if isinstance(x, (list, tuple)):
    return [_jsonable(v) for v in x]
  return x
