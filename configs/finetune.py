"""Stage 3: RL finetuning of a distilled student on in-betweening goals (method.md).

Arg: ``<variant>[,<ablation>]``. Variants: ``smpl`` (method.md-sized: 4096 envs), ``embedded``
(the CPU finetune of ``pretrained/embedded_student``: 128 envs), ``locomotion`` (the same
for ``pretrained/locomotion_student`` on its walk clips), ``smoke`` (HOI, CPU-sized, 2
iterations) and ``toy`` (point-mass env; tests). Ablations (switches of
``training/finetune/train.py``): ``full`` (default: 25 % of the envs keep the distillation loss,
plus a KL to the distilled prior), ``no_kl`` (distillation share only), ``rl_only`` (neither),
``preserve_only`` (the control: ``full`` without PPO's policy gradient), ``getup`` (``full`` plus
the get-up skill on 25 % of the envs: fallen starts, a learned task token;
``getup_env_overrides``).

  python experiments/finetune.py --config=configs/finetune.py:embedded \\
      --workdir runs/ft --student pretrained/embedded_student --expert pretrained/embedded_expert

The env, data, network and goal layout come from the student bundle (``finetune.INHERITED``);
``goal_overrides`` change only the goal mixture (one snapshot goal, no trajectory preview) and
``augment`` the start states (perturbed starts, object randomisation; no impulses), set on top of
the student's own augmentation (a field not set here, e.g. heading noise, is the student's).
"""

import ml_collections

from interprior_jax import config as config_lib
from interprior_jax.envs import hoi_env
from interprior_jax.envs import inbetween_env
from interprior_jax.training import loop as loop_lib
from interprior_jax.training.finetune import train as finetune

VARIANTS = ("smoke", "embedded", "locomotion", "smpl", "toy")
ABLATIONS = {"full": {}, "no_kl": {"w_prior_kl": 0.0},
             # the get-up skill beside the goals: 25 % of the envs start fallen (task token 1)
             "getup": {"getup_fraction": 0.25},
             "rl_only": {"w_prior_kl": 0.0, "distill_fraction": 0.0},
             # the control: the same envs and preservation, no PPO gradient (what RL adds)
             "preserve_only": {"w_policy": 0.0}}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant, _, ablation = (arg or "smpl").partition(",")
  ablation = ablation or "full"
  if variant not in VARIANTS:
    raise ValueError(f"configs/finetune.py: unknown variant {variant!r}; valid: {VARIANTS}")
  if ablation not in ABLATIONS:
    raise ValueError(f"configs/finetune.py: unknown ablation {ablation!r}; valid: "
                     f"{sorted(ABLATIONS)}")
  c = ml_collections.ConfigDict()
  c.variant = variant
  c.ablation = ablation
  c.seed = 0
  c.num_devices = 0
  c.episode_length = 0   # replaced by the student's
  c.env_kind = "hoi"     # replaced by the student's
  # Physics backend of every env group (RL, distillation share, get-up): "" keeps the student's
  # (the CPU bundles': "c", MuJoCo C in batch); "jax" / "warp" (MJX) on an accelerator.
  c.physics_impl = ""
  c.finetune = config_lib.dataclass_config(finetune.FinetuneConfig, w_prior_kl=0.01)
  c.inbetween = config_lib.dataclass_config(inbetween_env.InbetweenConfig)
  c.augment = ml_collections.ConfigDict({
      "impulses": False, "randomize_object": True, "perturbed_starts": True})
  # One snapshot goal under a random mask, no trajectory preview (method.md: in-betweening).
  c.goal_overrides = ml_collections.ConfigDict({
      "trajectory_families": ("none",), "trajectory_probs": (1.0,),
      "snapshot_families": ("full", "object", "object+extremities", "root"),
      "snapshot_probs": (0.3, 0.3, 0.2, 0.2)})
  # HOI start states (method.md): dataset frames with noise (augment.perturbed_starts), random
  # poses away from the object (random_pose_prob) and, with probability psi_prob, failure states
  # harvested from this run's own rollouts.
  # Terminations: only falls. The tracking env's deviation-from-reference terminations (body_dev,
  # obj_dev, ig_ratio, hand_contact_loss) ended in-betweening episodes after ~8 steps in the first
  # HOI finetune (docs/results.md, Stage 3): a goal-conditioned policy may leave the reference.
  c.env_overrides = ml_collections.ConfigDict({
      "init": {"psi_harvest": "failure", "psi_prob": 0.25, "psi_max_track": 0.3,
               "random_pose_prob": 0.15},
      "termination": {"enabled": ("fall",)}})
  # The get-up envs (finetune.getup_fraction > 0; method.md's optional skill): the RL envs'
  # config with these on top: every start fallen (tipped 30-90 deg, envs/init_states.py;
  # configs/env.py's range, named here so a command line can set it), no termination but the
  # time limit (5 s to get up), no PSI or random-pose starts.
  c.getup_env_overrides = ml_collections.ConfigDict({
      "init": {"fallen_prob": 1.0,
               "fallen_tilt_deg": hoi_env.load_env_config().init.fallen_tilt_deg,
               "psi_prob": 0.0, "random_pose_prob": 0.0,
               "contact_start_prob": 0.0, "start_margin_steps": 152},
      "termination": {"enabled": ()}, "max_episode_steps": 150})
  # Every LoopConfig field (training/loop.py; e.g. max_wall_s > 0: stop, checkpoint and export
  # after that many seconds), its defaults read from the dataclass.
  c.loop = config_lib.dataclass_config(loop_lib.LoopConfig, num_iterations=5000, log_every=10,
                                       checkpoint_every=100, keep_checkpoints=3)
  if variant == "toy":
    c.env_kind = "toy"
    c.augment.update(impulses=False, randomize_object=False, perturbed_starts=False)
    c.finetune.update(num_envs=64, unroll_length=16, num_epochs=4, num_minibatches=2,
                      learning_rate=1e-3, init_log_std=-1.0, critic_hidden=(64, 64),
                      reward_scale=0.1, w_distill=0.1)
    c.goal_overrides.update(snapshot_families=("full", "pos"), snapshot_probs=(0.5, 0.5))
    c.loop.update(num_iterations=100, log_every=1, checkpoint_every=50, keep_checkpoints=2)
  elif variant == "embedded":
    # Not yet trained (docs/results.md): lr and reward scale are first guesses (the HOI smoke
    # run at lr 1e-4 moved the policy by approx_kl ~1e3 in one iteration).
    c.finetune.update(num_envs=128, unroll_length=32, num_epochs=4, num_minibatches=4,
                      learning_rate=2e-5, critic_hidden=(256, 256), reward_scale=0.1)
    c.loop.update(num_iterations=300, log_every=5, checkpoint_every=20)
  elif variant == "locomotion":
    # pretrained/locomotion_student on its 16 walk clips (docs/results.md, Stage 3 on the walk
    # clips).  The walk clips never move the object, so object goals are reached at once and
    # random-pose starts (whose goal is the object only, method.md's random_init) teach nothing:
    # body goals only, starts from dataset frames (with the student's heading noise) and harvested
    # failure states.
    # Action noise (explore="action") sigma_a = e^-3.5 = 0.03: the student acts in absolute PD
    # targets (one unit = half a hinge's range, pi rad on SMPL), where the default e^-2 (0.42 rad
    # per joint per step) ended ~5 % of training steps in a fall (docs/results.md).
    # Exploration in the latent (explore="latent", the prior's Gaussian at 0.3 x its std, every
    # step; no action noise), the policy's rate KL-adaptive (at a fixed 2e-5 approx_kl was
    # 0.09-0.12 per iteration), the new critic at its own rate after a 10-iteration warm-up. It
    # lowers falls; no goal task rises beyond the control without PPO's gradient (ablation
    # preserve_only; docs/results.md "Goals past the clip end").
    c.finetune.update(num_envs=128, unroll_length=32, num_epochs=4, num_minibatches=4,
                      learning_rate=2e-5, critic_hidden=(256, 256), reward_scale=0.1,
                      init_log_std=-3.5, explore="latent", latent_std_scale=0.3,
                      lr_schedule="adaptive", desired_kl=0.01, critic_learning_rate=1e-3,
                      value_warmup_iterations=10)
    c.goal_overrides.update(snapshot_families=("full", "root", "extremities", "random_body"),
                            snapshot_probs=(0.3, 0.3, 0.2, 0.2))
    c.env_overrides.init.random_pose_prob = 0.0
    c.loop.update(num_iterations=160, log_every=5, checkpoint_every=20)
  elif variant == "smoke":
    c.finetune.update(num_envs=16, unroll_length=8, num_epochs=2, num_minibatches=2,
                      learning_rate=2e-5, critic_hidden=(32, 32), reward_scale=0.1)
    c.loop.update(num_iterations=2, log_every=1, checkpoint_every=1, keep_checkpoints=2)
  c.finetune.update(ABLATIONS[ablation])
  return c
