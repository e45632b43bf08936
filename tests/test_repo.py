"""Repository-level contracts: README set-up commands, CI script, configs, notebooks."""

import importlib.util
import json
import pathlib
import re

import pytest

from interprior_jax import paths

ROOT = paths.REPO_ROOT
CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.py") if not p.name.startswith("_"))


def _readme_commands() -> list[str]:
  text = (ROOT / "README.md").read_text()
  m = re.search(r"## Set up and run\s+```bash\n(.*?)```", text, re.S)
  assert m, "README.md lacks the '## Set up and run' bash block"
  return [ln.strip() for ln in m.group(1).splitlines() if ln.strip() and not ln.startswith("#")]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_the_test_one():
  cmds = _readme_commands()
  assert len(cmds) == 2, cmds
  main_job, test_cmd = cmds
  assert main_job.startswith("pip install -e . && python experiments/quickstart.py")
  assert test_cmd.startswith('pip install -e ".[test]" &&')
  ci = (ROOT / ".ci" / "run").read_text()
  install, run = (s.strip() for s in test_cmd.split("&&"))
  assert install.replace("pip install", "pip install -q") in ci
  assert run in ci.splitlines()


def _load(path: pathlib.Path):
  spec = importlib.util.spec_from_file_location(f"cfg_{path.stem}", path)
  mod = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(mod)
  return mod


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_config_has_a_smoke_variant_and_rejects_unknown_variants(path):
  mod = _load(path)
  cfg = mod.get_config("smoke")
  assert cfg.to_dict() != mod.get_config(None).to_dict()  # smoke differs from the default
  with pytest.raises(ValueError, match="variant"):
    mod.get_config("no_such_variant")


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_every_listed_variant_builds(path):
  """Each name in a config's ``VARIANTS`` gives a config whose ``variant`` field (where it has one)
  is that name: a variant listed but not handled would fail here, not in a user's run."""
  mod = _load(path)
  for name in getattr(mod, "VARIANTS", ()):
    cfg = mod.get_config(name)
    if "variant" in cfg:
      assert cfg.variant == name, (path.name, name, cfg.variant)


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.stem in ("expert", "distill", "finetune")],
                         ids=lambda p: p.stem)
def test_every_training_config_has_the_whole_loop_section(path):
  """Each trainer config's ``loop`` holds every LoopConfig field (generated from the dataclass),
  so any of them can be set from the command line (``--config.loop.init_from`` once failed on
  the distillation config with an AttributeError)."""
  import dataclasses

  from interprior_jax.training import expert
  from interprior_jax.training import loop as loop_lib

  names = {f.name for f in dataclasses.fields(loop_lib.LoopConfig)}
  mod = _load(path)
  for variant in getattr(mod, "VARIANTS", ("smoke",)):
    cfg = mod.get_config(variant)
    assert set(cfg.loop.keys()) == names, (path.name, variant)
    assert expert.loop_config(cfg).num_iterations == cfg.loop.num_iterations


@pytest.mark.parametrize("nb", sorted((ROOT / "notebooks").glob("*.ipynb")),
                         ids=lambda p: p.stem)
def test_notebooks_are_valid_and_reference_existing_files(nb):
  doc = json.loads(nb.read_text())
  assert doc["nbformat"] == 4 and doc["cells"]
  src = "\n".join("".join(c["source"]) for c in doc["cells"] if c["cell_type"] == "code")
  for ref in re.findall(r"'((?:experiments|configs)/[\w./]+\.py)", src):
    assert (ROOT / ref).is_file(), f"{nb.name} references missing {ref}"
  for cell in doc["cells"]:
    if cell["cell_type"] == "code":
      compile("".join(cell["source"]), nb.name, "exec")
