"""make bench-cold-start: the init duration of each Lambda function binary, as Lambda's cold start
counts it: from the process start to its first poll of the Runtime API
(`GET /2018-06-01/runtime/invocation/next`), served here on 127.0.0.1. Each start follows a drop
of the page cache when the user may drop it (root), so the binary is read from disk as a fresh
Lambda sandbox reads its unpacked package; otherwise warm, and the output says so.

Usage: cold_start.py DIR [DIR...]: each DIR holds dbsnaplake-<function> binaries (target/release,
target/lambda) or <function>/bootstrap (a cargo-lambda dir). Environment: COLD_START_ROUNDS (5)."""

import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FUNCTIONS = ["planner", "staging-worker", "partition-planner", "compaction-worker", "validator", "trigger"]
ROUNDS = int(os.environ.get("COLD_START_ROUNDS", 5))


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def binary(folder: Path, function: str) -> Path:
    for candidate in (folder / f"dbsnaplake-{function}", folder / f"dbsnaplake-{function}/bootstrap"):
        if candidate.is_file():
            return candidate
    sys.exit(f"no binary of {function} in {folder}")


def init_seconds(path: Path) -> float:
    """Seconds from the start of `path` to its first poll of the Runtime API."""
    polled = threading.Event()

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):
            polled.set()
            # Never answered: the process is killed once it has asked.
            time.sleep(5)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": path.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "2048",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/cold-start",
        "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # The trigger reads these at cold start.
        "DBSNAPLAKE_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:cold-start",
        "DBSNAPLAKE_JOB_TEMPLATE": '{"source": {"${ExportKind}": "${ExportUri}/"}, '
                                   '"staging": "s3://w/staging/${ExportName}/", "datalake": "s3://w/lake/${ExportName}/"}',
    }
    start = time.perf_counter()
    proc = subprocess.Popen([str(path)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ok = polled.wait(30)
    seconds = time.perf_counter() - start
    proc.kill()
    _, err = proc.communicate()
    server.shutdown()
    if not ok:
        sys.exit(f"{path} never polled the Runtime API: {err.decode()[-1000:]}")
    return seconds


def main():
    folders = [Path(a) for a in sys.argv[1:]] or sys.exit(__doc__)
    cold = drop_caches()
    print(f"init duration, median of {ROUNDS} starts ({'page cache dropped before each' if cold else 'warm page cache: not root'})")
    print(f"{'function':<19}" + "".join(f"{str(f)[-28:]:>30}" for f in folders))
    for function in FUNCTIONS:
        cells = []
        for folder in folders:
            path = binary(folder, function)
            times = []
            for _ in range(ROUNDS):
                drop_caches()
                times.append(init_seconds(path))
            cells.append(f"{statistics.median(times) * 1000:8.1f} ms {path.stat().st_size / 2**20:6.1f} MiB")
        print(f"{function:<19}" + "".join(f"{c:>30}" for c in cells))


if __name__ == "__main__":
    main()
