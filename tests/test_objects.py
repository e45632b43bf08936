"""Tests for interprior_jax.assets.objects: definitions, MuJoCo/MJX compilation, surface samples."""

from __future__ import annotations

import time

import mujoco
import numpy as np
import pytest

from interprior_jax import paths
from interprior_jax.assets import objects as obj

PRIMITIVE_NAMES = ["box", "small_box", "large_box", "cylinder", "sphere", "capsule", "table",
                   "chair"]
OMOMO_NAMES = ["omomo_largetable", "omomo_woodchair"]
# Capsules balance on a point when upright; drop them lying along y instead.
_LYING = (np.cos(np.pi / 4), np.sin(np.pi / 4), 0.0, 0.0)


def _scene(*placements) -> mujoco.MjSpec:
  """A spec with a floor plane and (asset, body_name, pos, quat) placements."""
  spec = mujoco.MjSpec()
  spec.worldbody.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[5.0, 5.0, 0.1])
  for asset, name, pos, quat in placements:
    asset.add_to_spec(spec, name, pos=pos, quat=quat)
  return spec


def _drop_and_settle(asset: obj.ObjectAsset, quat=(1.0, 0.0, 0.0, 0.0), rest_z=None,
                     seconds: float = 1.0):
  """Drops the object from 5 cm above rest and checks it ends at rest on the floor."""
  rest_z = -asset.bottom_z if rest_z is None else rest_z
  model = _scene((asset, "obj", (0.0, 0.0, rest_z + 0.05), quat)).compile()
  data = mujoco.MjData(model)
  for _ in range(int(seconds / model.opt.timestep)):
    mujoco.mj_step(model, data)
  assert np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all()
  assert np.abs(data.qvel).max() < 0.05, data.qvel
  assert abs(data.qpos[2] - rest_z) < 5e-3, (data.qpos[2], rest_z)
  assert np.linalg.norm(data.qpos[:2]) < 5e-3
  assert data.ncon > 0 and data.contact.dist[:data.ncon].min() > -5e-3
  return model


def _omomo_or_skip():
  if paths.omomo_root(required=False) is None:
    pytest.skip("shared interact_omomo data not found")


def _max_distance_to_mesh(vertices, faces, points, k: int = 64) -> float:
  """Upper bound on the largest distance from ``points`` (N, 3) to a triangle mesh.

  Each point is tested against the k triangles with the nearest centroids: its distance is the
  plane distance to one whose barycentric coordinates (of the projection) are all >= -1e-6.
  """
  from scipy.spatial import cKDTree
  v = np.asarray(vertices, np.float64)
  tri = v[np.asarray(faces)]
  _, idx = cKDTree(tri.mean(axis=1)).query(np.asarray(points, np.float64), k=min(k, len(tri)))
  t = tri[idx]  # (N, k, 3, 3)
  p = np.asarray(points, np.float64)[:, None, :]
  e1, e2, w = t[..., 1, :] - t[..., 0, :], t[..., 2, :] - t[..., 0, :], p - t[..., 0, :]
  n = np.cross(e1, e2)
  n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-30)
  plane = np.abs(np.sum(w * n, axis=-1))
  d11, d12, d22 = (e1 * e1).sum(-1), (e1 * e2).sum(-1), (e2 * e2).sum(-1)
  w1, w2 = (w * e1).sum(-1), (w * e2).sum(-1)
  den = np.maximum(d11 * d22 - d12 ** 2, 1e-30)
  b1, b2 = (d22 * w1 - d12 * w2) / den, (d11 * w2 - d12 * w1) / den
  ok = (b1 >= -1e-6) & (b2 >= -1e-6) & (b1 + b2 <= 1 + 1e-6)
  return float(np.where(ok, plane, np.inf).min(axis=1).max())


@pytest.fixture
def l_shape_obj(tmp_path, monkeypatch):
  """A small non-convex OBJ (two boxes forming an L) and a private hull cache folder."""
  import trimesh
  monkeypatch.setenv("INTERPRIOR_CACHE", str(tmp_path / "cache"))
  a = trimesh.creation.box([0.4, 0.1, 0.1])
  b = trimesh.creation.box([0.1, 0.1, 0.3])
  b.apply_translation([-0.15, 0.0, 0.2])
  path = tmp_path / "lshape.obj"
  trimesh.util.concatenate([a, b]).export(path)
  return path


# ------------------------------------------------------------------------------------------------
# Library and definitions


def test_library_names():
  names = obj.list_objects()
  for n in PRIMITIVE_NAMES + OMOMO_NAMES:
    assert n in names
  with pytest.raises(KeyError, match="table"):
    obj.make_object("no_such_object")
  with pytest.raises(TypeError, match="half_extents"):
    obj.make_object("box", not_a_field=1.0)


def test_overrides_and_scaling():
  a = obj.make_object("box", half_extents=(0.1, 0.2, 0.3), density=10.0)
  np.testing.assert_allclose(a.half_extents, [0.1, 0.2, 0.3])
  assert a.mass == pytest.approx(10.0 * 0.2 * 0.4 * 0.6)
  big = obj.make_object(obj.object_def("box").scaled(2.0))
  np.testing.assert_allclose(big.half_extents, 2.0 * obj.make_object("box").half_extents)
  table = obj.make_object("table")
  table2 = obj.make_object(obj.TableDef().scaled(1.5))
  assert table2.height == pytest.approx(1.5 * table.height)
  assert table2.mass == pytest.approx(1.5 ** 3 * table.mass)
  with pytest.raises(ValueError):
    obj.BoxDef(half_extents=(0.1, -0.1, 0.1))


# ------------------------------------------------------------------------------------------------
# MuJoCo / MJX


@pytest.mark.parametrize("name", PRIMITIVE_NAMES)
def test_primitive_rests_on_floor(name):
  asset = obj.make_object(name)
  if name == "capsule":
    _drop_and_settle(asset, quat=_LYING, rest_z=asset.definition.radius)
  else:
    _drop_and_settle(asset)


def test_box_mass_is_density_times_volume():
  asset = obj.make_object("box")
  model = _scene((asset, "crate", (0, 0, 1), (1, 0, 0, 0))).compile()
  d = asset.definition
  expected = d.density * 8.0 * np.prod(d.half_extents)
  assert model.body_mass[model.body("crate").id] == pytest.approx(expected, rel=1e-9)
  assert asset.mass == pytest.approx(expected)


def test_cylinder_variants_mass():
  prim = obj.make_object("cylinder", as_mesh=False)
  assert [g.kind for g in prim.geoms] == ["cylinder"]
  model = _scene((prim, "c", (0, 0, 1), (1, 0, 0, 0))).compile()
  d = prim.definition
  assert model.body_mass[1] == pytest.approx(d.density * np.pi * d.radius ** 2 * 2 * d.half_height)
  mesh = obj.make_object("cylinder")
  assert [g.kind for g in mesh.geoms] == ["mesh"] and len(mesh.geoms[0].vertices) <= 64
  model = _scene((mesh, "c", (0, 0, 1), (1, 0, 0, 0))).compile()
  assert model.body_mass[1] == pytest.approx(mesh.mass, rel=1e-6)
  assert mesh.mass == pytest.approx(prim.mass, rel=0.02)  # inscribed 20-gon prism


def test_two_objects_in_one_spec_and_mjx():
  from mujoco import mjx
  placements = []
  for i, name in enumerate(PRIMITIVE_NAMES + PRIMITIVE_NAMES[:2]):
    a = obj.make_object(name)
    placements.append((a, f"{name}_{i}", (1.0 * i, 0.0, -a.bottom_z + 0.01), (1, 0, 0, 0)))
  placements.append((obj.make_object("cylinder"), "cylinder_b", (0.0, 2.0, 0.3), (1, 0, 0, 0)))
  model = _scene(*placements).compile()
  assert model.nbody == 1 + len(placements)
  assert model.njnt == len(placements)
  assert model.joint("cylinder_b_root").type == mujoco.mjtJoint.mjJNT_FREE
  assert model.geom("table_6_top").bodyid == model.body("table_6").id
  mjx.put_model(model)  # every colliding geom-type pair has an MJX collision function


# ------------------------------------------------------------------------------------------------
# Surface samples


def test_box_surface_points_deterministic_and_on_surface():
  asset = obj.make_object("box")
  pts, nrm = asset.surface_points, asset.surface_normals
  assert pts.shape == (1024, 3) and pts.dtype == np.float32 and nrm.shape == (1024, 3)
  again = obj._compile.__wrapped__(obj.object_def("box"), 1024)  # bypass the memo cache
  np.testing.assert_array_equal(pts, again.surface_points)
  he = np.asarray(asset.definition.half_extents)
  assert (np.abs(pts) <= he + 1e-5).all()
  assert (np.abs(np.abs(pts) - he) < 1e-5).any(axis=1).all()
  np.testing.assert_allclose(np.linalg.norm(nrm, axis=1), 1.0, atol=1e-5)
  # Area-uniform: the share of points on the +-x faces matches their area share.
  on_x = (np.abs(np.abs(pts[:, 0]) - he[0]) < 1e-5).mean()
  assert on_x == pytest.approx(he[1] * he[2] / (he[1] * he[2] + he[0] * he[2] + he[0] * he[1]),
                               abs=0.05)
  assert obj.make_object("box", num_points=100).surface_points.shape == (100, 3)
  other = obj.make_object("box", half_extents=(0.2, 0.15, 0.21)).surface_points
  assert not np.allclose(other[:10], pts[:10])


@pytest.mark.parametrize("name", ["sphere", "capsule"])
def test_round_surface_points(name):
  asset = obj.make_object(name)
  d = asset.definition
  p = asset.surface_points.astype(np.float64)
  if name == "capsule":
    p[:, 2] = np.sign(p[:, 2]) * np.maximum(np.abs(p[:, 2]) - d.half_length, 0.0)
  np.testing.assert_allclose(np.linalg.norm(p, axis=1), d.radius, atol=1e-5)


@pytest.mark.parametrize("name", ["table", "chair", "cylinder"])
def test_composite_surface_points_on_exposed_surface(name):
  """Each point is on the union's surface: just inside along -normal, just outside along +normal."""
  asset = obj.make_object(name)
  pts = asset.surface_points.astype(np.float64)
  nrm = asset.surface_normals.astype(np.float64)

  def inside(q):
    res = np.zeros(len(q), bool)
    for g in asset.geoms:
      if g.kind == "box":
        res |= np.all(np.abs((q - np.asarray(g.pos)) @ g.rotation) < np.asarray(g.size), axis=1)
      else:
        from scipy.spatial import Delaunay
        res |= Delaunay(g.vertices).find_simplex(q) >= 0
    return res

  assert inside(pts - 1e-4 * nrm).all()
  assert not inside(pts + 1e-4 * nrm).any()


# ------------------------------------------------------------------------------------------------
# Meshes


def test_reduce_hull_caps_vertices():
  rng = np.random.default_rng(0)
  pts = rng.normal(size=(2000, 3))
  pts /= np.linalg.norm(pts, axis=1, keepdims=True)
  v = obj.reduce_hull(pts, 64)
  assert 4 <= len(v) <= 64
  assert obj._convex_hull(v).volume / obj._convex_hull(pts).volume > 0.85
  assert np.array_equal(v, obj.reduce_hull(pts, 64))


def test_mesh_decomposition_cache_and_asset(l_shape_obj):
  import trimesh
  params = obj.DecompositionParams()
  cache = obj.hull_cache_path(l_shape_obj, params)
  assert not cache.exists()
  t0 = time.perf_counter()
  hulls = obj.convex_decomposition(l_shape_obj, params)
  t_first = time.perf_counter() - t0
  assert cache.is_file()
  t0 = time.perf_counter()
  again = obj.convex_decomposition(l_shape_obj, params)
  t_second = time.perf_counter() - t0
  assert t_second < 0.2 and t_second < t_first / 5
  assert len(hulls) == len(again) and all(np.array_equal(a, b) for a, b in zip(hulls, again))
  assert 1 <= len(hulls) <= params.max_hulls and all(4 <= len(h) <= 64 for h in hulls)

  asset = obj.make_object(obj.MeshDef(name="lshape", obj_path=str(l_shape_obj)))
  mesh = trimesh.load(l_shape_obj, force="mesh")
  assert _max_distance_to_mesh(mesh.vertices, mesh.faces, asset.surface_points) < 1e-4
  _drop_and_settle(asset)
  half = obj.make_object(obj.MeshDef(name="lshape", obj_path=str(l_shape_obj), scale=0.5))
  np.testing.assert_allclose(half.bounding_box, 0.5 * asset.bounding_box)


def test_missing_or_bad_obj_is_named(tmp_path):
  missing = tmp_path / "nope" / "missing.obj"
  with pytest.raises(FileNotFoundError, match="missing.obj"):
    obj.make_object(obj.MeshDef(name="missing", obj_path=str(missing)))
  bad = tmp_path / "garbage.obj"
  bad.write_text("this is not an obj file\n")
  with pytest.raises(ValueError, match="garbage.obj"):
    obj.make_object(obj.MeshDef(name="bad", obj_path=str(bad)))


def test_omomo_missing_shared_folder(tmp_path, monkeypatch):
  monkeypatch.setenv("INTERPRIOR_SHARED", str(tmp_path))
  with pytest.raises(paths.SharedDataNotFound, match="largetable.obj"):
    obj.make_object("omomo_largetable")


@pytest.mark.parametrize("name", OMOMO_NAMES)
def test_omomo_mesh(name):
  _omomo_or_skip()
  import trimesh
  from mujoco import mjx
  asset = obj.make_object(name)
  d = asset.definition
  assert 1 <= len(asset.geoms) <= d.decomposition.max_hulls
  assert all(g.kind == "mesh" and 4 <= len(g.vertices) <= 64 for g in asset.geoms)
  assert obj.hull_cache_path(d.obj_path, d.decomposition).is_file()
  # Surface samples on the original high-resolution mesh, deterministic.
  assert asset.surface_points.shape == (1024, 3)
  mesh = trimesh.load(d.obj_path, force="mesh")
  assert _max_distance_to_mesh(mesh.vertices, mesh.faces, asset.surface_points) < 1e-4
  again = obj._compile.__wrapped__(d, 1024)
  np.testing.assert_array_equal(asset.surface_points, again.surface_points)
  # Compiles next to a second copy, rests on the floor, loads in MJX.
  spec = _scene((asset, "a", (0, 0, 1), (1, 0, 0, 0)), (asset, "b", (2, 0, 1), (1, 0, 0, 0)))
  model = spec.compile()
  assert model.nmesh == 2 * len(asset.geoms)
  assert model.body_mass[model.body("a").id] == pytest.approx(asset.mass, rel=1e-6)
  mjx.put_model(model)
  _drop_and_settle(asset, seconds=1.5)
