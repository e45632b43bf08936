"""Stage 3: RL finetuning of the distilled latent policy on in-betweening goals (method.md),
anchored to what distillation learned.

``losses`` (free functions, weighted by which envs each objective owns), ``networks`` (the
critic and the action distribution PPO optimises), ``train`` (:class:`train.Finetuner`, whose
``train_step`` is composed of the trainer core's pieces, ``training/core.py``).
"""
