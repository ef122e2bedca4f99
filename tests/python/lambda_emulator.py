"""Run the real dbsnaplake Lambda binaries on loopback, behind moto's Step Functions engine.

moto executes state machines but cannot run functions without Docker. Its engine calls Lambda
at ``http://localhost:$MOTO_PORT``, so moto listens on one port with ``MOTO_PORT`` set to a
second port where :class:`Proxy` listens: ``POST /2015-03-31/functions/<name or ARN>/invocations``
goes to the function of that name, everything else (S3, Step Functions) is relayed to moto.

Each function is its real binary (``target/debug/dbsnaplake-<name>``) started with
``AWS_LAMBDA_RUNTIME_API`` pointing at a :class:`RuntimeApi`: a Lambda Runtime API (the
``/2018-06-01/runtime/...`` interface the ``lambda_runtime`` crate polls), as ``cargo lambda
watch`` or AWS itself serves it. An invocation is queued, handed to the next process that asks
for one, and its response or error is returned as real Lambda returns it: HTTP 200, and for a
function error ``X-Amz-Function-Error: Unhandled`` with ``{"errorType", "errorMessage"}``, the
error name Step Functions' Retry and Catch match on.

:meth:`Proxy.fail_next` makes the next invocations of a function fail with a given error name
before they reach it, as a throttled or crashed Lambda would, to exercise the state machine's
retries.
"""

import http.client
import json
import os
import queue
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status: int, body: bytes = b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Invocation:
    def __init__(self, payload: bytes):
        self.id = str(uuid.uuid4())
        self.payload = payload
        self.done = threading.Event()
        self.error = False
        self.result = b""


class RuntimeApi:
    """The Lambda Runtime API for one function, served to `workers` processes of its binary."""

    def __init__(self, name: str, binary: str, env: dict, workers: int = 1):
        self.name = name
        self.pending: "queue.Queue[_Invocation]" = queue.Queue()
        self.running: dict[str, _Invocation] = {}
        self.init_error = None
        api = self

        class Handler(_Quiet):
            def do_GET(self):
                if self.path != "/2018-06-01/runtime/invocation/next":
                    return self.reply(404)
                inv = api.pending.get()
                api.running[inv.id] = inv
                self.reply(200, inv.payload, [
                    ("Lambda-Runtime-Aws-Request-Id", inv.id),
                    ("Lambda-Runtime-Deadline-Ms", "9999999999999"),
                    ("Lambda-Runtime-Invoked-Function-Arn",
                     f"arn:aws:lambda:us-east-1:123456789012:function:{api.name}"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                    ("Content-Type", "application/json"),
                ])

            def do_POST(self):
                body = self.body()
                parts = self.path.strip("/").split("/")
                if parts[-2:] == ["init", "error"]:
                    api.init_error = body
                    return self.reply(202)
                inv = api.running.pop(parts[-2], None)
                if inv is None or parts[-1] not in ("response", "error"):
                    return self.reply(404)
                inv.error, inv.result = parts[-1] == "error", body
                inv.done.set()
                self.reply(202)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        port = self.server.server_address[1]
        full_env = {
            **env,
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "test",
        }
        self.procs = [
            subprocess.Popen([binary], env=full_env, stdout=subprocess.DEVNULL) for _ in range(workers)
        ]

    def invoke(self, payload: bytes) -> _Invocation:
        inv = _Invocation(payload)
        self.pending.put(inv)
        while not inv.done.wait(0.5):
            if self.init_error is not None or all(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"{self.name} died: {self.init_error!r}")
        return inv

    def close(self):
        for p in self.procs:
            p.kill()
            p.wait()
        self.server.shutdown()


class Proxy:
    """Lambda invocations to the functions, everything else to moto at `moto_port`."""

    def __init__(self, port: int, moto_port: int, functions: dict):
        self.functions = functions
        self.invocations: dict[str, int] = {}
        self.failures: dict[str, list[str]] = {}
        self.lock = threading.Lock()
        proxy = self

        class Handler(_Quiet):
            def do_GET(self):
                self.relay()

            def do_PUT(self):
                self.relay()

            def do_DELETE(self):
                self.relay()

            def do_HEAD(self):
                self.relay()

            def do_POST(self):
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) == 4 and parts[:2] == ["2015-03-31", "functions"] and parts[3] == "invocations":
                    return self.invoke(unquote(parts[2]).split(":")[-1])
                self.relay()

            def invoke(self, name):
                payload = self.body()
                request_id = [("x-amzn-RequestId", str(uuid.uuid4())), ("X-Amz-Executed-Version", "$LATEST")]
                fn = proxy.functions.get(name)
                if fn is None:
                    msg = json.dumps({"Type": "User", "message": f"Function not found: {name}"}).encode()
                    return self.reply(404, msg, request_id + [("x-amzn-ErrorType", "ResourceNotFoundException")])
                with proxy.lock:
                    proxy.invocations[name] = proxy.invocations.get(name, 0) + 1
                    injected = proxy.failures.get(name, [])
                    error_type = injected.pop(0) if injected else None
                if error_type is not None:
                    body = json.dumps({"errorType": error_type, "errorMessage": f"injected by the test into {name}"})
                    return self.reply(200, body.encode(), request_id + [("X-Amz-Function-Error", "Unhandled")])
                inv = fn.invoke(payload)
                extra = [("X-Amz-Function-Error", "Unhandled")] if inv.error else []
                self.reply(200, inv.result, request_id + extra + [("Content-Type", "application/json")])

            def relay(self):
                body = self.body() if self.headers.get("Content-Length") else None
                conn = http.client.HTTPConnection("127.0.0.1", moto_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "transfer-encoding")}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                hop = ("connection", "transfer-encoding", "content-length")
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in hop:
                        self.send_header(k, v)
                if self.command == "HEAD":
                    self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
                    self.end_headers()
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                conn.close()

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def fail_next(self, name: str, error_type: str, times: int = 1):
        """The next `times` invocations of `name` fail with `error_type` without running."""
        with self.lock:
            self.failures.setdefault(name, []).extend([error_type] * times)

    def close(self):
        self.server.shutdown()
        for fn in self.functions.values():
            fn.close()


def binary(target_dir: str, name: str) -> str:
    path = os.path.join(target_dir, f"dbsnaplake-{name}")
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path}: build the Lambda binaries first (cargo build --workspace --bins)")
    return path
