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
        missed = [r for r in targets if r["status"] != "met"]
        print()
        if missed:
            print(f"**{len(missed)} of {len(targets)} targets NOT met:**\n")
            for r in missed:
                unit = f" {r['unit']}" if r["unit"] else ""
                print(f"- {r['section']} {r['metric']}: {r['value']}{unit}, target {r['target']}{unit} "
                      f"({r['status']})")
        else:
            print(f"All {len(targets)} targets met.")

    quality_table(rows)
    training_table(rows)
    features_table(rows)

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


def by_section(rows, prefix, exclude=()):
    """{section: {metric: value}} for sections starting with prefix, in order."""
    out = {}
    for r in rows:
        s = r["section"]
        if s.startswith(prefix) and s not in exclude:
            out.setdefault(s, {})[r["metric"]] = r["value"]
    return out


QUALITY_NAMES = {"quality-cg": "ials (CG)", "quality-cholesky": "ials (Cholesky)"}


def quality_table(rows):
    """ml-100k figures of every algorithm: recbench's, and kpreco.evaluate()'s agreement."""
    models = by_section(rows, "quality-", exclude=("quality-targets",))
    if not models:
        return
    print("\n## Quality by algorithm (ml-100k, top 10)\n")
    print("Scored by recbench.py (the reference harness); the last columns are from kpreco.evaluate() in SQL.")
    print("train s: the whole kpreco.train() statement; train CPU s: CPU time of its backend.\n")
    print("| model | options | train s | train CPU s | P@10 | R@10 | NDCG@10 | MAP@10 | coverage@10 "
          "| evaluate() NDCG@10 | largest difference | RMSE | MAE |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s, m in models.items():
        name = QUALITY_NAMES.get(s, s[len("quality-"):])
        if "auto_chosen" in m:
            name += f" (chose {m['auto_chosen']})"
        cells = [name, f"`{m['options']}`" if m.get("options") else "", m.get("train_statement_seconds", ""),
                 m.get("train_backend_cpu_seconds", "")]
        cells += [m.get(k, "") for k in ("precision@10", "recall@10", "ndcg@10", "map@10", "coverage@10")]
        cells += [m.get(k, "") for k in ("evaluate_ndcg@10", "max_abs_diff_recbench_evaluate",
                                         "evaluate_rmse", "evaluate_mae")]
        print("| " + " | ".join(c if c != "" else "–" for c in cells) + " |")


def training_table(rows):
    """Training time of the algorithms other than ials at scale."""
    runs = {s: m for s, m in by_section(rows, "training-").items() if "train_statement_seconds" in m}
    if not runs:
        return
    print("\n## Training time by algorithm (synthetic data, 1 BLAS thread)\n")
    print("| run | users | courses | train rows | train s (statement) | train CPU s | model bytes "
          "| private memory peak MiB | NDCG@10 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for s, m in runs.items():
        name = "ials (training-cg)" if s == "training-cg" else s[len("training-"):]
        cells = [name] + [m.get(k, "") for k in (
            "n_users", "n_courses", "n_interactions", "train_statement_seconds", "train_backend_cpu_seconds",
            "model_bytes",
            "private_memory_increase_sampled_max")]
        cells.append(m.get("evaluate_ndcg@10", m.get("ndcg@10", "")))
        print("| " + " | ".join(c if c != "" else "–" for c in cells) + " |")


FEATURE_CALLS = [
    ("select1", "`SELECT 1`"),
    ("recommend", "`recommend(u, 10)`"),
    ("candidates", "`recommend(u, 10, candidates => 500 ids)` (constant array)"),
    ("candidates_table", "same, the array read from a table in the statement"),
    ("exclude", "`recommend(u, 10, exclude => 10 ids)`"),
    ("exclude_seen_false", "`recommend(u, 10, exclude_seen => false)`"),
    ("diversity", "`recommend(u, 10, diversity => 0.3)`"),
    ("foldin", "`recommend_for_courses(3 courses, k => 10)`"),
    ("audience", "`audience(c, 10)`"),
    ("similar_users", "`similar_users(u, 10)`, from the model's lists"),
    ("similar_users_scan", "`similar_users(u, 21)`, beyond the lists: the scan"),
]


def features_table(rows):
    """Serving features: latency of each call against plain recommend, and recommend_all."""
    runs = by_section(rows, "features-")
    targets = {(r["section"], r["metric"]): r for r in rows if r["target"]}
    if "features-recommend" not in runs:
        return
    print("\n## Serving features (pgbench -M prepared, 1 client; best round, medians beside)\n")
    print("| call | mean latency µs, best | median | ÷ recommend, best | median | net of `SELECT 1` | target |")
    print("|---|---|---|---|---|---|---|")
    for key, name in FEATURE_CALLS:
        m = runs.get("features-" + key)
        if not m:
            continue
        t = targets.get(("features-" + key, "latency_ratio_to_recommend_best"))
        cells = [name, m.get("latency_mean_best", ""), m.get("latency_mean_median", ""),
                 m.get("latency_ratio_to_recommend_best", ""), m.get("latency_ratio_to_recommend_median", ""),
                 m.get("net_latency_ratio_to_recommend_best", ""),
                 f"{t['target']}: {t['status']}" if t else ""]
        print("| " + " | ".join(c if c != "" else "–" for c in cells) + " |")
    m = runs.get("features-similar_courses", {})
    for what, name in (("miss", "`similar_courses(c, 10)`, cache misses (each course once)"),
                       ("hit", "`similar_courses(c, 10)`, cache hits")):
        if f"{what}_latency_mean_best" in m:
            cells = [name, m[f"{what}_latency_mean_best"], m.get(f"{what}_latency_mean_median", ""),
                     m.get(f"{what}_latency_ratio_to_recommend_best", ""),
                     m.get(f"{what}_latency_ratio_to_recommend_median", ""), "", ""]
            print("| " + " | ".join(c if c != "" else "–" for c in cells) + " |")
    a = runs.get("features-recommend_all", {})
    c = runs.get("features-core", {})
    if a:
        t = targets.get(("features-recommend_all", "count_fraction_of_sgemm_peak_best"))
        print("\n| recommend_all(10), all users, 1 BLAS thread | best | median |")
        print("|---|---|---|")
        for label, best, med in (
                ("sgemm peak (square sgemm), GFLOP/s", "sgemm_peak_gflops_best", "sgemm_peak_gflops_median"),
                ("`SELECT count(*) FROM recommend_all(10)`, s", "count_seconds_best", "count_seconds_median"),
                ("  its GFLOP/s", "count_gflops_best", "count_gflops_median"),
                ("  fraction of the sgemm peak" + (f" (target {t['target']}: {t['status']})" if t else ""),
                 "count_fraction_of_sgemm_peak_best", "count_fraction_of_sgemm_peak_median"),
                ("`CREATE TABLE AS SELECT * FROM recommend_all(10)`, s", "table_seconds_best", "table_seconds_median")):
            print(f"| {label} | {a.get(best, '–')} | {a.get(med, '–')} |")
        if c:
            print(f"| kp_batch_topk alone (bench/kpreco_cli), s | {c.get('batch_seconds_best', '–')} "
                  f"| {c.get('batch_seconds_median', '–')} |")
            print(f"|   its GFLOP/s | {c.get('batch_gflops_best', '–')} | {c.get('batch_gflops_median', '–')} |")
            print(f"|   fraction of the sgemm peak | {c.get('batch_fraction_of_sgemm_peak_best', '–')} | – |")
            print(f"| its sgemm calls alone, GFLOP/s | {c.get('batch_sgemm_only_gflops_best', '–')} | – |")


if __name__ == "__main__":
    main()
