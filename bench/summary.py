#!/usr/bin/python3
"""Turns a bench/run.sh results TSV into a Markdown summary (on stdout).

    /usr/bin/python3 bench/summary.py bench/results/results-latest.tsv

The TSV has a header and the columns section, metric, value, unit, target,
status; rows of section "env" describe the machine and the run.
"""

import csv
import sys


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    with open(sys.argv[1], newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))

    env = [r for r in rows if r["section"] == "env"]
    print("# kpreco benchmark results\n")
    for r in env:
        unit = f" {r['unit']}" if r["unit"] else ""
        print(f"- {r['metric']}: {r['value']}{unit}")

    targets = [r for r in rows if r["target"]]
    if targets:
        print("\n## Targets\n")
        print("| section | metric | measured | target | status |")
        print("|---|---|---|---|---|")
        for r in targets:
            unit = f" {r['unit']}" if r["unit"] else ""
            status = r["status"] if r["status"] == "met" else f"**{r['status']}**"
            print(f"| {r['section']} | {r['metric']} | {r['value']}{unit} | {r['target']}{unit} | {status} |")

    sections = []
    for r in rows:
        if r["section"] != "env" and r["section"] not in sections:
            sections.append(r["section"])
    if sections:
        print("\n## All figures")
    for s in sections:
        print(f"\n### {s}\n")
        print("| metric | value | unit | target | status |")
        print("|---|---|---|---|---|")
        for r in rows:
            if r["section"] == s:
                print(f"| {r['metric']} | {r['value']} | {r['unit']} | {r['target']} | {r['status']} |")


if __name__ == "__main__":
    main()
