#!/usr/bin/env bash
# Rule evaluation cost of deploy/prometheus/reachprobe-rules.yaml with a real Prometheus on
# synthetic series (not in CI: minutes of CPU and a few GB in /tmp).
#
#   scripts/rule-eval-bench.sh [BEFORE_REV]
#
# Writes NODES x ENDPOINTS endpoints (default 200 x 20) with the labels of the operator's
# scrape, one sample every STEP seconds (default 300) over HOURS hours (default 29) ending
# 3 hours from now, so that the rules find current samples (scripts/rule-eval-bench.py),
# turns them into TSDB blocks with `promtool tsdb create-blocks-from openmetrics`, then
# runs Prometheus on a copy of them, without scrapes, once with the rules of BEFORE_REV
# (default: the commit before the latency baseline became a recording rule: the label
# rename only) and once with the working tree's, every group
# evaluated every INTERVAL (default 30s; the baseline group's 10m is shortened too, so that
# its cost is measured: per 10 minutes it runs once). Prints, per run and group, the
# evaluation time Prometheus reports (/api/v1/rules evaluationTime, the value of
# prometheus_rule_group_last_duration_seconds) over EVALS evaluations, and the costliest
# rules. The STEP of 300 s keeps the data at ~27 million samples; a 15 s scrape has 20x
# more samples in the day the baseline reads. The query timeout is raised to 30 minutes:
# with the default 2 minutes, an evaluation that takes longer is reported as an error, not
# measured. DATA=DIR reuses the blocks of an earlier run (KEEP=DIR keeps them).
set -euo pipefail
cd "$(dirname "$0")/.."
before_rev="${1:-79e4299}"
nodes="${NODES:-200}"
endpoints="${ENDPOINTS:-20}"
step="${STEP:-300}"
hours="${HOURS:-29}"
evals="${EVALS:-6}"
interval="${INTERVAL:-30s}"
work="$(mktemp -d /tmp/rule-eval-bench.XXXXXX)"
prom_pid=""
cleanup() {
  if [[ -n "$prom_pid" ]]; then kill "$prom_pid" 2>/dev/null || true; wait "$prom_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "# $nodes nodes x $endpoints endpoints, a sample every ${step}s over ${hours}h; Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}')"
start=$(date +%s)
if [[ -n "${DATA:-}" ]]; then
  cp -r "$DATA" "$work/data"
else
  mkdir -p "$work/om" "$work/data"
  python3 scripts/rule-eval-bench.py --nodes "$nodes" --endpoints "$endpoints" --step "$step" \
    --hours "$hours" --out "$work/om/series"
  for f in "$work"/om/*.om; do
    promtool tsdb create-blocks-from openmetrics "$f" "$work/data" >/dev/null
    rm -f "$f"
  done
  if [[ -n "${KEEP:-}" ]]; then cp -r "$work/data" "$KEEP"; fi
fi
echo "# data: $(du -sh "$work/data" | cut -f1) of blocks in $(($(date +%s) - start)) s"

git show "$before_rev:deploy/prometheus/reachprobe-rules.yaml" >"$work/before.yaml"
cp deploy/prometheus/reachprobe-rules.yaml "$work/after.yaml"
for which in before after; do
  sed -i -E "s/^(    interval:) .*/\1 $interval/" "$work/$which.yaml"
done

run() {
  local which="$1"
  rm -rf "$work/run"
  cp -r "$work/data" "$work/run"
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$work/prometheus.yml" <<EOF
global:
  evaluation_interval: $interval
rule_files: [$which.yaml]
EOF
  # Blocks stay as written (no compaction into longer ones while measuring).
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/run" \
    --storage.tsdb.min-block-duration=2h --storage.tsdb.max-block-duration=2h \
    --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$port" \
    --query.timeout=30m \
    --log.level=warn >"$work/$which.log" 2>&1 &
  prom_pid=$!
  python3 - "$port" "$evals" "$which" <<'EOF'
import json, statistics, sys, time, urllib.request
port, evals, which = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen = {}   # group -> {lastEvaluation: evaluationTime}
rules = {}  # (group, rule) -> [seconds]
deadline = time.time() + 120 + evals * 600
while time.time() < deadline:
    time.sleep(2)
    try:
        groups = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/v1/rules" % port, timeout=10))["data"]["groups"]
    except Exception:
        continue
    for g in groups:
        if g["lastEvaluation"].startswith("0001"):
            continue
        if g["lastEvaluation"] not in seen.setdefault(g["name"], {}):
            seen[g["name"]][g["lastEvaluation"]] = g["evaluationTime"]
            for r in g["rules"]:
                rules.setdefault((g["name"], r["name"]), []).append(r["evaluationTime"])
            for r in g["rules"]:
                if r["health"] != "ok":
                    print("  rule %s: %s %s" % (r["name"], r["health"], r.get("lastError", "")))
    if seen and all(len(v) >= evals for v in seen.values()):
        break
for name, times in seen.items():
    t = list(times.values())
    print("%-7s group %-28s %d evaluations: median %.3f s, min %.3f s, max %.3f s"
          % (which, name, len(t), statistics.median(t), min(t), max(t)))
costly = sorted(((statistics.median(v), g, r) for (g, r), v in rules.items()), reverse=True)[:5]
for m, g, r in costly:
    print("%-7s   %-28s %-55s median %.3f s" % (which, g, r, m))
EOF
  kill "$prom_pid"
  wait "$prom_pid" 2>/dev/null || true
  prom_pid=""
}
run before
run after
