"""``assist alt-text|rewrite|prompt|hashtags``: writing help in this process (no server needed).

Like ``generate``, each command loads the model itself and prints the answer as it is written (to
standard output, a piece at a time), then a line with the model and the number of tokens.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from fediserver.assist import jobs
from fediserver.cli.common import CommandError, config_parent, settings_from
from fediserver.errors import AppError
from generation.assist import STYLES, AssistKind, AssistRequest


def register(commands: Any) -> None:
    assist = commands.add_parser("assist", help="writing help from local models: alt text, rewrites, prompts")
    sub = assist.add_subparsers(dest="assist_command", metavar="TASK", required=True)
    alt = sub.add_parser("alt-text", parents=[config_parent()], help="draft alt text for an image")
    alt.add_argument("image", type=Path, metavar="IMAGE")
    alt.add_argument("--hint", default="", help="e.g. the prompt of a generated image (a hint, not the answer)")
    rewrite = sub.add_parser("rewrite", parents=[config_parent()], help="improve a draft post")
    rewrite.add_argument("--text", required=True)
    rewrite.add_argument("--style", choices=STYLES, default="clearer")
    rewrite.add_argument("--language", help="write the result in this language")
    prompt = sub.add_parser("prompt", parents=[config_parent()], help="turn an idea into a detailed image prompt")
    prompt.add_argument("--idea", required=True)
    prompt.add_argument("--for-model", dest="target_model", help="the image model the prompt is for")
    tags = sub.add_parser("hashtags", parents=[config_parent()], help="suggest hashtags for a post")
    tags.add_argument("--text", required=True)
    for parser in (alt, rewrite, prompt, tags):
        parser.add_argument("--model", help="default: assist.text_model or assist.caption_model; 'tiny' for tests")
        parser.add_argument("--seed", type=int)
        parser.set_defaults(handler=cmd_assist)


def _request(args: argparse.Namespace, settings: Any) -> AssistRequest:
    kind: AssistKind = args.assist_command.replace("-", "_")
    image = None
    if kind == "alt_text":
        try:
            image = args.image.read_bytes()
        except OSError as exc:
            raise CommandError(f"IMAGE: {exc}") from None
    try:
        return jobs.build(
            settings.assist,
            kind,
            text=getattr(args, "text", None) or getattr(args, "idea", None) or getattr(args, "hint", "") or "",
            image=image,
            style=getattr(args, "style", None),
            language=getattr(args, "language", None),
            target_model=getattr(args, "target_model", None),
            seed=args.seed,
        )
    except AppError as exc:
        raise CommandError(exc.message) from None


def cmd_assist(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    request = _request(args, settings)
    model = args.model or jobs.model_for(settings.assist, request.kind)
    from generation.backend import load_assist_engine
    from generation.errors import GenerationError

    engine = load_assist_engine(
        text_model=model if request.kind != "alt_text" else settings.assist.text_model,
        caption_model=model if request.kind == "alt_text" else settings.assist.caption_model,
        cache_dir=settings.model_cache_dir,
        device=settings.generation.device,
        dtype=settings.generation.dtype,
        budget_bytes=settings.assist.memory_budget_mb * 1024 * 1024,
    )

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    try:
        result = engine.run(replace(request), on_token=show)
    except GenerationError as exc:
        raise CommandError(f"writing help failed: {exc}") from None
    print()
    print(f"answer: {result.text}")
    print(f"model {result.model}, seed {request.seed}, {result.tokens} tokens")
    if result.notice:
        print(f"note: {result.notice}")
    return 0
