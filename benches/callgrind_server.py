#!/usr/bin/env python3
"""Instructions per request of the example server, counted by callgrind: no noise, so two
routes (or two builds) compare exactly, whatever else the machine is doing.

    cargo build --release -p tower-jwt-auth-tutorial --bin server
    python3 benches/callgrind_server.py [--requests 10000] [--server target/release/server]

Starts the server under `valgrind --tool=callgrind` (one tokio worker, loopback, a fresh
SQLite file, bcrypt cost 4), signs up and logs in one user, warms up, then for each phase
zeroes the counters, sends `--requests` requests one after another on one keep-alive
connection, and dumps: `GET /notsecret`; `POST /secret` with the login's token (a cache hit);
`GET /notsecret` with that same `Authorization` header (the header's own cost); `POST /secret`
with a new token each time (a miss). Two rounds; prints each phase's instructions per request,
`/notsecret`'s ÷ each, and the heap blocks allocated per request (calls to glibc's or
mimalloc's allocation functions). Counts are of user space only (not the kernel's TCP) and of
valgrind's CPU, which has no SHA extensions: a miss's HMAC runs the portable SHA-256 there.
Every request goes to 127.0.0.1; the server is stopped at the end.
"""

import argparse
import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid

SECRET = "a load-test secret that is at least thirty-two bytes long"
PHASES = ["notsecret", "secret", "control", "new-token-each"]


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def mint(now):
    """An access token in the server's format, signed with its secret."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = {"sub": "bench", "iat": now, "exp": now + 1800, "scope": "access_token",
              "jti": uuid.uuid4().hex}
    payload = b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(signature.digest())}"


# The allocation entry points a request's heap blocks go through: glibc's and mimalloc's (the
# example server's), whichever the build uses.
ALLOCATORS = {"malloc", "calloc", "realloc", "mi_malloc", "mi_zalloc", "mi_malloc_aligned",
              "mi_zalloc_aligned", "mi_realloc_aligned"}


def blocks(content):
    """Calls to the allocator's entry points in one dump: the heap blocks allocated."""
    names, callee, count = {}, None, 0
    for line in content.splitlines():
        named = re.match(r"^c?fn=\((\d+)\)(?: (.*))?$", line)
        if named:
            if named.group(2):
                names[named.group(1)] = named.group(2)
            callee = names.get(named.group(1)) if line.startswith("cfn=") else None
            continue
        calls = re.match(r"^calls=(\d+)", line)
        if calls and callee in ALLOCATORS:
            count += int(calls.group(1))
    return count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=10000)
    parser.add_argument("--server", default="target/release/server")
    args = parser.parse_args()
    n = max(100, min(args.requests, 200000))
    work = tempfile.mkdtemp(prefix="callgrind-server-")
    # valgrind names its control pipes after $HOST, which the server reads as its address:
    # callgrind_control must see the same.
    env = dict(os.environ, HOST="127.0.0.1", PORT="0", APP_SECRET_STRING=SECRET,
               DATABASE_URL=f"sqlite://{work}/auth.db", BCRYPT_COST="4", LOGIN_THROTTLE="off",
               TOKIO_WORKER_THREADS="1", RUST_LOG="info", NO_COLOR="1")
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--dump-instr=no",
         f"--callgrind-out-file={work}/callgrind.out", os.path.abspath(args.server)],
        env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        address = None
        deadline = time.monotonic() + 120
        while address is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                sys.exit("the server stopped before listening")
            found = re.search(r"listening on http://(\S+)", line)
            address = found and found.group(1)
        if address is None:
            sys.exit("the server did not listen within 120 s")
        # Drained from now on, so that the server never blocks on a full pipe.
        threading.Thread(target=lambda: server.stdout.read(), daemon=True).start()
        host, port = address.rsplit(":", 1)
        connection = http.client.HTTPConnection(host, int(port), timeout=60)

        def send(method, path, token=None, body=None):
            headers = {}
            if token:
                headers["authorization"] = f"Bearer {token}"
            if body is not None:
                body = json.dumps(body)
                headers["content-type"] = "application/json"
            # Without a body, no `Content-Length: 0` either (http.client's `request` adds one
            # to a POST), as wrk and most clients send an empty POST: the phases then differ
            # by their method, path and `Authorization` header alone.
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("content-length", str(len(body.encode())))
            connection.endheaders(body.encode() if body is not None else None)
            answer = connection.getresponse()
            return answer.status, answer.read()

        user = {"username": "bench", "password": "correct horse battery"}
        assert send("POST", "/signup", body=user)[0] == 201
        status, body = send("POST", "/login", body=user)
        assert status == 200, status
        token = json.loads(body)["access_token"]
        now = int(time.time())
        fresh = iter([mint(now) for _ in range(2 * n)])
        requests = {
            "notsecret": lambda: send("GET", "/notsecret"),
            "secret": lambda: send("POST", "/secret", token),
            "control": lambda: send("GET", "/notsecret", token),
            "new-token-each": lambda: send("POST", "/secret", next(fresh)),
        }
        for _ in range(1000):
            send("GET", "/notsecret")
            send("POST", "/secret", token)

        def control(*command):
            subprocess.run(["callgrind_control", *command, str(server.pid)], env=env,
                           check=True, capture_output=True)

        for round_ in range(2):
            for phase in PHASES:
                control("-z")
                for _ in range(n):
                    status, _ = requests[phase]()
                    assert status == 200, (phase, status)
                control("-d", f"{phase}-{round_}")
        counts = {}
        for dump in glob.glob(f"{work}/callgrind.out.*"):
            with open(dump) as text:
                content = text.read()
            trigger = re.search(r"^desc: Trigger: dump (\S+)", content, re.M)
            total = re.search(r"^(?:summary|totals): (\d+)", content, re.M)
            if trigger and total:
                counts[trigger.group(1)] = (int(total.group(1)) / n, blocks(content) / n)
        print(f"instructions and heap blocks per request, {n} requests a phase "
              "(callgrind, user space):")
        for round_ in range(2):
            open_ = counts.get(f"notsecret-{round_}")
            for phase in PHASES:
                count = counts.get(f"{phase}-{round_}")
                if count is None or open_ is None:
                    print(f"  round {round_}: {phase}: no dump")
                    continue
                print(f"  round {round_}: {phase:15} {count[0]:10.0f}   /notsecret ÷ it "
                      f"{open_[0] / count[0]:.3f}   {count[1]:5.1f} blocks")
        print(f"dumps, for callgrind_annotate: {work}/callgrind.out.N, in the order above")
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()
