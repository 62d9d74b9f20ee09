"""A Shepherd worker in Python, standard library only.

Shepherd starts every worker with an IPC channel: a socket whose file descriptor number is in the
NODE_CHANNEL_FD environment variable, carrying one JSON object per line in each direction (the
protocol in docs/worker-sdk.md). This module speaks it:

    from shepherd_worker import work

    def handle(job, ctx):
        done = (ctx.restored_state or {}).get("sent", 0)
        for i in range(done, len(job["payload"]["to"])):
            send(job["payload"]["to"][i])
            ctx.checkpoint({"sent": i + 1})
        return {"sent": len(job["payload"]["to"])}

    work(handle)

Jobs run one at a time on the main thread, and heartbeats are sent from the same loop, between
jobs and while waiting for them: a handler stuck in a loop stops the heartbeats, and Shepherd sees
the hang, exactly as with a frozen Node event loop. A handler that returns acks the job (the value
is stored as its result); one that raises fails it (retried with backoff, then dead-lettered).
SIGTERM or Shepherd's stop message lets the job in flight finish, then the worker exits.
"""

import json
import os
import select
import signal
import sys
import time
import traceback

PROTOCOL_VERSION = 1


class Context:
    """What a handler gets besides the job: its attempt token, the last checkpoint, and ways to report."""

    def __init__(self, worker, message):
        self._worker = worker
        self.token = message["token"]
        self.attempt = message["delivery"]
        self.restored_state = message.get("checkpoint")

    def checkpoint(self, state):
        """Saves progress; a later delivery of this job (after a crash) gets it as restored_state."""
        self._worker.send({"t": "settle", "items": [{"k": "checkpoint", "token": self.token, "state": state}]})

    def progress(self, value):
        self._worker.send({"t": "settle", "items": [{"k": "progress", "token": self.token, "value": value}]})


class Worker:
    def __init__(self):
        fd = os.environ.get("NODE_CHANNEL_FD")
        if fd is None:
            raise RuntimeError("not started by Shepherd: NODE_CHANNEL_FD is not set")
        self.fd = int(fd)
        self.worker_id = os.environ.get("SHEPHERD_WORKER_ID")
        self.heartbeat_s = max(0.02, int(os.environ.get("SHEPHERD_HEARTBEAT_MS", "1000")) / 1000)
        self.stopping = False
        self._buffer = b""
        self._queue = []
        self._last_beat = 0.0

    def send(self, message):
        data = (json.dumps(message, separators=(",", ":")) + "\n").encode()
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def beat(self):
        now = time.monotonic()
        if now - self._last_beat >= self.heartbeat_s:
            self._last_beat = now
            self.send({"t": "hb"})

    def receive(self, timeout):
        """Waits up to `timeout` seconds for messages; returns False once the supervisor is gone."""
        readable, _, _ = select.select([self.fd], [], [], timeout)
        if not readable:
            return True
        chunk = os.read(self.fd, 65536)
        if not chunk:
            return False
        self._buffer += chunk
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            if line.strip():
                self.dispatch(json.loads(line))
        return True

    def dispatch(self, message):
        kind = message.get("t")
        if kind == "jobs":
            self._queue.extend(message["jobs"])
        elif kind == "stop":
            self.stopping = True
        elif kind == "assign":
            self.worker_id = message["workerId"]

    def run(self, handler):
        self.send({"t": "hello", "v": PROTOCOL_VERSION, "sdk": "python", "pid": os.getpid()})
        self.send({"t": "work", "concurrency": 1})
        self.send({"t": "ready"})
        while True:
            if self.stopping:
                # Jobs sent ahead and not started go back to the queue for another worker.
                items = [{"k": "release", "token": m["token"]} for m in self._queue]
                if items:
                    self.send({"t": "settle", "items": items})
                return
            if self._queue:
                self.handle(handler, self._queue.pop(0))
            self.beat()
            if not self.receive(0 if self._queue else self.heartbeat_s):
                return

    def handle(self, handler, message):
        job = {key: message[key] for key in ("id", "queue", "payload", "delivery", "attempts", "maxAttempts")}
        started = time.monotonic()
        try:
            result = handler(job, Context(self, message))
            item = {"k": "ack", "token": message["token"]}
            if result is not None:
                item["result"] = result
        except Exception as error:  # noqa: BLE001 - any failure of the handler fails the job
            item = {"k": "fail", "token": message["token"], "error": str(error) or type(error).__name__,
                    "stack": traceback.format_exc()}
        item["ms"] = round((time.monotonic() - started) * 1000)
        self.send({"t": "settle", "items": [item]})


def work(handler):
    """Takes jobs from the pool's queue and runs `handler(job, ctx)` for each, until stopped."""
    worker = Worker()

    def on_sigterm(_signum, _frame):
        worker.stopping = True

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        worker.run(handler)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the supervisor is gone: so are we
    sys.exit(0)
