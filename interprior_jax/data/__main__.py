"""Entry point: ``python -m interprior_jax.data {inspect,convert,generate,render,split} ...``."""

import sys

from interprior_jax.render import default_gl_backend

default_gl_backend()  # before mujoco is imported (headless rendering)

from interprior_jax.data.cli import main  # noqa: E402

sys.exit(main())
