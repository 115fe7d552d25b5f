"""Only generation._torch may import torch, diffusers or transformers."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import generation

PACKAGE = Path(generation.__file__).parent
HEAVY = ("torch", "diffusers", "transformers")


def _public_modules() -> list[str]:
    return sorted("generation" + ("" if p.stem == "__init__" else "." + p.stem) for p in PACKAGE.glob("*.py"))


def test_imports__non_backend_modules_load_no_torch() -> None:
    modules = [*_public_modules(), "generation._torch"]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in " + repr(HEAVY) + ")\n"
        "print(json.dumps([sys.modules['generation'].__file__, heavy]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    )
    imported_from, heavy = json.loads(done.stdout)
    assert Path(imported_from).parent == PACKAGE
    assert heavy == []
    assert {"generation.backend", "generation.renderer", "generation.provenance"} <= set(modules)


def test_imports__only_torch_package_names_heavy_modules_in_source() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "_torch" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in HEAVY]
    assert offenders == []


def test_imports__package_root_stays_light() -> None:
    script = "import sys, generation; print(sorted({m.split('.')[0] for m in sys.modules} & {'c2pa', 'torch'}))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=PACKAGE.parent
    )
    assert done.stdout.strip() == "[]"
