"""Synthetic HOI generator: the embedded default dataset (no download).

``generate_clip(rng_or_seed, family, humanoid, config) -> Clip``,
``generate_dataset(num_clips, humanoid, seed, families, config) -> list[Clip]`` and
``quality_report(clip) -> dict``; see :mod:`.generator` for the pipeline and :mod:`.config`
for every tunable.
"""

from interprior_jax.motion.synth.config import SynthConfig
from interprior_jax.motion.synth.generator import FAMILIES, generate_clip, generate_dataset
from interprior_jax.motion.synth.quality import quality_report

__all__ = ["SynthConfig", "FAMILIES", "generate_clip", "generate_dataset", "quality_report"]
