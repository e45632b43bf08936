"""The HOI env contract (envs/contract.py): the student-state blocks and the missing-attribute
error, on hand-made layouts."""

import pytest

from interprior_jax.envs import contract


class _Spec:
  def __init__(self, rows):
    self._rows = rows

  def slices(self):
    out, i = {}, 0
    for name, n in self._rows:
      out[name] = slice(i, i + n)
      i += n
    return out


def test_student_state_is_the_leading_self_and_floor_contact_blocks():
  spec = _Spec([("self/root_height", 1), ("self/body_pos", 66), ("floor_contact/floor_contact", 2),
                ("goal/body_pos", 66)])
  assert contract.student_state_size(spec) == 69
  with pytest.raises(ValueError, match="expected block 'self' at position 0"):
    contract.student_state_size(_Spec([("goal/x", 3), ("self/a", 1)]))
  with pytest.raises(ValueError, match="expected block 'floor_contact'"):
    contract.student_state_size(_Spec([("self/a", 1), ("goal/x", 3)]))


def test_check_names_the_missing_attributes():
  class Half:
    spec = obs_spec = physics = library = None
    dt = 0.033
  with pytest.raises(ValueError, match=r"lacks \['action_size', 'surface_points'\]"):
    contract.check(Half(), "HOI goal source")


def test_embodiment_facts_live_on_the_humanoid_definition():
  import numpy as np

  from interprior_jax.assets import g1, humanoid, scene
  from interprior_jax.motion import convert

  smpl = scene.build_scene(scene.SceneOptions(humanoid="smpl")).spec
  np.testing.assert_array_equal(smpl.palm_axes, humanoid.get_humanoid_def("smpl").palm_axes)
  assert g1.G1_DEF.palm_axes != humanoid.get_humanoid_def("smpl").palm_axes
  assert convert.CONVERTIBLE_HUMANOIDS == ("smplx", "smpl") and not g1.G1_DEF.interact_convertible
  from interprior_jax import config as config_lib
  for name in ("smpl", "smplx", "g1"):
    assert (config_lib.scene_config(name).physics.timestep
            == scene.humanoid_definition(name).timestep)
