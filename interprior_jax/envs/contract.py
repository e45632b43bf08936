"""The HOI env's contract with the code that wraps or reads it (the goal env and its HOI goal
source, Stage 3's in-betweening env, tracking evaluation, the plain-MuJoCo replay backend, play):
the per-env ``State.info`` keys they read, the observation blocks that form the student's state,
and the attributes they use. Written once, here; :func:`check` names what an env lacks.
"""

from __future__ import annotations

#: ``State.info`` keys of the HOI env read outside it (all per env, fixed shapes).
INFO_CLIP = "clip"              # int32 (): index of the clip being tracked
INFO_TIME = "time"              # float32 (): reference time of the current state (s)
INFO_STEPS = "steps"            # int32 (): policy steps since the episode's reset
INFO_OBJ_PARAMS = "obj_params"  # this episode's object physics (perturbations.ObjectParams)
INFO_TRUNCATION = "truncation"  # float32 (): the episode ended by a time limit (brax convention)

#: Observation blocks, from the start of the observation, that form the student's proprioceptive
#: state (everything before the reference / goal blocks the student must not see).
STUDENT_STATE_BLOCKS = ("self", "floor_contact")

#: Attributes the wrappers use: ``spec`` (SceneSpec: bodies, contact bodies, hands, feet, head),
#: ``obs_spec`` (observations.ObsSpec), ``physics`` (``frame(pipeline_state) -> SimFrame``),
#: ``library`` (MotionLibrary: ``frame(clip, time) -> RefFrame``), ``dt`` (policy step, s),
#: ``action_size``, ``surface_points(clip, obj_params)`` (object surface points, object frame).
ATTRIBUTES = ("spec", "obs_spec", "physics", "library", "dt", "action_size", "surface_points")


def check(env, where: str) -> None:
  """ValueError naming the contract attributes ``env`` lacks (``where``: who needs them)."""
  missing = [a for a in ATTRIBUTES if not hasattr(env, a)]
  if missing:
    raise ValueError(f"{where}: {type(env).__name__} lacks {missing} of the HOI env contract "
                     f"(interprior_jax/envs/contract.py)")


def student_state_size(obs_spec) -> int:
  """Length of the leading :data:`STUDENT_STATE_BLOCKS` of the flat observation; ValueError when
  the layout does not start with them, in that order."""
  rows = list(obs_spec.slices().items())
  end, i = 0, 0
  for block in STUDENT_STATE_BLOCKS:
    if i >= len(rows) or not rows[i][0].startswith(block + "/"):
      raise ValueError(f"HOI observation layout: expected block {block!r} at position {i} "
                       f"(blocks must start with {STUDENT_STATE_BLOCKS}), got "
                       f"{rows[i][0] if i < len(rows) else 'the end'}")
    if rows[i][1].start != end:
      raise ValueError(f"HOI observation layout: block {block!r} does not follow the previous one")
    while i < len(rows) and rows[i][0].startswith(block + "/"):
      end = rows[i][1].stop
      i += 1
  return end
