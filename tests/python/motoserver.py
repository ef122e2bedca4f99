"""moto's server on a free port of 127.0.0.1 (S3, Glue and Step Functions in one), for the tests."""

import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

MOTO = os.environ.get("MOTO_SERVER", str(Path(__file__).resolve().parents[2] / ".venv/bin/moto_server"))
CLIENT = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@contextmanager
def moto_server():
    """Yields the endpoint URL of a running moto server; stops it after."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen([MOTO, "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline, "moto did not start"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        moto.terminate()
        moto.wait()
