"""Clip sources: the clips a config names in ``config.data.source`` (``"<kind>"`` or
``"<kind>:<arg>"``, :data:`DATA_SOURCES`): ``synthetic`` (the embedded generator), ``native:DIR``,
``omomo[:DIR]`` (InterAct .pt files), ``standing[:FRAMES]``. ``config.data`` also filters them
(``object``, ``max_clips``, ``max_frames``; :func:`load_clips`)."""

from __future__ import annotations

from typing import Callable

import ml_collections


def _synthetic(config, arg: str):
  """``config.data.num_clips`` generated clips; a non-empty ``config.data.object`` restricts the
  generator to that library object (the HOI env takes one object), so no clip is drawn and then
  dropped by the object filter."""
  import dataclasses

  from interprior_jax.motion import synth

  d = config.data
  families = tuple(d.families)
  gen_cfg = synth.SynthConfig()
  # Overrides of the generator's sub-configs: data.synth_rand -> SceneRandomConfig (e.g.
  # sit_back_gain), data.synth_hand -> HandConfig (e.g. palm_margin), data.synth_ik -> IKConfig.
  for key, field in (("synth_rand", "rand"), ("synth_hand", "hand"), ("synth_ik", "ik")):
    over = d.get(key, None)
    over = over.to_dict() if hasattr(over, "to_dict") else dict(over or {})
    # a bundle's config.json stores the generator's tuples (ranges) as lists; the generator's
    # configs are hashed (its kit cache), so they must be tuples again
    over = {k: _tuples(v) for k, v in over.items()}
    if over:
      sub = getattr(gen_cfg, field)
      fields = {f.name for f in dataclasses.fields(sub)}
      unknown = sorted(set(over) - fields)
      if unknown:
        raise ValueError(f"config.data.{key}: unknown fields {unknown}; {type(sub).__name__} "
                         f"has {sorted(fields)}")
      gen_cfg = dataclasses.replace(gen_cfg, **{field: dataclasses.replace(sub, **over)})
  obj = str(d.get("object", ""))
  if obj:
    gen_cfg = dataclasses.replace(gen_cfg, objects=tuple((f, (obj,)) for f in families))
  return synth.generate_dataset(int(d.num_clips), humanoid=config.env.scene.humanoid,
                                seed=data_seed(config), families=families, config=gen_cfg)


def data_seed(config) -> int:
  """The synthetic generator's seed: ``config.data.seed`` when set, else ``config.seed`` (every
  config saved before ``data.seed`` existed generated its clips from its training seed)."""
  seed = config["data"].get("seed", None)
  return int(config["seed"] if seed is None else seed)


def pinned_data(owner_config: dict) -> dict:
  """``owner_config``'s data section (a bundle's config.json) with ``seed`` set to the seed its
  clips were generated from. A run that inherits an expert's or a student's clips takes this
  section, so that its own training seed does not regenerate other clips."""
  data = dict(owner_config["data"])
  data["seed"] = data_seed({"data": data, "seed": owner_config.get("seed", 0)})
  return data


def _tuples(value):
  """``value`` with every list, at any depth, made a tuple (a JSON round trip's undoing)."""
  if isinstance(value, (list, tuple)):
    return tuple(_tuples(v) for v in value)
  return value


def _native(config, arg: str):
  from interprior_jax.motion.io import native

  return native.load_clips(arg)


def _omomo(config, arg: str):
  import pathlib

  from interprior_jax import paths
  from interprior_jax.motion import convert
  from interprior_jax.motion.io import interact_pt

  root = pathlib.Path(arg) if arg else pathlib.Path(paths.omomo_root()) / "clips"
  files = sorted(root.glob("*.pt"))
  if not files:
    raise ValueError(f"config.data.source: no InterAct .pt clips in {root}")
  obj = str(config.data.get("object", ""))
  if obj:  # filter by file name before the (slow) conversion
    files = [f for f in files
             if obj in (interact_pt.parse_clip_name(f)[1],
                        convert.library_object_name(interact_pt.parse_clip_name(f)[1]))]
  n = int(config.data.get("max_clips", 0))
  files = files[:n] if n > 0 else files
  skeleton = str(config.env.scene.get("skeleton", "default"))
  scene = convert.humanoid_scene(config.env.scene.humanoid, skeleton)
  return [convert.interact_to_clip(interact_pt.load_interact_clip(f),
                                   humanoid=config.env.scene.humanoid, scene=scene,
                                   skeleton=skeleton)
          for f in files]


def _standing(config, arg: str):
  """One constant clip of the scene's standing pose (``standing[:FRAMES]``, default 90 frames) with
  ``config.data.object`` (default box) resting in front: the CPU learning check's clip."""
  from interprior_jax.envs.standing import standing_clip

  try:
    frames = int(arg) if arg else 90
  except ValueError:
    raise ValueError(f"config.data.source='standing:{arg}': the argument is a frame count") from None
  obj = str(config.data.get("object", "")) or "box"
  return [standing_clip(config.env.scene.humanoid, object_name=obj, num_frames=frames)]


# ``config.data.source`` = "<kind>" or "<kind>:<arg>".
DATA_SOURCES: dict[str, Callable] = {"synthetic": _synthetic, "native": _native, "omomo": _omomo,
                                     "standing": _standing}


def load_clips(config: ml_collections.ConfigDict, source: str | None = None) -> list:
  """Clips for ``config.data.source`` (or ``source``): ``synthetic``, ``native:DIR``,
  ``omomo[:DIR]``, ``standing[:FRAMES]``. ValueError names an unknown source; ``config.data.object`` (non-empty) keeps
  that object's clips (the HOI env takes one object; for omomo the file's object name or its
  library name); ``max_clips`` > 0 keeps the first N; ``max_frames`` > 0 keeps each clip's first
  N frames."""
  source = source or config.data.source
  kind, _, arg = source.partition(":")
  if kind not in DATA_SOURCES:
    raise ValueError(f"config.data.source={source!r}: unknown kind {kind!r}; valid: "
                     f"{sorted(DATA_SOURCES)}")
  clips = list(DATA_SOURCES[kind](config, arg))
  obj = str(config.data.get("object", ""))
  if obj and kind != "omomo":
    clips = [c for c in clips if c.object_name == obj]
  if not clips:
    raise ValueError(f"config.data.source={source!r} (object={obj!r}): no clips")
  n = int(config.data.get("max_clips", 0))
  clips = clips[:n] if n > 0 else clips
  frames = int(config.data.get("max_frames", 0))
  return [c.head(frames) for c in clips] if frames > 0 else clips
