"""Shared test setup: persistent JAX compilation cache, shared-data fixtures, offline Menagerie."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import pytest  # noqa: E402

from interprior_jax import paths  # noqa: E402
from interprior_jax import runtime  # noqa: E402

# Most tests compile a program and run it for a few steps: XLA's fast-compile flags (set before
# any JAX computation) cut the suite's CPU time; the PPO learning check, the toy Stage-3 check
# and the bundle reproductions run in subprocesses with XLA's defaults
# (train_helpers.run_with_xla_defaults; docs/benchmarks.md, "Test-suite wall time").
os.environ.update(runtime.with_fast_compiles())

runtime.enable_compilation_cache()
paths.ensure_menagerie_root()

SLOW_ENV = "INTERPRIOR_SLOW_TESTS"


def pytest_configure(config):
  config.addinivalue_line(
      "markers", f"slow: skipped unless {SLOW_ENV}=1 (heavy compiles kept out of the default suite, "
      "whose CI budget is ~20 min on 2 cores)")


# The suite runs on two pytest-xdist workers, one test file per worker at a time (README, .ci/run:
# ``-n 2 --dist loadfile --no-loadscope-reorder``).  Files are handed out in collection order, so
# the longest ones go first (longest-first scheduling): otherwise an alphabetically late heavy
# file can start when the other worker is nearly done and run alone at the end.  Order from the
# cold suite of 2026-12-06 (the 60 slowest tests summed per file: 657, 597, 454, 273, 190, 166 s;
# docs/benchmarks.md, "Test-suite wall time").
LONGEST_FILES_FIRST = ("test_stage1_expert.py", "test_pretrained.py", "test_finetune.py",
                       "test_play.py", "test_c_physics.py", "test_goal_reach.py")


def _schedule_rank(item) -> int:
  name = item.path.name
  return LONGEST_FILES_FIRST.index(name) if name in LONGEST_FILES_FIRST else len(
      LONGEST_FILES_FIRST)


def pytest_collection_modifyitems(config, items):
  items.sort(key=_schedule_rank)  # stable: the order within a file is kept
  if os.environ.get(SLOW_ENV) == "1":
    return
  skip = pytest.mark.skip(reason=f"slow; set {SLOW_ENV}=1")
  for item in items:
    if "slow" in item.keywords:
      item.add_marker(skip)


@pytest.fixture(scope="session")
def omomo_root():
  """``<shared>/interact_omomo`` (set INTERPRIOR_SHARED to move it); skips when absent."""
  root = paths.omomo_root(required=False)
  if root is None:
    pytest.skip("shared OMOMO data not found (set INTERPRIOR_SHARED)")
  return root


@pytest.fixture(scope="session")
def menagerie_available():
  if not paths.ensure_menagerie_root():
    pytest.skip("MENAGERIE_ROOT not set and no shared menagerie folder")
  return True
