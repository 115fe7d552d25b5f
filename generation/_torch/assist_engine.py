"""Runs the writing-help models with transformers: streaming, cancellation, and a memory budget.

Models load on demand into a :class:`ModelCache` that evicts the least recently used one when the
loaded weights would pass the budget. Text streams piece by piece through a ``TextStreamer`` whose
finalised pieces go to the caller's sink in the generating thread (no extra thread per call); a
stopping criterion polls the cancel check between tokens.
"""

from __future__ import annotations

import gc
import io
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from transformers import (
    AutoModelForCausalLM,
    AutoModelForImageTextToText,
    AutoProcessor,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
)
from transformers.generation.streamers import BaseStreamer
from transformers.utils import logging as hf_logging

from generation._torch.device import choose_device, choose_dtype
from generation._torch.tiny_assist import ensure_tiny_captioner, ensure_tiny_lm
from generation.assist import (
    TINY_ASSIST_NOTICE,
    TINY_MODEL,
    AssistRequest,
    AssistResult,
    CancelCheck,
    TokenSink,
    chat_messages,
    clean_output,
    validate,
)
from generation.errors import GenerationCancelled, GenerationFailed, InvalidRequest, OutOfMemory

log = logging.getLogger("generation.assist")
MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass
class LoadedModel:
    name: str
    role: str  # "text" or "caption"
    model: Any
    processor: Any  # a tokenizer for text models, a processor for captioners
    nbytes: int
    notice: str | None

    @property
    def tokenizer(self) -> Any:
        return getattr(self.processor, "tokenizer", self.processor)


def _weights_bytes(model: Any) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


class ModelCache:
    """Loaded models by (role, name), least recently used first; the total stays within ``budget_bytes``.

    A model larger than the whole budget still loads (alone): refusing it would make the feature unusable
    on a small card, and the budget exists to keep several models from piling up.
    """

    def __init__(self, budget_bytes: int, loader: Callable[[str, str], LoadedModel]) -> None:
        self.budget_bytes = budget_bytes
        self._loader = loader
        self._models: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()

    def get(self, role: str, name: str) -> LoadedModel:
        key = (role, name)
        if key in self._models:
            self._models.move_to_end(key)
            return self._models[key]
        loaded = self._loader(role, name)
        self._models[key] = loaded
        while len(self._models) > 1 and self.total_bytes > self.budget_bytes:
            evicted_key, evicted = next(iter(self._models.items()))
            del self._models[evicted_key]
            log.info("assist model evicted", extra={"model": evicted.name, "bytes": evicted.nbytes})
            del evicted
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        return loaded

    @property
    def total_bytes(self) -> int:
        return sum(m.nbytes for m in self._models.values())

    def loaded(self) -> list[str]:
        return [f"{role}:{name}" for role, name in self._models]


class _Cancel(StoppingCriteria):
    def __init__(self, should_cancel: CancelCheck | None) -> None:
        self.should_cancel = should_cancel
        self.cancelled = False

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        self.cancelled = self.cancelled or bool(self.should_cancel and self.should_cancel())
        return torch.full((input_ids.shape[0],), self.cancelled, dtype=torch.bool, device=input_ids.device)


class _Streamer(BaseStreamer):
    """Sends each new token's text to the sink as soon as it decodes to whole characters.

    transformers' ``TextStreamer`` holds text back until a word ends; a person watching a draft appear
    wants every token. A piece ending in U+FFFD is an incomplete UTF-8 sequence and waits for the next.
    """

    def __init__(self, tokenizer: Any, sink: TokenSink | None) -> None:
        self.tokenizer = tokenizer
        self.sink = sink
        self.ids: list[int] = []
        self.text = ""
        self._prompt_seen = False

    @property
    def count(self) -> int:
        return len(self.ids)

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:
            # generate() first puts the prompt (or a decoder's start token): not part of the answer.
            self._prompt_seen = True
            return
        self.ids.extend(int(i) for i in value.reshape(-1).tolist())
        self._emit(final=False)

    def end(self) -> None:
        self._emit(final=True)

    def _emit(self, *, final: bool) -> None:
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if not final and text.endswith("\ufffd"):
            return
        piece, self.text = text[len(self.text) :], text
        if piece and self.sink is not None:
            self.sink(piece)


class AssistEngine:
    """Answers :class:`AssistRequest` values with the configured text and caption models."""

    def __init__(
        self,
        *,
        text_model: str,
        caption_model: str,
        cache_dir: Path,
        device: str = "auto",
        dtype: str = "auto",
        budget_bytes: int = 8 * 1024**3,
    ) -> None:
        self.text_model = text_model
        self.caption_model = caption_model
        self.cache_dir = cache_dir
        self.device = choose_device(device)
        self.dtype = choose_dtype(self.device, dtype)
        self.models = ModelCache(budget_bytes, self._load)
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

    def _load(self, role: str, name: str) -> LoadedModel:
        notice = None
        if name == TINY_MODEL:
            built = ensure_tiny_lm(self.cache_dir) if role == "text" else ensure_tiny_captioner(self.cache_dir)
            location, local, notice = str(built), True, TINY_ASSIST_NOTICE
            log.warning("assist model 'tiny' has random weights: %s", TINY_ASSIST_NOTICE)
        else:
            location, local = name, Path(name).is_dir()
        options: dict[str, Any] = {"local_files_only": local, "dtype": self.dtype}
        try:
            if role == "text":
                processor = AutoTokenizer.from_pretrained(location, local_files_only=local)
                model = AutoModelForCausalLM.from_pretrained(location, **options)
            else:
                processor = AutoProcessor.from_pretrained(location, local_files_only=local)  # type: ignore[no-untyped-call]
                model = AutoModelForImageTextToText.from_pretrained(location, **options)
        except OSError as exc:
            raise GenerationFailed(f"cannot load assist model {name!r}: {exc}") from exc
        model.to(self.device).eval()  # type: ignore[arg-type]
        return LoadedModel(name, role, model, processor, _weights_bytes(model), notice)

    def run(
        self, request: AssistRequest, on_token: TokenSink | None = None, should_cancel: CancelCheck | None = None
    ) -> AssistResult:
        """Answer one request, streaming pieces to ``on_token``; raises GenerationCancelled/Failed/OutOfMemory."""
        validate(request)
        role = "caption" if request.kind == "alt_text" else "text"
        loaded = self.models.get(role, self.caption_model if role == "caption" else self.text_model)
        streamer = _Streamer(loaded.tokenizer, on_token)
        cancel = _Cancel(should_cancel)
        inputs = self._caption_inputs(loaded, request) if role == "caption" else self._chat_inputs(loaded, request)
        options: dict[str, Any] = {
            "max_new_tokens": request.max_new_tokens,
            "do_sample": False,
            "streamer": streamer,
            "stopping_criteria": StoppingCriteriaList([cancel]),
        }
        if loaded.notice is not None:
            # Random weights stop at once as often as not; a few tokens show the path works.
            options["min_new_tokens"] = min(8, request.max_new_tokens)
        try:
            with torch.inference_mode(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(request.seed)
                loaded.model.generate(**inputs, **options)
        except torch.OutOfMemoryError as exc:
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise OutOfMemory(f"out of memory while writing: {exc}") from exc
        except (RuntimeError, ValueError) as exc:
            raise GenerationFailed(f"{type(exc).__name__}: {exc}") from exc
        if cancel.cancelled:
            raise GenerationCancelled("cancelled while writing")
        text = clean_output(request, streamer.text)
        return AssistResult(request.kind, text, loaded.name, streamer.count, loaded.notice)

    def _chat_inputs(self, loaded: LoadedModel, request: AssistRequest) -> dict[str, Any]:
        encoded = loaded.tokenizer.apply_chat_template(
            chat_messages(request), add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        return {k: v.to(self.device) for k, v in encoded.items()}

    def _caption_inputs(self, loaded: LoadedModel, request: AssistRequest) -> dict[str, Any]:
        assert request.image is not None
        try:
            with Image.open(io.BytesIO(request.image)) as opened:
                if opened.width * opened.height > MAX_IMAGE_PIXELS:
                    raise InvalidRequest(f"image: {opened.width}x{opened.height} is too large to describe")
                image = opened.convert("RGB")
        except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
            raise InvalidRequest(f"image: not a readable image ({exc})") from None
        # Florence-2 takes a task token rather than an instruction (docs/assist.md §1).
        task = "<MORE_DETAILED_CAPTION>" if "florence" in type(loaded.processor).__name__.lower() else None
        encoded = loaded.processor(images=image, text=task, return_tensors="pt")
        return {
            k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
            for k, v in encoded.items()
        }


def load_assist_engine(
    *, text_model: str, caption_model: str, cache_dir: Path, device: str, dtype: str, budget_bytes: int
) -> AssistEngine:
    return AssistEngine(
        text_model=text_model,
        caption_model=caption_model,
        cache_dir=cache_dir,
        device=device,
        dtype=dtype,
        budget_bytes=budget_bytes,
    )
