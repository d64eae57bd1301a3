"""The running service's control socket: ``bodycam press`` and ``bodycam status`` talk to ``bodycam run``.

A Unix stream socket ``<data_dir>/control.sock`` (mode 0600): the client sends one JSON
object on one line and reads one JSON object back. Only one service may own the socket:
a second ``bodycam run`` finds the first answering and refuses to start, while a socket
file left by a killed service is replaced.
"""
from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable

from bodycam_errors import BodycamError

ACCEPT_SECONDS = 0.5  # how soon the server thread notices close()
MAX_REQUEST = 4096


class ControlError(BodycamError, OSError):
    """No service answers on the socket, or it answered something unreadable."""


class ControlServer:
    """Answers requests on ``path`` with ``handle(request) -> reply`` from a thread it owns, one at a time."""

    def __init__(self, path: Path, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
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
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="control", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._quit.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the socket was closed
            with connection:
                try:
                    connection.settimeout(30)
                    message = json.loads(_read_line(connection))
                    reply = self._handle(message) if isinstance(message, dict) else {"error": "not a JSON object"}
                except (ValueError, OSError) as exc:
                    reply = {"error": str(exc)}
                try:
                    connection.sendall(json.dumps(reply, ensure_ascii=False).encode("utf-8") + b"\n")
                except OSError:
                    pass  # the client went away; nothing more to tell it

    def close(self) -> None:
        """Stop answering and remove the socket; safe to call twice."""
        if self._quit.is_set():
            return
        self._quit.set()
        self._thread.join(timeout=60)  # a request in hand (a held button) finishes first
        if self._thread.is_alive():
            raise ControlError("the control thread did not stop")
        self._socket.close()
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


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
