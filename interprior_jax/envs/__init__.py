"""MJX human-object-interaction environment (brax ``Env``): :func:`make_env` builds it from clips.

Modules: ``hoi_env`` (reset / step / auto-reset), ``sim_frame`` (simulator -> frame), ``goals``
(heading-frame features, masked residual goals), ``observations`` (declarative obs spec),
``rewards``, ``terminations``, ``init_states`` (RSI, PSI buffer), ``perturbations`` (impulses,
object randomisation), ``wrappers`` (brax training), ``mujoco_backend`` (plain MuJoCo replay).
"""

from interprior_jax.envs.hoi_env import HOIEnv, load_env_config, make_env
from interprior_jax.envs.wrappers import wrap_for_training

__all__ = ["HOIEnv", "make_env", "load_env_config", "wrap_for_training"]
