"""The wheels a GPU machine lacks, downloaded here for its Python, so that ``scripts/gpu-kit run`` works there.

Run from the repository root (``scripts/gpu-kit prepare`` calls it)::

    .venv/bin/python -m bench.gpu_wheels [--python-version 3.12] [--dest .whl]

The device machines reach no package index (/work/.library/device: "carry a missing Python package as
wheels"), and their image has its own Python and a CUDA build of torch but not diffusers, starlette or
SQLAlchemy. This takes ``fediserver[generation]``'s dependencies as resolved in this checkout's ``.venv``
(the versions the test suite ran with), leaves out torch, whose CUDA build the machine keeps, and
downloads each as a binary wheel for the target Python on x86-64 Linux (pure-Python packages published
only as source are built into a wheel here). The project itself is not a wheel: it runs from the working
tree, which travels with every call.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Kept from the machine: its CUDA build of torch (a CPU wheel from here would replace it).
SKIP = frozenset({"torch"})
# What the device image already holds (/work/.library/device/KINDS.md, its package list read 2026-11-17) and
# the project runs with: left out, since a call carries at most 64 MiB (these were 60 of the 95 MiB). Among
# them transformers 5.17 and huggingface_hub 1.33, older than the pins here, which the GPU benches ran with
# in an image-like Python 3.12 here (torch 2.11): the text encoders and tokenizer they use are unchanged.
PROVIDED = frozenset(
    {
        "accelerate", "anyio", "certifi", "charset-normalizer", "click", "filelock", "fsspec", "h11", "hf-xet",
        "httpcore", "httpx", "huggingface-hub", "idna", "jinja2", "lxml", "markdown-it-py", "markupsafe", "mdurl",
        "numpy", "packaging", "pillow", "psutil", "pygments", "pyyaml", "regex", "requests", "rich", "safetensors",
        "shellingham", "tokenizers", "tqdm", "transformers", "typer", "typing-extensions", "urllib3", "zipp",
    }
)  # fmt: skip
# glibc baselines a wheel may target; the device image is a recent Linux.
PLATFORMS = ("manylinux2014_x86_64", *(f"manylinux_2_{minor}_x86_64" for minor in (17, 24, 27, 28, 31, 34, 35)))


def _applies(marker: Marker | None, python_version: str, extras: frozenset[str]) -> bool:
    if marker is None:
        return True
    environment = {"python_version": python_version, "python_full_version": f"{python_version}.0"}
    return any(marker.evaluate({**environment, "extra": extra}) for extra in extras | {""})


def closure(root: str, extras: frozenset[str], python_version: str) -> dict[str, str]:
    """``root``'s dependencies with ``extras``, transitively, as installed here: canonical name -> version."""
    found: dict[str, str] = {}
    pending: list[tuple[str, frozenset[str]]] = [(root, extras)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, wanted = pending.pop()
        if (name, wanted) in seen:
            continue
        seen.add((name, wanted))
        distribution = metadata.distribution(name)
        for line in distribution.requires or ():
            requirement = Requirement(line)
            child = canonicalize_name(requirement.name)
            if child in SKIP or not _applies(requirement.marker, python_version, wanted):
                continue
            if child not in PROVIDED:
                found[child] = metadata.version(child)
            pending.append((child, frozenset(requirement.extras)))
    return found


def download(pins: dict[str, str], python_version: str, dest: Path) -> None:
    """Each pin as a wheel for ``python_version`` on x86-64 Linux into ``dest``; raises if one cannot be had."""
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    for name, version in sorted(pins.items()):
        spec = f"{name}=={version}"
        wheel = [*pip, "download", "--no-deps", "--only-binary=:all:", "--implementation", "cp"]
        binary = subprocess.run(
            [*wheel, "--python-version", python_version, *platforms, "-d", str(dest), spec], capture_output=True
        )
        if binary.returncode == 0:
            continue
        # Published as source only: pure Python, so a wheel built here serves every Python 3.
        subprocess.run([*pip, "wheel", "--no-deps", "-w", str(dest), spec], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--python-version", default="3.12", help="the device machine's Python (major.minor)")
    parser.add_argument("--dest", type=Path, default=Path(".whl"))
    args = parser.parse_args()
    pins = closure("fediserver", frozenset({"generation"}), args.python_version)
    download(pins, args.python_version, args.dest)
    size = sum(path.stat().st_size for path in args.dest.glob("*.whl"))
    print(f"{len(pins)} packages for Python {args.python_version} in {args.dest}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
