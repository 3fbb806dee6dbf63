#!/usr/bin/env python3
"""Time the web console's pages on a running collector (issue 15).

Signs in with an API token, then requests each page N times over one
keep-alive HTTPS connection (trusting only the collector's CA) and prints
p50/p95/max of the client-side time per page. With --log (serve's stderr,
run with RUST_LOG=evident_collector::http=debug) it also prints the server
time each request took, as the collector's request log records it.

  scripts/console-bench.py --url https://127.0.0.1:8443 --ca DIR/ca.pem \
      --token "$(cat DIR/admin.token)" --n 50 [--log serve.log] / /controls/A.8.8 /hosts/ID

With --bearer it sends the token as `Authorization: Bearer` on every request
instead of signing in (for the JSON API: /v1/hosts/ID, /v1/alerts?host=ID…).
"""
import argparse, http.client, re, ssl, statistics, sys, time, urllib.parse


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--log")
    ap.add_argument("--bearer", action="store_true",
                    help="send the token as a bearer token (API paths) instead of signing in")
    ap.add_argument("paths", nargs="+")
    a = ap.parse_args()
    u = urllib.parse.urlparse(a.url)
    ctx = ssl.create_default_context(cafile=a.ca)
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
    if a.bearer:
        auth = {"Authorization": f"Bearer {a.token}"}
    else:
        body = urllib.parse.urlencode({"token": a.token})
        conn.request("POST", "/signin", body, {"Content-Type": "application/x-www-form-urlencoded",
                                               "Origin": a.url})
        r = conn.getresponse(); r.read()
        if r.status != 303:
            sys.exit(f"sign-in failed: {r.status}")
        auth = {"Cookie": r.getheader("Set-Cookie").split(";")[0]}
    log_start = 0
    if a.log:
        with open(a.log, "rb") as f:
            log_start = len(f.read())
    print(f"{'page':40} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  bytes")
    client = {}
    for path in a.paths:
        times = []
        size = 0
        for _ in range(a.n):
            t = time.perf_counter()
            conn.request("GET", path, headers=auth)
            r = conn.getresponse(); data = r.read()
            times.append((time.perf_counter() - t) * 1000)
            if r.status != 200:
                sys.exit(f"{path}: {r.status} {data[:200]!r}")
            size = len(data)
        client[path] = times
        print(f"{path[:40]:40} {a.n:4} {pct(times,50):8.1f} {pct(times,95):8.1f} {max(times):8.1f}  {size}")
    if a.log:
        time.sleep(0.5)
        with open(a.log, "rb") as f:
            text = f.read()[log_start:].decode("utf-8", "replace")
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)
        per = {}
        for line in text.splitlines():
            m = re.search(r'path="([^"]*)".*status=200.*micros=(\d+)', line)
            if m:
                per.setdefault(m.group(1), []).append(int(m.group(2)) / 1000)
        print("\nserver time (request log):")
        print(f"{'page':40} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for path in a.paths:
            xs = per.get(urllib.parse.urlparse(path).path, [])
            if xs:
                print(f"{path[:40]:40} {len(xs):4} {pct(xs,50):8.1f} {pct(xs,95):8.1f} {max(xs):8.1f}")


if __name__ == "__main__":
    main()
