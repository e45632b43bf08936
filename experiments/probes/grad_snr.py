"""How much of Stage 3's policy gradient is signal: the PPO gradient of independent batches of a
finetune run, compared with each other.

  python experiments/probes/grad_snr.py WORKDIR STUDENT EXPERT [K] [STEP]

Restores the run's checkpoint STEP (default: the latest) in ``WORKDIR`` (a
``experiments/finetune.py`` workdir; ``STUDENT`` / ``EXPERT`` as that run was given them), then
collects ``K`` (default 16) consecutive batches under the frozen policy (``Finetuner.collect``:
the training batch, ``num_envs x unroll_length`` steps, GAE from the run's critic) and takes,
per batch, the gradient over the student's parameters of PPO's surrogate at the current
policy (the on-policy policy gradient, the first minibatch step's direction) and of the
imitation loss of the distillation share. Prints:

* the mean cosine between the PPO gradients of two batches, and between the means of two
  disjoint groups of k batches (k = 1, 2, 4, ...): with per-batch signal-to-noise ratio ``s`` (the
  squared norm of the expected gradient over the noise's), ``cos ~ k s / (1 + k s)``, so the
  k = 1 value estimates ``s = cos / (1 - cos)``, and ``1 / s`` batches give a gradient whose
  direction is half signal;
* the same for the imitation gradient, and the ratio of the two gradients' norms;
* per parameter group (the student's modules, two levels deep): its size, its share of the PPO
  gradient's squared norm and its own k = 1 / k = 8 cosines (where the signal lives);
* the critic's explained variance on the batches (``1 - Var(return - value) / Var(return)``):
  how much of the advantage's spread is baseline error.
"""
import itertools
import json
import pathlib
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))
from interprior_jax.training import checkpoint as ckpt_lib  # noqa: E402
from interprior_jax.training.finetune import train as ft  # noqa: E402


def _groups(tree, depth: int = 2) -> list[tuple[str, int]]:
  """``[(name, size)]`` of ``tree``'s subtrees ``depth`` levels deep, in :func:`_flat`'s order
  (``jax.tree.leaves`` sorts dict keys, as ``sorted`` does here)."""
  out = []
  for k in sorted(tree):
    v = tree[k]
    if isinstance(v, dict) and depth > 1:
      out += [(f"{k}/{n}", m) for n, m in _groups(v, depth - 1)]
    else:
      out.append((k, sum(int(np.size(x)) for x in jax.tree.leaves(v))))
  return out


def _flat(tree) -> np.ndarray:
  return np.concatenate([np.ravel(np.asarray(x, np.float64)) for x in jax.tree.leaves(tree)])


def _cos(a: np.ndarray, b: np.ndarray) -> float:
  return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30))


def group_cosines(grads: np.ndarray) -> dict[int, float]:
  """``{k: mean cosine between the means of two disjoint groups of k rows}`` of ``grads`` ``[K, P]``
  (consecutive groups; every pair of groups for k = 1)."""
  out = {}
  K = len(grads)
  k = 1
  while 2 * k <= K:
    means = [grads[i:i + k].mean(0) for i in range(0, K - k + 1, k)]
    out[k] = float(np.mean([_cos(a, b) for a, b in itertools.combinations(means, 2)]))
    k *= 2
  return out


def main(workdir: str, student_dir: str, expert_dir: str, num: str = "16", step: str = "") -> None:
  wd = pathlib.Path(workdir)
  student = ft.load_bundle(student_dir)
  config = ft.resolve_config(ml_collections.ConfigDict(json.loads((wd / "config.json").read_text())),
                             student.config)
  algo = ft.build(config, student, ft.load_bundle(expert_dir))
  ck = ckpt_lib.Checkpointer(wd / ckpt_lib.CHECKPOINT_DIR, async_save=False)
  at = int(step) if step else ck.latest_step()
  state, _ = ck.restore(algo.init(jax.random.PRNGKey(0)), at)
  ck.close()
  frozen = algo.frozen
  collect = jax.jit(algo.collect)

  def part(name):
    def f(student_params, norm, mb):
      p = {**state.params, "student": student_params}
      return algo.loss(p, norm, mb, frozen)[1][name]
    return jax.jit(jax.grad(f))

  g_pg, g_im = part("policy_loss"), part("loss_distill")
  pg, im, reward, ev = [], [], [], []
  key = jax.random.PRNGKey(1234)
  for i in range(int(num)):
    key, k = jax.random.split(key)
    env_state, tr, data = collect(state, k, frozen)
    state = state.replace(env_state=env_state)
    pg.append(_flat(g_pg(state.params["student"], state.normalizer, data)))
    im.append(_flat(g_im(state.params["student"], state.normalizer, data)))
    reward.append(float(jnp.mean(tr.reward)))
    w = 1.0 - np.asarray(data["distill_w"])  # the envs PPO owns
    err = np.asarray(data["return"]) - np.asarray(tr.extras["value"])
    ret = np.asarray(data["return"])
    var = lambda x: np.average((x - np.average(x, weights=w)) ** 2, weights=w)  # noqa: E731
    ev.append(1.0 - var(err) / max(var(ret), 1e-12))
  pg, im = np.stack(pg), np.stack(im)
  c_pg, c_im = group_cosines(pg), group_cosines(im)
  s = c_pg[1] / max(1.0 - c_pg[1], 1e-9)
  steps = algo.env_steps_per_iteration
  print(f"{wd} checkpoint {at}: {len(pg)} batches of {steps} env steps, mean reward "
        f"{np.mean(reward):.4f}, {pg.shape[1]} student parameters")
  print("PPO gradient: cos between group means, k batches each: "
        + ", ".join(f"k={k} {v:+.3f}" for k, v in c_pg.items()))
  print(f"  per-batch SNR s = {s:.4f}; batches for cos 0.5: {1 / max(s, 1e-9):.0f} "
        f"(~{steps / max(s, 1e-9):.3g} env steps)")
  print("imitation gradient: " + ", ".join(f"k={k} {v:+.3f}" for k, v in c_im.items()))
  print(f"norm |PPO| / |imitation| per batch: {np.mean(np.linalg.norm(pg, axis=1)):.3g} / "
        f"{np.mean(np.linalg.norm(im, axis=1)):.3g}; cos(mean PPO, mean imitation) "
        f"{_cos(pg.mean(0), im.mean(0)):+.3f}")
  print(f"critic explained variance on the PPO envs: {np.mean(ev):.3f} "
        f"(per batch {min(ev):.3f} .. {max(ev):.3f})")
  print("per group: size, share of |PPO|^2, PPO cos k=1 / k=8")
  total = float(np.mean(np.sum(pg ** 2, axis=1)))
  at = 0
  for name, size in _groups(state.params["student"]):
    g = pg[:, at:at + size]
    at += size
    share = float(np.mean(np.sum(g ** 2, axis=1))) / max(total, 1e-30)
    if share < 1e-6:
      print(f"  {name:32s} {size:8d}  no PPO gradient")
      continue
    c = group_cosines(g)
    print(f"  {name:32s} {size:8d}  {share:6.3f}  {c[1]:+.3f} / {c.get(8, float('nan')):+.3f}")
  assert at == pg.shape[1], (at, pg.shape)


if __name__ == "__main__":
  main(*sys.argv[1:])
