"""Where a tracking expert's E_h comes from: the root's horizontal drift from its reference, or
the pose about the root.  Plays the reproduction protocol's perturbed starts (as
``evaluate.py --perturbed_start``) and, at every step of each first episode, splits the key-body
position error (E_h, docs/results.md) into

* ``e_h``: the mean key-body distance to the reference (as the env's metric);
* ``root_xy``: the horizontal distance of the root from the reference root;
* ``e_h_local``: E_h with the root's horizontal offset removed from every key body (the pose
  and height error about the root);
* ``root_z`` / ``root_dz``: the root's height error, absolute / signed (+: above the reference);
* ``root_fwd`` / ``root_left``: the root's signed offset in the reference root's heading frame
  (+forward: ahead of the reference; negative: lagging it);
* ``obj_fwd``: the object's signed offset from its reference along the same heading;
* per key body: its mean distance to the reference, and its signed height error and signed
  forward error about the root (reference heading frame).

Per clip: the same means and the third quarter's (the pushes' fastest phase) lags.

Means over the steps of all first episodes (step-weighted, where ``evaluate.py`` averages
per-episode means), and over the clip's time in quarters.

  PYTHONPATH=. python experiments/probes/eh_breakdown.py BUNDLE_DIR [BUNDLE_DIR ...]
      [--episodes_per_clip 16] [--seed 2] [--zero_action] [--mass_scale F]

``--mass_scale F`` multiplies each clip's object mass by F (is a lag force-limited?).
"""
import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import geometry, runtime  # noqa: E402
from interprior_jax.training import checkpoint as ck  # noqa: E402
from interprior_jax.training import evaluation as ev  # noqa: E402
from interprior_jax.training.ppo import train as ppo  # noqa: E402

QUARTERS = 4


def breakdown(bundle_dir, episodes_per_clip: int, seed: int, zero_action: bool,
              mass_scale: float = 1.0) -> dict:
  bundle = ck.load_bundle(pathlib.Path(bundle_dir))
  clips, env = ev.hoi_eval_env(ml_collections.ConfigDict(bundle.config))
  env.clip_density = env.clip_density * mass_scale
  k_reset, k_run = jax.random.split(jax.random.PRNGKey(seed))
  reset, names, num_steps = ev.hoi_reset_states(env, clips, k_reset, episodes_per_clip, True)
  if zero_action:
    act = lambda obs: jnp.zeros((obs.shape[0], env.action_size))  # noqa: E731
  else:
    act = ppo.bundle_policy(bundle, deterministic=True)
  kb = jnp.asarray(env.spec.key_body_idx)
  durations = jnp.asarray([c.duration for c in clips])

  def one(ns):
    sim = env.physics.frame(ns.pipeline_state)
    ref = env.library.frame(ns.info["clip"], ns.info["time"])
    d = sim.body_pos[kb] - ref.body_pos[kb]  # (K, 3)
    off = sim.root_pos[:2] - ref.root_pos[:2]
    local = d.at[:, :2].add(-off)
    h = geometry.heading_quat(ref.root_quat)
    off_h = geometry.quat_rotate_inv(h, jnp.concatenate([off, jnp.zeros(1)]))
    return dict(e_h=jnp.mean(jnp.linalg.norm(d, axis=-1)),
                e_h_local=jnp.mean(jnp.linalg.norm(local, axis=-1)),
                root_xy=jnp.linalg.norm(off), root_z=jnp.abs(sim.root_pos[2] - ref.root_pos[2]),
                root_dz=sim.root_pos[2] - ref.root_pos[2],
                root_fwd=off_h[0], root_left=off_h[1],
                obj_fwd=geometry.quat_rotate_inv(h, sim.obj_pos - ref.obj_pos)[0],
                body=jnp.linalg.norm(d, axis=-1),
                body_dz=d[:, 2],
                body_fwd=jax.vmap(lambda v: geometry.quat_rotate_inv(h, v)[0])(local),
                phase=ns.info["time"] / durations[ns.info["clip"]])

  def body(carry, _):
    s, active = carry
    ns = jax.vmap(env.step)(s, act(s.obs))
    # the step's own frame: the state before any auto-reset is not kept, so read the errors of
    # steps that did not end the episode (an ended step's state is the next episode's reset)
    m = jax.vmap(one)(ns)
    alive = active * (1.0 - ns.done.astype(jnp.float32))
    return (ns, active * (1.0 - ns.done.astype(jnp.float32))), (m, alive)

  (_, _), (m, alive) = jax.jit(lambda s: jax.lax.scan(body, (s, jnp.ones(s.done.shape)), None,
                                                      length=num_steps))(reset)
  m, w = jax.device_get(m), np.asarray(alive)
  tot = max(w.sum(), 1.0)
  out = {k: float((np.asarray(m[k]) * w).sum() / tot)
         for k in ("e_h", "e_h_local", "root_xy", "root_z", "root_dz", "root_fwd", "root_left",
                   "obj_fwd")}
  q = np.minimum((np.asarray(m["phase"]) * QUARTERS).astype(int), QUARTERS - 1)
  out["by_quarter"] = [
      {k: float((np.asarray(m[k]) * w * (q == i)).sum() / max((w * (q == i)).sum(), 1.0))
       for k in ("e_h", "e_h_local", "root_xy", "root_fwd", "root_left",
                   "obj_fwd")}
      for i in range(QUARTERS)]
  body_names = [env.spec.body_names[int(i)] for i in np.asarray(kb)]
  per = (np.asarray(m["body"]) * w[..., None]).sum((0, 1)) / tot
  out["per_body"] = dict(zip(body_names, [float(x) for x in per]))
  for k in ("body_dz", "body_fwd"):
    sgn = (np.asarray(m[k]) * w[..., None]).sum((0, 1)) / tot
    out[k] = dict(zip(body_names, [float(x) for x in sgn]))
  out["steps"] = int(w.sum())
  names_arr = np.asarray(names)
  out["per_clip"] = {}
  for n in dict.fromkeys(names):
    wc = w * (names_arr == n)[None, :]
    wq = wc * (q == 2)
    out["per_clip"][n] = dict(
        e_h=float((np.asarray(m["e_h"]) * wc).sum() / max(wc.sum(), 1.0)),
        q2_root_fwd=float((np.asarray(m["root_fwd"]) * wq).sum() / max(wq.sum(), 1.0)),
        q2_obj_fwd=float((np.asarray(m["obj_fwd"]) * wq).sum() / max(wq.sum(), 1.0)))
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("bundles", nargs="+")
  p.add_argument("--episodes_per_clip", type=int, default=16)
  p.add_argument("--seed", type=int, default=ev.REPRODUCTION_SEED)
  p.add_argument("--zero_action", action="store_true")
  p.add_argument("--mass_scale", type=float, default=1.0)
  a = p.parse_args()
  runtime.enable_compilation_cache()
  for b in a.bundles:
    r = breakdown(b, a.episodes_per_clip, a.seed, a.zero_action, a.mass_scale)
    print(f"{b}: steps {r['steps']} | e_h {r['e_h']:.4f} | e_h_local {r['e_h_local']:.4f} | "
          f"root_xy {r['root_xy']:.4f} | root_z {r['root_z']:.4f} | root_dz {r['root_dz']:+.4f} | root_fwd {r['root_fwd']:+.4f} | "
          f"root_left {r['root_left']:+.4f} | obj_fwd {r['obj_fwd']:+.4f}")
    for i, qd in enumerate(r["by_quarter"]):
      print(f"  quarter {i}: " + " | ".join(f"{k} {v:.4f}" for k, v in qd.items()))
    for n, pc in r["per_clip"].items():
      print(f"  {n}: " + " | ".join(f"{k} {v:+.4f}" for k, v in pc.items()))
    print("  per key body: " + ", ".join(f"{k} {v:.3f}" for k, v in r["per_body"].items()))
    print("  per key body, signed height error: "
          + ", ".join(f"{k} {v:+.3f}" for k, v in r["body_dz"].items()))
    print("  per key body, signed forward error about the root: "
          + ", ".join(f"{k} {v:+.3f}" for k, v in r["body_fwd"].items()))


if __name__ == "__main__":
  main()
