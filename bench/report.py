#!/usr/bin/env python3
"""Turns bench/run.sh's raw figures into its tables: the median of each cell's runs,
the service beside pgbench of the seed's SQL (the floor; the headline ratio) and of
its own statements, start-up and idle memory, and the targets met or missed.

Usage: report.py RAW_CSV STARTUP_CSV"""

import csv
import statistics
import sys
from collections import defaultdict

# Requests per pgbench script execution: a flow is a send and a verify.
REQUESTS_PER_SCRIPT = {"send": 1, "verify_wrong": 1, "flow": 2, "activation": 2}
ORDER = ["send", "verify_wrong", "flow", "activation", "mixed"]


def median(values):
    values = [float(v) for v in values if v not in ("", None)]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    return "—" if value is None else f"{value:,.{digits}f}"


def main(raw_path, startup_path):
    cells = defaultdict(lambda: defaultdict(list))
    runs = defaultdict(int)
    with open(raw_path) as raw:
        for row in csv.DictReader(raw):
            key = (row["backend"], row["scenario"], int(row["concurrency"]))
            for column, value in row.items():
                if value:
                    cells[key][column].append(value)
            if row["requests_per_s"]:
                runs[key] += 1

    print("| scenario | conc. | backend | req/s | p50 ms | p99 ms | p99.9 ms | errors | peak RSS MiB "
          "| seed SQL tps | seed SQL p99 ms | **service / seed SQL** | own SQL tps | service / own SQL |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    ratios = {}
    seed_ratios = {}
    seed_p99s = {}
    p99s = {}
    rss = []
    service_keys = sorted(
        (k for k in cells if runs[k]),
        key=lambda k: (ORDER.index(k[1]) if k[1] in ORDER else 99, k[2], k[0] != "postgres"))
    for key in service_keys:
        backend, scenario, concurrency = key
        cell = cells[key]
        rps = median(cell["requests_per_s"])
        tps = median(cell.get("pgbench_tps", []))
        ratio = None
        if tps and scenario in REQUESTS_PER_SCRIPT:
            ratio = rps / REQUESTS_PER_SCRIPT[scenario] / tps
            ratios[(scenario, concurrency)] = ratio
        seed_tps = median(cell.get("seed_tps", []))
        seed_p99 = median(cell.get("seed_p99_ms", []))
        seed_ratio = None
        if seed_tps and scenario in REQUESTS_PER_SCRIPT:
            seed_ratio = rps / REQUESTS_PER_SCRIPT[scenario] / seed_tps
            seed_ratios[(scenario, concurrency)] = seed_ratio
            seed_p99s[(scenario, concurrency)] = seed_p99
        p99 = median(cell["p99_ms"])
        if backend == "postgres":
            p99s[(scenario, concurrency)] = p99
        peak = median(cell["peak_rss_mib"])
        rss.append((backend, scenario, concurrency, peak))
        errors = sum(int(float(e)) for e in cell["errors"])
        print(f"| {scenario} | {concurrency} | {backend} | {fmt(rps)} | {fmt(median(cell['p50_ms']), 2)} "
              f"| {fmt(p99, 2)} | {fmt(median(cell['p999_ms']), 2)} | {errors} | {fmt(peak)} "
              f"| {fmt(seed_tps)} | {fmt(seed_p99, 2)} "
              f"| {'—' if seed_ratio is None else f'**{seed_ratio:.2f}**'} "
              f"| {fmt(tps)} | {'—' if ratio is None else f'{ratio:.1%}'} |")
    print()
    print(f"Median of {max(runs.values(), default=0)} runs per cell; errors are summed over the runs. "
          "Right after each service run, pgbench runs the seed's SQL for the same work (bench/ceiling/) "
          "and the service's own statements (bench/pgbench/) at the same concurrency; "
          "for flow and activation one pgbench transaction is two requests.")

    startup = defaultdict(lambda: defaultdict(list))
    with open(startup_path) as rows:
        for row in csv.DictReader(rows):
            startup[row["backend"]]["startup_ms"].append(row["startup_ms"])
            startup[row["backend"]]["idle_rss_mib"].append(row["idle_rss_mib"])
    print()
    print("| backend | start-up to ready, ms (median of 5) | idle RSS MiB |")
    print("| --- | ---: | ---: |")
    for backend, values in startup.items():
        print(f"| {backend} | {fmt(median(values['startup_ms']))} | {fmt(median(values['idle_rss_mib']))} |")

    print()
    print("Targets (PostgreSQL):")
    def check(label, ok, detail):
        mark = "met" if ok else ("not measured" if ok is None else "MISSED")
        print(f"- {label}: {mark} ({detail})")
    for scenario, floor in (("send", 0.6), ("verify_wrong", 0.6), ("flow", 0.5)):
        for concurrency in (16, 64):
            ratio = seed_ratios.get((scenario, concurrency))
            check(f"{scenario} at {concurrency} >= {floor} of the seed's SQL",
                  None if ratio is None else ratio >= floor,
                  "—" if ratio is None else f"{ratio:.2f}")
    for scenario in ("send", "verify_wrong"):
        p99 = p99s.get((scenario, 16))
        seed_p99 = seed_p99s.get((scenario, 16))
        if p99 is None or seed_p99 is None:
            check(f"{scenario} p99 at 16 <= max(5 ms, 1.5 x the seed's)", None, "—")
            continue
        bound = max(5.0, 1.5 * seed_p99)
        check(f"{scenario} p99 at 16 <= max(5 ms, 1.5 x the seed's)", p99 <= bound,
              f"{p99:.2f} ms against {bound:.2f} ms")
    peaks = [peak for backend, _, concurrency, peak in rss if backend == "postgres" and concurrency == 64 and peak]
    check("RSS at 64 < 64 MiB", None if not peaks else max(peaks) < 64,
          "—" if not peaks else f"highest {max(peaks):.1f} MiB")
    pg = startup.get("postgres")
    if pg:
        idle = median(pg["idle_rss_mib"])
        start = median(pg["startup_ms"])
        check("idle RSS < 20 MiB", idle < 20, f"{idle:.1f} MiB")
        check("start-up to ready < 200 ms", start < 200, f"{start:.1f} ms")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
