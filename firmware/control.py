"""The running service's control socket: ``bodycam press`` and ``bodycam status`` talk to ``bodycam run``.

A Unix stream socket ``<data_dir>/control.sock`` (mode 0600): the client sends one JSON
object on one line and reads one JSON object back. Only one service may own the socket:
a second ``bodycam run`` finds the first answering and refuses to start, while a socket
file left by a killed service is replaced.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bodycam_errors import BodycamError
from bodycam_threads import OwnedThread

log = logging.getLogger(__name__)
ACCEPT_SECONDS = 0.5  # how soon the server thread notices close()
MAX_REQUEST = 4096
STOP_SECONDS = 60.0


class ControlError(BodycamError, OSError):
    """No service answers on the socket, or it answered something unreadable."""


@dataclass(frozen=True)
class Request:
    """One request: ``press`` names a button press of ``bodycam press`` or ``status``; a hold of
    record may carry the stop ``reason``, a marker its ``label``."""

    press: str
    reason: str | None = None
    label: str | None = None

    @classmethod
    def from_json(cls, message: Any) -> "Request":
        """The request in a decoded JSON line; ValueError (one sentence) for anything else."""
        if not isinstance(message, dict) or set(message) - {"press", "reason", "label"}:
            raise ValueError("a request is a JSON object with 'press' and optionally 'reason' and 'label'")
        if not isinstance(message.get("press"), str):
            raise ValueError("'press' must be a string")
        if any(not isinstance(message.get(key), (str, type(None))) for key in ("reason", "label")):
            raise ValueError("'reason' and 'label' must be strings")
        return cls(message["press"], message.get("reason"), message.get("label"))


class ControlServer:
    """Answers requests on ``path`` with ``handle(request) -> reply`` from a thread it owns, one at a time.

    A request the handler fails on is answered with the failure; should the thread itself
    end on an error, ``on_error(exc)`` tells the owner.
    """

    def __init__(self, path: Path, handle: Callable[[Request], dict[str, Any]],
                 on_error: Callable[[Exception], None] | None = None) -> None:
        self.path, self._handle = path, handle
        if path.exists() or path.is_symlink():
            try:
                request(path, {"press": "status"}, timeout=2)
            except ControlError:
                path.unlink()  # left by a service that was killed
            else:
                raise ControlError(f"bodycam run is already running here (it answers on {path})")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            self._socket.bind(str(path))
            os.chmod(path, 0o600)
            self._socket.listen(4)
            self._socket.settimeout(ACCEPT_SECONDS)
        except OSError:
            self._socket.close()
            raise
        self._thread = OwnedThread(self._serve, "control", on_error=on_error)
        self._thread.start()

    def _serve(self) -> None:
        while not self._thread.stopping.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the socket was closed
            with connection:
                try:
                    connection.settimeout(30)
                    reply = self._handle(Request.from_json(json.loads(_read_line(connection))))
                except (ValueError, OSError) as exc:
                    reply = {"error": str(exc)}
                except Exception as exc:  # the service failed on this request: say so, serve the next
                    log.exception("the control request failed")
                    reply = {"error": f"the service failed on this request: {exc!r}"}
                try:
                    connection.sendall(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")
                except OSError:
                    pass  # the client went away; nothing more to tell it

    def close(self) -> None:
        """Stop answering and remove the socket; safe to call twice. Raises ZombieThread if the thread hangs."""
        if self._thread.stopping.is_set():
            return
        try:
            self._thread.stop(STOP_SECONDS)  # a request in hand (a held button) finishes first
        finally:
            self._socket.close()
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = connection.recv(MAX_REQUEST)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise ValueError("request too long")
    return data


def request(path: Path, message: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
    """Send ``message`` to the service listening on ``path`` and return its reply."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(timeout)
            sock.connect(str(path))
            sock.sendall(json.dumps(message).encode("utf-8") + b"\n")
            reply = _read_line(sock)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise ControlError(f"no bodycam run is answering on {path}") from exc
    except OSError as exc:
        raise ControlError(f"the service on {path} did not answer: {exc}") from exc
    try:
        return json.loads(reply)
    except ValueError as exc:
        raise ControlError(f"the service on {path} answered something unreadable") from exc
