"""Checks storebench's .hlog files with HdrHistogram's own reader (see scripts/check-hlog)."""
import json
import os
import sys

from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader


def main(run_dir):
    with open(os.path.join(run_dir, "results.json")) as handle:
        results = json.load(handle)
    checked = 0
    for run in results["runs"]:
        name = run.get("latency_log")
        if not name:
            continue
        reader = HistogramLogReader(os.path.join(run_dir, name), HdrHistogram(1, 3_600_000_000_000, 3))
        totals = {}
        while True:
            histogram = reader.get_next_interval_histogram()
            if histogram is None:
                break
            tag = histogram.get_tag()
            if tag not in totals:
                totals[tag] = HdrHistogram(1, 3_600_000_000_000, 3)
            totals[tag].add(histogram)
        warmed = run.get("warm_up_s") is not None
        for op, stats in run["by_op"].items():
            total = totals.get(op)
            if total is None:
                sys.exit(f"{name}: no intervals tagged {op}")
            count = total.get_total_count()
            # A warm-up counts in the log (like the time series) but not in the figures.
            if count != stats["count"] and not (warmed and count > stats["count"]):
                sys.exit(f"{name}: {op} has {count} operations in the log, {stats['count']} in results.json")
            maximum = total.get_max_value() / 1000
            if not warmed and abs(maximum - stats["latency_us"]["max"]) > 0.001 * maximum + 0.002:
                sys.exit(f"{name}: {op} max {maximum} µs in the log, {stats['latency_us']['max']} in results.json")
            checked += 1
    if checked == 0:
        sys.exit(f"{run_dir}: no latency log to check")
    print(f"{checked} operation histograms read back with HdrHistogram's log reader, each matching results.json")


if __name__ == "__main__":
    main(sys.argv[1])
