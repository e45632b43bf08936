"""Tests for the safe InterAct .pt reader (interprior_jax.motion.io.interact_pt) and the layout."""

import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

from interprior_jax import geometry as G
from interprior_jax import paths
from interprior_jax.motion import layout as L
from interprior_jax.motion.io import interact_pt as I

OMOMO = paths.omomo_root(required=False)
CLIPS = sorted((OMOMO / "clips").glob("*.pt")) if OMOMO is not None else []
needs_data = pytest.mark.skipif(not CLIPS, reason="shared OMOMO clips not available")


# ----------------------------------------------------------------------------------------------
# A hand-written torch-format writer (pickle opcodes, no torch), used only to forge test files.
# ----------------------------------------------------------------------------------------------

def _global(module, name):
  return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(s):
  b = s.encode()
  return b"X" + struct.pack("<I", len(b)) + b


def _int(i):
  return b"J" + struct.pack("<i", i)


def _tuple(items):
  return b"(" + b"".join(items) + b"t"


def _tensor_pickle(shape, stride, numel, offset=0, key="0", storage=("torch", "FloatStorage"),
                   rebuild=("torch._utils", "_rebuild_tensor_v2"),
                   hooks=("collections", "OrderedDict")):
  """Opcodes equivalent to what torch.save writes for one tensor (protocol 2), minus memo ops."""
  pid = _tuple([_str("storage"), _global(*storage), _str(key), _str("cpu"), _int(numel)]) + b"Q"
  args = _tuple([pid, _int(offset), _tuple([_int(s) for s in shape]),
                 _tuple([_int(s) for s in stride]), b"\x89", _global(*hooks) + b")R"])
  return _global(*rebuild) + args + b"R"


def _write_pt(path, pkl_body, storages, prefix=None, byteorder=b"little", raw_pickle=None):
  """Writes a torch-style zip: <prefix>/data.pkl, <prefix>/data/<key>, byteorder, version."""
  path = pathlib.Path(path)
  prefix = prefix if prefix is not None else path.stem
  pkl = raw_pickle if raw_pickle is not None else b"\x80\x02" + pkl_body + b"."
  with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
    z.writestr(f"{prefix}/data.pkl", pkl)
    if byteorder is not None:
      z.writestr(f"{prefix}/byteorder", byteorder)
    for key, data in storages.items():
      z.writestr(f"{prefix}/data/{key}", data)
    z.writestr(f"{prefix}/version", b"3\n")
  return path


def _save_array(path, arr, **kw):
  """A valid file for a C-contiguous float32 2-D array."""
  arr = np.ascontiguousarray(arr, dtype="<f4")
  t, w = arr.shape
  return _write_pt(path, _tensor_pickle((t, w), (w, 1), arr.size), {"0": arr.tobytes()}, **kw)


def _valid_array(frames=40, seed=0):
  """A synthetic (T, 591) clip with valid content (unit quats, legal labels)."""
  rng = np.random.default_rng(seed)
  a = rng.normal(size=(frames, L.INTERACT_WIDTH)).astype(np.float32)
  for name, block in L.INTERACT_LAYOUT.items():
    cols = a[:, block.slice]
    if block.kind == "unused":
      cols[:] = 0
    elif block.kind == "quat_xyzw":
      q = cols.reshape(frames, -1, 4)
      q /= np.linalg.norm(q, axis=-1, keepdims=True)
      cols[:] = q.reshape(frames, -1)
    elif block.kind == "flag":
      cols[:] = rng.integers(0, 2, size=cols.shape)
    elif block.kind == "contact":
      cols[:] = rng.integers(-1, 2, size=cols.shape)
  return a


# ----------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------

def test_layout_tiles_all_columns():
  blocks = sorted(L.INTERACT_LAYOUT.values(), key=lambda b: b.start)
  assert blocks[0].start == 0 and blocks[-1].stop == L.INTERACT_WIDTH == 591
  for a, b in zip(blocks, blocks[1:]):
    assert a.stop == b.start
  for b in blocks:
    assert b.width == (int(np.prod(b.shape)) if b.shape else 1)
  lay = L.INTERACT_LAYOUT
  assert (lay["root_pos"].slice, lay["root_quat"].slice) == (slice(0, 3), slice(3, 7))
  assert lay["joint_expmap"].slice == slice(9, 162) and lay["joint_expmap"].shape == (51, 3)
  assert lay["body_pos"].slice == slice(162, 318)
  assert (lay["obj_pos"].slice, lay["obj_quat"].slice) == (slice(318, 321), slice(321, 325))
  assert lay["obj_contact"].slice == slice(330, 331)
  assert lay["body_contact"].slice == slice(331, 383)
  assert lay["body_quat"].slice == slice(383, 591) and lay["body_quat"].shape == (52, 4)
  assert L.INTERACT_UNUSED == ("unused_7_9", "unused_325_330")
  assert lay["unused_7_9"].slice == slice(7, 9) and lay["unused_325_330"].slice == slice(325, 330)


def test_body_names():
  n = L.BODY_NAMES_SMPLX
  assert len(n) == 52 and len(set(n)) == 52 and n[0] == "Pelvis"
  assert n[18:21] == ("L_Index1", "L_Index2", "L_Index3")
  assert n[30:37] == ("L_Thumb1", "L_Thumb2", "L_Thumb3", "R_Thorax", "R_Shoulder", "R_Elbow",
                      "R_Wrist")
  assert n[-3:] == ("R_Thumb1", "R_Thumb2", "R_Thumb3")
  assert len(L.FINGER_BODY_NAMES_SMPLX) == 30 and L.NUM_JOINTS_SMPLX == 51
  for i, p in enumerate(L.BODY_PARENT_INDEX_SMPLX):
    assert p < i  # parents come first


@pytest.mark.skipif(OMOMO is None, reason="shared data not available")
def test_body_names_and_parents_match_mjcf():
  mujoco = pytest.importorskip("mujoco")
  m = mujoco.MjModel.from_xml_path(str(OMOMO / "humanoid" / "smplx_omomo.xml"))
  names = tuple(m.body(i).name for i in range(1, m.nbody))
  assert names == L.BODY_NAMES_SMPLX
  assert tuple(int(m.body_parentid[i]) - 1 for i in range(1, m.nbody)) == L.BODY_PARENT_INDEX_SMPLX


# ----------------------------------------------------------------------------------------------
# Real clips
# ----------------------------------------------------------------------------------------------

@needs_data
def test_all_real_clips_load():
  assert len(CLIPS) == 27
  objects = set()
  for p in CLIPS:
    raw = I.read_interact_pt(p)
    assert raw.dtype == np.float32 and raw.shape[1] == 591 and raw.flags.c_contiguous
    c = I.load_interact_clip(p)
    T = c.num_frames
    assert T == raw.shape[0] and T >= 30
    assert c.root_pos.shape == (T, 3) and c.root_quat.shape == (T, 4)
    assert c.joint_expmap.shape == (T, 51, 3)
    assert c.body_pos.shape == (T, 52, 3) and c.body_quat.shape == (T, 52, 4)
    assert c.obj_pos.shape == (T, 3) and c.obj_quat.shape == (T, 4)
    assert c.obj_contact.shape == (T,) and c.body_contact.shape == (T, 52)
    assert c.obj_contact.dtype == np.int8 and c.body_contact.dtype == np.int8
    for q in (c.root_quat, c.obj_quat, c.body_quat):
      assert q.dtype == np.float32
      np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-5)
    # converted to (w, x, y, z)
    np.testing.assert_array_equal(c.root_quat[:, 0], raw[:, L.INTERACT_LAYOUT["root_quat"].start + 3])
    assert c.fps == 30.0 and c.subject == "sub2" and c.source == str(p)
    assert 4.0 < c.duration < 30.0
    assert set(np.unique(c.body_contact)) <= {-1, 0, 1}
    assert set(np.unique(c.obj_contact)) <= {0, 1}
    objects.add(c.object_name)
    assert p.stem == f"sub2_{c.object_name}_{c.clip_index:03d}"
  assert objects == {"largetable", "woodchair"}


@needs_data
def test_real_data_consistency():
  """Facts about the real files that downstream code relies on (all clips concatenated)."""
  clips = [I.load_interact_clip(p) for p in CLIPS]
  cat = lambda f: np.concatenate([getattr(c, f) for c in clips])
  raw = np.concatenate([I.read_interact_pt(p) for p in CLIPS])
  root_pos, root_quat, body_pos, body_quat = (cat("root_pos"), cat("root_quat"), cat("body_pos"),
                                              cat("body_quat"))
  joint_expmap = cat("joint_expmap")
  # the root is the pelvis body
  np.testing.assert_allclose(root_pos, body_pos[:, 0], atol=1e-3)
  assert float(np.max(G.quat_angle_diff(root_quat, body_quat[:, 0]))) < 1e-3
  # unused columns are zero; raw OMOMO has no finger motion
  for name in L.INTERACT_UNUSED:
    assert np.all(raw[:, L.INTERACT_LAYOUT[name].slice] == 0)
  fingers = [L.JOINT_BODY_NAMES_SMPLX.index(n) for n in L.FINGER_BODY_NAMES_SMPLX]
  assert np.all(joint_expmap[:, fingers] == 0)
  # joint_expmap is the true exp-map of the local rotation conj(q_parent) * q_child (NOT Euler
  # angles for the x/y/z hinges: hinge angles must come from quat_to_euler_xyz of it)
  par = np.asarray(L.BODY_PARENT_INDEX_SMPLX[1:])
  local = G.quat_mul(G.quat_conj(body_quat[:, par]), body_quat[:, 1:])
  err = G.quat_angle_diff(local, G.quat_from_expmap(joint_expmap))
  assert float(np.max(err)) < 1e-4


# ----------------------------------------------------------------------------------------------
# The forging writer and structural checks
# ----------------------------------------------------------------------------------------------

def test_forged_valid_file_round_trips(tmp_path):
  a = _valid_array()
  p = _save_array(tmp_path / "sub9_box_004.pt", a)
  np.testing.assert_array_equal(I.read_interact_pt(p), a)
  c = I.load_interact_clip(p)
  assert (c.subject, c.object_name, c.clip_index) == ("sub9", "box", 4)
  np.testing.assert_array_equal(c.obj_quat, G.xyzw_to_wxyz(a[:, 321:325]))
  np.testing.assert_array_equal(c.body_pos, a[:, 162:318].reshape(-1, 52, 3))


@needs_data
def test_forged_writer_matches_real_file(tmp_path):
  raw = I.read_interact_pt(CLIPS[0])
  p = _save_array(tmp_path / CLIPS[0].name, raw)
  np.testing.assert_array_equal(I.read_interact_pt(p), raw)
  with zipfile.ZipFile(CLIPS[0]) as z:
    real = z.read(f"{CLIPS[0].stem}/data/0")
  with zipfile.ZipFile(p) as z:
    assert z.read(f"{CLIPS[0].stem}/data/0") == real


def test_strided_and_offset_views(tmp_path):
  a = _valid_array(frames=7)
  t, w = a.shape
  # column-major storage with 5 leading junk elements
  store = np.concatenate([np.full(5, 9.0, "<f4"), np.asfortranarray(a).ravel(order="F")])
  p = _write_pt(tmp_path / "sub1_box_000.pt",
                _tensor_pickle((t, w), (1, t), store.size, offset=5), {"0": store.tobytes()})
  np.testing.assert_array_equal(I.read_interact_pt(p), a)
  # a view that runs past the end of its storage
  p = _write_pt(tmp_path / "sub1_box_001.pt",
                _tensor_pickle((t, w), (w, 1), a.size, offset=3), {"0": a.tobytes()})
  with pytest.raises(I.ClipFormatError, match="sub1_box_001.pt: storage: .*exceeds"):
    I.read_interact_pt(p)


def _marker_payload(marker, kind):
  """A pickle that, if unpickled normally, creates ``marker``."""
  if kind == "exec":
    code = f"open({str(marker)!r}, 'w').write('pwned')"
    return b"\x80\x02" + _global("builtins", "exec") + _tuple([_str(code)]) + b"R."
  if kind == "os.system":
    return b"\x80\x02" + _global("os", "system") + _tuple([_str(f"touch '{marker}'")]) + b"R."
  raise ValueError(kind)


@pytest.mark.parametrize("kind", ["exec", "os.system"])
def test_malicious_global_rejected_without_executing(tmp_path, kind):
  # control: the payload is live under the ordinary unpickler
  control = tmp_path / "control_marker"
  pickle.loads(_marker_payload(control, kind))
  assert control.exists()
  # our reader refuses it, and nothing runs
  marker = tmp_path / "marker"
  p = _write_pt(tmp_path / "sub2_box_000.pt", b"", {"0": b""},
                raw_pickle=_marker_payload(marker, kind))
  global_name = "builtins.exec" if kind == "exec" else "os.system"
  with pytest.raises(I.ClipFormatError, match=rf"sub2_box_000.pt: data.pkl: disallowed global "
                     rf"{global_name}"):
    I.read_interact_pt(p)
  assert not marker.exists()


def test_malicious_global_nested_in_tensor_rejected(tmp_path):
  """A bad global anywhere in the stream (here in place of the hooks OrderedDict) is refused."""
  marker = tmp_path / "marker"
  a = _valid_array(frames=3)
  code = f"open({str(marker)!r}, 'w').write('pwned')"
  body = (_global("torch._utils", "_rebuild_tensor_v2")
          + _tuple([_tuple([_str("storage"), _global("torch", "FloatStorage"), _str("0"),
                            _str("cpu"), _int(a.size)]) + b"Q",
                    _int(0), _tuple([_int(3), _int(591)]), _tuple([_int(591), _int(1)]), b"\x89",
                    _global("builtins", "exec") + _tuple([_str(code)]) + b"R"]) + b"R")
  p = _write_pt(tmp_path / "sub2_box_001.pt", body, {"0": a.tobytes()})
  with pytest.raises(I.ClipFormatError, match="data.pkl: disallowed global builtins.exec"):
    I.read_interact_pt(p)
  assert not marker.exists()


def test_structural_errors(tmp_path):
  a = _valid_array(frames=5)
  t, w = a.shape

  def check(name, match, **kw):
    p = tmp_path / name
    if "raw_bytes" in kw:
      p.write_bytes(kw["raw_bytes"])
    else:
      _write_pt(p, kw["body"], kw["storages"], **{k: v for k, v in kw.items()
                                                  if k in ("byteorder", "raw_pickle")})
    with pytest.raises(I.ClipFormatError, match=rf"{name}: {match}") as e:
      I.read_interact_pt(p)
    assert e.value.source == str(p)

  check("a.pt", "archive: not a zip", raw_bytes=pickle.dumps(a))
  check("b.pt", "storage: archive member .*data/0.* is missing",
        body=_tensor_pickle((t, w), (w, 1), a.size), storages={})
  check("c.pt", r"storage: .* holds 400 bytes, expected",
        body=_tensor_pickle((t, w), (w, 1), a.size), storages={"0": b"\0" * 400})
  check("d.pt", r"dtype: torch.DoubleStorage \(float64\)",
        body=_tensor_pickle((t, w), (w, 1), a.size, storage=("torch", "DoubleStorage")),
        storages={"0": a.astype(np.float64).tobytes()})
  b = a[:, :590].copy()
  check("e.pt", r"shape: width 590 != 591",
        body=_tensor_pickle((t, 590), (590, 1), b.size), storages={"0": b.tobytes()})
  check("f.pt", r"shape: expected a 2-D tensor",
        body=_tensor_pickle((a.size,), (1,), a.size), storages={"0": a.tobytes()})
  two = _tensor_pickle((t, w), (w, 1), a.size)
  check("g.pt", r"payload: expected exactly one tensor, found list",
        body=b"]" + b"(" + two + two + b"e", storages={"0": a.tobytes()})
  check("h.pt", r"payload: expected exactly one tensor, found dict",
        body=b"}", storages={})
  check("i.pt", r"byteorder: .*big", body=_tensor_pickle((t, w), (w, 1), a.size),
        storages={"0": a.tobytes()}, byteorder=b"big")
  check("j.pt", r"data.pkl: bad storage key",
        body=_tensor_pickle((t, w), (w, 1), a.size, key="../../etc/passwd"),
        storages={"0": a.tobytes()})
  check("k.pt", r"data.pkl: unreadable pickle", body=b"", storages={},
        raw_pickle=b"\x80\x02garbage")
  check("l.pt", r"data.pkl: BUILD applied to _TensorRef",  # state patching of the placeholder
        body=_tensor_pickle((t, w), (w, 1), a.size) + b"}" + _str("shape") + _str("x") + b"sb",
        storages={"0": a.tobytes()})
  check("m.pt", r"data.pkl: unreadable pickle",  # calling a storage class is not allowed
        body=_global("torch", "FloatStorage") + _tuple([_int(3)]) + b"R", storages={})
  with pytest.raises(I.ClipFormatError, match="nope.pt: file: not found"):
    I.read_interact_pt(tmp_path / "nope.pt")


# ----------------------------------------------------------------------------------------------
# Content validation
# ----------------------------------------------------------------------------------------------

def _bad(tmp_path, name, mutate, frames=40):
  a = _valid_array(frames=frames)
  mutate(a)
  return _save_array(tmp_path / name, a)


def test_nan_names_block_and_frame(tmp_path):
  def mutate(a):
    a[17, L.INTERACT_LAYOUT["body_pos"].start + 3 * 5 + 1] = np.nan
  p = _bad(tmp_path, "sub2_box_010.pt", mutate)
  assert np.isnan(I.read_interact_pt(p)).any()  # structural read is raw
  with pytest.raises(I.ClipFormatError, match=r"sub2_box_010.pt: body_pos: non-finite value nan "
                     r"at frame 17 \(column 178\)"):
    I.load_interact_clip(p)

  def mutate_inf(a):
    a[3, L.INTERACT_LAYOUT["obj_pos"].start] = np.inf
  with pytest.raises(I.ClipFormatError, match=r"sub2_box_011.pt: obj_pos: .*inf at frame 3"):
    I.load_interact_clip(_bad(tmp_path, "sub2_box_011.pt", mutate_inf))

  def mutate_unused(a):  # unused columns are not inspected
    a[:, L.INTERACT_LAYOUT["unused_7_9"].slice] = np.nan
  I.load_interact_clip(_bad(tmp_path, "sub2_box_012.pt", mutate_unused))


@pytest.mark.parametrize("field,body,expect", [
    ("root_quat", None, r"root_quat: non-unit quaternion at frame 9: norm 1.1"),
    ("obj_quat", None, r"obj_quat: non-unit quaternion at frame 9: norm 1.1"),
    ("body_quat", 7, r"body_quat: non-unit quaternion at frame 9 body 7 \(R_Ankle\): norm 1.1"),
])
def test_non_unit_quaternion(tmp_path, field, body, expect):
  def mutate(a):
    s = L.INTERACT_LAYOUT[field].start + 4 * (body or 0)
    a[9, s:s + 4] *= 1.1
  p = _bad(tmp_path, f"sub2_box_02{len(field)}.pt", mutate)
  with pytest.raises(I.ClipFormatError, match=rf"{p.name}: {expect}"):
    I.load_interact_clip(p)


def test_bad_contact_labels(tmp_path):
  def mutate(a):
    a[12, L.INTERACT_LAYOUT["body_contact"].start + 20] = 0.5
  with pytest.raises(I.ClipFormatError, match=r"sub2_box_030.pt: body_contact: label 0.5 not in "
                     r".* at frame 12 body 20 \(L_Index3\)"):
    I.load_interact_clip(_bad(tmp_path, "sub2_box_030.pt", mutate))

  def mutate2(a):
    a[4, L.INTERACT_LAYOUT["obj_contact"].start] = -1
  with pytest.raises(I.ClipFormatError, match=r"sub2_box_031.pt: obj_contact: label -1.0 not in "
                     r".* at frame 4"):
    I.load_interact_clip(_bad(tmp_path, "sub2_box_031.pt", mutate2))


def test_too_few_frames_and_bad_name(tmp_path):
  p = _bad(tmp_path, "sub2_box_040.pt", lambda a: None, frames=1)
  with pytest.raises(I.ClipFormatError, match=r"sub2_box_040.pt: frames: 1 frames < minimum 2"):
    I.load_interact_clip(p)
  with pytest.raises(I.ClipFormatError, match=r"frames: 40 frames < minimum 100"):
    I.load_interact_clip(_bad(tmp_path, "sub2_box_041.pt", lambda a: None), min_frames=100)
  p = _bad(tmp_path, "weird.pt", lambda a: None)
  with pytest.raises(I.ClipFormatError, match=r"weird.pt: file name"):
    I.load_interact_clip(p)
  assert I.load_interact_clip(p, object_name="box").object_name == "box"


def test_error_class_is_value_error():
  assert issubclass(I.ClipFormatError, ValueError)
  e = I.ClipFormatError("/x/y.pt", "body_pos", "bad")
  assert str(e) == "/x/y.pt: body_pos: bad" and e.field == "body_pos"
