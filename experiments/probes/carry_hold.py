"""Can the box be held? Steps until the carried box is 0.15 m off its reference, from starts at
the top of each carry clip's lift and 20 frames later.

  python experiments/probes/carry_hold.py BUNDLE [policy=1] [margin=M] [hand_friction=F]
      [clear_rounds=N] [w_hand_rot=W] [mass=S] [torsion=T] [trace=1] [solimp=D] [solref=T] [phys.<PhysicsOptions field>=V ...]
      [scene.<scene config field>=V ...]

BUNDLE: an expert inference bundle of the embedded clips (e.g. pretrained/embedded_expert/policy);
its config rebuilds the env and the clips (``margin`` regenerates them with another
``HandConfig.palm_margin``: negative puts the palms' PD targets inside the box faces).  Actions:
zero residual (PD to the reference) unless ``policy=1`` (the bundle's deterministic policy).
Only the fall termination is on; 60 steps at most (">60": held).  ``trace=1`` prints every
few steps of each start: the wrists' distance apart (grip width) and from the box centre, the box's
height below its reference, the pelvis height below its reference and the humanoid-box normal
force (N): an opening grip, a slipping box and a falling body look different; and at step 10
every humanoid-box contact (MuJoCo C on the same qpos / qvel / ctrl): body, contact normal in
the box frame (+-x / +-y: side faces, +z: top) and normal / tangential force (N).  ``solimp=D``
/ ``solref=T`` or ``solref=-K:-B`` (C physics, probe only): the object's geoms get solimp (D,
D + (1 - D) / 2, 1 mm) / solref (T, 1) or MuJoCo's direct form (-K N/m, -B N s/m) (defaults:
0.9 / 0.95 and 0.02 s), a stiffer hand-object contact.  docs/results.md, "the carry:
the box is never held".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from interprior_jax.envs import registry  # noqa: E402
from interprior_jax.motion import sources  # noqa: E402
from interprior_jax.training import checkpoint as ckpt_lib  # noqa: E402
from interprior_jax.training.ppo import train as ppo  # noqa: E402

DROP = 0.15  # m below / above the reference box height: "dropped"
STEPS = 60
LATER = 20  # frames after the top of the lift (mid-carry start)


def _print_contacts(env, d, s_info) -> None:
  """Every humanoid-object contact of the state ``d`` (C backend state), recomputed with
  ``mj_forward`` on the env's own model."""
  import copy

  import mujoco

  from interprior_jax.envs import contract, perturbations
  # the episode's object (the clip's object_scale): its model rows as the backend writes them
  m = copy.copy(env.physics.model)
  base = env.physics.obj_base
  vals = perturbations.object_values(base, s_info[contract.INFO_OBJ_PARAMS])
  for name, val in vals.items():
    getattr(m, name)[base.body_id if name.startswith("body_") else base.geom_ids] = np.asarray(val)
  md = mujoco.MjData(m)
  md.qpos[:] = np.asarray(d.qpos)
  md.qvel[:] = np.asarray(d.qvel)
  md.ctrl[:] = np.asarray(d.ctrl)
  mujoco.mj_forward(m, md)
  obj_body = int(env.idx.obj_body_id)
  rot = md.xmat[obj_body].reshape(3, 3)
  f6 = np.zeros(6)
  for k in range(md.ncon):
    con = md.contact[k]
    b1, b2 = m.geom_bodyid[con.geom1], m.geom_bodyid[con.geom2]
    if obj_body not in (b1, b2):
      continue
    other = b2 if b1 == obj_body else b1
    if other == 0:  # the floor
      continue
    mujoco.mj_contactForce(m, md, k, f6)
    n = con.frame[:3] * (1.0 if b2 == obj_body else -1.0)  # into the box's surface
    print(f"    contact {mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, other)}: normal "
          f"(box frame) {np.round(rot.T @ n, 2)}, dist {con.dist * 100:+.1f} cm, normal "
          f"{f6[0]:.0f} N, tangential {np.linalg.norm(f6[1:3]):.0f} N")


def main(bundle_dir: str, *overrides: str):
  bundle = ckpt_lib.load_bundle(bundle_dir)
  config = ml_collections.ConfigDict(bundle.config)
  config.env.perturb.mode = "off"
  config.env.randomize.enabled = False
  config.env.termination.enabled = ("fall",)
  use_policy = False
  trace = False
  geom_sol = {}
  for a in overrides:
    k, _, v = a.partition("=")
    if k == "margin":
      config.data.synth_hand = {"palm_margin": float(v)}
    elif k == "clear_rounds":  # the IK's clearance passes (IKConfig.clear_rounds)
      config.data.synth_ik = {**config.data.get("synth_ik", {}), "clear_rounds": int(v)}
    elif k == "w_hand_rot":  # the IK's hand-orientation weight (IKConfig.w_hand_rot)
      config.data.synth_ik = {**config.data.get("synth_ik", {}), "w_hand_rot": float(v)}
    elif k == "hand_friction":
      config.env.scene.friction = (float(v),) + tuple(config.env.scene.friction)[1:]
    elif k.startswith("scene.") and k != "scene.physics":  # e.g. scene.arm_gain_scale=3
      cur = config.env.scene.get(k[6:], 1.0)  # a field newer than the bundle: float
      config.env.scene[k[6:]] = type(cur)(v)
    elif k.startswith("phys."):
      cur = config.env.scene.physics.get(k[5:], 0)  # a field newer than the bundle: int
      config.env.scene.physics[k[5:]] = type(cur)(v)
    elif k == "policy":
      use_policy = v == "1"
    elif k == "trace":
      trace = v == "1"
    elif k == "mass":  # the box's mass (and inertia) times v, every episode
      config.env.randomize.update(enabled=True, mass_scale=(float(v),) * 2,
                                  inertia_scale=(float(v),) * 2, com_offset=0.0,
                                  friction_scale=(1.0, 1.0), size_scale=(1.0, 1.0))
    elif k == "torsion":  # condim 4 on the object's geoms, torsional friction v (m)
      geom_sol[k] = float(v)
    elif k == "solimp":
      geom_sol[k] = float(v)
    elif k == "solref":  # T (time constant, s) or -K:-B (direct stiffness N/m : damping N s/m)
      geom_sol[k] = tuple(float(x) for x in v.split(":")) if ":" in v else (float(v), 1.0)
    else:
      raise SystemExit(f"carry_hold.py: unknown argument {a!r}")
  clips = sources.load_clips(config, None)
  env = registry.make_env(config, clips)
  if geom_sol:  # before the first step: the C backend's batches are built from this model
    pm = env.physics.model
    geoms = np.flatnonzero(pm.geom_bodyid == int(env.idx.obj_body_id))
    if "solimp" in geom_sol:
      dmin = geom_sol["solimp"]
      pm.geom_solimp[geoms, :3] = (dmin, dmin + (1 - dmin) / 2, 0.001)
    if "solref" in geom_sol:
      pm.geom_solref[geoms] = geom_sol["solref"]
    if "torsion" in geom_sol:
      pm.geom_condim[geoms] = 4
      pm.geom_friction[geoms, 1] = geom_sol["torsion"]
  act_fn = ppo.bundle_policy(bundle, deterministic=True)
  step = jax.jit(env.step)
  zero = jnp.zeros(env.action_size)
  held = []
  for ci, c in enumerate(clips):
    if "carry" not in c.name:
      continue
    oz = c.obj_pos[:, 2]
    top = int(np.argmax(oz > oz.max() - 0.02))
    for f0 in (top, top + LATER):
      s = env.reset_to(jax.random.PRNGKey(0), jnp.int32(ci), jnp.float32(f0 / c.fps), False)
      n = f">{STEPS}"
      hands = np.asarray(env.spec.hand_idx).ravel()[:2]
      ref_root = c.root_pos[:, 2]
      for i in range(STEPS):
        s = step(s, act_fn(s.obs[None])[0] if use_policy else zero)
        z = float(s.pipeline_state.qpos[env.idx.obj_qpos_adr + 2])
        if trace and i % 3 == 0:
          f = env.physics.frame(s.pipeline_state)
          w = np.asarray(f.body_pos)[hands]
          o = np.asarray(f.obj_pos)
          fr = min(f0 + i + 1, len(oz) - 1)
          print(f"  {c.name} @{f0} step {i + 1}: grip {np.linalg.norm(w[0] - w[1]):.3f} m, "
                f"wrists-box {np.linalg.norm(w - o, axis=-1).round(3)} m, box dz "
                f"{z - oz[fr]:+.3f}, pelvis dz {float(f.root_pos[2]) - ref_root[fr]:+.3f}, "
                f"force {float(f.obj_contact_force):.0f} N, touching "
                f"{[env.spec.body_names[b] for b in np.flatnonzero(np.asarray(f.body_obj_contact) > 0)]}")
        if trace and i == 9:
          _print_contacts(env, s.pipeline_state, s.info)
        if not np.isfinite(z) or abs(z - np.interp(f0 + i + 1, np.arange(len(oz)), oz)) > DROP:
          n = str(i + 1)
          break
      held.append(f"{c.name} from frame {f0}: {n}")
  print(" ".join(overrides) or "zero residual, as trained", "-> steps held:")
  print("\n".join("  " + h for h in held))


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit(__doc__)
  main(*sys.argv[1:])
