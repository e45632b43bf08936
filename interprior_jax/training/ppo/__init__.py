"""Stage 1's learner: PPO (brax agents/ppo layout): ``losses`` (free functions), ``train``
(config, networks, the :class:`train.PPO` train step composed of ``training/core.py``, and the
inference function ``train.bundle_policy``). The Stage-1 job is ``training/expert.py``.

  from interprior_jax.training.ppo import train as ppo
"""
