"""Does a policy close a position offset from its reference?  Snapshot-task episodes (as
``evaluate.py --task snapshot``) whose humanoid starts displaced by a fixed offset in the
reference's heading frame (behind / ahead / left); reported per offset: snapshot success and the
root's residual at the goal's frame (goal - state, heading frame: +forward = the humanoid is
short of the goal).  The student's snapshot misses are a forward shortfall (docs/results.md);
if the expert does not close an offset either, the labels it gives on the student's lagging
states carry no catch-up.

  [LATENT=mean] [WHO=expert] python experiments/probes/offset_recovery.py EXPERT_DIR \
      STUDENT_BUNDLE_DIR N

(the student bundle's env and goal layout; the expert drives the same episodes.)
"""
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import geometry  # noqa: E402
from interprior_jax import runtime  # noqa: E402
from interprior_jax.envs import goal_env, goals as goals_lib, init_states, registry  # noqa: E402
from interprior_jax.training import checkpoint as ck  # noqa: E402
from interprior_jax.training import distill_eval as de  # noqa: E402
from interprior_jax.training.distill import train as distill  # noqa: E402

runtime.enable_compilation_cache()
expert_dir, student_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
WHO = os.environ.get("WHO", "expert,student").split(",")
OFFSETS = {"none": (0.0, 0.0), "behind 0.2": (-0.2, 0.0), "ahead 0.2": (0.2, 0.0),
           "left 0.2": (0.0, 0.2)}
task = de.TASKS["snapshot"]
eps_scale = 0.0 if os.environ.get("LATENT") == "mean" else 1.0

_orig = init_states.perturb_state
_offset = [np.zeros(2, np.float32)]


def _displaced(key, qpos, qvel, idx, cfg):
  """The configured start, then the root moved by the current offset (reference heading frame)."""
  qpos, qvel = _orig(key, qpos, qvel, idx, cfg)
  r = idx.root_qpos_adr
  h = geometry.heading_quat(qpos[r + 3:r + 7])
  d = geometry.quat_rotate(h, jnp.array([_offset[0][0], _offset[0][1], 0.0]))
  return qpos.at[r:r + 2].add(d[:2]), qvel


init_states.perturb_state = _displaced

bundle = ck.load_bundle(student_dir)  # its env and goal layout; the expert acts on the same
params, act_eps, z = distill.latent_inference_policy(bundle)
config = de.task_config(ml_collections.ConfigDict(bundle.config), task)
gcfg = distill.goal_config_from(config.goals, z)
base = registry.make_env(config)
src = goal_env.make_goal_source("hoi", base, gcfg)
genv = goal_env.GoalEnv(base, src, gcfg)
lower, upper = (jnp.asarray(b) for b in src.reach_bounds())
body_pos = np.flatnonzero(np.asarray(src.field_ids) == src.field_names.index("body_pos"))
actors = {"student": de.goal_actor(config, base, (params, act_eps), None, eps_scale),
          "expert": de.goal_actor(config, base, None, expert_dir)}


def episodes(which, offset):
  _offset[0] = np.asarray(offset, np.float32)
  reset = jax.jit(jax.vmap(genv.reset))(jax.random.split(jax.random.PRNGKey(0), n))

  def body(carry, _):
    s, hit = carry
    a = actors[which](s.obs)
    ns = jax.vmap(genv.step)(s, a)
    ok = goals_lib.goal_reached(ns.obs.goals[:, -1], ns.obs.mask[:, -1], lower, upper)
    hit = jnp.maximum(hit, ok * (1.0 - ns.done) * (ns.obs.snap_steps <= s.obs.snap_steps))
    return (ns, hit), (ns.done, (ns.obs.goals[:, -1] * ns.obs.mask[:, -1])[:, body_pos[:3]],
                       ns.obs.snap_steps)

  (s, hit), (done, root, snap) = jax.lax.scan(body, (reset, jnp.zeros((n,))), None,
                                              task.horizon)
  hit, done, root, snap = jax.device_get((hit, done, root, snap))
  at_goal = np.argmin(snap, 0)  # the step whose state is judged against the goal's own frame
  return hit, done, root[at_goal, np.arange(n)], snap[at_goal, np.arange(n)]


for which in WHO:
  for name, off in OFFSETS.items():
    hit, done, root, snap = episodes(which, off)
    alive = ~np.any(done, 0)
    assert np.all(snap[alive] == 0), "every episode alive meets its goal's frame"
    last = root[alive]
    q = lambda v: [round(float(x), 3) for x in np.quantile(v, [0.1, 0.5, 0.9])]  # noqa: E731
    print(f"{which:8s} {name:11s} reached {float(np.mean(hit * alive)):.2f}  fell/ended "
          f"{1 - float(np.mean(alive)):.2f}  root residual at the goal frame: forward "
          f"{q(last[:, 0])} lateral {q(last[:, 1])}", flush=True)
