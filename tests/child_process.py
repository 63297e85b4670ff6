"""A small real child process for supervisor tests: serves /health and misbehaves on request."""

from __future__ import annotations

import argparse
import http.server
import logging
import os
import signal
import subprocess
import sys
import threading
import time


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the supervisor relays stdout, and the tests read it."""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--exit-after", type=float)
    parser.add_argument("--exit-code", type=int, default=3)
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--grandchild-pidfile")
    parser.add_argument(
        "--log-error",
        action="store_true",
        help="log an INFO record and an error with its traceback",
    )
    args = parser.parse_args()
    if args.ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.grandchild_pidfile:
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(args.grandchild_pidfile, "w") as pidfile:
            pidfile.write(str(grandchild.pid))
    server = http.server.HTTPServer(("127.0.0.1", args.port), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"child {os.getpid()} listening on {args.port}", flush=True)
    if args.log_error:  # the platform's log format (bot/app/_logs.py)
        format_ = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
        logging.basicConfig(format=format_, level=logging.INFO, stream=sys.stdout)
        logging.getLogger("child").info("routine news")
        try:
            raise ValueError("the disk is on fire")
        except ValueError:
            logging.getLogger("child").exception("request failed")
    if args.exit_after is not None:
        time.sleep(args.exit_after)
        print(f"child {os.getpid()} exits with {args.exit_code}", flush=True)
        os._exit(args.exit_code)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
