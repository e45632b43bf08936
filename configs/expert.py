"""Stage 1: the imitation expert (PPO on the HOI tracking env).

Variants: ``smpl`` (default), ``smplx``, ``g1`` (method.md PPO defaults: 4096 envs, horizon 32,
minibatch 16384, 6 epochs, lr 2e-5, fixed log-std -2.9, MLPs 1024-1024-512), ``smoke`` (HOI env on
one embedded synthetic carry clip of the box -- no shared data needed -- CPU-sized: 16 envs,
64-64 MLPs, 2 iterations; ~4-5 min of CPU compile cold on 2 loaded cores), ``stand`` (the CPU
learning check of tests/test_training_hoi.py and docs/results.md: smpl holding a constant standing
clip, impulses / object randomisation / start noise off, 32 envs x 16 steps, 60 iterations, ~6 min
on 2 cores), ``embedded`` / ``largetable`` (the CPU experts of docs/results.md: MuJoCo C physics,
residual actions, 4 synthetic box clips / 3 real OMOMO largetable clips), ``locomotion`` (the
``embedded`` recipe on 16 synthetic ``walk`` clips: arcs and turns in place, the box at rest out of
the way; the steering data of keyboard control) and ``toy`` (the point-mass test env, learns on
CPU in seconds).

  python experiments/train_expert.py --config=configs/expert.py:smoke --workdir /tmp/expert
"""

import math

import ml_collections

from interprior_jax import config as config_lib
from interprior_jax.motion.synth import config as synth_config
from interprior_jax.training import loop as loop_lib
from interprior_jax.training.ppo import train as ppo

VARIANTS = ("smoke", "stand", "push", "walk", "embedded", "embedded_push", "locomotion",
            "largetable", "smpl", "smplx", "g1", "toy")


def _cpu_ppo(num_envs: int, minibatch_size: int, learning_rate: float, hidden: int):
  """PPO of the CPU variants (embedded / largetable / push / walk): horizon 32, 4 epochs, two
  hidden layers of ``hidden`` units, learnt log-std starting at -2."""
  return ppo.ppo_config_dict(
      num_envs=num_envs, unroll_length=32, minibatch_size=minibatch_size, num_epochs=4,
      learning_rate=learning_rate,
      network={"actor_hidden": (hidden, hidden), "critic_hidden": (hidden, hidden),
               "init_log_std": -2.0, "learn_log_std": True})


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  variant = arg or "smpl"
  if variant not in VARIANTS:
    raise ValueError(f"configs/expert.py: unknown variant {variant!r}; valid: {VARIANTS}")
  c = ml_collections.ConfigDict()
  c.variant = variant
  c.seed = 0
  c.num_devices = 0  # 0: all devices (data parallel over a 'data' mesh axis)
  c.episode_length = 0  # extra trainer-side time limit in policy steps (0: env's own)
  c.ppo = ppo.ppo_config_dict()
  # Every LoopConfig field (training/loop.py documents each: evaluations, clip priority, warm
  # start with init_from, max_wall_s), its defaults read from the dataclass.
  c.loop = config_lib.dataclass_config(loop_lib.LoopConfig, num_iterations=20000, log_every=10,
                                       checkpoint_every=200, keep_checkpoints=5)
  c.data = ml_collections.ConfigDict({
      "source": "omomo",  # "synthetic" | "native:DIR" | "omomo[:DIR]"
      # synthetic only; generated from the key "seed" when present (a student's or finetune's
      # inherited data pins it: motion/sources.py:pinned_data), else from config.seed
      # (None); --config.data.seed=N keeps a run's clips while --config.seed varies its training
      "seed": ml_collections.config_dict.placeholder(int),
      "num_clips": 8,
      "families": ("carry", "push"),  # synthetic only
      # synthetic only: SceneRandomConfig overrides of the generator (motion/synth/config.py)
      "synth_rand": {},
      # synthetic only: IKConfig overrides (defaults read from the dataclass); clear_rounds > 0
      # keeps arms and legs out of the object (docs/results.md, "the carry":
      # --config.data.synth_ik.clear_rounds=3), w_hand_rot 20 then keeps the palms flat on it;
      # upper_damping (trunk and arms; damping: root and legs) smooths the IK's frame-to-frame
      # jitter (held hands sliding 6-13 cm over the object at 1e-3; docs/results.md, "the held
      # hands jitter").
      "synth_ik": {k: getattr(synth_config.IKConfig, k)
                   for k in ("clear_rounds", "w_hand_rot", "damping", "upper_damping")},
      # synthetic only: HandConfig overrides; a negative palm_margin puts the held palms' targets
      # inside the object's faces, so tracking the reference squeezes it.
      "synth_hand": {"palm_margin": synth_config.HandConfig.palm_margin},
      "max_clips": 0,  # 0: all
      "max_frames": 0,  # > 0: keep each clip's first N frames
      "object": "largetable",  # the HOI env takes one object: keep its clips ("" = no filter)
  })
  if variant == "toy":
    c.env_kind = "toy"
    c.env = ml_collections.ConfigDict({"clip_steps": 60})
    c.data.source = "synthetic"
    c.ppo = ppo.ppo_config_dict(
        num_envs=64, unroll_length=16, minibatch_size=256, num_epochs=4, learning_rate=3e-3,
        network={"actor_hidden": (64, 64), "critic_hidden": (64, 64), "init_log_std": -1.0})
    c.loop.update(num_iterations=30, log_every=5, checkpoint_every=10, keep_checkpoints=3)
    return c
  c.env_kind = "hoi"
  env_variant = {"stand": "smoke", "push": "smoke", "walk": "smoke", "embedded": "smpl",
                 "embedded_push": "smpl", "locomotion": "smpl",
                 "largetable": "smpl"}.get(variant, variant)
  c.env = config_lib.sibling_config(__file__, "env", env_variant)
  if variant in ("embedded", "embedded_push", "locomotion", "largetable"):
    # The CPU experts (docs/results.md, "Stage 1 experts (CPU)"): MuJoCo C physics, residual PD
    # targets (0.5 rad per action unit around the next reference frame), perturbations and object
    # randomisation off, 64 surface points, 256 envs x 32 steps, 256-256 MLPs with a learnt
    # log-std starting at -2 (bundle ~1 MB).
    c.env.update(impl="c", action_mode="residual", action_scale=0.5)
    # A hand within 2 cm of the object counts as touching it: the reference hands themselves rest
    # up to ~2 cm off the surfaces they are labelled to touch (docs/results.md).
    c.env.obj_contact_dist = 0.02
    # Half of the random-frame starts in the interaction phase (where the runs failed).
    c.env.init.contact_start_prob = 0.5
    c.env.perturb.mode = "off"
    c.env.randomize.enabled = False
    c.env.obs.num_surface_points = 64
    c.env.reward.ig_num_anchors = 8
    c.ppo = _cpu_ppo(num_envs=256, minibatch_size=4096, learning_rate=2e-4, hidden=256)
    c.loop.update(num_iterations=1500, log_every=5, checkpoint_every=20, keep_checkpoints=3,
                  eval_every=25)
  if variant in ("embedded", "embedded_push"):
    # Embedded default: the first 4 synthetic box carry/push clips of seed 0 (no shared data).
    c.data.update(source="synthetic", num_clips=4, families=("carry", "push"), object="box")
    # Balanced crouches: the pelvis sits back over the planted feet (centre of mass over the feet
    # at the carry grasp instead of ~17 cm ahead of the toes; docs/results.md, "the carry lift").
    c.data.synth_rand = {"sit_back_gain": 1.1}
  if variant == "embedded_push":
    # The embedded pushes (the quickstart's expert, pretrained/embedded_push_expert): the first 4
    # synthetic "push" clips of seed 0, trained under random impulses (0.5 Hz) with the KL-adaptive
    # rate and the clip-priority curriculum (floor 0.2).  The carries are left out: no expert of
    # ours carries the box yet (docs/results.md, "the carry").
    c.data.families = ("push",)
    c.env.perturb.update(mode="random", rate_hz=0.5)
    c.ppo.update(lr_schedule="adaptive", desired_kl=0.01)
    c.loop.clip_priority_floor = 0.2
  if variant == "locomotion":
    # Steering data (docs/play.md): the first 16 synthetic "walk" clips of seed 0 (no shared data;
    # 4 were too few for a student to need its goals, docs/results.md), clips drawn by their
    # evaluation failures (floor 0.2).
    c.data.update(source="synthetic", num_clips=16, families=("walk",), object="box")
    c.loop.clip_priority_floor = 0.2
  if variant == "largetable":
    # Real data: short OMOMO largetable clips of subject 2 (../shared), smpl skeleton omomo_sub2.
    c.env.scene.skeleton = "omomo_sub2"
    c.data.update(source="omomo", object="largetable", max_clips=3)
  if variant == "stand":
    # Curriculum step 0 on CPU: a constant standing clip with every perturbation off, so what is
    # learnt is control under the policy's own exploration noise.  action_scale 0.1: one action
    # unit = 0.1 * pi rad on SMPL's +-180 deg hinges (1.0 = method.md); state-dependent log-std
    # (networks/mlp.py) starting at -1.5.  Measured: docs/results.md, "Stage 1 smoke (CPU)".
    c.data.update(source="standing:90", object="box")
    c.env.action_mode = "absolute"
    c.env.action_scale = 0.1 * math.pi  # = the old multiplier 0.1 on smpl's +-pi half ranges
    c.env.perturb.mode = "off"
    c.env.randomize.enabled = False
    c.env.init.update(root_pos_noise=0.0, joint_pos_noise=0.0, vel_noise=0.0)
    c.ppo = ppo.ppo_config_dict(
        num_envs=32, unroll_length=16, minibatch_size=128, num_epochs=4, learning_rate=3e-4,
        network={"actor_hidden": (64, 64), "critic_hidden": (64, 64), "init_log_std": -1.5,
                 "state_dependent_std": True})
    c.loop.update(num_iterations=60, log_every=5, checkpoint_every=30, keep_checkpoints=2)
  if variant == "push":
    # The CI learning check (tests/test_stage1_expert.py): hold a standing clip for 3 s while the
    # pelvis is pushed (40 N s) every second; zero residual action falls at the second push, and
    # freshly initialised policies survive 0-3 % of noisy starts (docs/results.md).
    c.data.update(source="standing:100", object="box")
    c.env.update(impl="c", action_mode="residual", action_scale=0.5, max_episode_steps=90)
    c.env.perturb.update(mode="fixed", fixed_period_steps=30, fixed_pelvis_impulse=40.0,
                         fixed_object_impulse=0.0)
    c.env.randomize.enabled = False
    c.env.init.update(start_prob=1.0, psi_prob=0.0)
    c.ppo = _cpu_ppo(num_envs=64, minibatch_size=1024, learning_rate=3e-4, hidden=64)
    # 250 iterations: at 150 the result depended on the seed (success 0.11 / 0.66 / 0.34 for seeds
    # 0 / 1 / 2); at 250, 0.95 / - / 0.69 / 0.31 for seeds 0-3 (docs/results.md, "CI learning check").
    c.loop.update(num_iterations=250, log_every=10, checkpoint_every=250, keep_checkpoints=1,
                  eval_every=25, eval_perturb="fixed")
  if variant == "walk":
    # CI learning check candidate: the first 2 s of the first synthetic carry clip (stand, then
    # walk towards the box); zero residual action lags the walking reference and ends at ~1 s.
    c.data.update(source="synthetic", num_clips=1, families=("carry",), object="box",
                  max_frames=60)
    c.env.update(impl="c", action_mode="residual", action_scale=0.5, max_episode_steps=60)
    c.env.perturb.mode = "off"
    c.env.randomize.enabled = False
    c.ppo = _cpu_ppo(num_envs=64, minibatch_size=1024, learning_rate=3e-4, hidden=128)
    c.loop.update(num_iterations=150, log_every=10, checkpoint_every=150, keep_checkpoints=1,
                  eval_every=25)
  if variant == "smoke":
    # One embedded synthetic carry clip of the box: runs with no shared data.
    c.data.update(source="synthetic", num_clips=1, families=("carry",), object="box")
    c.ppo = ppo.ppo_config_dict(
        num_envs=16, unroll_length=8, minibatch_size=64, num_epochs=2, learning_rate=3e-4,
        network={"actor_hidden": (64, 64), "critic_hidden": (64, 64)})
    c.loop.update(num_iterations=2, log_every=1, checkpoint_every=1, keep_checkpoints=2)
  return c
