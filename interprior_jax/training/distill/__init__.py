"""Stage 2: variational distillation (DAgger) of the expert into the masked latent policy:
``losses`` (free functions), ``train`` (config, the :class:`train.Distiller` train step composed
of ``training/core.py``, the job ``train.train`` and the inference functions
``train.inference_policy`` / ``train.latent_inference_policy``). The goal-task evaluation that
Stages 2 and 3 share is ``training/distill_eval.py``.

  from interprior_jax.training.distill import train as distill
"""
