"""Writing help through the real transformers code path, with tiny random models built offline."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from generation.assist import (
    ALT_TEXT_PREFIX,
    TINY_ASSIST_NOTICE,
    AssistRequest,
    chat_messages,
    clean_output,
    validate,
)
from generation.backend import WritingEngine, load_assist_engine
from generation.errors import GenerationCancelled, GenerationFailed, InvalidRequest


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 40), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_validate__refuses_what_can_never_succeed() -> None:
    with pytest.raises(InvalidRequest, match="image"):
        validate(AssistRequest(kind="alt_text"))
    with pytest.raises(InvalidRequest, match="text"):
        validate(AssistRequest(kind="rewrite", text="   "))
    with pytest.raises(InvalidRequest, match="style"):
        validate(AssistRequest(kind="rewrite", text="hi", style="pirate"))
    with pytest.raises(InvalidRequest, match="language"):
        validate(AssistRequest(kind="rewrite", text="hi", language="<script>"))
    with pytest.raises(InvalidRequest, match="5000"):
        validate(AssistRequest(kind="prompt", text="x" * 5001))
    assert validate(AssistRequest(kind="rewrite", text="hi", language="German")).language == "German"


def test_chat_messages__carry_the_task_style_and_language() -> None:
    rewrite = chat_messages(AssistRequest(kind="rewrite", text="my post", style="shorter", language="German"))
    assert "shorter" in rewrite[0]["content"]
    assert "German" in rewrite[0]["content"]
    assert rewrite[1] == {"role": "user", "content": "my post"}
    prompt = chat_messages(AssistRequest(kind="prompt", text="a fox", target_model="sdxl-turbo"))
    assert "sdxl-turbo" in prompt[0]["content"]
    with pytest.raises(InvalidRequest):
        chat_messages(AssistRequest(kind="alt_text", image=b"x"))


def test_clean_output__shapes_each_task() -> None:
    tags = clean_output(AssistRequest(kind="hashtags", text="x"), "#Fox fox #Night sky, #fox #A #B #C #D")
    assert tags == "#Fox #Night #sky #A #B"
    words = clean_output(AssistRequest(kind="prompt", text="x"), " ".join(["word"] * 100))
    assert len(words.split()) == 60
    alt = clean_output(AssistRequest(kind="alt_text", image=b"x", text="a fox"), " a red\n fox ")
    assert alt == ALT_TEXT_PREFIX + "a red fox"
    assert clean_output(AssistRequest(kind="alt_text", image=b"x"), "a red fox") == "a red fox"
    assert len(clean_output(AssistRequest(kind="alt_text", image=b"x"), "word " * 1000)) == 1500


def test_rewrite__streams_token_by_token_and_says_it_is_noise(tiny_assist_engine: WritingEngine) -> None:
    pieces: list[str] = []
    request = AssistRequest(kind="rewrite", text="hello there, my first post #fox", max_new_tokens=24, seed=3)
    result = tiny_assist_engine.run(request, on_token=pieces.append)
    assert result.tokens == 24
    assert len(pieces) > 1
    assert result.text == "".join(pieces).strip()
    assert result.notice == TINY_ASSIST_NOTICE
    again = tiny_assist_engine.run(request)
    assert again.text == result.text


def test_alt_text__describes_the_image_and_keeps_the_prefix_for_generated_ones(
    tiny_assist_engine: WritingEngine,
) -> None:
    result = tiny_assist_engine.run(AssistRequest(kind="alt_text", image=_png(), text="a lighthouse at dusk"))
    assert result.text.startswith(ALT_TEXT_PREFIX)
    described = result.text[len(ALT_TEXT_PREFIX) :]
    assert described
    assert described != "a lighthouse at dusk"
    with pytest.raises(InvalidRequest, match="not a readable image"):
        tiny_assist_engine.run(AssistRequest(kind="alt_text", image=_png()[:40]))


def test_cancel__stops_between_tokens(tiny_assist_engine: WritingEngine) -> None:
    calls = 0

    def cancel() -> bool:
        nonlocal calls
        calls += 1
        return calls > 3

    pieces: list[str] = []
    with pytest.raises(GenerationCancelled):
        tiny_assist_engine.run(
            AssistRequest(kind="prompt", text="a fox", max_new_tokens=200), on_token=pieces.append, should_cancel=cancel
        )
    assert 0 < len(pieces) < 10


def test_memory_budget__evicts_the_least_recently_used_model(tiny_assist_cache: Path) -> None:
    from generation._torch.assist_engine import AssistEngine

    small = load_assist_engine(
        text_model="tiny", caption_model="tiny", cache_dir=tiny_assist_cache, device="cpu", budget_bytes=1
    )
    assert isinstance(small, AssistEngine)
    small.run(AssistRequest(kind="hashtags", text="a fox", max_new_tokens=4))
    assert small.models.loaded() == ["text:tiny"]
    small.run(AssistRequest(kind="alt_text", image=_png(), max_new_tokens=4))
    assert small.models.loaded() == ["caption:tiny"]
    roomy = load_assist_engine(text_model="tiny", caption_model="tiny", cache_dir=tiny_assist_cache, device="cpu")
    assert isinstance(roomy, AssistEngine)
    roomy.run(AssistRequest(kind="hashtags", text="a fox", max_new_tokens=4))
    roomy.run(AssistRequest(kind="alt_text", image=_png(), max_new_tokens=4))
    roomy.run(AssistRequest(kind="rewrite", text="a fox", max_new_tokens=4))
    assert roomy.models.loaded() == ["caption:tiny", "text:tiny"]


def test_a_model_that_is_not_there__fails_clearly(tmp_path: Path) -> None:
    engine = load_assist_engine(
        text_model=str(tmp_path / "missing"), caption_model="tiny", cache_dir=tmp_path, device="cpu"
    )
    with pytest.raises(GenerationFailed, match="cannot load assist model"):
        engine.run(AssistRequest(kind="rewrite", text="hello"))
