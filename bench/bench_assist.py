"""Benchmark writing help: our path against a bare ``model.generate`` call with the same model and settings.

The model is a random-weight Llama (``--hidden`` 256 and ``--layers`` 4 by default) built offline, saved to
a folder and named as ``assist.text_model``, so the real loading code runs. It writes ``--tokens`` tokens
greedily (EOS off, so both sides write exactly as many). The issue's bound is for a call of 1 s or more:
on a quiet 2-core machine the default model writes 250 tokens in about 0.3 s, so use a larger one (say
``--hidden 768 --layers 8``) or more tokens to stand in for a real model's 1 s answer (real weights cannot
be loaded here).

1. In process, interleaved round by round: ``AssistEngine.run`` (validation, chat template, our streamer
   with the cancel check, output cleaning) vs ``model.generate(**inputs, max_new_tokens=N)`` with the same
   inputs. Target: ours / bare <= 1.05.
2. Through the server as ``scripts/serve`` starts it (``fediserver serve``, the GPU worker as a child
   process): time from ``POST /api/v1/assist/rewrite`` to the first ``token`` SSE event, and to ``done``,
   vs the bare call's time to its first token and to its end. Run once with ``worker.poll_interval`` at its
   default (1 s) and once at 0.05 s: an idle worker notices a new job at its next poll.

Usage, from the repository root::

    HF_HUB_OFFLINE=1 python -m bench.bench_assist [--tokens 200] [--rounds 7] [--server-rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.loopback import free_port, stop_process, wait_for_port

PASSWORD = "bench-password-1"


def build_model(folder: Path, hidden: int = 256, layers: int = 4) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from generation._torch.tiny_assist import save_tiny_lm

    target = folder / "bench-lm"
    save_tiny_lm(target)  # the tokenizer and chat template of the tiny model
    config = LlamaConfig.from_pretrained(target)
    config.update(
        {
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": max(hidden // 64, 1),
            "num_key_value_heads": max(hidden // 64, 1),
            "intermediate_size": hidden * 688 // 256,
            "eos_token_id": None,
        }
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = None
    model.save_pretrained(target)
    return target


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def in_process(model_dir: Path, tokens: int, rounds: int) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, BatchEncoding
    from transformers.generation.streamers import BaseStreamer

    from generation._torch.assist_engine import AssistEngine
    from generation.assist import AssistRequest, chat_messages

    torch.set_num_threads(1)
    request = AssistRequest(kind="rewrite", text="My first post about the fox in the snow.", max_new_tokens=tokens)
    engine = AssistEngine(text_model=str(model_dir), caption_model="tiny", cache_dir=model_dir.parent, device="cpu")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
    model.eval()
    inputs = tokenizer.apply_chat_template(
        chat_messages(request), add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    assert isinstance(inputs, BatchEncoding), type(inputs)

    class FirstToken(BaseStreamer):
        def __init__(self) -> None:
            self.calls = 0
            self.first: float | None = None

        def put(self, value: Any) -> None:
            self.calls += 1
            if self.calls == 2 and self.first is None:
                self.first = time.perf_counter()

        def end(self) -> None:
            pass

    def bare() -> tuple[float, float]:
        streamer = FirstToken()
        start = time.perf_counter()
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(request.seed)
            model.generate(**inputs, max_new_tokens=tokens, do_sample=False, streamer=streamer)
        end = time.perf_counter()
        return end - start, (streamer.first or end) - start

    def ours() -> tuple[float, float]:
        first: list[float] = []
        start = time.perf_counter()
        result = engine.run(request, on_token=lambda _piece: first.append(time.perf_counter()) if not first else None)
        end = time.perf_counter()
        assert result.tokens == tokens, result.tokens
        return end - start, (first[0] if first else end) - start

    bare(), ours()  # warm both
    bare_total, bare_first, ours_total, ours_first = [], [], [], []
    for _ in range(rounds):
        total, first = bare()
        bare_total.append(total)
        bare_first.append(first)
        total, first = ours()
        ours_total.append(total)
        ours_first.append(first)
    return {
        "bare_ms": _median_ms(bare_total),
        "ours_ms": _median_ms(ours_total),
        "bare_first_ms": _median_ms(bare_first),
        "ours_first_ms": _median_ms(ours_first),
    }


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "fediserver", *args], env=env, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout


async def _one_request(base: str, auth: dict[str, str]) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        start = time.perf_counter()
        created = await http.post("/api/v1/assist/rewrite", json={"text": "My first post about the fox."}, headers=auth)
        created.raise_for_status()
        first: float | None = None
        async with http.stream("GET", created.json()["events_url"], headers=auth) as response:
            async for line in response.aiter_lines():
                if line == "event: token" and first is None:
                    first = time.perf_counter()
                if line == "event: done":
                    end = time.perf_counter()
                    return end - start, (first or end) - start
    raise RuntimeError("the stream ended without a done event")


def through_server(folder: Path, model_dir: Path, poll: float, rounds: int) -> dict[str, float]:
    port = free_port()
    instance = folder / f"instance-{poll}"
    instance.mkdir()
    env = dict(
        os.environ,
        FEDISERVER_CONFIG=str(instance / "fediserver.toml"),
        FEDISERVER_ASSIST_TEXT_MODEL=str(model_dir),
        FEDISERVER_ASSIST_DAILY_LIMIT="0",
        FEDISERVER_GENERATION_DEVICE="cpu",
        FEDISERVER_WORKER_POLL_INTERVAL=str(poll),
        FEDISERVER_LOGGING_LEVEL="warning",
        HF_HUB_OFFLINE="1",
        OMP_NUM_THREADS="1",
    )
    _cli(env, "init", "--domain", f"127.0.0.1:{port}", "--scheme", "http", "--data-dir", str(instance / "data"))
    _cli(env, "migrate")
    _cli(env, "user", "create", "bench", "--password-stdin", stdin=PASSWORD)
    # A bearer token, as apps use: Basic auth would add an argon2id verification to every request.
    token = _cli(env, "token", "create", "bench", "--scopes", "assist").strip().splitlines()[-1]
    server = subprocess.Popen(
        [sys.executable, "-m", "fediserver", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    auth = {"authorization": f"Bearer {token}"}
    try:
        wait_for_port(port, server, within=60)
        base = f"http://127.0.0.1:{port}"
        asyncio.run(_one_request(base, auth))  # the GPU worker loads the model on its first job
        totals, firsts = [], []
        for _ in range(rounds):
            total, first = asyncio.run(_one_request(base, auth))
            totals.append(total)
            firsts.append(first)
            time.sleep(0.3)
    finally:
        stop_process(server)
    return {"server_ms": _median_ms(totals), "server_first_ms": _median_ms(firsts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--server-rounds", type=int, default=5)
    parser.add_argument("--hidden", type=int, default=256, help="the model's hidden size (a multiple of 64)")
    parser.add_argument("--layers", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_dir = build_model(folder, args.hidden, args.layers)
        local = in_process(model_dir, args.tokens, args.rounds)
        shape = f"hidden {args.hidden}, {args.layers} layers"
        print(f"model: random Llama, {shape}; {args.tokens} tokens greedy; 1 torch thread")
        print()
        print("| path | total ms (median) | first token ms | ratio to bare |")
        print("|---|---|---|---|")
        print(f"| bare model.generate | {local['bare_ms']:.1f} | {local['bare_first_ms']:.1f} | 1.000 |")
        ratio = local["ours_ms"] / local["bare_ms"]
        print(f"| AssistEngine.run | {local['ours_ms']:.1f} | {local['ours_first_ms']:.1f} | {ratio:.3f} |")
        for poll in (1.0, 0.05):
            server = through_server(folder, model_dir, poll, args.server_rounds)
            print(
                f"| server, poll {poll} s: POST to done / to first token | {server['server_ms']:.1f} | "
                f"{server['server_first_ms']:.1f} | {server['server_ms'] / local['bare_ms']:.3f} "
                f"(first token: +{server['server_first_ms'] - local['bare_first_ms']:.0f} ms) |"
            )
        print(json.dumps(local))


if __name__ == "__main__":
    main()
