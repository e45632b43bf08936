"""interprior-jax: pip-installable package (``pip install -e .``, tests: ``pip install -e .[test]``)."""

from setuptools import find_packages, setup

setup(
    name="interprior-jax",
    version="0.1.0",
    description="JAX/MuJoCo-MJX re-implementation of InterPrior: physics-based human-object interaction",
    packages=find_packages(include=["interprior_jax", "interprior_jax.*"]),
    package_data={"interprior_jax": ["assets/skeletons/*.json", "control/static/*.html"]},
    python_requires=">=3.10",
    install_requires=[
        "jax>=0.4.35",
        "numpy>=1.26",
        "mujoco>=3.3",
        "mujoco-mjx>=3.3",
        "brax>=0.12",
        "flax>=0.10",
        "optax>=0.2",
        "orbax-checkpoint>=0.9",
        "chex>=0.1.87",
        "ml-collections>=0.1.1",
        "absl-py>=2.0",
        "mujoco-menagerie>=2026.1",
        "trimesh>=4.0",
        "coacd>=1.0.5",
        "scipy>=1.11",
        "imageio>=2.31",
        "imageio-ffmpeg>=0.5",
        "tensorboardX>=2.6",
        "matplotlib>=3.8",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "selenium>=4.20"],
    },
)
