"""Is a carry clip's grip feasible once balance is taken away?  The humanoid's root follows the
reference kinematically (its free joint is set to the reference pose and velocity at every
physics substep: an infinitely strong root), every hinge is PD-driven to the reference (zero
residual), and the object is free.  Prints, per carry clip (the object lifted by >= 3 cm), the
first frame at which the object is 0.15 m below / above its reference ("lost") and 0.15 m away
from it horizontally ("left behind"), and how far it is from its reference at a few frames from
the start of the grasp to the clip's end.

  python experiments/probes/carry_kinematic_root.py BUNDLE [mass=S] [gain=G] [hand_friction=F]
      [torsion=T] [lead=1] [forearms=0] [finer=K] [palm_thick=H] [opt.<MjOption field>=V] [ik.<IKConfig field>=V]
      [scene.<scene config field>=V, e.g. scene.arm_gain_scale=3]
      [hand.<HandConfig field>=V] [rand.<SceneRandomConfig field>=V] [trace=1]
      [adhesion=N] [adh_margin=M] [scene.floor_friction=a,b,c] [scene.object_friction=a,b,c]

BUNDLE: an expert inference bundle; its config rebuilds the env and the clips (the embedded
synthetic clips, whose generator the ik. / hand. / rand. overrides change; or real clips, e.g.
pretrained/largetable_expert/policy).  ``mass``: the object's mass and inertia times S; ``gain``:
every hinge's kp and kv times G; ``hand_friction``: the humanoid's sliding friction; ``torsion``:
condim 4 on the object's geoms with torsional friction T (m); ``lead=1``: PD targets lead the
reference by kv/kp x its joint velocity (position actuators with kv otherwise trail a moving
target by kv/kp seconds at any gain); ``forearms=0``: the forearm geoms (the hands' parent
bodies) collide with nothing (a diagnostic, not a physical model); ``opt.*``: MjOption fields (cone, impratio,
noslip_iterations, ...); ``finer=K``: K times as many physics substeps, each
K times shorter (the env's substep is 1/120 s); ``palm_thick=H``: the hands' box geoms
get half-thickness H (m) along the palm normal, grown towards the back of the hand so that the
palm face stays where it is (the SMPL wrist box is 1.5 cm thick: a squeeze deeper than that
pushes the palm through the face).  Tuple values are comma lists (``ik.clear_bodies=Shoulder,Elbow,``).
``trace=1``: every 3 frames of the first 40, the object's rotation from its reference, the wrists'
offsets from their reference, the wrists' and elbows' signed distances to the object (simulation
and reference pose), the humanoid-object normal forces by body and the worst-tracked hinges.
``adhesion=N``: a MuJoCo adhesion actuator on each hand body (gain N newtons: an attraction
along the normals of the hand's contacts with the object, a model of a grip the finger-less
hands cannot make), on while the object is in contact in the reference and that hand's label is
not -1; ``adh_margin=M``: the hands' geoms find contacts within M metres without enforcing them
(margin = gap = M), so the adhesion reaches that far (probe only; MJX's JAX path has no body
transmissions).  ``scene.*`` tuple fields take comma lists.  With ``trace=1`` and adhesion, every
10 frames: the adhesion controls and forces and the hand-object contact counts.
Plain MuJoCo C on the env's own model (the episode's object rows applied).  docs/results.md,
"the carry".
"""
import copy
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402

from interprior_jax.envs import contract, init_states, perturbations, registry  # noqa: E402
from interprior_jax.motion import sources  # noqa: E402
from interprior_jax.training import checkpoint as ckpt_lib  # noqa: E402


LIFTED = 0.03  # m: a clip whose object rises at least this much is a carry (a lifted table: ~5 cm)


def _quat_slerp(q0, q1, w):
  q1 = q1 if np.dot(q0, q1) >= 0 else -q1
  q = (1 - w) * q0 + w * q1
  return q / np.linalg.norm(q)


def _hands_and_forearms(m, env) -> np.ndarray:
  """(4,) MuJoCo body ids: the two hand bodies (the spec's ``hand_idx``) and their parents
  (the forearms)."""
  hands = np.asarray(env.spec.body_ids)[np.asarray(env.spec.hand_idx).ravel()[:2]]
  return np.concatenate([hands, m.body_parentid[hands]])


def _to_object(m, d, env) -> np.ndarray:
  """(4,) signed distances (m; negative: inside) from each hand and forearm body's geoms to the
  object's (:func:`_hands_and_forearms` order)."""
  og = np.flatnonzero(m.geom_bodyid == int(env.idx.obj_body_id))
  out = []
  for h in _hands_and_forearms(m, env):
    hg = np.flatnonzero(m.geom_bodyid == h)
    out.append(min(mujoco.mj_geomDistance(m, d, int(a), int(b), 0.2, None)
                   for a in hg for b in og))
  return np.asarray(out)


def _hand_object_contacts(m, d, env) -> list[int]:
  """Number of contacts (those in the margin-gap zone included) between each hand and the object."""
  ob = int(env.idx.obj_body_id)
  pairs = [(m.geom_bodyid[d.contact[k].geom1], m.geom_bodyid[d.contact[k].geom2])
           for k in range(d.ncon)]
  return [sum(1 for p in pairs if int(h) in p and ob in p) for h in _hands_and_forearms(m, env)[:2]]


def _trace(m, d, env, f, c, dref) -> None:
  """Two lines at frame ``f``: the three worst-tracked hinges; the object's rotation from its
  reference, the hands' distances from their reference, the object's height (and its
  reference's), the hands' and forearms' signed distances to the object in the simulation and in
  the reference pose (``dref``: (MjData, clip index)), the humanoid-object normal forces by body."""
  ob = int(env.idx.obj_body_id)
  forces = {}
  f6 = np.zeros(6)
  for k in range(d.ncon):
    con = d.contact[k]
    b1, b2 = m.geom_bodyid[con.geom1], m.geom_bodyid[con.geom2]
    if ob not in (b1, b2) or 0 in (b1, b2):
      continue
    other = b2 if b1 == ob else b1
    mujoco.mj_contactForce(m, d, k, f6)
    name = mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, other)
    forces[name] = forces.get(name, 0.0) + f6[0]
  ref = env.library.frame(jnp.int32(dref[1]), jnp.float32(f / c.fps))
  rq, _ = init_states.reference_state(ref, jnp.asarray(d.qpos, jnp.float32), env.idx, m.nv)
  dref[0].qpos[:] = np.asarray(rq)
  mujoco.mj_kinematics(m, dref[0])
  hand_layout = np.asarray(env.spec.hand_idx).ravel()[:2]
  terr = np.linalg.norm(d.xpos[_hands_and_forearms(m, env)[:2]] - c.body_pos[f][hand_layout],
                        axis=-1)
  oq = int(env.idx.obj_qpos_adr)
  q_sim, q_ref = d.qpos[oq + 3:oq + 7], c.obj_quat[f]
  tilt = np.degrees(2 * np.arccos(min(abs(float(np.dot(q_sim, q_ref))), 1.0)))
  act_ids = np.asarray(env.spec.actuator_ids)  # action order = the clip's joint order
  qerr = d.qpos[m.jnt_qposadr[m.actuator_trnid[act_ids, 0]]] - c.joint_pos[f]
  worst = np.argsort(-np.abs(qerr))[:3]
  names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_ACTUATOR, int(act_ids[i])) for i in worst]
  print(f"   f{f}: worst hinges "
        f"{[(n, round(float(np.degrees(qerr[i])))) for n, i in zip(names, worst)]} deg")
  print(f"   f{f}: box rotated {tilt:.0f} deg from its reference; wrists off their reference "
        f"{np.round(terr * 100, 1)} cm; box z {d.xpos[ob][2]:.3f} (ref {c.obj_pos[f][2]:.3f}), "
        f"wrists / elbows to box: sim {np.round(_to_object(m, d, env) * 100, 1)} cm, reference "
        f"{np.round(_to_object(m, dref[0], env) * 100, 1)} cm, force "
        f"{ {k: round(v) for k, v in forces.items()} }")


def main(bundle_dir: str, *overrides: str):
  config = ml_collections.ConfigDict(ckpt_lib.load_bundle(bundle_dir).config)
  config.env.perturb.mode = "off"
  config.env.randomize.enabled = False
  gain = 1.0
  trace = False
  opts = {}
  torsion = None
  lead = False
  forearms = True
  finer = 1
  palm_thick = None
  adhesion = 0.0
  adh_margin = 0.0
  for a in overrides:
    k, _, v = a.partition("=")
    if k == "mass":
      config.env.randomize.update(enabled=True, mass_scale=(float(v),) * 2,
                                  inertia_scale=(float(v),) * 2, com_offset=0.0,
                                  friction_scale=(1.0, 1.0), size_scale=(1.0, 1.0))
    elif k.startswith("ik.") or k.startswith("hand.") or k.startswith("rand."):
      group, field = k.split(".", 1)
      key = {"ik": "synth_ik", "hand": "synth_hand", "rand": "synth_rand"}[group]
      cur = config.data.get(key, None)
      cur = cur.to_dict() if hasattr(cur, "to_dict") else dict(cur or {})
      def _num(x):
        try:
          return float(x)
        except ValueError:
          return x
      val = (tuple(_num(x) for x in v.split(",") if x) if "," in v
             else float(v) if "." in v or "e" in v else int(v))
      config.data[key] = {**cur, field: val}
    elif k.startswith("scene.") and k != "scene.physics":  # e.g. scene.arm_gain_scale=3
      cur = config.env.scene.get(k[6:], 1.0)  # a field newer than the bundle: float
      config.env.scene[k[6:]] = (tuple(float(x) for x in v.split(",")) if "," in v
                                 else type(cur)(v))
    elif k.startswith("opt."):  # MjOption field on the probe's model copy, e.g. opt.noslip_iterations=10
      opts[k[4:]] = float(v)
    elif k == "torsion":  # condim 4 on the object's geoms, torsional friction v (m)
      torsion = float(v)
    elif k == "forearms":  # forearms=0: the forearm geoms do not collide (probe only)
      forearms = v != "0"
    elif k == "palm_thick":  # the hand boxes' half-thickness along the palm normal (m)
      palm_thick = float(v)
    elif k == "finer":  # K x the substeps at 1/K the timestep
      finer = int(v)
    elif k == "lead":  # PD targets lead the reference by kv/kp x its joint velocity
      lead = v == "1"
    elif k == "trace":
      trace = v == "1"
    elif k == "adhesion":  # N: an adhesion actuator per hand (see the module docstring)
      adhesion = float(v)
    elif k == "adh_margin":  # m: how far from the object the adhesion reaches
      adh_margin = float(v)
    elif k == "gain":
      gain = float(v)
    elif k == "hand_friction":
      config.env.scene.friction = (float(v),) + tuple(config.env.scene.friction)[1:]
    else:
      raise SystemExit(f"carry_kinematic_root.py: unknown argument {a!r}")
  clips = sources.load_clips(config, None)
  env = registry.make_env(config, clips)
  idx, spec = env.idx, env.spec
  sub = int(config.env.substeps) * finer
  act_ids = np.asarray(spec.actuator_ids)
  rq = int(idx.root_qpos_adr)
  rv = int(env.physics.model.jnt_dofadr[env.physics.model.body_jntadr[spec.root_body_id]])
  for ci, c in enumerate(clips):
    holding = np.flatnonzero(np.asarray(c.obj_contact) > 0)
    if not len(holding) or np.ptp(c.obj_pos[:, 2]) < LIFTED:  # carries only (the object lifted)
      continue
    f0 = max(int(holding[0]) - 5, 0)
    s = env.reset_to(jax.random.PRNGKey(0), jnp.int32(ci), jnp.float32(f0 / c.fps), False)
    if adhesion > 0:
      sp = env.scene.mjspec.copy()
      hands = _hands_and_forearms(env.physics.model, env)[:2]
      for h in hands:
        name = mujoco.mj_id2name(env.physics.model, mujoco.mjtObj.mjOBJ_BODY, int(h))
        sp.add_actuator(name=f"adhere_{name}", trntype=mujoco.mjtTrn.mjTRN_BODY, target=name,
                        ctrllimited=1, ctrlrange=[0, 1], gainprm=[adhesion] + [0] * 9)
      m = sp.compile()
      for fld in ("actuator_gainprm", "actuator_biasprm"):
        getattr(m, fld)[:env.physics.model.nu] = getattr(env.physics.model, fld)
      adh_ids = np.arange(env.physics.model.nu, m.nu)
      hg = np.flatnonzero(np.isin(m.geom_bodyid, hands))
      m.geom_margin[hg] = adh_margin  # contacts found within the margin, not enforced (gap):
      m.geom_gap[hg] = adh_margin     # the adhesion reaches that far before touching
    else:
      m = copy.copy(env.physics.model)
      adh_ids = np.arange(0)
    for name, val in opts.items():
      setattr(m.opt, name, type(getattr(m.opt, name))(val))
    m.opt.timestep /= finer
    m.actuator_gainprm[:, 0] *= gain
    m.actuator_biasprm[:, 1:3] *= gain
    vals = perturbations.object_values(env.obj_base, s.info[contract.INFO_OBJ_PARAMS])
    base = env.obj_base
    for name, val in vals.items():
      getattr(m, name)[base.body_id if name.startswith("body_") else base.geom_ids] = np.asarray(val)
    if not forearms:
      fg = np.flatnonzero(np.isin(m.geom_bodyid, _hands_and_forearms(m, env)[2:]))
      m.geom_contype[fg] = 0
      m.geom_conaffinity[fg] = 0
    if palm_thick is not None:
      for h, axis in zip(_hands_and_forearms(m, env)[:2], np.asarray(env.spec.palm_axes)):
        ax = int(np.argmax(np.abs(axis)))
        sign = float(np.sign(axis[ax]))
        for g in np.flatnonzero((m.geom_bodyid == h) & (m.geom_type == mujoco.mjtGeom.mjGEOM_BOX)):
          palm = m.geom_pos[g, ax] + sign * m.geom_size[g, ax]  # the palm face's coordinate
          m.geom_size[g, ax] = palm_thick
          m.geom_pos[g, ax] = palm - sign * palm_thick
    if torsion is not None:
      m.geom_condim[base.geom_ids] = 4
      m.geom_friction[base.geom_ids, 1] = torsion
    tau = (m.actuator_biasprm[act_ids, 2] / m.actuator_biasprm[act_ids, 1])  # -kv / -kp
    d = mujoco.MjData(m)
    d.qpos[:] = np.asarray(s.pipeline_state.qpos)
    d.qvel[:] = np.asarray(s.pipeline_state.qvel)
    oq = int(idx.obj_qpos_adr)
    rows = []
    for f in range(f0, c.num_frames - 1):
      q_next = c.joint_pos[f + 1]
      if lead:  # kp (q* - q) - kv qdot = kp (q_ref - q) + kv (qdot_ref - qdot)
        q_next = q_next + tau * (c.joint_pos[min(f + 2, c.num_frames - 1)] - c.joint_pos[f]) * c.fps / 2
      targets = np.asarray(env.targets_from_ref(jnp.zeros(env.action_size),
                                                jnp.asarray(q_next, jnp.float32)))
      d.ctrl[act_ids] = targets
      if len(adh_ids):
        lab = np.asarray(c.body_contact[f + 1])[np.asarray(spec.hand_idx).ravel()[:2]]
        d.ctrl[adh_ids] = ((lab >= 0) & (np.asarray(c.obj_contact[f + 1]) > 0)).astype(float)
      v = (c.root_pos[f + 1] - c.root_pos[f]) * c.fps
      for k in range(sub):
        w = (k + 1) / sub
        d.qpos[rq:rq + 3] = (1 - w) * c.root_pos[f] + w * c.root_pos[f + 1]
        d.qpos[rq + 3:rq + 7] = _quat_slerp(c.root_quat[f], c.root_quat[f + 1], w)
        d.qvel[rv:rv + 3] = v
        d.qvel[rv + 3:rv + 6] = 0.0
        mujoco.mj_step(m, d)
      err = d.qpos[oq:oq + 3] - c.obj_pos[f + 1]
      if len(adh_ids) and trace and (f - f0) % 10 == 0:
        print(f"    f{f + 1} adhesion ctrl {d.ctrl[adh_ids]} force "
              f"{np.round(d.actuator_force[adh_ids])} hand-object contacts "
              f"{_hand_object_contacts(m, d, env)}")
      if trace and f < f0 + 40 and (f - f0) % 3 == 0:
        _trace(m, d, env, f + 1, c, (mujoco.MjData(m), ci))
      rows.append((f + 1, err[2], np.linalg.norm(err[:2])))
      if not np.all(np.isfinite(d.qpos)):
        break
    rows = np.asarray(rows)
    lost = rows[np.abs(rows[:, 1]) > 0.15]
    left = rows[rows[:, 2] > 0.15]
    print(f"{c.name} ({' '.join(overrides) or 'defaults'}; object {m.body_mass[base.body_id]:.1f} kg): grasp from frame {f0}, clip "
          f"{c.num_frames} frames; box lost (|dz| > 0.15 m) at frame "
          f"{int(lost[0, 0]) if len(lost) else '-'}, left behind (horizontally > 0.15 m) at frame "
          f"{int(left[0, 0]) if len(left) else '-'}")
    for r in rows[::max(len(rows) // 8, 1)]:
      print(f"   frame {int(r[0])}: box dz {r[1]:+.3f} m, dxy {r[2]:.3f} m")


if __name__ == "__main__":
  if len(sys.argv) < 2:
    raise SystemExit(__doc__)
  main(*sys.argv[1:])
