"""Can two box palms lift a 5 kg box by friction?  Slip vs friction cone / impratio / squeeze.

  python experiments/probes/grip_probe.py

Two 8 x 9 cm box palms (the SMPL wrist geom) on slide joints squeeze a 0.4 x 0.32 x 0.4 m, 5 kg box
with a constant force, then a weld lifts them 0.8 m over 1.6 s (minimum jerk) and holds 2 s;
prints the box's slip.  (docs/results.md, "Why the experts stopped at the box".)
"""
import mujoco
XML = """<mujoco><option timestep="{dt}" cone="{cone}" impratio="{imp}" integrator="implicitfast"/>
<worldbody><geom type="plane" size="5 5 .1"/>
<body name="lift" mocap="true" pos="0 0 0.25"/>
<body name="carrier" pos="0 0 0.25"><joint name="cz" type="slide" axis="0 0 1"/>
  <geom type="sphere" size=".01" mass="1" contype="0" conaffinity="0"/>
  <body name="L" pos="0 0.25 0"><joint name="ly" type="slide" axis="0 1 0"/><geom type="box" size=".04 .044 .008" euler="90 0 0" mass="0.5" friction="1 .005 .0001"/></body>
  <body name="R" pos="0 -0.25 0"><joint name="ry" type="slide" axis="0 1 0"/><geom type="box" size=".04 .044 .008" euler="90 0 0" mass="0.5" friction="1 .005 .0001"/></body>
</body>
<body name="box" pos="0 0 0.2"><freejoint/><geom type="box" size=".2 .158 .2" mass="5" friction=".8 .005 .0001"/></body>
</worldbody>
<equality><weld body1="carrier" body2="lift" solref="0.01 1"/></equality>
<actuator><motor joint="ly" gear="1"/><motor joint="ry" gear="1"/></actuator></mujoco>"""
for cone, imp in (("pyramidal", 1), ("elliptic", 1), ("elliptic", 10), ("pyramidal", 10)):
  for F in (40.0, 80.0, 150.0):
    m = mujoco.MjModel.from_xml_string(XML.format(dt=1/120, cone=cone, imp=imp)); d = mujoco.MjData(m)
    d.ctrl[:] = [-F, F]  # squeeze inward
    for i in range(120): mujoco.mj_step(m, d)  # settle the grip
    z0 = d.qpos[m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, 'cz')]]
    bz0 = d.xpos[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, 'box')][2]
    # lift 0.8 m over 1.6 s (minimum jerk), then hold 2 s
    T = int(1.6 * 120)
    for i in range(T + 240):
      u = min(i / T, 1.0); s = u**3 * (10 - 15*u + 6*u*u)
      d.mocap_pos[0] = [0, 0, 0.25 + 0.8 * s]
      mujoco.mj_step(m, d)
    hz = d.mocap_pos[0][2] - 0.25; bz = d.xpos[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, 'box')][2] - bz0
    print(f"{cone:9s} impratio {imp:3d} squeeze {F:5.0f} N: hands +{hz:.2f} m, box +{bz:.3f} m (slip {hz-bz:.3f} m)")
