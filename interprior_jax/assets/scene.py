"""Scene composer: humanoid + objects + floor -> compiled MjModel and a typed :class:`SceneSpec`.

Collision bits (MuJoCo collides two geoms when ``contype_a & conaffinity_b`` or
``contype_b & conaffinity_a`` is non-zero):

=========  =======  ===========  collides with
geom       contype  conaffinity
=========  =======  ===========  ===============================
humanoid   HUMAN    ENV          floor, objects (never itself)
object     ENV      ENV|HUMAN    floor, humanoid, other objects
floor      ENV      ENV|HUMAN    humanoid, objects
=========  =======  ===========  ===============================

All later code uses :class:`SceneSpec` (names -> index arrays) instead of magic indices.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import mujoco
import numpy as np

from interprior_jax.assets import g1 as g1_lib
from interprior_jax.assets import humanoid as humanoid_lib
from interprior_jax.assets import objects as objects_lib

ENV_BIT = 1
HUMAN_BIT = 2
FLOOR_NAME = "floor"
OBJECT_PREFIX = "obj"

_INTEGRATORS = {"euler": mujoco.mjtIntegrator.mjINT_EULER,
                "rk4": mujoco.mjtIntegrator.mjINT_RK4,
                "implicit": mujoco.mjtIntegrator.mjINT_IMPLICIT,
                "implicitfast": mujoco.mjtIntegrator.mjINT_IMPLICITFAST}
_SOLVERS = {"newton": mujoco.mjtSolver.mjSOL_NEWTON, "cg": mujoco.mjtSolver.mjSOL_CG,
            "pgs": mujoco.mjtSolver.mjSOL_PGS}
_JACOBIANS = {"dense": mujoco.mjtJacobian.mjJAC_DENSE, "sparse": mujoco.mjtJacobian.mjJAC_SPARSE,
              "auto": mujoco.mjtJacobian.mjJAC_AUTO}
_CONES = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}


@dataclasses.dataclass(frozen=True)
class PhysicsOptions:
  """Solver settings applied to ``spec.option`` (defaults: the measured-stable 120 Hz setup)."""
  timestep: float = 1.0 / 120.0
  integrator: str = "implicitfast"
  solver: str = "newton"
  iterations: int = 4
  ls_iterations: int = 8
  eulerdamp: bool = False
  jacobian: str = "auto"
  cone: str = "pyramidal"
  impratio: float = 1.0
  # MuJoCo's no-slip post-solver (C physics only; MJX does not implement it): 0 = off.
  noslip_iterations: int = 0


@dataclasses.dataclass(frozen=True)
class ObjectPlacement:
  """One object in the scene: library name (or an object definition), xy position, yaw.

  ``z=None`` rests the object on the floor (its lowest point at z=0).
  """
  name: Any = "box"
  pos: tuple[float, float] = (1.0, 0.0)
  z: float | None = None
  yaw: float = 0.0
  overrides: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SceneOptions:
  humanoid: str = "smplx"
  objects: tuple[ObjectPlacement, ...] = (ObjectPlacement(),)
  physics: PhysicsOptions = PhysicsOptions()
  humanoid_build: humanoid_lib.HumanoidBuildOptions = humanoid_lib.HumanoidBuildOptions()
  floor_friction: tuple[float, float, float] = (1.0, 0.005, 0.0001)
  root_clearance: float = 0.002  # metres between the lowest humanoid point and the floor at init
  add_light: bool = True
  # Humanoid bodies whose geoms never collide with the objects (a MuJoCo <exclude> per body and
  # object, honoured by MuJoCo C and MJX; floor contacts unchanged).  A modelling simplification,
  # off by default: e.g. ("L_Elbow", "R_Elbow") lets the synthetic side grasps' palms reach the
  # faces, which SMPL's forearm capsules otherwise cross by ~3 cm (docs/results.md, "the carry").
  object_contact_exclude: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
  """Indices of one object in the compiled model."""
  name: str  # library name
  body_name: str  # name in the model
  body_id: int
  qpos_adr: int  # 7 entries: pos(3), quat(4, w x y z)
  qvel_adr: int  # 6 entries: linear(3), angular(3)
  geom_ids: np.ndarray  # (G,) int32
  surface_points: np.ndarray  # (P, 3) float32, object frame
  mass: float


@dataclasses.dataclass(frozen=True)
class SceneSpec:
  """Named index sets of a compiled scene. Layout rules (documented once, here):

  * ``body_*`` arrays follow the humanoid *body layout*: InterAct order for smplx/smpl (52 / 22
    bodies), Menagerie order for g1; ``body_ids[i]`` is the MuJoCo id of layout body ``i``.
  * ``*_idx`` fields index into the body layout; ``*_ids`` fields are MuJoCo ids.
  * actuated joints (``joint_*``, ``qpos_adr``, ``qvel_adr``, ``actuator_ids``) follow the action
    order: ``action[k]`` drives ``actuator_ids[k]`` whose target joint is ``joint_names[k]``.
  * PD target = ``action_offset + action_scale * clip(action, -1, 1)`` (mid and half range).
  """
  humanoid: str
  body_names: tuple[str, ...]
  body_ids: np.ndarray  # (B,) int32
  root_body_id: int
  root_qpos_adr: int  # free joint: pos(3) + quat(4)
  root_qvel_adr: int  # free joint: lin(3) + ang(3)
  key_body_idx: np.ndarray  # (K,) int32 into the body layout
  contact_body_idx: np.ndarray  # (C,)
  hand_idx: np.ndarray  # (2,) left, right
  hand_body_idx: np.ndarray  # all bodies of both hands
  foot_idx: np.ndarray
  head_idx: int
  joint_names: tuple[str, ...]
  qpos_adr: np.ndarray  # (A,) int32
  qvel_adr: np.ndarray  # (A,) int32
  actuator_ids: np.ndarray  # (A,) int32
  joint_range: np.ndarray  # (A, 2) float32 radians
  action_offset: np.ndarray  # (A,) float32
  action_scale: np.ndarray  # (A,) float32
  kp: np.ndarray  # (A,)
  kd: np.ndarray  # (A,)
  humanoid_geom_ids: np.ndarray  # (Gh,) int32
  humanoid_geom_body_idx: np.ndarray  # (Gh,) body-layout index of each humanoid geom
  floor_geom_id: int
  objects: tuple[ObjectInfo, ...]
  init_qpos: np.ndarray  # (nq,) standing pose, objects resting at their placements
  standing_root_height: float
  timestep: float
  nq: int
  nv: int
  nu: int
  # (2, 3) palm normals of the (left, right) hand bodies in their frames (HumanoidDef.palm_axes)
  palm_axes: np.ndarray = dataclasses.field(
      default_factory=lambda: np.asarray(humanoid_lib.HumanoidDef.palm_axes, np.float32))

  @property
  def num_bodies(self) -> int:
    return len(self.body_names)

  @property
  def action_size(self) -> int:
    return len(self.joint_names)

  def body_index(self, name: str) -> int:
    """Index of a body in the body layout (KeyError naming the valid names)."""
    try:
      return self.body_names.index(name)
    except ValueError:
      raise KeyError(f"no body {name!r} in {self.humanoid}; bodies: {self.body_names}") from None

  def pd_target(self, action: np.ndarray) -> np.ndarray:
    """``(..., A)`` action in [-1, 1] -> ``(..., A)`` PD targets (works for numpy and jax)."""
    lo, hi = -1.0, 1.0
    clipped = action.clip(lo, hi) if hasattr(action, "clip") else np.clip(action, lo, hi)
    return self.action_offset + self.action_scale * clipped


def humanoid_definition(name: str) -> humanoid_lib.HumanoidDef:
  """The :class:`HumanoidDef` of ``name`` (the skeleton-table humanoids or the Menagerie G1):
  where every per-embodiment fact lives."""
  return g1_lib.G1_DEF if name == "g1" else humanoid_lib.get_humanoid_def(name)


@dataclasses.dataclass(frozen=True)
class Scene:
  model: mujoco.MjModel
  spec: SceneSpec
  mjspec: mujoco.MjSpec  # the editable source (for domain randomization, re-compiles)


def _apply_physics(spec: mujoco.MjSpec, p: PhysicsOptions) -> None:
  def pick(table, key, what):
    if key not in table:
      raise ValueError(f"physics.{what}={key!r}; valid: {sorted(table)}")
    return table[key]
  opt = spec.option
  opt.timestep = p.timestep
  opt.integrator = pick(_INTEGRATORS, p.integrator, "integrator")
  opt.solver = pick(_SOLVERS, p.solver, "solver")
  opt.iterations = p.iterations
  opt.ls_iterations = p.ls_iterations
  opt.jacobian = pick(_JACOBIANS, p.jacobian, "jacobian")
  opt.cone = pick(_CONES, p.cone, "cone")
  opt.impratio = p.impratio
  opt.noslip_iterations = p.noslip_iterations
  flag = mujoco.mjtDisableBit.mjDSBL_EULERDAMP
  opt.disableflags = (opt.disableflags | flag) if not p.eulerdamp else (opt.disableflags & ~flag)


def _humanoid_base(opts: SceneOptions) -> tuple[mujoco.MjSpec, humanoid_lib.HumanoidDef]:
  if opts.humanoid == "g1":
    b = opts.humanoid_build
    if b.body_offsets:
      raise ValueError("humanoid_build.body_offsets (a subject skeleton) applies to the SMPL "
                       "humanoids only, not to the Menagerie 'g1'")
    if b.gain_scale != 1.0 or b.arm_gain_scale != 1.0:
      raise ValueError("humanoid_build.gain_scale / arm_gain_scale apply to the SMPL humanoids "
                       "only; the Menagerie 'g1' keeps its own actuator gains")
    return g1_lib.load_g1_spec(HUMAN_BIT, ENV_BIT, b.condim, b.friction), g1_lib.G1_DEF
  hdef = humanoid_lib.get_humanoid_def(opts.humanoid)
  spec = mujoco.MjSpec()
  spec.modelname = f"interprior_{opts.humanoid}"
  build = dataclasses.replace(opts.humanoid_build, contype=HUMAN_BIT, conaffinity=ENV_BIT)
  humanoid_lib.add_humanoid(spec, hdef, build)
  return spec, hdef


def _geom_lowest_z(model: mujoco.MjModel, data: mujoco.MjData, gid: int) -> float:
  if model.geom_type[gid] == mujoco.mjtGeom.mjGEOM_MESH:
    mid = model.geom_dataid[gid]
    start, n = model.mesh_vertadr[mid], model.mesh_vertnum[mid]
    verts = model.mesh_vert[start:start + n]
    world = verts @ data.geom_xmat[gid].reshape(3, 3).T + data.geom_xpos[gid]
    return float(world[:, 2].min())
  return humanoid_lib.lowest_point_z(model, data, np.array([gid]))


def _collision_geoms(model: mujoco.MjModel, body_ids: Sequence[int]) -> np.ndarray:
  ids = [g for g in range(model.ngeom)
         if model.geom_bodyid[g] in set(body_ids)
         and (model.geom_contype[g] or model.geom_conaffinity[g])]
  return np.asarray(ids, np.int32)


def build_scene(opts: SceneOptions = SceneOptions()) -> Scene:
  """Builds and compiles the scene; returns the model, its :class:`SceneSpec` and the MjSpec."""
  spec, hdef = _humanoid_base(opts)
  _apply_physics(spec, opts.physics)
  floor = spec.worldbody.add_geom(
      name=FLOOR_NAME, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05],
      contype=ENV_BIT, conaffinity=ENV_BIT | HUMAN_BIT, condim=3,
      friction=list(opts.floor_friction), rgba=[0.8, 0.9, 0.8, 1.0])
  del floor
  if opts.add_light:
    spec.worldbody.add_light(pos=[0, 0, 4], dir=[0, 0, -1], type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL)

  assets = []
  for i, place in enumerate(opts.objects):
    asset = (place.name if isinstance(place.name, objects_lib.ObjectAsset)
             else objects_lib.make_object(place.name, **dict(place.overrides)))
    body_name = f"{OBJECT_PREFIX}{i}_{asset.name}"
    half = 0.5 * place.yaw
    quat = (float(np.cos(half)), 0.0, 0.0, float(np.sin(half)))
    asset.add_to_spec(spec, body_name, pos=(place.pos[0], place.pos[1], 0.0), quat=quat,
                      contype=ENV_BIT, conaffinity=ENV_BIT | HUMAN_BIT)
    assets.append((asset, body_name, place))
  for body in opts.object_contact_exclude:
    if spec.body(body) is None:
      raise ValueError(f"scene.object_contact_exclude: no body {body!r} in {opts.humanoid}")
    for _, body_name, _ in assets:
      spec.add_exclude(bodyname1=body, bodyname2=body_name)

  model = spec.compile()
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)

  # Humanoid layout.
  root_id = model.body(hdef.root).id
  if hdef.rows:
    body_names = hdef.body_names
  else:  # Menagerie robot: every body under the root, model order
    body_names = tuple(model.body(b).name for b in range(1, model.nbody)
                       if _is_descendant(model, b, root_id))
  body_ids = np.array([model.body(n).id for n in body_names], np.int32)
  layout = {n: i for i, n in enumerate(body_names)}
  hgeoms = _collision_geoms(model, body_ids)
  contact_names = hdef.contact_bodies or tuple(
      n for n in body_names if np.any(model.geom_bodyid[hgeoms] == model.body(n).id))

  # Actuated joints, action order = actuator order.
  act_ids, jnames, qadr, vadr, ranges, kp, kd = [], [], [], [], [], [], []
  for a in range(model.nu):
    if model.actuator_trntype[a] != mujoco.mjtTrn.mjTRN_JOINT:
      continue
    j = model.actuator_trnid[a, 0]
    act_ids.append(a)
    jnames.append(model.joint(j).name)
    qadr.append(model.jnt_qposadr[j])
    vadr.append(model.jnt_dofadr[j])
    ranges.append(model.actuator_ctrlrange[a] if model.actuator_ctrllimited[a]
                  else model.jnt_range[j])
    kp.append(model.actuator_gainprm[a, 0])
    kd.append(-model.actuator_biasprm[a, 2])
  ranges = np.asarray(ranges, np.float32)
  if hdef.action_offset_mode == "mid_range":
    offset = ranges.mean(axis=1)
  elif hdef.action_offset_mode == "home":
    home = g1_lib.g1_home_pose()
    offset = np.clip(np.array([home[n] for n in jnames], np.float32), ranges[:, 0], ranges[:, 1])
  else:
    raise ValueError(f"{hdef.name}: unknown action_offset_mode {hdef.action_offset_mode!r}")

  # Standing pose: hinges at the PD offset (zero action), root lifted so the lowest
  # humanoid point is ``root_clearance`` above the floor; objects rest on the floor.
  root_jnt = model.body_jntadr[root_id]
  root_q = model.jnt_qposadr[root_jnt]
  qpos = model.qpos0.copy()
  qpos[np.asarray(qadr)] = offset
  data.qpos[:] = qpos
  mujoco.mj_forward(model, data)
  low = min(_geom_lowest_z(model, data, g) for g in hgeoms)
  qpos[root_q + 2] += opts.root_clearance - low

  objects = []
  for asset, body_name, place in assets:
    bid = model.body(body_name).id
    jnt = model.body_jntadr[bid]
    oq, ov = model.jnt_qposadr[jnt], model.jnt_dofadr[jnt]
    ogeoms = _collision_geoms(model, [bid])
    data.qpos[:] = qpos
    mujoco.mj_forward(model, data)
    if place.z is None:
      qpos[oq + 2] += -min(_geom_lowest_z(model, data, g) for g in ogeoms)
    else:
      qpos[oq + 2] = place.z
    objects.append(ObjectInfo(
        name=asset.name, body_name=body_name, body_id=bid, qpos_adr=int(oq), qvel_adr=int(ov),
        geom_ids=ogeoms, surface_points=np.asarray(asset.surface_points, np.float32),
        mass=float(model.body_subtreemass[bid])))

  def idx(names):
    return np.array([layout[n] for n in names], np.int32)

  sspec = SceneSpec(
      humanoid=opts.humanoid, body_names=body_names, body_ids=body_ids,
      root_body_id=int(root_id), root_qpos_adr=int(root_q),
      root_qvel_adr=int(model.jnt_dofadr[root_jnt]),
      key_body_idx=idx(hdef.key_bodies), contact_body_idx=idx(contact_names),
      hand_idx=idx(hdef.hands), hand_body_idx=idx(hdef.hand_bodies), foot_idx=idx(hdef.feet),
      head_idx=layout[hdef.head], joint_names=tuple(jnames),
      qpos_adr=np.asarray(qadr, np.int32), qvel_adr=np.asarray(vadr, np.int32),
      actuator_ids=np.asarray(act_ids, np.int32), joint_range=ranges,
      action_offset=offset, action_scale=0.5 * (ranges[:, 1] - ranges[:, 0]),
      kp=np.asarray(kp, np.float32), kd=np.asarray(kd, np.float32),
      humanoid_geom_ids=hgeoms,
      humanoid_geom_body_idx=np.array(
          [layout[model.body(model.geom_bodyid[g]).name] for g in hgeoms], np.int32),
      floor_geom_id=int(model.geom(FLOOR_NAME).id), objects=tuple(objects),
      init_qpos=qpos.astype(np.float64), standing_root_height=float(qpos[root_q + 2]),
      timestep=float(model.opt.timestep), nq=model.nq, nv=model.nv, nu=model.nu,
      palm_axes=np.asarray(hdef.palm_axes, np.float32))
  _check_spec(model, sspec)
  return Scene(model=model, spec=sspec, mjspec=spec)


def _is_descendant(model: mujoco.MjModel, body: int, ancestor: int) -> bool:
  while body > 0:
    if body == ancestor:
      return True
    body = model.body_parentid[body]
  return False


def _check_spec(model: mujoco.MjModel, s: SceneSpec) -> None:
  """Internal consistency checks (fail loudly at build time, not deep inside training)."""
  if s.action_size != len(s.actuator_ids) or s.action_size == 0:
    raise ValueError(f"{s.humanoid}: no actuated joints found")
  if len(set(s.body_names)) != len(s.body_names):
    raise ValueError(f"{s.humanoid}: duplicate body names")
  if np.any(s.action_scale <= 0):
    bad = [s.joint_names[i] for i in np.flatnonzero(s.action_scale <= 0)]
    raise ValueError(f"{s.humanoid}: joints with empty range: {bad}")
  if model.body_parentid[s.root_body_id] != 0:
    raise ValueError(f"{s.humanoid}: root body is not a child of the world")
