"""Keyboard control: every key maps to a command, every goal command to a goal the student's
goal input understands (H trajectory tokens, then one snapshot token), with the residual and the
mask landing exactly on the fields the command names.  Pure functions, no env compile."""

import jax.numpy as jnp
import numpy as np
import pytest

from interprior_jax import geometry
from interprior_jax.control import commands
from interprior_jax.envs import goals as goals_lib

B, C, H = 5, 3, 4
LAY = commands.GoalLayout(num_bodies=B, num_contacts=C, root_idx=0, hand_contact_slots=(1, 2),
                          trajectory_steps=H, dt=1 / 30, obj_rest_z=0.2, stand_height=0.9)
D = goals_lib.layout_size(goals_lib.RESIDUAL_LAYOUT, B, C)
IDS = goals_lib.residual_field_ids(B, C)
FIELD = {n: np.flatnonzero(IDS == i) for i, n in enumerate(goals_lib.FIELDS)}


def _state():
  """Features of a humanoid at rest in its own heading frame, the object 1 m ahead on the floor."""
  ident = jnp.tile(jnp.array([1.0, 0.0, 0.0, 0.0]), (B, 1))
  z3 = jnp.zeros((B, 3))
  return goals_lib.Features(
      root_height=jnp.array([0.9]), body_pos=jnp.zeros((B, 3)).at[1:, 2].set(0.3), body_rot=ident,
      body_lin_vel=z3, body_ang_vel=z3, obj_pos=jnp.array([1.0, 0.0, 0.2 - 0.9]),
      obj_rot=jnp.array([1.0, 0.0, 0.0, 0.0]), obj_lin_vel=jnp.zeros(3),
      obj_ang_vel=jnp.zeros(3), interaction=z3, contact=jnp.zeros(C))


def test_every_key_has_a_command_and_help_lists_it():
  known = set(commands.GOAL_COMMANDS) | set(commands.SESSION_COMMANDS)
  assert set(commands.KEYMAP.values()) == known
  assert commands.command_for_key("W") == "forward"
  assert commands.command_for_key("ArrowLeft") == "turn_left"
  assert commands.command_for_key("q") is None and commands.command_for_key("F12") is None
  text = commands.help_text()
  for c in known:
    assert c in text, c


def test_move_lead_fills_the_snapshot_token_with_the_target_ahead():
  """``GoalLayout.move_lead_steps`` > 0: move / turn commands also give the snapshot token their
  target that many steps ahead (same mask as the trajectory tokens); other commands unchanged."""
  import dataclasses
  lead = dataclasses.replace(LAY, move_lead_steps=30)
  pos = FIELD["body_pos"].reshape(B, 3)
  g, m = commands.command_goal(lead, "forward", _state(), 0.9)
  np.testing.assert_allclose(g[H, pos[0]], [commands.MOVE_SPEED * 30 * LAY.dt, 0, 0], atol=1e-6)
  np.testing.assert_array_equal(np.asarray(m[H]), np.asarray(m[0]))
  g0, _ = commands.command_goal(LAY, "forward", _state(), 0.9)
  np.testing.assert_array_equal(np.asarray(g[:H]), np.asarray(g0[:H]))
  g, m = commands.command_goal(lead, "turn_left", _state(), 0.9)
  rot = FIELD["body_rot"].reshape(B, -1)[0]
  assert np.any(np.abs(np.asarray(g[H, rot])) > 0.1), "the turn in the snapshot residual"
  gs, ms = commands.command_goal(lead, "stand", _state(), 0.9)
  gs0, ms0 = commands.command_goal(LAY, "stand", _state(), 0.9)
  np.testing.assert_array_equal(np.asarray(gs), np.asarray(gs0))


def test_forward_fills_trajectory_tokens_with_the_pelvis_ahead():
  g, m = commands.command_goal(LAY, "forward", _state(), 0.9)
  assert g.shape == m.shape == (H + 1, D)
  assert not np.any(np.asarray(m[H])), "the snapshot token stays empty"
  pos = FIELD["body_pos"].reshape(B, 3)
  for k in range(1, H + 1):
    np.testing.assert_allclose(g[k - 1, pos[0]], [commands.MOVE_SPEED * k * LAY.dt, 0, 0],
                               atol=1e-6)
    assert np.all(np.asarray(m[k - 1, pos[0]]) == 1.0)
    assert not np.any(np.asarray(m[k - 1, pos[1:].ravel()])), "only the pelvis is given"
    # the pelvis keeps its current height (given, zero residual): the "root" mask family the
    # student is distilled with (goals.MASK_FAMILIES)
    assert np.all(np.asarray(m[k - 1, FIELD["root_height"]]) == 1.0)
    np.testing.assert_allclose(g[k - 1, FIELD["root_height"]], 0.0, atol=1e-6)
  back, _ = commands.command_goal(LAY, "back", _state(), 0.9)
  np.testing.assert_allclose(back[:H], -g[:H], atol=1e-6)
  # every move / turn token is exactly the "root" family's mask the student is distilled with
  import jax
  root = goals_lib.mask_to_flat(goals_lib.family_mask("root", jax.random.PRNGKey(0), B, C,
                                                      np.array([1, 2])), B, C)
  for cmd in commands.TRAJECTORY_COMMANDS:
    _, mc = commands.command_goal(LAY, cmd, _state(), 0.9)
    for k in range(H):
      np.testing.assert_array_equal(mc[k], root)


def test_turn_left_walks_along_a_heading_turned_anticlockwise():
  """A turn: the pelvis target heading ``TURN_ANGLE`` off the current one in every token, its
  position ``MOVE_SPEED`` m/s ahead along that heading (the shape of the heading-noise goals the
  students learn to turn from); "d" mirrors "a"."""
  g, m = commands.command_goal(LAY, "turn_left", _state(), 0.9)
  rot, pos = FIELD["body_rot"].reshape(B, 3), FIELD["body_pos"].reshape(B, 3)
  th = commands.TURN_ANGLE
  assert 0 < th < np.pi / 2
  for k in (1, H):
    np.testing.assert_allclose(g[k - 1, rot[0]], [0, 0, th], atol=1e-5)
    d = commands.MOVE_SPEED * k * LAY.dt
    np.testing.assert_allclose(g[k - 1, pos[0]], [d * np.cos(th), d * np.sin(th), 0], atol=1e-6)
  g2, _ = commands.command_goal(LAY, "turn_right", _state(), 0.9)
  np.testing.assert_allclose(g2[H - 1, rot[0]], -g[H - 1, rot[0]], atol=1e-5)
  np.testing.assert_allclose(g2[H - 1, pos[0]], g[H - 1, pos[0]] * np.array([1, -1, 1]),
                             atol=1e-6)


@pytest.mark.parametrize("command,fields", [
    ("stand", ("root_height", "body_pos", "body_rot")),
    ("approach", ("body_pos", "body_rot")),
    ("grasp", ("contact",)), ("release", ("contact",)),
    ("lift", ("obj_pos", "obj_rot", "contact")), ("lower", ("obj_pos", "obj_rot", "contact")),
    ("carry", ("obj_pos", "obj_rot", "contact")),
])
def test_snapshot_commands_give_only_their_fields(command, fields):
  g, m = commands.command_goal(LAY, command, _state(), 0.9)
  assert not np.any(np.asarray(m[:H])), "trajectory tokens stay empty"
  given = {goals_lib.FIELDS[i] for i in np.unique(IDS[np.asarray(m[H]) > 0])}
  assert given == set(fields), (command, given)
  assert np.all(np.asarray(g[H])[np.asarray(m[H]) == 0] == 0.0), "hidden entries are zero"


def test_object_and_contact_targets():
  x = _state()
  snap = lambda c: commands.command_goal(LAY, c, x, 0.9)[0][H]  # noqa: E731
  obj, con = FIELD["obj_pos"], FIELD["contact"]
  # lift: object centre to LIFT_HEIGHT above the floor (from 0.2 m): +0.8 m up, hands touching
  np.testing.assert_allclose(snap("lift")[obj], [0, 0, commands.LIFT_HEIGHT - 0.2], atol=1e-6)
  np.testing.assert_allclose(snap("lift")[con], [0, 1, 1])
  np.testing.assert_allclose(snap("lower")[obj], [0, 0, 0], atol=1e-6)
  np.testing.assert_allclose(snap("release")[con], [0, -1, -1])
  np.testing.assert_allclose(snap("carry")[obj], [commands.CARRY_DIST - 1.0, 0,
                                                  commands.LIFT_HEIGHT - 0.2], atol=1e-6)
  # approach: pelvis APPROACH_DIST short of the object, still facing it (straight ahead)
  pos, rot = FIELD["body_pos"].reshape(B, 3), FIELD["body_rot"].reshape(B, 3)
  np.testing.assert_allclose(snap("approach")[pos[0]], [1.0 - commands.APPROACH_DIST, 0, 0],
                             atol=1e-6)
  np.testing.assert_allclose(snap("approach")[rot[0]], 0.0, atol=1e-6)
  # an object to the left: the approach turns the pelvis a quarter turn
  x_left = x.replace(obj_pos=jnp.array([0.0, 1.0, -0.7]))
  g, _ = commands.command_goal(LAY, "approach", x_left, 0.9)
  np.testing.assert_allclose(g[H, rot[0]], [0, 0, np.pi / 2], atol=1e-5)


def test_unknown_command_and_missing_hands_are_refused():
  with pytest.raises(ValueError, match="unknown goal command"):
    commands.command_goal(LAY, "dance", _state(), 0.9)
  assert commands.hand_contact_slots([3, 7, 9], [[7], [9]]) == (1, 2)
  with pytest.raises(ValueError, match="hand"):
    commands.hand_contact_slots([3, 4], [[7], [9]])


def test_rotation_helper_is_a_yaw():
  q = commands._yaw_quat(jnp.float32(0.3))
  np.testing.assert_allclose(geometry.quat_diff_expmap(q, jnp.array([1.0, 0, 0, 0])), [0, 0, 0.3],
                             atol=1e-6)


def test_time_input_layout_appends_each_tokens_lead_time():
  """A student distilled with ``goals.time_input``: every command token ends with its lead time
  (trajectory k * dt, the move lead for the snapshot; 0 and not given for empty tokens); the rest
  of each token is the plain layout's."""
  import dataclasses
  lay = dataclasses.replace(LAY, move_lead_steps=30, time_input=True)
  plain = dataclasses.replace(LAY, move_lead_steps=30)
  for cmd, leads, given in (("forward", [k * LAY.dt for k in range(1, H + 1)] + [30 * LAY.dt],
                             [1] * (H + 1)),
                            ("grasp", [0.0] * (H + 1), [0] * H + [1])):
    g, m = commands.command_goal(lay, cmd, _state(), 0.9)
    g0, m0 = commands.command_goal(plain, cmd, _state(), 0.9)
    assert g.shape == m.shape == (H + 1, D + 1)
    np.testing.assert_array_equal(np.asarray(g[:, :-1]), np.asarray(g0))
    np.testing.assert_array_equal(np.asarray(m[:, :-1]), np.asarray(m0))
    np.testing.assert_allclose(np.asarray(g[:, -1]), leads, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(m[:, -1]), given)


def test_get_up_command_gives_no_goal_and_names_its_task():
  """u -> get_up: every token empty (the task token says what to do), task 'get_up'."""
  from interprior_jax.envs import goal_env
  assert commands.command_for_key("u") == "get_up"
  g, m = commands.command_goal(LAY, "get_up", _state(), 0.9)
  assert not np.any(np.asarray(m)) and not np.any(np.asarray(g))
  assert commands.TASK_COMMANDS["get_up"] in goal_env.TASKS
  assert "get_up" in commands.help_text()


def test_root_planner_fills_trajectory_tokens_with_pelvis_waypoints():
  """Goal planner 'root' (control/planner.py): token k = the snapshot's pelvis residual times
  min(k / n, 1) on the pelvis entries only, with the root family's mask and the lead time k dt;
  episodes whose snapshot hides the pelvis (or has no steps left) keep their tokens."""
  from interprior_jax.control import planner

  T = D + 1  # with the lead-time entry last
  names = goals_lib.FIELDS + ("time",)
  ids = np.append(IDS, len(goals_lib.FIELDS))
  entries = planner.root_entries(names, ids)
  root = np.concatenate([FIELD["root_height"], FIELD["body_pos"][:3], FIELD["body_rot"][:3]])
  np.testing.assert_array_equal(np.sort(entries), np.sort(root))
  rng = np.random.default_rng(0)
  goals = jnp.asarray(rng.normal(size=(3, H + 1, T)), jnp.float32)
  mask = jnp.ones((3, H + 1, T)).at[1, -1, FIELD["body_pos"][0]].set(0.0)  # episode 1: no pelvis x
  n = jnp.array([2, 10, 0], jnp.int32)  # episode 2: no steps left
  g, m = planner.root_waypoints(goals, mask, n, entries, 0.1, time_entry=D)
  snap = np.asarray(goals[0, -1])
  for k in range(1, H + 1):
    want = np.zeros(T)
    want[root] = snap[root] * min(k / 2, 1.0)
    want[D] = 0.1 * k
    np.testing.assert_allclose(np.asarray(g[0, k - 1]), want, rtol=1e-6, atol=1e-7)
    want_m = np.zeros(T)
    want_m[root] = 1.0
    want_m[D] = 1.0
    np.testing.assert_array_equal(np.asarray(m[0, k - 1]), want_m)
  # the root family's mask is what the planner writes (same entries as MASK_FAMILIES["root"])
  fam = np.asarray(goals_lib.mask_to_flat(goals_lib.MASK_FAMILIES["root"](B, C, None), B, C))
  np.testing.assert_array_equal(np.flatnonzero(fam), np.sort(root))
  for e in (1, 2):  # untouched
    np.testing.assert_array_equal(np.asarray(g[e]), np.asarray(goals[e]))
    np.testing.assert_array_equal(np.asarray(m[e]), np.asarray(mask[e]))
  np.testing.assert_array_equal(np.asarray(g[:, -1]), np.asarray(goals[:, -1]))  # snapshot kept
  with pytest.raises(ValueError, match="unknown planner"):
    planner.make_planner("spline", None, 0.1)
