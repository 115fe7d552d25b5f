"""Render one prompt to files, for trying the engine by hand.

    python -m generation.demo "a lighthouse at dusk" --model tiny --cache-dir /tmp/fedi-models --out /tmp/out

Writes ``<seed>.png`` (original, signed), ``<seed>.webp``, ``<seed>.thumb.webp`` and
``<seed>.json`` (parameters, blurhash, C2PA state) into ``--out``. With ``--model tiny`` no weights
are needed and the picture is noise. Instance certificates are created under ``--cache-dir/c2pa``
on first use; ``--no-sign`` switches C2PA off.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from generation.errors import GenerationError, InvalidRequest
from generation.presets import resolve_request
from generation.provenance import ContentSigner, InstanceCertificates, create_instance_certificates, verify
from generation.renderer import Renderer
from generation.types import DEFAULT_MODEL, GenerationResult


def _certificates(directory: Path) -> InstanceCertificates:
    if (directory / "c2pa-root.pem").is_file():
        return InstanceCertificates.load(directory)
    made = create_instance_certificates("localhost")
    made.save(directory)
    return made


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m generation.demo", description="Render one prompt.")
    parser.add_argument("prompt")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--guidance", type=float)
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--negative", default="")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache-dir", type=Path, required=True, help="tiny model and certificates live here")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--no-sign", action="store_true")
    args = parser.parse_args(argv)

    from generation.backend import load_engine

    try:
        request = resolve_request(
            args.prompt,
            seed=args.seed,
            negative_prompt=args.negative,
            steps=args.steps,
            guidance=args.guidance,
            width=args.width,
            height=args.height,
            model=args.model,
        )
    except InvalidRequest as exc:
        print(f"invalid request: {exc}", file=sys.stderr)
        return 2
    certificates = None if args.no_sign else _certificates(args.cache_dir / "c2pa")
    signer = None if certificates is None else ContentSigner(certificates)
    engine = load_engine(request.model, cache_dir=args.cache_dir, device=args.device)
    (outcome,) = Renderer(engine, signer=signer).render(
        [request], on_progress=lambda _job, step, total: print(f"step {step}/{total}", file=sys.stderr)
    )
    if isinstance(outcome, GenerationError):
        print(f"failed: {outcome}", file=sys.stderr)
        return 1
    _write(outcome, args.out, certificates)
    return 0


def _write(result: GenerationResult, out: Path, certificates: InstanceCertificates | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / str(result.request.seed)
    stem.with_suffix(".png").write_bytes(result.png)
    stem.with_suffix(".webp").write_bytes(result.webp)
    stem.with_suffix(".thumb.webp").write_bytes(result.thumbnail)
    report = None if certificates is None else verify(result.png, "image/png", certificates.root_pem)
    summary = {
        "parameters": result.parameters(),
        "size": [result.width, result.height],
        "blurhash": result.blurhash,
        "c2pa": None if report is None else report.state,
        "notice": result.notice,
        "software": result.software,
        "render_seconds": round(result.render_seconds, 3),
    }
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    sys.exit(main())
