"""Data CLI, run in-process: inspect, convert + reload, bad input, deterministic split, generate."""

from __future__ import annotations

import json
import shutil

import pytest

from interprior_jax.data import cli
from interprior_jax.motion.io import native

CLIPS = ("sub2_largetable_000.pt", "sub2_woodchair_010.pt")


@pytest.fixture(scope="module")
def dataset(omomo_root, tmp_path_factory):
  """Two real clips converted to a native smpl dataset (shared by the tests)."""
  src = tmp_path_factory.mktemp("pt")
  for n in CLIPS:
    shutil.copy(omomo_root / "clips" / n, src / n)  # temp copy outside the repo
  out = tmp_path_factory.mktemp("native") / "ds"
  assert cli.main(["convert", str(src), "--out", str(out), "--humanoid", "smpl"]) == 0
  return out


def test_inspect_real_clip_json(omomo_root, capsys):
  path = omomo_root / "clips" / CLIPS[0]
  assert cli.main(["inspect", str(path), "--json", "--humanoid", "smpl"]) == 0
  rep = json.loads(capsys.readouterr().out)
  (c,) = rep["clips"]
  assert rep["num_clips"] == 1 and c["frames"] == 153 and c["fps"] == 30.0
  assert c["object"] == "largetable" and c["bodies"] == 52
  assert 2.0 < c["fk_mean_cm"] < 4.2 and c["fk_file_skeleton_mean_cm"] < 1e-3


def test_fitted_skeleton_is_recorded_in_the_dataset(omomo_root, tmp_path, capsys):
  """--skeleton omomo_sub2: FK matches the file and every clip remembers its skeleton."""
  src = tmp_path / "pt"
  src.mkdir()
  shutil.copy(omomo_root / "clips" / CLIPS[0], src / CLIPS[0])
  out = tmp_path / "ds"
  assert cli.main(["convert", str(src), "--out", str(out), "--humanoid", "smpl",
                   "--skeleton", "omomo_sub2"]) == 0
  assert "FK mean 0.00 cm" in capsys.readouterr().out
  (clip,) = native.load_clips(out)
  assert clip.skeleton == "omomo_sub2"


def test_convert_and_reload(dataset, capsys):
  clips = native.load_clips(dataset)
  assert sorted(c.name for c in clips) == sorted(n[:-3] for n in CLIPS)
  assert all(c.humanoid == "smpl" and len(c.body_names) == 22 for c in clips)
  assert cli.main(["inspect", str(dataset)]) == 0
  out = capsys.readouterr().out
  assert "2 clips (native)" in out and "sub2_woodchair_010" in out


def test_bad_file_exit_code_and_message(tmp_path, capsys):
  bad = tmp_path / "sub2_box_001.pt"
  bad.write_bytes(b"not a zip archive")
  assert cli.main(["inspect", str(bad)]) == cli.EXIT_BAD_INPUT
  err = capsys.readouterr().err
  assert str(bad) in err and "archive" in err
  assert cli.main(["inspect", str(tmp_path / "missing.pt")]) == cli.EXIT_BAD_INPUT
  assert "missing.pt" in capsys.readouterr().err
  # A native dataset with a broken manifest names the manifest and the field.
  (tmp_path / "ds").mkdir()
  (tmp_path / "ds" / "manifest.json").write_text('{"format": "other"}')
  assert cli.main(["inspect", str(tmp_path / "ds")]) == cli.EXIT_BAD_INPUT
  err = capsys.readouterr().err
  assert "manifest.json" in err and "format" in err


def test_split_is_deterministic(dataset, tmp_path):
  args = ["--val_fraction", "0.5", "--seed", "3"]
  assert cli.main(["split", str(dataset), "--out", str(tmp_path / "a")] + args) == 0
  assert cli.main(["split", str(dataset), "--out", str(tmp_path / "b")] + args) == 0
  a = json.loads((tmp_path / "a" / "split.json").read_text())
  b = json.loads((tmp_path / "b" / "split.json").read_text())
  assert a["train"] == b["train"] and a["val"] == b["val"]
  assert len(a["val"]) == 1 and sorted(a["train"] + a["val"]) == sorted(n[:-3] for n in CLIPS)
  val = native.load_clips(tmp_path / "a" / "val")  # the split manifests load as datasets
  assert [c.name for c in val] == a["val"]
  names = [f"c{i:03d}" for i in range(50)]
  t1, v1 = cli.split_names(names, 0.2, seed=7)
  t2, v2 = cli.split_names(list(reversed(names)), 0.2, seed=7)
  assert (t1, v1) == (t2, v2) and len(v1) == 10 and not set(t1) & set(v1)
  assert cli.split_names(names, 0.2, seed=8)[1] != v1


def test_generate(tmp_path):
  try:
    from interprior_jax.motion.synth import generate_dataset  # noqa: F401
  except ImportError:
    pytest.skip("interprior_jax.motion.synth.generate_dataset not available yet")
  out = tmp_path / "gen"
  assert cli.main(["generate", "--num_clips", "2", "--out", str(out), "--seed", "0"]) == 0
  clips = native.load_clips(out)
  assert len(clips) == 2 and clips[0].humanoid == "smpl"
