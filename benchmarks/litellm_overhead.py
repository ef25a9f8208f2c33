"""The latency Allot adds to a call through LiteLLM: the same proxy and mock model, without and
with Allot's callback, in one run.

Against an Allot already running on PostgreSQL (seeded, e.g. with seed_demo at 10,000 employees
and 1,000,000 events, served by gunicorn):

    ALLOT_URL=http://127.0.0.1:8000 ALLOT_API_KEY=<ingest,authorize key> \\
        .venv/bin/python benchmarks/litellm_overhead.py --calls 2000 --clients 1,8

It starts two LiteLLM proxies from .venv-litellm on free 127.0.0.1 ports (config
integrations/litellm/config.yaml, one with its `callbacks` line removed), sends each the same
chat calls to `mock-sonnet` as --employee (keep-alive HTTP, --clients at once), alternating
between the two in --rounds rounds so that neighbours on the machine weigh on both alike, and
prints calls/s, p50 and p99 for each and the difference. A warm-up (not timed) runs first. Both
proxies are stopped at the end. Each call with the callback makes one authorize (with a hold)
before the mock answers and one usage post after; the post runs after the answer is sent, but on
the same cores, so its cost shows in the figures as it would in production.
"""

import argparse
import http.client
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LITELLM = ROOT / ".venv-litellm" / "bin" / "litellm"
MASTER_KEY = f"sk-{secrets.token_hex(32)}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Proxy:
    def __init__(self, name: str, with_allot: bool, tmp: Path, args):
        self.name, self.port = name, free_port()
        config = (ROOT / "integrations" / "litellm" / "config.yaml").read_text()
        if not with_allot:
            config = "\n".join(line for line in config.splitlines() if "allot_callback" not in line)
        path = tmp / f"config-{name}.yaml"
        path.write_text(config)
        self.log = tmp / f"litellm-{name}.log"
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        env |= {
            "ALLOT_URL": args.allot_url,
            "ALLOT_API_KEY": args.allot_key,
            "ALLOT_SPOOL_PATH": str(tmp / f"spool-{name}.sqlite3"),
            "ALLOT_EMPLOYEE_FROM": "request_user",
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "PYTHONPATH": str(ROOT / "integrations" / "litellm"),
        }
        self.process = subprocess.Popen(  # noqa: S603 - the pinned proxy, our config
            [str(LITELLM), "--config", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=tmp,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
        )

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"{self.name} proxy exited:\n{self.log.read_text()[-3000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health/liveliness")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.3)
        sys.exit(f"{self.name} proxy did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def run_calls(port: int, calls: int, clients: int, body: bytes) -> tuple[list[float], int, float]:
    """`calls` POSTs spread over `clients` threads; (latencies in ms, failures, wall seconds)."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    per_client = [calls // clients + (i < calls % clients) for i in range(clients)]
    headers = {"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"}

    def client(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(count):
            start = time.perf_counter()
            try:
                conn.request("POST", "/chat/completions", body, headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            elapsed = (time.perf_counter() - start) * 1000
            if ok:
                mine.append(elapsed)
            else:
                with lock:
                    failures[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures[0], time.perf_counter() - wall


def authorize_calls(args, calls: int, clients: int) -> tuple[list[float], int, float]:
    """For comparison: Allot's authorize alone (with a hold), straight from a client, the call
    the callback makes before each proxied call. The holds are left to expire."""
    from urllib.parse import urlsplit

    target = urlsplit(args.allot_url)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    headers = {"Authorization": f"Api-Key {args.allot_key}", "Content-Type": "application/json"}

    def client(count: int) -> None:
        conn = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        mine = []
        for _ in range(count):
            body = json.dumps(
                {
                    "employee": args.employee,
                    "estimated_cost_usd": "0.001524",
                    "reserve": True,
                    "request_id": f"bench-{secrets.token_hex(8)}",
                }
            )
            start = time.perf_counter()
            conn.request("POST", "/api/v1/authorize/", body, headers)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                mine.append((time.perf_counter() - start) * 1000)
            else:
                with lock:
                    failures[0] += 1
        with lock:
            latencies.extend(mine)

    per_client = [calls // clients + (i < calls % clients) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(n,)) for n in per_client]
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failures[0], time.perf_counter() - wall


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--allot-url", default=os.environ.get("ALLOT_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--allot-key", default=os.environ.get("ALLOT_API_KEY", ""))
    parser.add_argument("--employee", default="engineer@example.com")
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per proxy")
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per proxy")
    parser.add_argument("--clients", default="1,8", help="concurrent clients, comma-separated")
    parser.add_argument("--rounds", type=int, default=4, help="alternations between the proxies")
    args = parser.parse_args()
    if not args.allot_key:
        sys.exit("Set ALLOT_API_KEY (or --allot-key): a key with the scopes ingest,authorize.")
    if not LITELLM.exists():
        sys.exit(f"{LITELLM} is missing: run `make litellm-install`.")
    body = json.dumps(
        {
            "model": "mock-sonnet",
            "max_tokens": 100,
            "user": args.employee,
            "messages": [{"role": "user", "content": "Say hello."}],
        }
    ).encode()
    with tempfile.TemporaryDirectory(prefix="allot-litellm-bench-") as tmp_name:
        tmp = Path(tmp_name)
        proxies = [Proxy("plain", False, tmp, args), Proxy("allot", True, tmp, args)]
        try:
            for proxy in proxies:
                proxy.wait_until_up()
            rows = []
            for clients in [int(c) for c in args.clients.split(",")]:
                results = {p.name: ([], 0, 0.0) for p in proxies}
                for proxy in proxies:
                    _, failed, _ = run_calls(proxy.port, args.warmup, clients, body)
                    if failed:
                        sys.exit(f"{proxy.name}: {failed} warm-up calls failed; see {proxy.log}")
                for _ in range(args.rounds):
                    for proxy in proxies:
                        lat, failed, wall = run_calls(
                            proxy.port, args.calls // args.rounds, clients, body
                        )
                        old = results[proxy.name]
                        results[proxy.name] = (old[0] + lat, old[1] + failed, old[2] + wall)
                stats = {}
                for name, (lat, failed, wall) in results.items():
                    stats[name] = (
                        len(lat) / wall,
                        statistics.median(lat),
                        percentile(lat, 99),
                        failed,
                    )
                plain, allot = stats["plain"], stats["allot"]
                rows += [
                    (clients, "LiteLLM, no callback", len(results["plain"][0]), *plain),
                    (clients, "LiteLLM + Allot callback", len(results["allot"][0]), *allot),
                ]
                lat, failed, wall = authorize_calls(args, args.calls // 2, clients)
                rows.append(
                    (
                        clients,
                        "for comparison: authorize alone (hold), direct",
                        len(lat),
                        len(lat) / wall,
                        statistics.median(lat),
                        percentile(lat, 99),
                        failed,
                    )
                )
                rows.append(
                    (
                        clients,
                        "added by Allot",
                        None,
                        None,
                        allot[1] - plain[1],
                        allot[2] - plain[2],
                        None,
                    )
                )
        finally:
            for proxy in proxies:
                proxy.stop()
    print("| clients | proxy | calls | calls/s | p50 ms | p99 ms | failed |")
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for clients, name, calls, rate, p50, p99, failed in rows:
        if calls is None:
            print(f"| {clients} | **{name}** | | | **{p50:+.1f}** | **{p99:+.1f}** | |")
        else:
            print(
                f"| {clients} | {name} | {calls} | {rate:.0f} | {p50:.1f} | {p99:.1f} | {failed} |"
            )


if __name__ == "__main__":
    main()
