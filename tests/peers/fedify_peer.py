"""Drive the Fedify peer (``tests/peers/fedify/peer.mjs``) from Python tests.

The peer is an independent ActivityPub server written with Fedify 2.3.6 (npm), run with Node on
loopback.  It has one actor, ``bob``, and a JSON control API under ``/control/``.  This module starts
it, waits for its ``READY`` line and wraps the control API::

    with FedifyPeer() as peer:
        peer.follow("http://127.0.0.1:8000/users/alice")
        accept = peer.wait_for(lambda a: a["type"] == "Accept")

Every method has an ``a``-prefixed coroutine twin (``afollow``, ``acreate``, ``await_for``, ...) for
tests whose server under test runs on the same event loop: the peer calls back into that server while
a control call is in flight, so a blocking call there would deadlock.

Importing it from a test (pytest runs with ``--import-mode=importlib``, so nothing adds this directory
to ``sys.path``; whole-tree mypy names it ``tests.peers.fedify_peer``, per-file mypy ``fedify_peer``)::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))
    import fedify_peer  # type: ignore[import-not-found, unused-ignore]

Needs Node (>= 20) on PATH; ``ensure_installed()`` runs ``npm ci`` once (npm registry access).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

PEER_DIR = Path(__file__).resolve().parent / "fedify"
PEER_SCRIPT = PEER_DIR / "peer.mjs"
FIRST_KNOCKS = ("rfc9421", "draft-cavage-http-signatures-12")
READY_TIMEOUT = 20.0
CONTROL_TIMEOUT = 30.0

Activity = dict[str, Any]

_install_lock = threading.Lock()


class FedifyPeerError(RuntimeError):
    """The peer failed to start, or a control call failed (``status`` is its HTTP status, or 0)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def node_path() -> str | None:
    """The ``node`` executable, or None."""
    return shutil.which("node")


def _installed() -> bool:
    return (PEER_DIR / "node_modules" / "@fedify" / "fedify" / "package.json").is_file()


def fedify_available() -> bool:
    """Node is on PATH and the peer's npm dependencies are installed."""
    return node_path() is not None and _installed()


def ensure_installed() -> None:
    """Install the peer's npm dependencies (``npm ci``) unless already there.  Needs the npm registry."""
    with _install_lock:
        if _installed():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise FedifyPeerError("npm is not on PATH; cannot install the Fedify peer")
        proc = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PEER_DIR,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if proc.returncode != 0 or not _installed():
            raise FedifyPeerError(
                f"npm ci failed in {PEER_DIR} (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )


class FedifyPeer:
    """One Fedify peer process listening on ``http://127.0.0.1:PORT``.

    ``port=None`` lets the OS choose a free port (the peer reports it in its READY line).
    ``first_knock`` is the HTTP signature scheme Fedify tries first on a server it has not talked to;
    it falls back to the other one when the first answer is 400/401 or another error ("double knock").
    ``require_http_signature`` (default True) makes the peer's inbox answer 401 to a POST whose HTTP
    signature Fedify's ``verifyRequestDetailed`` does not verify, even when the body carries a valid
    Linked Data signature or proof (which Fedify alone would accept).
    ``rsa_only`` drops the Ed25519 key, so outgoing activities carry no Object Integrity Proof.
    ``accept_scheme`` makes the inbox answer 401 to any other HTTP signature scheme (a one-scheme
    server, to exercise a sender's double knock).
    ``log_level`` is the lowest level of Fedify's own log records written to the peer's stderr (see
    ``output()``): "debug", "info", "warning", "error" or "fatal".
    """

    def __init__(
        self,
        port: int | None = None,
        first_knock: str = "rfc9421",
        *,
        require_http_signature: bool = True,
        rsa_only: bool = False,
        accept_scheme: str | None = None,
        log_level: str = "warning",
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        if first_knock not in FIRST_KNOCKS:
            raise ValueError(f"first_knock must be one of {FIRST_KNOCKS}, not {first_knock!r}")
        if accept_scheme is not None and accept_scheme not in FIRST_KNOCKS:
            raise ValueError(f"accept_scheme must be one of {FIRST_KNOCKS} or None, not {accept_scheme!r}")
        self.port = port or 0
        self.first_knock = first_knock
        self.require_http_signature = require_http_signature
        self.rsa_only = rsa_only
        self.accept_scheme = accept_scheme
        self.log_level = log_level
        self.ready_timeout = ready_timeout
        self.base_url = ""
        self.actor_url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._output: deque[str] = deque(maxlen=200)
        self._ready = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- process -------------------------------------------------------------------------------------

    def command(self) -> list[str]:
        node = node_path()
        if node is None:
            raise FedifyPeerError("node is not on PATH")
        cmd = [node, str(PEER_SCRIPT), "--port", str(self.port), "--first-knock", self.first_knock]
        cmd += ["--log-level", self.log_level, "--watch-stdin"]
        if not self.require_http_signature:
            cmd.append("--no-require-http-signature")
        if self.rsa_only:
            cmd.append("--rsa-only")
        if self.accept_scheme is not None:
            cmd += ["--accept-scheme", self.accept_scheme]
        return cmd

    def _pump(self, stream: Any, name: str) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self._output.append(f"[{name}] {line}")
            if name == "stdout" and line.startswith("READY ") and not self._ready.is_set():
                self.base_url = line.split(" ", 1)[1].strip()
                self._ready.set()

    def output(self) -> str:
        """The peer's recent stdout/stderr lines (for failure messages)."""
        return "\n".join(self._output)

    def start(self) -> None:
        if self._proc is not None:
            raise FedifyPeerError("peer already started")
        if not _installed():
            raise FedifyPeerError(f"the Fedify peer is not installed: run ensure_installed() ({PEER_DIR})")
        self._proc = subprocess.Popen(
            self.command(),
            cwd=PEER_DIR,
            stdin=subprocess.PIPE,  # the peer exits when this closes (also if this process dies)
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        for stream, name in ((self._proc.stdout, "stdout"), (self._proc.stderr, "stderr")):
            t = threading.Thread(target=self._pump, args=(stream, name), daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + self.ready_timeout
        while not self._ready.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                code = self._proc.poll()
                self.stop()
                reason = f"exited with {code}" if code is not None else f"not ready in {self.ready_timeout}s"
                raise FedifyPeerError(f"Fedify peer {reason}:\n{self.output()}")
        self.port = int(self.base_url.rsplit(":", 1)[1])
        self.actor_url = f"{self.base_url}/users/bob"

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        for t in self._threads:
            t.join(timeout=2)
        self._threads.clear()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- control API (sync) --------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if not self.base_url:
            raise FedifyPeerError("peer not started")
        return f"{self.base_url}/control/{path}"

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code >= 400:
            request = response.request
            raise FedifyPeerError(
                f"{request.method} {request.url} -> {response.status_code}: {response.text}",
                response.status_code,
            )
        body: dict[str, Any] = response.json()
        return body

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        with httpx.Client(timeout=CONTROL_TIMEOUT, trust_env=False) as client:
            return self._answer(client.request(method, self._url(path), json=body))

    async def _acall(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=CONTROL_TIMEOUT, trust_env=False) as client:
            return self._answer(await client.request(method, self._url(path), json=body))

    def inbox(self) -> list[Activity]:
        """Every activity the peer's inboxes accepted (verified), oldest first."""
        activities: list[Activity] = self._call("GET", "inbox")["activities"]
        return activities

    def clear_inbox(self) -> None:
        self._call("DELETE", "inbox")

    def state(self) -> dict[str, Any]:
        """``{"actor", "followers", "following", "first_knock"}``."""
        return self._call("GET", "state")

    def signing(self) -> dict[str, Any]:
        """``{"first_knock", "remembered": {origin: scheme}, "outgoing": [{method, url, scheme, ...}]}``."""
        return self._call("GET", "signing")

    def reset_signing(self) -> None:
        """Forget the remembered scheme per origin (next request knocks with ``first_knock`` again)."""
        self._call("DELETE", "signing")

    def lookup(self, target: str) -> dict[str, Any]:
        """Fetch an actor (signed GET) as Fedify parses it; returns its compact JSON-LD."""
        obj: dict[str, Any] = self._call("POST", "lookup", {"target": target})["object"]
        return obj

    def follow(self, target: str) -> str:
        """bob follows ``target`` (an actor URL); returns the Follow's id once delivered."""
        follow_id: str = self._call("POST", "follow", {"target": target})["follow_id"]
        return follow_id

    def unfollow(self, target: str) -> None:
        self._call("POST", "unfollow", {"target": target})

    def create(
        self,
        to: list[str],
        content: str,
        public: bool = True,
        in_reply_to: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        followers: bool = False,
    ) -> dict[str, str]:
        """bob sends Create(Note) to the actors ``to``; returns ``{"create_id", "note_id"}``.

        The note mentions every actor in ``to``.  ``public``: addressed to as:Public (cc followers),
        else to the actors only (a direct message).  ``followers``: also deliver to bob's followers
        (shared inboxes preferred).  ``attachments``: ``[{url, mediaType, name, width, height}]``.
        """
        body = _create_body(to, content, public, in_reply_to, attachments, followers)
        return self._call("POST", "create", body)

    def update(self, note_id: str, content: str, to: list[str] | None = None) -> str:
        """bob sends Update(Note) with new ``content`` (to the note's recipients unless ``to``)."""
        update_id: str = self._call("POST", "update", _note_body(note_id, to, content))["update_id"]
        return update_id

    def delete(self, note_id: str, to: list[str] | None = None) -> str:
        """bob sends Delete(Tombstone); the note then answers 410."""
        delete_id: str = self._call("POST", "delete", _note_body(note_id, to))["delete_id"]
        return delete_id

    def undo(self, activity_id: str, to: list[str]) -> str:
        """bob sends Undo of an activity it sent (a Like, an Announce, a Follow)."""
        undo_id: str = self._call("POST", "undo", {"activity_id": activity_id, "to": to})["undo_id"]
        return undo_id

    def like(self, object_id: str, to: str) -> str:
        like_id: str = self._call("POST", "like", {"object": object_id, "to": to})["like_id"]
        return like_id

    def announce(self, object_id: str, to: str) -> str:
        announce_id: str = self._call("POST", "announce", {"object": object_id, "to": to})["announce_id"]
        return announce_id

    def wait_for(self, predicate: Callable[[Activity], bool], timeout: float = 10) -> Activity:
        """The first logged activity matching ``predicate``, polling until ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            activities = self.inbox()
            for activity in activities:
                if predicate(activity):
                    return activity
            if time.monotonic() > deadline:
                raise TimeoutError(_timeout_message(timeout, activities))
            time.sleep(0.05)

    # -- control API (async) -------------------------------------------------------------------------

    async def ainbox(self) -> list[Activity]:
        activities: list[Activity] = (await self._acall("GET", "inbox"))["activities"]
        return activities

    async def aclear_inbox(self) -> None:
        await self._acall("DELETE", "inbox")

    async def astate(self) -> dict[str, Any]:
        return await self._acall("GET", "state")

    async def asigning(self) -> dict[str, Any]:
        return await self._acall("GET", "signing")

    async def areset_signing(self) -> None:
        await self._acall("DELETE", "signing")

    async def alookup(self, target: str) -> dict[str, Any]:
        obj: dict[str, Any] = (await self._acall("POST", "lookup", {"target": target}))["object"]
        return obj

    async def afollow(self, target: str) -> str:
        follow_id: str = (await self._acall("POST", "follow", {"target": target}))["follow_id"]
        return follow_id

    async def aunfollow(self, target: str) -> None:
        await self._acall("POST", "unfollow", {"target": target})

    async def acreate(
        self,
        to: list[str],
        content: str,
        public: bool = True,
        in_reply_to: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        followers: bool = False,
    ) -> dict[str, str]:
        body = _create_body(to, content, public, in_reply_to, attachments, followers)
        return await self._acall("POST", "create", body)

    async def aupdate(self, note_id: str, content: str, to: list[str] | None = None) -> str:
        update_id: str = (await self._acall("POST", "update", _note_body(note_id, to, content)))["update_id"]
        return update_id

    async def adelete(self, note_id: str, to: list[str] | None = None) -> str:
        delete_id: str = (await self._acall("POST", "delete", _note_body(note_id, to)))["delete_id"]
        return delete_id

    async def aundo(self, activity_id: str, to: list[str]) -> str:
        body = {"activity_id": activity_id, "to": to}
        undo_id: str = (await self._acall("POST", "undo", body))["undo_id"]
        return undo_id

    async def alike(self, object_id: str, to: str) -> str:
        like_id: str = (await self._acall("POST", "like", {"object": object_id, "to": to}))["like_id"]
        return like_id

    async def aannounce(self, object_id: str, to: str) -> str:
        body = {"object": object_id, "to": to}
        announce_id: str = (await self._acall("POST", "announce", body))["announce_id"]
        return announce_id

    async def await_for(
        self,
        predicate: Callable[[Activity], bool],
        timeout: float = 10,  # noqa: ASYNC109 (same signature as wait_for)
    ) -> Activity:
        deadline = time.monotonic() + timeout
        while True:
            activities = await self.ainbox()
            for activity in activities:
                if predicate(activity):
                    return activity
            if time.monotonic() > deadline:
                raise TimeoutError(_timeout_message(timeout, activities))
            await asyncio.sleep(0.05)


def start_all(*peers: FedifyPeer) -> None:
    """Start several peers concurrently (each start is mostly Node loading Fedify)."""
    errors: list[BaseException] = []

    def run(peer: FedifyPeer) -> None:
        try:
            peer.start()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,)) for p in peers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        for p in peers:
            p.stop()
        raise errors[0]


def _create_body(
    to: list[str],
    content: str,
    public: bool,
    in_reply_to: str | None,
    attachments: list[dict[str, Any]] | None,
    followers: bool,
) -> dict[str, Any]:
    body: dict[str, Any] = {"to": list(to), "content": content, "public": public, "followers": followers}
    if in_reply_to is not None:
        body["inReplyTo"] = in_reply_to
    if attachments:
        body["attachments"] = attachments
    return body


def _note_body(note_id: str, to: list[str] | None, content: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"note_id": note_id}
    if to is not None:
        body["to"] = list(to)
    if content is not None:
        body["content"] = content
    return body


def _timeout_message(timeout: float, activities: list[Activity]) -> str:
    seen = ", ".join(f"{a.get('type')} {a.get('id')}" for a in activities) or "nothing"
    return f"no matching activity in the Fedify peer's inbox after {timeout}s; it has: {seen}"
