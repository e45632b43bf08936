"""Training machinery shared by all stages: rollout, normalization, sharding, checkpoints, logging.

PPO-specific parts live in ``gae.py``, ``ppo_losses.py`` and ``ppo.py``; the rest is generic.
"""
