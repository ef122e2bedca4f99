#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for S3 tests (standard library only).

Sits on 127.0.0.1 between an S3 client and a test S3 server and fails a
chosen fraction of requests, mixing four kinds of fault:

- ``503``:   503 SlowDown (S3's throttling answer), request not forwarded;
- ``500``:   500 InternalError, request not forwarded;
- ``reset``: the connection is reset (RST) without an answer;
- ``slow``:  the request is forwarded, but the answer waits 0.2-0.6 s.

Which request fails is decided from ``--seed`` and the request's number, so a
run is reproducible up to the order in which concurrent requests arrive.
Every fault is appended to ``--log`` as ``<n> <kind> <method> <path>``.

    s3_fault_proxy.py --upstream http://127.0.0.1:5000 --rate 0.1 --seed 7 \\
        --port 0 --log faults.log      # prints the port it listens on
"""

import argparse
import http.client
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KINDS = ("503", "500", "reset", "slow")
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection"}
ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<Error><Code>{code}</Code><Message>{message}</Message>"
    "<RequestId>fault-{n}</RequestId></Error>"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="http://host:port of the S3 server")
    ap.add_argument("--rate", type=float, default=0.1, help="fraction of requests that fail")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--log", help="file that receives one line per fault")
    args = ap.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    counter = iter(range(1, 1 << 62))
    lock = threading.Lock()

    def next_request() -> tuple[int, str | None]:
        with lock:
            n = next(counter)
        rng = random.Random(args.seed * 1_000_003 + n)
        kind = rng.choice(KINDS) if rng.random() < args.rate else None
        if kind and args.log:
            with lock, open(args.log, "a") as f:
                f.write(f"{n} {kind}\n")
        return n, kind

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def handle_one(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            n, kind = next_request()
            if kind == "reset":
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                return
            if kind in ("503", "500"):
                code, message = (
                    ("SlowDown", "Please reduce your request rate.")
                    if kind == "503"
                    else ("InternalError", "We encountered an internal error. Please try again.")
                )
                data = ERROR.format(code=code, message=message, n=n).encode()
                self.send_response(int(kind))
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                return
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            if body is not None:
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            conn.close()
            if kind == "slow":
                time.sleep(random.Random(n).uniform(0.2, 0.6))
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            if self.command == "HEAD":
                self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_one

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    sys.stdout.close()
    server.serve_forever()


if __name__ == "__main__":
    main()
