"""Running an app: in a background thread (tests, notebooks) or in the foreground."""

import socket
import threading
import time


def free_port(host="127.0.0.1"):
    """A TCP port free on ``host`` now (for tests and benchmarks).

    Examples
    --------
    >>> from elang_sk.serving import free_port
    >>> 0 < free_port() < 65536
    True
    """
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerThread:
    """An app served by uvicorn in a background thread, on 127.0.0.1.

    A context manager: entering starts the server and waits until it
    listens (and, with ``wait_ready``, until ``/readyz`` says ready);
    leaving shuts it down gracefully (requests in flight finish).

    Parameters
    ----------
    app : ASGI app
        E.g. from :func:`~elang_sk.serving.create_app`.
    host : str, default="127.0.0.1"
    port : int, default=0
        0 picks a free port (read it from ``url``).
    wait_ready : bool, default=True
    timeout_s : float, default=60
        Longest to wait for the start.
    drain_s : float, default=30
        Longest a shutdown waits for requests in flight.

    Attributes
    ----------
    url : str
        ``http://host:port``.

    Examples
    --------
    >>> from fastapi import FastAPI
    >>> from elang_sk.serving import ServerThread
    >>> app = FastAPI()
    >>> with ServerThread(app, wait_ready=False) as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(
        self,
        app,
        host="127.0.0.1",
        port=0,
        *,
        wait_ready=True,
        timeout_s=60.0,
        drain_s=30.0,
    ):
        self.app = app
        self.host = host
        self.port = port
        self.wait_ready = wait_ready
        self.timeout_s = timeout_s
        self.drain_s = drain_s
        self.url = None
        self._server = None
        self._thread = None

    def start(self):
        import uvicorn

        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=self.drain_s,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name="elang-sk-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(
                    f"The server did not start on {self.host}:{self.port} (is the "
                    "port in use?)."
                )
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"The server did not start in {self.timeout_s} s.")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        if self.wait_ready:
            self._wait_ready(deadline)
        return self

    def _wait_ready(self, deadline):
        import httpx

        while True:
            reply = httpx.get(self.url + "/readyz", timeout=5.0)
            if reply.status_code == 200:
                return
            reason = reply.json().get("reason", "")
            if "failed" in reason or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The server is not ready: {reason}")
            time.sleep(0.02)

    def stop(self):
        """Shut down gracefully and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(self.drain_s + 10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def run(app, host="127.0.0.1", port=8000, drain_s=30.0, log_level="info"):
    """Serve ``app`` in the foreground until SIGINT/SIGTERM (graceful drain)."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level=log_level,
        timeout_graceful_shutdown=drain_s,
    )
