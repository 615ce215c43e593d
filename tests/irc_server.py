"""A local IRC server that speaks just enough of Twitch chat for the live source's tests.

Twitch cannot be reached from the machines these tests run on, so this stands in for
``irc.chat.twitch.tv`` over plain TCP on a loopback port. Per connection it answers
NICK with the welcome (001), ``CAP REQ`` with ``CAP ACK``, records PONGs, and once the
client has joined a channel plays that connection's part of the script:

- ``("ping",)``: a PING; the script goes on once the client has answered it;
- ``("lines", a, b)``: the script's chat lines a..b-1, as fast as the socket takes them;
- ``("drop",)``: closes the connection without a word (a network failure);
- ``("reconnect",)``: Twitch's RECONNECT, then waits for the client to hang up.

A client that comes back gets the next connection's part.
"""

from __future__ import annotations

import socket
import threading
import time


class FakeTwitch:
    def __init__(self, lines: list[str], parts: list[list[tuple]]) -> None:
        self.lines, self.parts = lines, parts
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.pongs = 0
        self.received: list[str] = []  # every line the client sent
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"irc://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._stop.set()
        self.listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            part = self.parts[min(self.connections, len(self.parts) - 1)]
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, part), daemon=True).start()

    def _serve(self, conn: socket.socket, part: list[tuple]) -> None:
        joined, ponged = threading.Event(), threading.Event()
        closed = threading.Event()

        def read() -> None:
            buffer = b""
            while not closed.is_set():
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                buffer += data
                while b"\r\n" in buffer:
                    raw, buffer = buffer.split(b"\r\n", 1)
                    line = raw.decode("utf-8", errors="replace")
                    self.received.append(line)
                    if line.startswith("NICK "):
                        nick = line.split(" ", 1)[1]
                        self._send(conn, f":tmi.twitch.tv 001 {nick} :Welcome, GLHF!")
                    elif line.startswith("CAP REQ"):
                        caps = line.split(":", 1)[1] if ":" in line else line.split()[-1]
                        self._send(conn, f":tmi.twitch.tv CAP * ACK :{caps}")
                    elif line.startswith("JOIN "):
                        joined.set()
                    elif line.startswith("PONG"):
                        self.pongs += 1
                        ponged.set()
            closed.set()

        threading.Thread(target=read, daemon=True).start()
        try:
            if not joined.wait(10):
                return
            for step in part:
                if step[0] == "ping":
                    self._send(conn, "PING :tmi.twitch.tv")
                    ponged.wait(10)
                elif step[0] == "lines":
                    data = "".join(line + "\r\n" for line in self.lines[step[1] : step[2]])
                    conn.sendall(data.encode())
                elif step[0] == "drop":
                    conn.shutdown(socket.SHUT_RDWR)  # wakes the reader; close alone would not
                    return
                elif step[0] == "reconnect":
                    self._send(conn, ":tmi.twitch.tv RECONNECT")
                    closed.wait(10)
                    return
            while not closed.is_set() and not self._stop.is_set():
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            closed.set()
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    @staticmethod
    def _send(conn: socket.socket, line: str) -> None:
        conn.sendall((line + "\r\n").encode())
