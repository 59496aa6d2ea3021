#!/usr/bin/env python3
"""Turns the raw lines bench/run.sh collects into the results table (Markdown).

    report.py RESULTS_FILE

Raw lines, one figure each:
    wrk <test> <path> <round> WRK_RESULT key=value ...   (see bench/wrk/report.lua)
    ttr <path> <trial> <milliseconds>
    idle <path> <json from idle-tunnels>
    cpu <test> <path> <round> <clock ticks per s> <ticks of each process...>
        (direct: nginx's worker; ours and bore: the server, then the client)
    rss <path> <process> <idle|peak|after> <KiB>
    meta <key> <value...>
Paths: direct, ours, bore. Several rounds of a wrk test are summarised by their
median, with the spread (min-max) shown when there is more than one.
"""

import json
import statistics
import sys
from collections import defaultdict

PATHS = ("direct", "ours", "bore")
POST_BYTES = 10 * 1024 * 1024


def parse(path):
    wrk = defaultdict(list)  # (test, path) -> [dict]
    cpu = defaultdict(list)  # (test, path) -> [[seconds per process]]
    ttr = defaultdict(list)  # path -> [ms]
    idle = {}
    rss = {}
    meta = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            kind = parts[0]
            if kind == "wrk":
                _, test, p, _round, _tag, *kvs = parts
                wrk[(test, p)].append({k: int(v) for k, v in (kv.split("=") for kv in kvs)})
            elif kind == "cpu":
                clk = int(parts[4])
                cpu[(parts[1], parts[2])].append([int(t) / clk for t in parts[5:]])
            elif kind == "ttr":
                ttr[parts[1]].append(float(parts[3]))
            elif kind == "idle":
                idle[parts[1]] = json.loads(line.split(None, 2)[2])
            elif kind == "rss":
                rss[(parts[1], parts[2], parts[3])] = int(parts[4])
            elif kind == "meta":
                meta[parts[1]] = " ".join(parts[2:])
    return wrk, cpu, ttr, idle, rss, meta


def summarise(values):
    if not values:
        return None, None
    return statistics.median(values), (min(values), max(values))


def main():
    wrk, cpu, ttr, idle, rss, meta = parse(sys.argv[1])
    rows = []  # (label, unit, better, {path: (value, spread)}, target_fn)

    def wrk_figure(test, fn):
        out = {}
        for p in PATHS:
            vals = [fn(r) for r in wrk.get((test, p), [])]
            out[p] = summarise(vals)
        return out

    rps = lambda r: r["requests"] / (r["duration_us"] / 1e6)
    get_mbs = lambda r: r["bytes"] / r["duration_us"]  # bytes/us == MB/s
    post_mbs = lambda r: r["requests"] * POST_BYTES / r["duration_us"]

    small = wrk_figure("small16", rps)
    p50 = wrk_figure("lat1", lambda r: r["p50_us"])
    p99 = wrk_figure("lat1", lambda r: r["p99_us"])
    get10 = wrk_figure("get10m", get_mbs)
    post10 = wrk_figure("post10m", post_mbs)

    def v(fig, p):
        return fig.get(p, (None, None))[0]

    def ratio_target(fig, want):
        o, b = v(fig, "ours"), v(fig, "bore")
        if o is None or b is None:
            return ""
        return f"{'met' if o / b >= want else 'MISSED'} (>= {want:.2f} x bore)"

    def added_p50_target():
        o, b, d = v(p50, "ours"), v(p50, "bore"), v(p50, "direct")
        if None in (o, b, d):
            return ""
        ours_added, bore_added = o - d, b - d
        ok = ours_added <= bore_added + 25
        return (f"{'met' if ok else 'MISSED'}: ours adds {ours_added:.0f} us, bore "
                f"{bore_added:.0f} us (allowed {bore_added + 25:.0f})")

    # Issue 19's targets: small GET >= 1.0 x bore (floor 0.8 x), added p50 <= bore's
    # + 25 us, p99 <= 2 x bore's, 10 MiB GET and POST >= 1.1 x bore, CPU per small GET
    # <= 1.5 x bore's, server peak RSS under load <= 48 MiB, CLI idle <= 10 MiB, per
    # idle tunnel <= 16 KiB.
    def small_target():
        o, b = v(small, "ours"), v(small, "bore")
        if o is None or b is None:
            return ""
        r = o / b
        word = "met" if r >= 1.0 else ("MISSED (above the 0.8 floor)" if r >= 0.8 else "MISSED (below the 0.8 floor)")
        return f"{word} (>= 1.00 x bore)"

    def at_most_times_bore(fig, times):
        o, b = v(fig, "ours"), v(fig, "bore")
        if o is None or b is None:
            return ""
        return f"{'met' if o <= times * b else 'MISSED'} (<= {times:g} x bore)"

    def upper_target(value, limit, unit):
        if value is None:
            return ""
        return f"{'met' if value <= limit else 'MISSED'} (<= {limit} {unit})"

    rows.append(("small GET, 16 conn", "req/s", "higher", small, small_target()))
    rows.append(("small GET, 1 conn, p50", "us", "lower", p50, added_p50_target()))
    rows.append(("small GET, 1 conn, p99", "us", "lower", p99, at_most_times_bore(p99, 2)))
    rows.append(("10 MiB GET, 2 conn", "MB/s", "higher", get10, ratio_target(get10, 1.1)))
    rows.append(("10 MiB POST, 2 conn", "MB/s", "higher", post10, ratio_target(post10, 1.1)))

    # CPU: seconds of the processes on the path, per unit of work done in the same run.
    def cpu_figure(test, work, which=None):
        out = {}
        for p in PATHS:
            vals = []
            for runs, secs in zip(wrk.get((test, p), []), cpu.get((test, p), [])):
                s = sum(secs) if which is None else (secs[which] if which < len(secs) else None)
                if s is not None and work(runs):
                    vals.append(s / work(runs))
            out[p] = summarise(vals)
        return out

    per_req_us = lambda r: r["requests"] / 1e6
    per_mb_get_ms = lambda r: r["bytes"] / 1e9
    per_mb_post_ms = lambda r: r["requests"] * POST_BYTES / 1e9
    cpu_rows = [
        ("CPU per small GET (16 conn)", "us", "small16", per_req_us),
        ("CPU per MB, 10 MiB GET", "ms", "get10m", per_mb_get_ms),
        ("CPU per MB, 10 MiB POST", "ms", "post10m", per_mb_post_ms),
    ]
    for label, unit, test, work in cpu_rows:
        fig = cpu_figure(test, work)
        target = at_most_times_bore(fig, 1.5) if test == "small16" else ""
        rows.append((label + ", all processes of the path", unit, "lower", fig, target))

    ttr_fig = {p: summarise(ttr.get(p, [])) for p in PATHS}
    rows.append(("start to reachable URL (median)", "ms", "lower", ttr_fig, ""))

    def idle_fig(key):
        return {p: ((idle[p][key] / 1024, None) if p in idle else (None, None)) for p in PATHS}

    idle_total = idle_fig("per_tunnel_bytes")
    n = next((idle[p]["count"] for p in ("ours", "bore") if p in idle), "?")
    rows.append((f"server RSS per idle tunnel ({n} tunnels)", "KiB", "lower", idle_total,
                 upper_target(v(idle_total, "ours"), 16, "KiB")))
    idle_conn = idle_fig("per_connection_bytes")
    if v(idle_conn, "ours") is not None:
        rows.append(("  of which the connection (records made before)", "KiB", "lower", idle_conn, ""))

    def rss_fig(proc, when):
        return {p: ((rss[(p, proc, when)] / 1024, None) if (p, proc, when) in rss else (None, None))
                for p in PATHS}

    cli_idle = rss_fig("client", "idle")
    cli_peak = rss_fig("client", "peak")
    srv_peak = rss_fig("server", "peak")
    rows.append(("client RSS, idle", "MiB", "lower", cli_idle, upper_target(v(cli_idle, "ours"), 10, "MiB")))
    rows.append(("client peak RSS, under load", "MiB", "lower", cli_peak, upper_target(v(cli_peak, "ours"), 64, "MiB")))
    rows.append(("server peak RSS, under load (direct: nginx worker)", "MiB", "lower", srv_peak,
                 upper_target(v(srv_peak, "ours"), 48, "MiB")))

    def fmt(x):
        if x is None:
            return "-"
        if abs(x) >= 100:
            return f"{x:,.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        return f"{x:.2f}"

    def cell(fig, p):
        val, spread = fig.get(p, (None, None))
        if val is None:
            return "-"
        s = fmt(val)
        if spread and spread[0] != spread[1]:
            s += f" ({fmt(spread[0])}-{fmt(spread[1])})"
        return s

    def ratio(fig, a, b):
        x, y = v(fig, a), v(fig, b)
        if x is None or y is None or y == 0:
            return "-"
        return f"{x / y:.2f}x"

    print("| figure | unit | direct | ours | bore | ours/bore | ours/direct | bore/direct | target |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for label, unit, better, fig, target in rows:
        print(f"| {label} | {unit} ({better} is better) | {cell(fig, 'direct')} | {cell(fig, 'ours')} | "
              f"{cell(fig, 'bore')} | {ratio(fig, 'ours', 'bore')} | {ratio(fig, 'ours', 'direct')} | "
              f"{ratio(fig, 'bore', 'direct')} | {target} |")

    print("\nCPU by process (direct: nginx's worker; ours and bore: server | client):\n")
    print("| figure | unit | direct | ours server | ours client | bore server | bore client |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for label, unit, test, work in cpu_rows:
        f0, f1 = cpu_figure(test, work, 0), cpu_figure(test, work, 1)
        print(f"| {label} | {unit} | {cell(f0, 'direct')} | {cell(f0, 'ours')} | {cell(f1, 'ours')} | "
              f"{cell(f0, 'bore')} | {cell(f1, 'bore')} |")

    notes = []
    for (test, p), runs in sorted(wrk.items()):
        bad = {k: sum(r[k] for r in runs) for k in
               ("non2xx", "connect_errors", "read_errors", "write_errors", "timeouts")}
        bad = {k: x for k, x in bad.items() if x}
        if bad:
            notes.append(f"- {test} via {p}: " + ", ".join(f"{k}={x}" for k, x in bad.items()))
    for p in ("ours", "bore"):
        if p in idle and idle[p].get("rate_limited_retries"):
            notes.append(f"- idle tunnels via {p}: {idle[p]['rate_limited_retries']} tunnel creations "
                         f"refused for the control-plane rate and retried ({idle[p]['create_secs']:.1f} s)")
    if notes:
        print("\nErrors and retries (a figure with errors is not comparable):")
        print("\n".join(notes))
    if meta:
        print()
        for k, val in meta.items():
            print(f"- {k.replace('_', ' ')}: {val}")


if __name__ == "__main__":
    main()
