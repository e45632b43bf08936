"""Per-field reach of a goal task: which residual fields keep a student from reaching its goals,
and the same for the expert driving the same GoalEnv on its full reference (docs/results.md,
"Stage 2 on the CPU").

  [LATENT=mean] [PLANNER=root] python experiments/probes/goal_reach_fields.py STUDENT_BUNDLE_DIR TASK N [EXPERT_DIR]

PLANNER=root: the student acts through that goal planner (evaluate.py --planner).
LATENT=mean: the student acts on the prior's mean latent (evaluate.py --latent_mean); default a
prior sample per episode.
"""
import os
import pathlib
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import runtime  # noqa: E402
from interprior_jax.control import planner as planner_lib  # noqa: E402
from interprior_jax.training import checkpoint as ck  # noqa: E402
from interprior_jax.training.distill import train as distill  # noqa: E402
from interprior_jax.envs import goal_env  # noqa: E402
from interprior_jax.envs import goals as goals_lib  # noqa: E402
from interprior_jax.envs import registry  # noqa: E402
from interprior_jax.training import distill_eval as de  # noqa: E402

runtime.enable_compilation_cache()
bdir, task_name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
task = de.TASKS[task_name]
bundle = ck.load_bundle(bdir)
config = de.task_config(ml_collections.ConfigDict(bundle.config), task)
params, act_eps, z = distill.latent_inference_policy(bundle)
base = registry.make_env(config)
gcfg = distill.goal_config_from(config.goals, z)
src = goal_env.make_goal_source("hoi", base, gcfg)
genv = goal_env.GoalEnv(base, src, gcfg)
lower, upper = (jnp.asarray(b) for b in src.reach_bounds())
fid = jnp.asarray(src.field_ids)
nf = len(src.field_names)
expert_dir = sys.argv[4] if len(sys.argv) > 4 else 'pretrained/embedded_expert'
eps_scale = 0.0 if os.environ.get("LATENT") == "mean" else 1.0
actors = {"student": de.goal_actor(config, base, (params, act_eps), None, eps_scale),
          "expert": de.goal_actor(config, base, None, expert_dir)}
# PLANNER=root: the student acts through that goal planner (evaluate.py --planner).
_plan = planner_lib.make_planner(os.environ.get("PLANNER", ""), src, float(base.dt))
if _plan is not None:
  actors["student"] = (lambda a: lambda obs: a(_plan(obs)))(actors["student"])
reset = jax.jit(jax.vmap(genv.reset))(jax.random.split(jax.random.PRNGKey(0), n))
# The token judged: the snapshot (-1, default) or the trajectory task's t+1 preview (TOKEN=0).
TOKEN = int(os.environ.get("TOKEN", "-1" if task.token == "snapshot" else "0"))


def run(which):
  def body(s, _):
    g, m = s.obs.goals[:, TOKEN], s.obs.mask[:, TOKEN]
    r = g * m
    ok = (r >= lower) & (r <= upper)  # [n, D]
    per = jnp.stack([jnp.all(jnp.where(fid == f, ok, True), -1) for f in range(nf)], -1)
    allok = jnp.all(ok, -1)
    a = actors[which](s.obs)
    ns = jax.vmap(genv.step)(s, a)
    return ns, (per, allok, ns.done, r[:, body_pos], r[:, body_rot])
  _, out = jax.lax.scan(body, reset, None, task.horizon)
  return out


# Body positions (the field that blocks students): per body, and relative to the root body's
# own error (a shared offset = the humanoid in the wrong place, not in the wrong pose).
body_pos = np.flatnonzero(np.asarray(src.field_ids) == src.field_names.index("body_pos"))
pos_tol = np.asarray(upper)[body_pos].reshape(-1, 3)
body_rot = np.flatnonzero(np.asarray(src.field_ids) == src.field_names.index("body_rot"))
for which in ("student", "expert"):
  per, allok, done, pos, rot = jax.device_get(jax.jit(lambda: run(which))())
  # per [T, n, F]
  print(which, "reached any step:", float(np.mean(np.any(allok, 0))), "fell:", float(np.mean(np.any(done, 0))))
  print("  field ok at >=1 step:", {src.field_names[f]: round(float(np.mean(np.any(per[:, :, f], 0))), 2) for f in range(nf)})
  print("  field ok at last step:", {src.field_names[f]: round(float(np.mean(per[-1, :, f])), 2) for f in range(nf)})
  signed = pos.reshape(pos.shape[:2] + (-1, 3))                        # [T, n, B, 3]
  e = np.abs(signed)
  print("  per body, best max-axis error over the steps (m, mean over episodes):",
        [round(float(x), 2) for x in e.max(-1).min(0).mean(0)])
  # Body rotations (log-map, heading frame): per body, the best over the steps of the largest axis.
  print("  per body, best max-axis rotation error over the steps (rad, mean over episodes):",
        [round(float(x), 2) for x in np.abs(rot.reshape(rot.shape[:2] + (-1, 3))).max(-1).min(0).mean(0)])
  rel = signed - signed[:, :, goals_lib.ROOT_BODY:goals_lib.ROOT_BODY + 1]
  rel_ok = np.all(np.abs(rel) <= pos_tol,
                  axis=(-1, -2))
  print("  root body within tolerance at >=1 step:",
        round(float(np.mean(np.any(np.all(e[:, :, goals_lib.ROOT_BODY] <= pos_tol[0], -1), 0))), 2),
        "| every body within tolerance of the root's offset at >=1 step:",
        round(float(np.mean(np.any(rel_ok, 0))), 2))
  # Where the root misses, in the simulated root's heading frame (the residual is goal - state:
  # +x = the goal lies ahead, i.e. the humanoid falls short; +y = to its left), at the goal's
  # frame (last step) of episodes alive then.
  last = signed[-1, :, goals_lib.ROOT_BODY]                           # [n, 3]
  ok_end = ~np.any(done, 0)
  if ok_end.any():
    q = lambda v: [round(float(x), 3) for x in np.quantile(v[ok_end], [0.1, 0.5, 0.9])]
    print("  root residual at the goal's frame (goal - state, heading frame; quantiles 10/50/90):",
          "forward", q(last[:, 0]), "lateral", q(last[:, 1]), "up", q(last[:, 2]))
  # Share of steps (alive) at which each field is within tolerance: what a rate-based rule
  # (the trajectory task's hit_rate; before 2026-12-04 its success rule, >= 0.9) sees.
  alive = 1.0 - np.concatenate([np.zeros_like(done[:1]), np.cumsum(done, 0)[:-1] > 0], 0)
  rate = lambda x: round(float((x * alive).sum() / alive.sum()), 3)
  print("  field ok share of alive steps:", {src.field_names[f]: rate(per[:, :, f]) for f in range(nf)},
        "all:", rate(allok))
  ep_rate = (allok * alive).sum(0) / np.maximum(alive.sum(0), 1)
  print("  per-episode all-fields share, quantiles 10/50/90:",
        [round(float(q), 2) for q in np.quantile(ep_rate, [0.1, 0.5, 0.9])])
