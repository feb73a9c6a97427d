"""Load check of `nextgpt serve` on the tiny container: C concurrent clients for D seconds, each
sending chat completions (text, a few tokens) one after another on fresh connections.

Prints requests, errors by kind, p50/p90/p99/max latency, throughput, and the server's peak RSS
(VmRSS sampled every 50 ms, and VmHWM). Checks that no request is lost or answered twice: every
request gets exactly one answer with its own completion id, and the server's own count of chat
answers (/metrics) equals the clients' count.

    swift build -c release --product nextgpt
    tools/.venv/bin/python tools/bench/server_load.py --clients 50 --seconds 30 [--max-queue 64]
"""
import argparse
import http.client
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "server"))
from tiny_server import binary, serve  # noqa: E402


def rss(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["VmHWM"].split()[0]) * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--max-queue", type=int, default=64, help="the server's --max-queue (below --clients: some get 429)")
    parser.add_argument("--max-tokens", type=int, default=8)
    args = parser.parse_args()

    with serve("--max-queue", str(args.max_queue)) as (base, process):
        host, port = base.removeprefix("http://").split(":")
        lock = threading.Lock()
        latencies, errors, ids = [], {}, []
        sent = [0]
        deadline = time.time() + args.seconds
        peak = [0]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                peak[0] = max(peak[0], rss(process.pid)[0])
                time.sleep(0.05)

        def client(index):
            n = 0
            while time.time() < deadline:
                body = json.dumps({"messages": [{"role": "user", "content": f"client {index} request {n}: say something"}],
                                   "max_tokens": args.max_tokens, "seed": index * 100000 + n})
                n += 1
                start = time.time()
                with lock:
                    sent[0] += 1
                try:
                    connection = http.client.HTTPConnection(host, int(port), timeout=600)
                    connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
                    response = connection.getresponse()
                    data = response.read()
                    connection.close()
                    elapsed = time.time() - start
                    with lock:
                        if response.status == 200:
                            latencies.append(elapsed)
                            ids.append(json.loads(data)["id"])
                        else:
                            errors[f"HTTP {response.status}"] = errors.get(f"HTTP {response.status}", 0) + 1
                            if response.status == 429:
                                time.sleep(int(response.getheader("Retry-After", "1")))
                except Exception as error:  # noqa: BLE001 — every failure is counted by kind
                    with lock:
                        errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.time()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - started
        stop.set()
        sampler.join()
        _, hwm = rss(process.pid)
        connection = http.client.HTTPConnection(host, int(port))
        connection.request("GET", "/metrics")
        metrics = connection.getresponse().read().decode()
        served = sum(int(float(line.split()[-1])) for line in metrics.splitlines()
                     if line.startswith('nextgpt_requests_total{endpoint="chat",status="200"}'))

    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] if latencies else float("nan")

    answered = len(latencies) + sum(errors.values())
    print(f"binary: {binary()}")
    print(f"{args.clients} clients, {args.seconds:.0f} s (wall {wall:.1f} s), --max-queue {args.max_queue}, max_tokens {args.max_tokens}")
    print(f"requests: {sent[0]} sent, {answered} answered, {len(latencies)} ok, errors: {errors or 'none'}")
    print(f"latency (ok): p50 {pct(50):.3f} s, p90 {pct(90):.3f} s, p99 {pct(99):.3f} s, max {latencies[-1] if latencies else float('nan'):.3f} s")
    print(f"throughput: {len(latencies) / wall:.1f} completions/s")
    print(f"server RSS: peak sampled {peak[0] / 2**20:.1f} MiB, VmHWM {hwm / 2**20:.1f} MiB")
    lost = sent[0] - answered
    duplicates = len(ids) - len(set(ids))
    print(f"lost: {lost}, duplicate ids: {duplicates}, server-counted chat 200s: {served} (clients: {len(latencies)})")
    sys.exit(0 if lost == 0 and duplicates == 0 and served == len(latencies) else 1)


if __name__ == "__main__":
    main()
