"""Named layouts of motion data: SMPL-X body order and the InterAct/InterMimic clip columns.

Every index into a raw InterAct ``(T, 591)`` clip array goes through :data:`INTERACT_LAYOUT`; no
other module should hard-code column numbers.
"""

from __future__ import annotations

import dataclasses
import math
import types

_FINGERS = ("Index", "Middle", "Pinky", "Ring", "Thumb")


def _finger_bodies(side: str) -> tuple[str, ...]:
  return tuple(f"{side}_{f}{k}" for f in _FINGERS for k in (1, 2, 3))


#: The 52 bodies of the InterMimic SMPL-X humanoid (``smplx_omomo.xml``), in file/MJCF order.
BODY_NAMES_SMPLX: tuple[str, ...] = (
    ("Pelvis",
     "L_Hip", "L_Knee", "L_Ankle", "L_Toe",
     "R_Hip", "R_Knee", "R_Ankle", "R_Toe",
     "Torso", "Spine", "Chest", "Neck", "Head",
     "L_Thorax", "L_Shoulder", "L_Elbow", "L_Wrist")
    + _finger_bodies("L")
    + ("R_Thorax", "R_Shoulder", "R_Elbow", "R_Wrist")
    + _finger_bodies("R"))

NUM_BODIES_SMPLX = len(BODY_NAMES_SMPLX)  # 52
#: Bodies with a 3-hinge ball joint (all but the root), in joint order.
JOINT_BODY_NAMES_SMPLX: tuple[str, ...] = BODY_NAMES_SMPLX[1:]
NUM_JOINTS_SMPLX = len(JOINT_BODY_NAMES_SMPLX)  # 51
FINGER_BODY_NAMES_SMPLX: tuple[str, ...] = _finger_bodies("L") + _finger_bodies("R")

#: Kinematic parent of each body (name -> parent name; the root maps to None), from the MJCF tree.
BODY_PARENTS_SMPLX: dict[str, str | None] = {
    "Pelvis": None,
    "L_Hip": "Pelvis", "L_Knee": "L_Hip", "L_Ankle": "L_Knee", "L_Toe": "L_Ankle",
    "R_Hip": "Pelvis", "R_Knee": "R_Hip", "R_Ankle": "R_Knee", "R_Toe": "R_Ankle",
    "Torso": "Pelvis", "Spine": "Torso", "Chest": "Spine", "Neck": "Chest", "Head": "Neck",
    "L_Thorax": "Chest", "L_Shoulder": "L_Thorax", "L_Elbow": "L_Shoulder",
    "L_Wrist": "L_Elbow",
    "R_Thorax": "Chest", "R_Shoulder": "R_Thorax", "R_Elbow": "R_Shoulder",
    "R_Wrist": "R_Elbow",
}
for _side in ("L", "R"):
  for _f in _FINGERS:
    BODY_PARENTS_SMPLX[f"{_side}_{_f}1"] = f"{_side}_Wrist"
    BODY_PARENTS_SMPLX[f"{_side}_{_f}2"] = f"{_side}_{_f}1"
    BODY_PARENTS_SMPLX[f"{_side}_{_f}3"] = f"{_side}_{_f}2"
#: Parent index per body (-1 for the root), aligned with BODY_NAMES_SMPLX.
BODY_PARENT_INDEX_SMPLX: tuple[int, ...] = tuple(
    -1 if BODY_PARENTS_SMPLX[n] is None else BODY_NAMES_SMPLX.index(BODY_PARENTS_SMPLX[n])
    for n in BODY_NAMES_SMPLX)


@dataclasses.dataclass(frozen=True)
class ColumnBlock:
  """A contiguous block of columns in a per-frame feature row.

  Attributes:
    name: block name (key in the layout).
    start, stop: column range ``[start, stop)``.
    shape: per-frame shape of the block after reshaping (``()`` for a single column).
    kind: 'pos' (metres), 'quat_xyzw' (quaternions as stored, x y z w), 'expmap'
      (axis * angle per hinge triple), 'flag' ({0, 1}), 'contact' ({-1, 0, 1}) or 'unused'.
  """
  name: str
  start: int
  stop: int
  shape: tuple[int, ...]
  kind: str

  @property
  def slice(self) -> slice:
    return slice(self.start, self.stop)

  @property
  def width(self) -> int:
    return self.stop - self.start

  def take(self, data):
    """Block of an array (T, W) (numpy or jax) reshaped to (T, *shape)."""
    return data[..., self.start:self.stop].reshape(data.shape[:-1] + self.shape)


def _blocks(*specs) -> types.MappingProxyType:
  out, col = {}, 0
  for name, shape, kind in specs:
    width = math.prod(shape) if shape else 1
    out[name] = ColumnBlock(name, col, col + width, tuple(shape), kind)
    col += width
  return types.MappingProxyType(out)


#: Column layout of an InterAct/InterMimic clip row (see ``<shared>/interact_omomo/README.md``).
#: Contiguous and complete: blocks tile columns 0..INTERACT_WIDTH.
INTERACT_LAYOUT = _blocks(
    ("root_pos", (3,), "pos"),                          # 0:3
    ("root_quat", (4,), "quat_xyzw"),                   # 3:7
    ("unused_7_9", (2,), "unused"),                     # 7:9
    ("joint_expmap", (NUM_JOINTS_SMPLX, 3), "expmap"),  # 9:162
    ("body_pos", (NUM_BODIES_SMPLX, 3), "pos"),         # 162:318
    ("obj_pos", (3,), "pos"),                           # 318:321
    ("obj_quat", (4,), "quat_xyzw"),                    # 321:325
    ("unused_325_330", (5,), "unused"),                 # 325:330
    ("obj_contact", (), "flag"),                        # 330
    ("body_contact", (NUM_BODIES_SMPLX,), "contact"),   # 331:383
    ("body_quat", (NUM_BODIES_SMPLX, 4), "quat_xyzw"),  # 383:591
)
INTERACT_WIDTH: int = max(b.stop for b in INTERACT_LAYOUT.values())  # 591
INTERACT_UNUSED: tuple[str, ...] = tuple(
    n for n, b in INTERACT_LAYOUT.items() if b.kind == "unused")
INTERACT_FPS: float = 30.0

__all__ = [
    "BODY_NAMES_SMPLX", "NUM_BODIES_SMPLX", "JOINT_BODY_NAMES_SMPLX", "NUM_JOINTS_SMPLX",
    "FINGER_BODY_NAMES_SMPLX", "BODY_PARENTS_SMPLX", "BODY_PARENT_INDEX_SMPLX", "ColumnBlock",
    "INTERACT_LAYOUT", "INTERACT_WIDTH", "INTERACT_UNUSED", "INTERACT_FPS",
]
