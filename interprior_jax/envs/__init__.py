"""MJX human-object-interaction environment (brax ``Env``): :func:`make_env` builds it from clips.

Modules: ``hoi_env`` (reset / step / auto-reset), ``sim_frame`` (simulator -> frame), ``goals``
(heading-frame features, masked residual goals), ``observations`` (declarative obs spec),
``rewards``, ``terminations``, ``init_states`` (RSI, PSI buffer), ``perturbations`` (impulses,
object randomisation), ``wrappers`` (brax training), ``mujoco_backend`` (plain MuJoCo replay),
``goal_env`` (the goal-conditioned student observations of Stages 2-3 over any env), ``toy_env``
(a point-mass tracking env for fast tests), ``registry`` (``config.env_kind`` -> env).
"""

import importlib

# Exported names -> their module, imported on first use (PEP 562): importing a light module of
# this package (toy_env, goal_env, registry) does not build the HOI env's module graph.
_LAZY = {"HOIEnv": "hoi_env", "make_env": "hoi_env", "load_env_config": "hoi_env",
         "wrap_for_training": "wrappers"}
__all__ = list(_LAZY)


def __getattr__(name):
  if name in _LAZY:
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
