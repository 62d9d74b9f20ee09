#!/usr/bin/env python3
"""Example Python worker: its jobs say what to do (ok, sleep, fail, crash, resume).

    workers:
      py:
        command: python3
        args: [examples/python/worker.py]
        queue: work

Completed jobs are appended to the file named by $LEDGER, if set, as "<id> <delivery>".
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from shepherd_worker import work  # noqa: E402


def handle(job, ctx):
    payload = job["payload"] or {}
    op = payload.get("op", "ok")
    if op == "sleep":
        time.sleep(payload.get("ms", 100) / 1000)
    elif op == "fail":
        raise RuntimeError(payload.get("message", "failed on purpose"))
    elif op == "crash" and (payload.get("always") or job["delivery"] == 1):
        os.kill(os.getpid(), 9)
    elif op == "resume" and ctx.restored_state is None:
        ctx.checkpoint({"step": 1, "by": os.getpid()})
        time.sleep(0.05)
        os.kill(os.getpid(), 9)
    ledger = os.environ.get("LEDGER")
    if ledger:
        with open(ledger, "a") as f:
            f.write(f"{job['id']} {job['delivery']}\n")
    return {"restored": ctx.restored_state, "delivery": job["delivery"], "lang": "python"}


if __name__ == "__main__":
    work(handle)
