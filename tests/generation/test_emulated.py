"""The emulated engine (benchmarks without an accelerator) and the encoding pool."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from generation.backend import open_engine
from generation.emulated import EmulatedEngine, delay_of
from generation.errors import GenerationFailed, InvalidRequest
from generation.finishing import Finisher
from generation.output import Drawn
from generation.presets import resolve_request
from generation.provenance import InstanceCertificates, verify
from generation.renderer import Renderer
from generation.types import GenerationResult


def test_emulated__names_set_the_delay() -> None:
    assert delay_of("emulated") == pytest.approx(0.024)
    assert delay_of("emulated:5") == pytest.approx(0.005)
    for bad in ("emulated:", "emulated:x", "emulated:-1", "emulatedx:3"):
        with pytest.raises(InvalidRequest):
            delay_of(bad)
    request = resolve_request("a fox", seed=1, model="emulated:5")
    assert (request.model, request.width, request.height, request.steps) == ("emulated:5", 512, 512, 1)


def test_emulated__real_size_photo_like_images_after_the_delay() -> None:
    engine = open_engine("emulated:20")
    assert isinstance(engine, EmulatedEngine)
    requests = [resolve_request("a fox", seed=seed, model="emulated:20") for seed in (1, 2, 3)]
    engine.generate(requests[:1])  # draws the bank of images for this size
    started = time.perf_counter()
    steps: list[tuple[int, int]] = []
    images = engine.generate(requests, on_step=lambda step, total: steps.append((step, total)))
    assert time.perf_counter() - started >= 0.060, "sleeps 20 ms per image"
    assert steps == [(1, 1)]
    assert [image.size for image in images] == [(512, 512)] * 3
    assert images[0].tobytes() != images[1].tobytes()
    assert images[0].tobytes() == engine.generate(requests[:1])[0].tobytes(), "the seed picks the pixels"
    spread = ImageStat.Stat(images[0]).stddev
    assert min(spread) > 20, "content, not a flat colour"


def test_emulated__runs_through_the_renderer() -> None:
    [outcome] = Renderer(EmulatedEngine("emulated:0")).render([resolve_request("x", seed=4, model="emulated:0")])
    assert isinstance(outcome, GenerationResult)
    assert outcome.png.startswith(b"\x89PNG")
    assert outcome.notice is not None


def test_finisher__signs_in_a_process_and_a_failing_image_fails_alone(certificates: InstanceCertificates) -> None:
    request = resolve_request("x", seed=5, model="emulated:0")
    good = Drawn(image=Image.new("RGB", (64, 64), (10, 20, 30)), request=request)
    broken = Drawn(image=Image.new("RGB", (0, 0)), request=request)
    finisher = Finisher(1, certificates=certificates)
    try:
        finisher.warm_up()
        futures = [finisher.submit(good), finisher.submit(broken), finisher.submit(good)]
        first = futures[0].result(timeout=60)
        with pytest.raises(Exception):  # noqa: B017, PT011 - Pillow's error for an empty image
            futures[1].result(timeout=60)
        last = futures[2].result(timeout=60)
    finally:
        finisher.close()
    for outcome in (first, last):
        assert isinstance(outcome, GenerationResult)
        report = verify(outcome.png, "image/png", trust_anchor_pem=certificates.root_pem)
        assert report is not None
        assert report.state == "Trusted"


def test_finisher__in_thread_mode_uses_the_given_signer() -> None:
    request = resolve_request("x", seed=6, model="emulated:0")
    finisher = Finisher(0)
    try:
        outcome = finisher.submit(Drawn(image=Image.new("RGB", (64, 64)), request=request)).result(timeout=60)
    finally:
        finisher.close()
    assert isinstance(outcome, GenerationResult)
    assert not outcome.signed
    assert not isinstance(outcome, GenerationFailed)


def _ended(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads processes from /proc (Linux)")
def test_finisher__pool_processes_end_when_their_owner_is_killed() -> None:
    # A GPU worker killed with kill -9 never closes its pool: its processes, and the forkserver they keep
    # alive, must not outlive it.
    script = (
        "import sys; from generation.finishing import Finisher; "
        "f = Finisher(1); print(*f.warm_up(), flush=True); sys.stdin.read()"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as owner:
        try:
            assert owner.stdout is not None
            pool = [int(pid) for pid in owner.stdout.readline().split()]
            children = [int(pid) for pid in Path(f"/proc/{owner.pid}/task/{owner.pid}/children").read_text().split()]
            assert len(pool) == 1
            assert children, "the forkserver that started the pool process"
            time.sleep(0.5)
            assert not any(_ended(pid) for pid in pool + children), "alive while the owner runs"
        finally:
            owner.kill()
    deadline = time.monotonic() + 15
    while not all(_ended(pid) for pid in pool + children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pool + children if not _ended(pid)] == []
