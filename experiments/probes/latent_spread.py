"""How far a student's prior samples act from its prior mean: on a goal task's start
observations, the RMS over action dimensions of action(prior sample) - action(prior mean),
averaged over episodes and K samples each (docs/results.md, "Stage 3 from the push student").

  python experiments/probes/latent_spread.py BUNDLE_DIR [BUNDLE_DIR ...] [--task trajectory]
      [--episodes 64] [--samples 8]

The episodes are evaluate.py's (seed 0), so every bundle is probed on the same start states;
the samples use eps ~ N(0, I), the noise a goal env draws per episode.
"""
import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax import runtime  # noqa: E402
from interprior_jax.training import distill_eval as de  # noqa: E402


def spread(bundle_dir, task: str, episodes: int, samples: int, seed: int = 0) -> float:
  """Mean over episodes and samples of the RMS action difference (sample vs mean)."""
  _, _, act_mean, reset, _, _ = de.goal_task_episodes(bundle_dir, task, episodes, seed,
                                                         latent_mean=True)
  obs = reset.obs  # StudentObs [N]
  # act_mean scales the episode's eps by 0; a sample replaces that eps and acts at scale 1.
  _, _, act_sample, _, _, _ = de.goal_task_episodes(bundle_dir, task, episodes, seed)
  a0 = jax.jit(act_mean)(obs)
  keys = jax.random.split(jax.random.PRNGKey(seed + 1), samples)
  act_sample = jax.jit(act_sample)
  rms = []
  for k in keys:
    eps = jax.random.normal(k, obs.eps.shape, obs.eps.dtype)
    a = act_sample(obs.replace(eps=eps))
    rms.append(jnp.sqrt(jnp.mean((a - a0) ** 2, axis=-1)))
  return float(jnp.mean(jnp.stack(rms)))


def main():
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("bundles", nargs="+")
  p.add_argument("--task", default="trajectory")
  p.add_argument("--episodes", type=int, default=64)
  p.add_argument("--samples", type=int, default=8)
  a = p.parse_args()
  runtime.enable_compilation_cache()
  for b in a.bundles:
    print(f"{b}: action spread (prior sample vs mean, RMS) "
          f"{spread(b, a.task, a.episodes, a.samples):.4f}")


if __name__ == "__main__":
  main()
