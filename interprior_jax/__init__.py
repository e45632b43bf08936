"""interprior-jax: physics-based human-object interaction control in JAX + MuJoCo MJX.

Data flows one way through the subpackages:
  assets (humanoids, objects, scene + SceneSpec) -> motion (clips, library) -> envs -> training
  -> evaluation.  Nothing imports "upwards".
"""

__version__ = "0.1.0"
