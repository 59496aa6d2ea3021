#!/usr/bin/env python3
"""Time to a reachable URL: starts a tunnel command, polls its public URL until the
origin's file comes back (200), prints the milliseconds, then stops the command with
SIGINT (Ctrl-C) and waits for it to exit.

    ttr.py --port 8080 --host myapp.localhost:8080 --path /1k.bin -- tunnel start 3000 ...

Loopback only: the URL is always http://127.0.0.1:PORT, with the given Host header.
"""

import argparse
import http.client
import signal
import subprocess
import sys
import time

POLL_PAUSE = 0.001
GIVE_UP = 30.0


def reachable(port: int, host: str, path: str) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False
    finally:
        conn.close()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--log", default="/dev/null")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command")
    with open(args.log, "ab") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        elapsed = None
        try:
            while time.perf_counter() - started < GIVE_UP:
                if reachable(args.port, args.host, args.path):
                    elapsed = time.perf_counter() - started
                    break
                if proc.poll() is not None:
                    break
                time.sleep(POLL_PAUSE)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    if elapsed is None:
        print(f"ttr: {' '.join(command)} never became reachable (exit {proc.returncode})",
              file=sys.stderr)
        return 1
    print(f"{elapsed * 1000:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
