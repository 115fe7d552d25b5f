"""Writing help from local models: alt text, rewrites, image prompts and hashtags.

Torch-free: the request and result types, the instructions each task gives an instruct model, and the
model names. The models themselves run in ``generation._torch.assist_engine`` (GPU worker or CLI only).

Every result is a draft for a person to review (never published unseen); what the tiny test models
write is noise, and :data:`TINY_ASSIST_NOTICE` says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from generation.errors import InvalidRequest

AssistKind = Literal["alt_text", "rewrite", "prompt", "hashtags"]
ASSIST_KINDS: tuple[AssistKind, ...] = ("alt_text", "rewrite", "prompt", "hashtags")
TEXT_KINDS: tuple[AssistKind, ...] = ("rewrite", "prompt", "hashtags")
STYLES = ("clearer", "shorter", "friendlier", "formal")

# docs/assist.md §3: permissive licences, native transformers classes, no remote code.
DEFAULT_TEXT_MODEL = "Qwen/Qwen2.5-1.5B-Instruct"
DEFAULT_CAPTION_MODEL = "florence-community/Florence-2-base"
TINY_MODEL = "tiny"
TINY_ASSIST_NOTICE = "tiny test model with random weights: the text is noise, not a real answer"

MAX_INPUT_CHARS = 5000
# Federated descriptions travel as `name`; older servers and clients cut at 1500 (docs/assist.md §7).
MAX_ALT_TEXT = 1500
ALT_TEXT_PREFIX = "AI-generated image: "
# CLIP encoders see 77 tokens; about 60 words keeps an expanded prompt inside that (docs/assist.md §6).
PROMPT_WORDS = 60


@dataclass(frozen=True)
class AssistRequest:
    """One writing-help task, validated (see :func:`validate`).

    ``text`` is the draft (rewrite, hashtags), the idea (prompt) or, for alt text, an optional hint such
    as the generation prompt: a hint, never the answer. ``image`` is the encoded image for alt text.
    """

    kind: AssistKind
    text: str = ""
    image: bytes | None = None
    style: str = "clearer"
    language: str | None = None
    target_model: str | None = None
    max_new_tokens: int = 120
    seed: int = 0


@dataclass(frozen=True)
class AssistResult:
    kind: AssistKind
    text: str
    model: str
    tokens: int
    notice: str | None = None


# Receives each decoded piece of text as the model writes it.
TokenSink = Callable[[str], None]
# Polled between tokens; True stops the answer.
CancelCheck = Callable[[], bool]


def validate(request: AssistRequest) -> AssistRequest:
    """Refuse requests that can never succeed, with a reason a person can act on."""
    if request.kind not in ASSIST_KINDS:
        raise InvalidRequest(f"kind: expected one of {', '.join(ASSIST_KINDS)}")
    if len(request.text) > MAX_INPUT_CHARS:
        raise InvalidRequest(f"text: at most {MAX_INPUT_CHARS} characters")
    if request.kind == "alt_text":
        if not request.image:
            raise InvalidRequest("image: alt text needs an image")
    elif not request.text.strip():
        raise InvalidRequest("text: write something for the assistant to work on")
    if request.kind == "rewrite" and request.style not in STYLES:
        raise InvalidRequest(f"style: expected one of {', '.join(STYLES)}")
    if request.language is not None and not re.fullmatch(r"[A-Za-z][A-Za-z -]{0,39}", request.language):
        raise InvalidRequest("language: a language name or code, such as 'German' or 'de'")
    if not 1 <= request.max_new_tokens <= 1024:
        raise InvalidRequest("max_new_tokens: between 1 and 1024")
    return request


def chat_messages(request: AssistRequest) -> list[dict[str, str]]:
    """The system and user messages an instruct model gets for a text task."""
    if request.kind == "rewrite":
        target = f" Write it in {request.language}." if request.language else " Keep the language of the post."
        system = (
            "You edit social media posts. Rewrite the user's post to be "
            f"{request.style}, keeping its meaning, mentions (@name), hashtags and links exactly.{target} "
            "Answer with the rewritten post only."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": request.text}]
    if request.kind == "prompt":
        model = request.target_model or "a Stable Diffusion model"
        system = (
            f"You write image prompts for {model}. Turn the user's idea into one detailed prompt: keep the "
            "subject, add medium, lighting, composition and colours; no names of living artists; "
            f"at most {PROMPT_WORDS} words; only positive detail. Answer with the prompt only."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": request.text}]
    if request.kind == "hashtags":
        system = (
            "Suggest up to five hashtags for the user's post, most relevant first, as #CamelCase words "
            "separated by spaces. Answer with the hashtags only."
        )
        return [{"role": "system", "content": system}, {"role": "user", "content": request.text}]
    raise InvalidRequest(f"{request.kind} is not a text task")


_HASHTAG_RE = re.compile(r"#?([^\W_][\w]{0,99})", re.UNICODE)


def clean_output(request: AssistRequest, raw: str) -> str:
    """Trim what a model wrote into the shape the task promises (plain text, bounded)."""
    text = raw.replace("\x00", "").strip()
    if request.kind == "alt_text":
        text = " ".join(text.split())
        prefix = ALT_TEXT_PREFIX if request.text else ""
        return (prefix + text)[:MAX_ALT_TEXT]
    if request.kind == "prompt":
        return " ".join(text.split()[:PROMPT_WORDS])
    if request.kind == "hashtags":
        tags: list[str] = []
        for match in _HASHTAG_RE.finditer(text):
            tag = match.group(1)
            if tag.lower() not in {t.lower() for t in tags}:
                tags.append(tag)
        return " ".join(f"#{t}" for t in tags[:5])
    return text[:MAX_INPUT_CHARS]
