"""Training: the trainer core every stage composes and one folder per stage.

* ``core.py``: train state, update (epochs x minibatches, guarded steps), minibatch layouts,
  normaliser merge, finish; ``rollout.py`` (vectorised env + scan rollout), ``gae.py``,
  ``normalization.py``, ``nan_guard.py``, ``sharding.py``, ``checkpoint.py``, ``loop.py`` (host
  loop: checkpoints, logging, NaN restores, evaluation), ``logging.py``, ``curves.py``.
* Stage 1: ``ppo/`` (losses, train step) and ``expert.py`` (the job), ``evaluation.py``
  (tracking evaluation), ``clip_priority.py``.
* Stage 2: ``distill/`` (losses, train step, job, inference), ``distill_eval.py`` (goal tasks,
  shared with Stage 3).
* Stage 3: ``finetune/`` (losses, networks, train step, job).

Env-side code (goal env, in-betweening env, toy env, env registry) lives in ``envs/``; clip
sources in ``motion/sources.py``.
"""
