#!/usr/bin/env python3
"""Synthetic reachprobe series in OpenMetrics text, for `promtool tsdb create-blocks-from
openmetrics` (scripts/rule-eval-bench.sh): NODES nodes x ENDPOINTS endpoints, every STEP
seconds over HOURS hours ending 3 hours from now (so that the runs find current samples),
with the labels prometheus-operator's PodMonitor scrape gives them. Per endpoint: reachprobe_probe_success, reachprobe_probes_total (ok, and
timeout for the failing ones) and the histogram reachprobe_probe_duration_seconds of phase
`total` with the daemon's 17 buckets; per node: up. A few endpoints fail on every node, one
node fails everything, so that the alert expressions have something to join."""
import argparse
import random
import time

BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
           1, 2.5, 5, 10]  # the daemon's boundaries, plus +Inf below


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--endpoints", type=int, default=20)
    ap.add_argument("--step", type=int, default=300, help="seconds between samples")
    ap.add_argument("--hours", type=float, default=26)
    # Ahead of now: generating and converting take half an hour here, and the rules must
    # find current samples (their 5- and 10-minute windows) while they are measured.
    ap.add_argument("--end", type=int, default=(int(time.time()) + 3 * 3600) // 60 * 60)
    ap.add_argument("--window", type=int, default=7200,
                    help="seconds per output file: promtool parses a file once per 2h block, "
                         "so one file per block window is read once")
    ap.add_argument("--out", required=True, help="prefix of the output files")
    args = ap.parse_args()
    rng = random.Random(7)
    all_times = list(range(args.end - int(args.hours * 3600), args.end + 1, args.step))
    windows = {}
    for t in all_times:
        windows.setdefault(t - t % args.window, []).append(t)
    for start, times in sorted(windows.items()):
        with open("%s-%d.om" % (args.out, start), "w", buffering=1 << 22) as out:
            write(out, args, random.Random(7), times, all_times[0], args.step)


def write(out, args, rng, times, first, step):

    nodes = []
    for n in range(args.nodes):
        ip = "10.0.%d.%d" % (n // 250, n % 250 + 1)
        name = "ip-10-0-%d-%d.eu-west-1.compute.internal" % (n // 250, n % 250 + 1)
        scrape = ('container="reachprobe",endpoint="metrics",instance="%s:9754",job="reachprobe",'
                  'namespace="reachprobe",node="%s",pod="reachprobe-%05d"' % (ip, name, n))
        nodes.append(scrape)
    endpoints = []
    for e in range(args.endpoints):
        target = "t%02d" % (e // 4)
        group = "node-mesh" if e == args.endpoints - 1 else "control-plane"
        dst = "10.1.%d.%d:443" % (e // 250, e % 250 + 1)
        endpoints.append('dst="%s",group="%s",target="%s",type="tcp"' % (dst, group, target))
    failing_endpoint = 0  # fails on every node
    failing_node = 1  # fails on every endpoint
    per_step = args.step / 15.0  # probes per step at a 15s interval

    def fails(n, e):
        return e == failing_endpoint or n == failing_node

    out.write("# HELP up Scrape up\n# TYPE up gauge\n")
    for t in times:
        for s in nodes:
            out.write("up{%s} 1 %d\n" % (s, t))

    out.write("# HELP reachprobe_probe_success 1 if the last probe succeeded\n"
              "# TYPE reachprobe_probe_success gauge\n")
    for t in times:
        for n, s in enumerate(nodes):
            for e, ep in enumerate(endpoints):
                out.write("reachprobe_probe_success{%s,%s} %d %d\n" % (s, ep, 0 if fails(n, e) else 1, t))

    out.write("# HELP reachprobe_probes Probes by result\n# TYPE reachprobe_probes counter\n")
    for t in times:
        i = (t - first) // step
        for n, s in enumerate(nodes):
            for e, ep in enumerate(endpoints):
                f = fails(n, e)
                out.write('reachprobe_probes_total{%s,%s,result="ok"} %d %d\n'
                          % (s, ep, 0 if f else int(i * per_step), t))
                if f:
                    out.write('reachprobe_probes_total{%s,%s,result="timeout"} %d %d\n'
                              % (s, ep, int(i * per_step), t))

    # Latency of each endpoint around its own median (1-20 ms), cumulative per bucket.
    out.write("# HELP reachprobe_probe_duration_seconds Probe latency by phase\n"
              "# TYPE reachprobe_probe_duration_seconds histogram\n")
    medians = [[rng.uniform(0.001, 0.02) for _ in endpoints] for _ in nodes]
    shares = []  # per (node, endpoint): cumulative share of probes at or below each bucket
    for n in range(len(nodes)):
        row = []
        for e in range(len(endpoints)):
            m = medians[n][e]
            row.append([min(1.0, max(0.0, (b / m) ** 3 / (1 + (b / m) ** 3) * 1.02)) for b in BUCKETS])
        shares.append(row)
    for t in times:
        count = int((t - first) // step * per_step)
        for n, s in enumerate(nodes):
            for e, ep in enumerate(endpoints):
                if fails(n, e):
                    c = 0
                else:
                    c = count
                labels = "%s,%s,phase=\"total\"" % (s, ep)
                for b, share in zip(BUCKETS, shares[n][e]):
                    out.write('reachprobe_probe_duration_seconds_bucket{%s,le="%g"} %d %d\n'
                              % (labels, b, int(c * share), t))
                out.write('reachprobe_probe_duration_seconds_bucket{%s,le="+Inf"} %d %d\n' % (labels, c, t))
                out.write('reachprobe_probe_duration_seconds_sum{%s} %.3f %d\n' % (labels, c * medians[n][e], t))
                out.write('reachprobe_probe_duration_seconds_count{%s} %d %d\n' % (labels, c, t))
    out.write("# EOF\n")


if __name__ == "__main__":
    main()
