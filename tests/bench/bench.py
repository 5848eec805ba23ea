#!/usr/bin/env python3
"""The benchmark of docs/benchmarks.md: reachprobe against the kernel floor and against
blackbox_exporter, on loopback only, in one run. Run it through scripts/bench.sh.

Every figure is read from /proc of the prober process alone (never the load client or the
listener): CPU (user+sys of every thread, dead ones included) per probe done, resident
memory, probes per second as counted by the listener (the same counter for every prober),
and reachprobe's own scheduling lag from its /metrics histogram. Each run starts the
prober afresh; figures are min/median/max over --runs runs, the subjects interleaved so
that load from other processes on the machine falls on all of them alike.

Bounded: each process it starts has a time limit of its own and is stopped by PID on the
way out, also on failure or Ctrl-C.
"""

import argparse
import http.client
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
BASE_ADDR = "127.77.0.1"
LAG_BOUNDS = [0.0001, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Procs:
    """Every process the harness started, stopped by PID (SIGTERM, then SIGKILL)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.procs = []

    def start(self, name, cmd, stdout=None):
        logf = open(os.path.join(self.workdir, name + ".log"), "ab")
        p = subprocess.Popen(cmd, stdout=stdout or logf, stderr=logf, stdin=subprocess.DEVNULL,
                             preexec_fn=raise_nofile)
        p.bench_name = name
        p.bench_log = logf
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
        p.bench_log.close()
        if p in self.procs:
            self.procs.remove(p)
        return p.returncode

    def stop_all(self):
        for p in list(reversed(self.procs)):
            self.stop(p)

    def tail(self, p, n=5):
        with open(os.path.join(self.workdir, p.bench_name + ".log"), "rb") as f:
            return b"".join(f.readlines()[-n:]).decode(errors="replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """user+sys of the whole process (threads that exited included), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def http_get(port, path, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def wait_http(port, path, proc, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.bench_name} exited with {proc.returncode}")
        try:
            if http_get(port, path, timeout=1)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{proc.bench_name} did not answer {path} within {seconds} s")


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line[0] == "#":
            continue
        head, _, value = line.rpartition(" ")
        if "{" in head:
            name, _, rest = head.partition("{")
            labels = []
            for part in rest.rstrip("}").split('",'):
                if part:
                    k, _, v = part.partition("=")
                    labels.append((k, v.strip('"')))
            key = (name, frozenset(labels))
        else:
            key = (head, frozenset())
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def metric_sum(m, name, **want):
    total = 0.0
    for (n, labels), v in m.items():
        if n == name and all((k, w) in labels for k, w in want.items()):
            total += v
    return total


def lag_buckets(m):
    """Cumulative counts of the lag histogram at LAG_BOUNDS (matched by value, whatever the
    text of `le`)."""
    by_bound = {}
    for (n, labels), v in m.items():
        if n == "reachprobe_scheduler_lag_seconds_bucket":
            le = dict(labels).get("le", "")
            if le != "+Inf":
                by_bound[round(float(le), 9)] = v
    return [by_bound.get(round(b, 9), 0.0) for b in LAG_BOUNDS]


class Listener:
    def __init__(self, procs, exe, addrs, ports, tls=None, name="listener"):
        self.addrs, self.ports = addrs, ports
        for base in (21000, 24000, 27000, 30000, 18000, 15000):
            self.base_port = base
            self.dns = f"{BASE_ADDR}:{base + ports}"
            self.control = ("127.77.0.1", base + ports + 1)
            p = procs.start(name, [exe, "--base-addr", BASE_ADDR, "--addrs", str(addrs),
                                   "--base-port", str(base), "--ports", str(ports),
                                   "--dns", self.dns, "--control",
                                   f"{self.control[0]}:{self.control[1]}",
                                   "--max-seconds", "3600"] +
                            (["--tls-cert", tls[0], "--tls-key", tls[1]] if tls else []),
                            stdout=subprocess.PIPE)
            line = p.stdout.readline()
            if line.strip() == b"ready":
                self.proc = p
                return
            procs.stop(p)
            if p.returncode != 3:
                raise RuntimeError("listener failed: " + procs.tail(p))
            log(f"ports from {base} are taken, trying others")
        raise RuntimeError("no free port range for the listener")

    def _ask(self, command):
        with socket.create_connection(self.control, timeout=2) as s:
            s.sendall(command.encode() + b"\n")
            data = s.recv(200).split()
        return [int(x) for x in data]

    def stats(self):
        return self._ask("stats")

    def reset(self):
        self._ask("reset")

    def grid_args(self):
        return ["--base-addr", BASE_ADDR, "--addrs", str(self.addrs), "--base-port",
                str(self.base_port), "--ports", str(self.ports)]

    def hosts(self):
        base = BASE_ADDR.rsplit(".", 1)
        return [f"{base[0]}.{int(base[1]) + i}" for i in range(self.addrs)]


def tls_certificate(workdir, hosts):
    """A self-signed P-256 certificate for the TLS listener's addresses (its own CA)."""
    cert, key = os.path.join(workdir, "tls.crt"), os.path.join(workdir, "tls.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                    "/CN=reachprobe-bench", "-addext",
                    "subjectAltName=" + ",".join(f"IP:{h}" for h in hosts),
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=30)
    return cert, key


def reachprobe_config(path, listener, proto, copies, names, interval, port, ca_file=None):
    timeout_ms = int(min(2.0, interval / 2) * 1000)
    lines = [f"interval: {int(interval * 1000)}ms", f"timeout: {timeout_ms}ms",
             f"listen: 127.0.0.1:{port}"]
    if proto == "dns":
        lines += ["dns:", f'  servers: ["{listener.dns}"]']
    lines.append("targets:")
    if proto in ("tcp", "tls"):
        hosts = ", ".join(listener.hosts())
        ports = ", ".join(str(listener.base_port + p) for p in range(listener.ports))
        for c in range(copies):
            lines += [f"  - name: {proto}-{c}", f"    type: {proto}", f"    hosts: [{hosts}]",
                      f"    ports: [{ports}]"]
            if proto == "tls":
                lines.append(f"    tls: {{ca_file: {ca_file}}}")
    else:
        for i in range(names):
            lines += [f"  - name: d{i}", "    type: dns", f"    query: n{i}.bench.test.",
                      "    record: A"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


BLACKBOX_CONFIG = """modules:
  tcp_connect:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
  tcp_tls:
    prober: tcp
    timeout: 2s
    tcp:
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
      tls: true
      tls_config:
        ca_file: CA_FILE
  dns:
    prober: dns
    timeout: 2s
    dns:
      query_name: n0.bench.test
      query_type: A
      transport_protocol: udp
      preferred_ip_protocol: ip4
      ip_protocol_fallback: false
"""


class Bench:
    def __init__(self, args, procs, workdir):
        self.a, self.procs, self.workdir = args, procs, workdir
        exe = lambda n: os.path.join(args.build_dir, "tests", "bench", n)
        self.floor_exe, self.client_exe = exe("bench_floor"), exe("bench_client")
        self.reachprobe = args.reachprobe or os.path.join(args.build_dir, "reachprobe")
        self.blackbox = shutil.which("prometheus-blackbox-exporter")
        self.listener = Listener(procs, exe("bench_listen"), args.addrs, args.ports)
        self.endpoints = args.addrs * args.ports
        self.rate = self.endpoints / args.interval
        self.tls_listener, self.tls_files = None, None
        if "tls" in args.only.split(","):
            # Fewer endpoints than tcp: a handshake costs the listener and the probers ~100x
            # a connect, and the machine is shared.
            hosts = self.listener.hosts()
            self.tls_files = tls_certificate(workdir, hosts)
            self.tls_listener = Listener(procs, exe("bench_listen"), args.addrs, args.tls_ports,
                                         tls=self.tls_files, name="tls-listener")
        self.limit = args.window + args.interval * 3 + 60  # seconds any process may live

    def check_alive(self, *ps):
        for p in ps:
            if p.poll() is not None:
                raise RuntimeError(f"{p.bench_name} exited with {p.returncode}: "
                                   + self.procs.tail(p))

    def measure(self, subject, proto, copies=1):
        a = self.a
        L = self.tls_listener if proto == "tls" else self.listener
        endpoints = L.addrs * L.ports if proto == "tls" else self.endpoints
        rate = endpoints / a.interval * copies
        helpers, rp_port, before = [], None, None
        L.reset()
        spawned = time.time_ns()
        if subject == "floor":
            target = (["--mode", "tcp"] + L.grid_args() if proto == "tcp" else
                      ["--mode", "dns", "--dns", L.dns, "--names", str(self.endpoints)])
            p = self.procs.start("floor", [self.floor_exe, *target, "--rate", str(int(rate)),
                                           "--seconds", str(int(self.limit))])
            warm = a.warm
        elif subject == "reachprobe":
            rp_port = free_port()
            cfg = os.path.join(self.workdir, f"reachprobe-{proto}-{copies}.yaml")
            reachprobe_config(cfg, L, proto, copies, self.endpoints, a.interval, rp_port,
                              ca_file=self.tls_files[0] if self.tls_files else None)
            p = self.procs.start("reachprobe", [self.reachprobe, "run", "--config", cfg])
            # One whole interval first: every endpoint has been probed once and has its
            # series, which is the steady state a DaemonSet lives in.
            warm = a.interval + a.warm
        else:
            bb_port = free_port()
            cfg = os.path.join(self.workdir, "blackbox.yml")
            with open(cfg, "w") as f:
                f.write(BLACKBOX_CONFIG.replace(
                    "CA_FILE", self.tls_files[0] if self.tls_files else "/dev/null"))
            p = self.procs.start("blackbox", [self.blackbox, f"--config.file={cfg}",
                                              f"--web.listen-address=127.0.0.1:{bb_port}",
                                              "--log.level=warn"])
            wait_http(bb_port, "/-/healthy", p, 10)
            module = (["--module", "tcp_connect"] + L.grid_args() if proto == "tcp" else
                      ["--module", "tcp_tls"] + L.grid_args() if proto == "tls" else
                      ["--module", "dns", "--dns-target", L.dns])
            helpers.append(self.procs.start("client", [
                self.client_exe, "--exporter", f"127.0.0.1:{bb_port}", *module, "--rate",
                str(int(rate)), "--seconds", str(int(self.limit))]))
            warm = a.warm
        try:
            end_warm = time.monotonic() + warm
            while time.monotonic() < end_warm:
                self.check_alive(p, *helpers)
                time.sleep(0.05)
            rss_unscraped = rss_mib(p.pid)  # before the first scrape of /metrics
            if rp_port:
                wait_http(rp_port, "/readyz", p, a.interval + 5)
                before = parse_metrics(http_get(rp_port, "/metrics")[1].decode())
            cpu0, s0, t0 = cpu_seconds(p.pid), L.stats(), time.monotonic()
            time.sleep(a.window)
            cpu1, s1, t1 = cpu_seconds(p.pid), L.stats(), time.monotonic()
            self.check_alive(p, *helpers)
            rss = rss_mib(p.pid)
            r = {}
            if rp_port:
                after = parse_metrics(http_get(rp_port, "/metrics")[1].decode())
                r.update(lag_figures(before, after))
                r["skipped_total"] = metric_sum(after, "reachprobe_probes_skipped_total")
                r["skipped"] = r["skipped_total"] - metric_sum(before,
                                                               "reachprobe_probes_skipped_total")
                r["not_ok"] = (metric_sum(after, "reachprobe_probes_total") -
                               metric_sum(after, "reachprobe_probes_total", result="ok"))
            # Last, in a window of its own: strace slows the process it traces.
            if a.strace_seconds > 0 and shutil.which("strace"):
                r.update(self.count_syscalls(p, L, proto, a.strace_seconds))
                self.check_alive(p, *helpers)
        finally:
            for h in helpers:
                self.procs.stop(h)
            self.procs.stop(p)
        done = (s1[1] - s0[1]) if proto == "dns" else (s1[0] - s0[0])
        if done <= 0:  # a broken harness, not a slow machine
            raise RuntimeError(f"{subject} {proto}: the listener counted no probe")
        first = s1[3] if proto == "dns" else s1[2]
        r.update({
            "cpu_us": (cpu1 - cpu0) * 1e6 / done if done else float("nan"),
            "cpu_pct": (cpu1 - cpu0) * 100 / (t1 - t0),
            "rss": rss,
            "rss_unscraped": rss_unscraped,
            "rate": done / (t1 - t0),
            "startup_ms": (first - spawned) / 1e6 if first and subject != "blackbox" else None,
        })
        log(f"  {subject:10} {proto}: {r['cpu_us']:.1f} us/probe, {r['cpu_pct']:.2f}% of a core, "
            f"{r['rss']:.1f} MiB ({r['rss_unscraped']:.1f} before a scrape), {r['rate']:.0f}/s" +
            (f", lag p99 <= {r['lag_p99_ms']:g} ms, mean {r['lag_mean_ms']:.3f} ms, "
             f"skipped {r['skipped']:.0f}" if rp_port else ""))
        return r

    def count_syscalls(self, p, L, proto, seconds):
        """Syscalls per probe done: `strace -c -f -p PID` over a fixed window (every thread of
        the prober; nothing else runs in it: no scrape), divided by the probes the listener
        counted meanwhile. Exact counts, unlike CPU time on a shared machine."""
        out = os.path.join(self.workdir, f"strace-{p.bench_name}-{proto}.txt")
        s0 = L.stats()
        tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(p.pid), "-o", out],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            time.sleep(seconds)
            s1 = L.stats()
        finally:
            tracer.send_signal(signal.SIGINT)
            try:
                tracer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                tracer.kill()
                tracer.wait(timeout=5)
        done = (s1[1] - s0[1]) if proto == "dns" else (s1[0] - s0[0])
        calls = parse_strace_summary(out)
        if done <= 0 or not calls:
            return {}
        return {"syscalls": sum(calls.values()) / done,
                "syscall_mix": {k: v / done for k, v in calls.items()}}

    def scrape(self):
        """/metrics with the tcp config's endpoints: time per scrape and whether probing is
        delayed meanwhile (lag in a quiet window against a window of back-to-back scrapes)."""
        a = self.a
        port = free_port()
        cfg = os.path.join(self.workdir, "reachprobe-scrape.yaml")
        reachprobe_config(cfg, self.listener, "tcp", 1, 0, a.interval, port)
        p = self.procs.start("reachprobe-scrape", [self.reachprobe, "run", "--config", cfg])
        try:
            time.sleep(a.interval + a.warm)
            wait_http(port, "/readyz", p, a.interval + 5)
            m0 = parse_metrics(http_get(port, "/metrics")[1].decode())
            c0 = cpu_seconds(p.pid)
            time.sleep(a.window)
            c1 = cpu_seconds(p.pid)
            m1 = parse_metrics(http_get(port, "/metrics")[1].decode())
            quiet = lag_figures(m0, m1)
            times, size = [], 0
            end = time.monotonic() + a.window
            while len(times) < a.scrapes or time.monotonic() < end:
                times.append(timed_scrape(port))
                if len(times) > 100000:
                    break
            c2 = cpu_seconds(p.pid)
            status, body = http_get(port, "/metrics")
            size = len(body)
            m2 = parse_metrics(http_get(port, "/metrics")[1].decode())
            busy = lag_figures(m1, m2)
            series = sum(1 for line in body.decode().splitlines() if line and line[0] != "#")
            self.check_alive(p)
        finally:
            self.procs.stop(p)
        first = sorted(times[: a.scrapes])
        quiet_cpu = (c1 - c0) / a.window
        busy_secs = sum(times)
        return {
            "endpoints": self.endpoints,
            "median_ms": statistics.median(first) * 1e3,
            "min_ms": first[0] * 1e3,
            "max_ms": first[-1] * 1e3,
            "bytes": size,
            "series": series,
            "scrapes": len(times),
            "cpu_ms_per_scrape": ((c2 - c1) - quiet_cpu * busy_secs) * 1e3 / len(times),
            "quiet": quiet,
            "busy": busy,
        }


def parse_strace_summary(path):
    """{syscall: calls} from the table `strace -c` writes (the errors column may be empty)."""
    calls = {}
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return calls
    for line in lines:
        parts = line.split()
        if len(parts) < 5 or parts[-1] == "total" or not parts[0][0].isdigit():
            continue
        try:
            calls[parts[-1]] = calls.get(parts[-1], 0) + int(parts[3])
        except ValueError:
            continue
    return calls


def syscall_mix_text(results):
    """The median calls per probe of each syscall over the runs, largest first."""
    names = set()
    for r in results:
        names.update(r.get("syscall_mix", {}))
    mix = {n: med([r.get("syscall_mix", {}).get(n, 0.0) for r in results]) for n in names}
    return ", ".join(f"{n} {v:.2f}" for n, v in sorted(mix.items(), key=lambda kv: -kv[1])
                     if v >= 0.005)


def timed_scrape(port):
    """Seconds for one GET /metrics, connection to last byte. curl (C) when there is one:
    Python's own client spends longer reading 25 MB than the server takes to send it."""
    curl = shutil.which("curl")
    if curl:
        r = subprocess.run([curl, "-sS", "-o", "/dev/null", "--max-time", "20", "-w",
                            "%{http_code} %{time_total}", f"http://127.0.0.1:{port}/metrics"],
                           capture_output=True, text=True, timeout=30)
        code, seconds = r.stdout.split()
        if code != "200":
            raise RuntimeError(f"/metrics answered {code}: {r.stderr}")
        return float(seconds)
    t = time.perf_counter()
    status, _ = http_get(port, "/metrics")
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    return time.perf_counter() - t


def lag_figures(before, after):
    b0, b1 = lag_buckets(before), lag_buckets(after)
    d = [y - x for x, y in zip(b0, b1)]
    n = metric_sum(after, "reachprobe_scheduler_lag_seconds_count") - metric_sum(
        before, "reachprobe_scheduler_lag_seconds_count")
    s = metric_sum(after, "reachprobe_scheduler_lag_seconds_sum") - metric_sum(
        before, "reachprobe_scheduler_lag_seconds_sum")
    p99 = float("inf")
    for bound, count in zip(LAG_BOUNDS, d):
        if n and count >= 0.99 * n:
            p99 = bound * 1e3
            break
    return {
        "lag_n": n,
        "lag_mean_ms": s * 1e3 / n if n else float("nan"),
        "lag_p99_ms": p99,
        "lag_le_1ms": d[1] / n if n else float("nan"),
        "lag_le_5ms": d[2] / n if n else float("nan"),
    }


def mmm(values, fmt="{:.1f}"):
    vals = [v for v in values if v is not None]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return fmt.format(vals[0])
    lo, med, hi = min(vals), statistics.median(vals), max(vals)
    return f"{fmt.format(med)} ({fmt.format(lo)}–{fmt.format(hi)})"


def med(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def ratio(x, y):
    return f"{x / y:.2f}x" if x and y else "n/a"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default="build-bench")
    ap.add_argument("--quick", action="store_true",
                    help="a few seconds: small grid, one run (the CI smoke)")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--only", default="tcp,dns,tls,scale,scrape",
                    help="comma-separated parts: tcp, dns, tls, scale, scrape")
    ap.add_argument("--out", help="also write the table (markdown) here")
    ap.add_argument("--subjects", default="floor,reachprobe,blackbox",
                    help="comma-separated: floor, reachprobe, blackbox")
    ap.add_argument("--strace-seconds", type=float,
                    help="the window of the syscall count per prober and run (0: none)")
    ap.add_argument("--reachprobe", help="the binary to measure (default: BUILD_DIR/reachprobe)")
    args = ap.parse_args()
    if args.quick:
        args.addrs, args.ports, args.interval = 2, 50, 0.5  # 100 endpoints, 200/s
        args.tls_ports = 10  # 20 tls endpoints, 40/s
        args.window, args.warm, args.scrapes = 1.0, 0.3, 5
        args.runs = args.runs or 1
        args.scale_copies = 2
        args.strace_seconds = 1.0 if args.strace_seconds is None else args.strace_seconds
    else:
        args.addrs, args.ports, args.interval = 10, 1000, 10.0  # 10,000 endpoints, 1,000/s
        args.tls_ports = 100  # 1,000 tls endpoints, 100/s
        args.window, args.warm, args.scrapes = 20.0, 1.0, 20
        args.runs = args.runs or 3
        args.scale_copies = 5  # 50,000 endpoints, 5,000/s
        args.strace_seconds = 5.0 if args.strace_seconds is None else args.strace_seconds
    parts = set(args.only.split(","))
    raise_nofile()

    workdir = tempfile.mkdtemp(prefix="reachprobe-bench-")
    procs = Procs(workdir)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_signal)
    started = time.monotonic()
    out = []
    ok = True
    try:
        bench = Bench(args, procs, workdir)
        wanted = set(args.subjects.split(","))
        subjects = [s for s in ("floor", "reachprobe", "blackbox") if s in wanted and
                    (s != "blackbox" or bench.blackbox)]
        if not bench.blackbox:
            log("prometheus-blackbox-exporter is not installed (scripts/install-deps.sh): "
                "no peer column")
        log(f"{bench.endpoints} endpoints ({args.addrs} addresses x {args.ports} ports), "
            f"{bench.rate:g} probes/s, {args.runs} run(s) of {args.window:g} s each")
        results = {}
        for proto in ("tcp", "dns", "tls"):
            if proto not in parts:
                continue
            for run in range(args.runs):
                log(f"{proto} run {run + 1}/{args.runs}")
                for s in subjects:
                    if proto == "tls" and s == "floor":
                        continue  # no TLS floor: the handshake is the cost, not the loop
                    results.setdefault((proto, s), []).append(bench.measure(s, proto))
        scale = None
        if "scale" in parts:
            log(f"scale: {bench.endpoints * args.scale_copies} endpoints")
            scale = [bench.measure("reachprobe", "tcp", copies=args.scale_copies)
                     for _ in range(1 if args.quick else 2)]
        scrape = None
        if "scrape" in parts:
            log(f"/metrics with {bench.endpoints} endpoints")
            scrape = bench.scrape()
        out = report(args, bench, subjects, results, scale, scrape)
    except KeyboardInterrupt as e:
        log(f"interrupted: {e}")
        ok = False
    except Exception as e:  # the harness broke: say so and fail
        log(f"bench failed: {e}")
        ok = False
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    text = "\n".join(out)
    print(text)
    if args.out and out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    log(f"took {time.monotonic() - started:.0f} s")
    return 0 if ok else 1


def report(args, bench, subjects, results, scale, scrape):
    out = []
    load = open("/proc/loadavg").read().split()[:3]
    out.append(f"reachprobe benchmark: {bench.endpoints} endpoints, {bench.rate:g} probes/s, "
               f"{args.runs} run(s) x {args.window:g} s, {os.cpu_count()} CPUs, "
               f"load average at the end {' '.join(load)}")
    out.append("")
    has_bb = "blackbox" in subjects
    for proto in ("tcp", "dns", "tls"):
        if (proto, "reachprobe") not in results:
            continue  # the per-run lines on stderr have the figures
        R = {s: results.get((proto, s), []) for s in subjects}
        col = lambda key, fmt="{:.1f}": [mmm([r.get(key) for r in R[s]], fmt) if R[s] else
                                         "n/a" for s in subjects]
        medv = lambda s, key: med([r.get(key) for r in R.get(s, [])])
        header = [""] + subjects
        header += ["reachprobe/floor"] + (["blackbox/reachprobe"] if has_bb else [])
        tls_note = (f", {bench.tls_listener.addrs * bench.tls_listener.ports} endpoints at "
                    f"{args.interval:g} s; no floor for a handshake" if proto == "tls" else "")
        out.append(f"{proto} (median (min–max) of {args.runs}{tls_note})")
        out.append("")
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))

        def row(name, key, fmt="{:.1f}"):
            cells = col(key, fmt) + [ratio(medv("reachprobe", key), medv("floor", key))]
            if has_bb:
                cells.append(ratio(medv("blackbox", key), medv("reachprobe", key)))
            out.append(f"| {name} | " + " | ".join(cells) + " |")

        row("CPU µs per probe", "cpu_us")
        row("CPU % of one core", "cpu_pct", "{:.2f}")
        row("resident MiB", "rss")
        row("resident MiB before any scrape", "rss_unscraped")
        row("probes/s", "rate", "{:.0f}")
        if all(r.get("syscalls") is not None for s in subjects for r in R[s]):
            row(f"syscalls per probe (strace, {args.strace_seconds:g} s)", "syscalls")
        rp = R["reachprobe"]
        out.append("| startup to first probe, ms | " + " | ".join(
            [mmm([r["startup_ms"] for r in R[s]]) if s != "blackbox" and R[s] else
             "n/a (pulled)" if s == "blackbox" else "n/a" for s in subjects]) + " | |" +
                   (" |" if has_bb else ""))
        lag = (f"p99 <= {mmm([r['lag_p99_ms'] for r in rp], '{:g}')} ms, mean "
               f"{mmm([r['lag_mean_ms'] for r in rp], '{:.3f}')} ms, "
               f"<= 1 ms: {mmm([100 * r['lag_le_1ms'] for r in rp], '{:.1f}')}%")
        def reachprobe_row(name, text):
            cells = [""] * (len(header) - 1)
            cells[subjects.index("reachprobe")] = text
            out.append(f"| {name} | " + " | ".join(cells) + " |")

        reachprobe_row("reachprobe scheduling lag", lag)
        reachprobe_row("reachprobe skipped slots", mmm([r['skipped'] for r in rp], '{:.0f}'))
        if any("syscall_mix" in r for s in subjects for r in R[s]):
            out.append("")
        for s in subjects:
            if any("syscall_mix" in r for r in R[s]):
                out.append(f"- {s} syscalls per probe: {syscall_mix_text(R[s])}")
        out.append("")
    if scale:
        n = bench.endpoints * args.scale_copies
        out.append(f"scale: reachprobe with {n} endpoints at {args.interval:g} s "
                   f"({n / args.interval:g} probes/s), {len(scale)} run(s)")
        out.append("")
        out.append("| probes/s | CPU µs per probe | CPU % of one core | resident MiB | lag p99 | "
                   "skipped in the window | skipped since start | failed probes |")
        out.append("|---|---|---|---|---|---|---|---|")
        out.append(f"| {mmm([r['rate'] for r in scale], '{:.0f}')} | "
                   f"{mmm([r['cpu_us'] for r in scale])} | "
                   f"{mmm([r['cpu_pct'] for r in scale], '{:.2f}')} | "
                   f"{mmm([r['rss'] for r in scale])} | "
                   f"<= {mmm([r['lag_p99_ms'] for r in scale], '{:g}')} ms | "
                   f"{mmm([r['skipped'] for r in scale], '{:.0f}')} | "
                   f"{mmm([r['skipped_total'] for r in scale], '{:.0f}')} | "
                   f"{mmm([r['not_ok'] for r in scale], '{:.0f}')} |")
        out.append("")
    if scrape:
        q, b = scrape["quiet"], scrape["busy"]
        out.append(f"/metrics with {scrape['endpoints']} endpoints: "
                   f"{scrape['median_ms']:.1f} ms per scrape (median of {args.scrapes}; "
                   f"min {scrape['min_ms']:.1f}, max {scrape['max_ms']:.1f}), "
                   f"{scrape['bytes']} bytes, {scrape['series']} series, "
                   f"{scrape['cpu_ms_per_scrape']:.1f} ms CPU per scrape")
        out.append("")
        out.append("| probing while | probes | lag mean | lag p99 | lag <= 1 ms | lag <= 5 ms |")
        out.append("|---|---|---|---|---|---|")
        for name, f in ((f"no scrape ({args.window:g} s)", q),
                        (f"{scrape['scrapes']} back-to-back scrapes", b)):
            out.append(f"| {name} | {f['lag_n']:.0f} | {f['lag_mean_ms']:.3f} ms | "
                       f"<= {f['lag_p99_ms']:g} ms | {100 * f['lag_le_1ms']:.1f}% | "
                       f"{100 * f['lag_le_5ms']:.1f}% |")
        out.append("")
    out += targets(args, subjects, results, scale, scrape)
    return out


def targets(args, subjects, results, scale, scrape):
    if args.quick:
        return ["(--quick: a smoke of the harness, figures not comparable to the targets)"]
    out = ["targets:"]

    def check(name, met, detail):
        out.append(f"- [{'met' if met else 'MISSED'}] {name}: {detail}")

    def m(proto, s, key):
        return med([r[key] for r in results.get((proto, s), [])])

    sc = m("tcp", "reachprobe", "syscalls")
    if sc is not None:
        check("tcp <= 8 syscalls per probe", sc <= 8, f"{sc:.1f} (floor "
              f"{m('tcp', 'floor', 'syscalls') or float('nan'):.1f})")
    for proto, limit in (("tcp", 1.3), ("dns", 1.5)):
        rp, fl = m(proto, "reachprobe", "cpu_us"), m(proto, "floor", "cpu_us")
        if rp and fl:
            check(f"{proto} CPU <= {limit}x floor", rp <= limit * fl, f"{rp / fl:.2f}x")
        bb = m(proto, "blackbox", "cpu_us")
        if rp and bb:
            check(f"{proto} >= 10x less CPU than blackbox", bb >= 10 * rp, f"{bb / rp:.1f}x")
    rp, bb = m("tls", "reachprobe", "cpu_us"), m("tls", "blackbox", "cpu_us")
    if rp and bb:
        out.append(f"- [info] tls (no target): blackbox uses {bb / rp:.1f}x the CPU of "
                   "reachprobe per probe")
    pct, rss = m("tcp", "reachprobe", "cpu_pct"), m("tcp", "reachprobe", "rss")
    if pct is not None:
        check("10,000 endpoints at 10 s: < 5% of a core", pct < 5, f"{pct:.2f}%")
        check("10,000 endpoints at 10 s: < 30 MiB resident", rss < 30, f"{rss:.1f} MiB")
        p99 = m("tcp", "reachprobe", "lag_p99_ms")
        check("scheduling lag p99 < 5 ms at 1,000 probes/s", p99 < 5, f"p99 <= {p99:g} ms "
              "(histogram bucket bound)")
    for proto, what in (("tcp", "one tcp target"), ("dns", "10,000 dns targets")):
        st = m(proto, "reachprobe", "startup_ms")
        if st is not None:
            check(f"startup to first probe < 50 ms ({what})", st < 50, f"{st:.1f} ms")
    if scale:
        skipped = max(r["skipped_total"] for r in scale)
        check("50,000 endpoints without skipped probes", skipped == 0,
              f"{skipped:.0f} skipped since start, {med([r['rate'] for r in scale]):.0f} probes/s")
    if scrape:
        check("/metrics with 10,000 endpoints < 30 ms", scrape["median_ms"] < 30,
              f"{scrape['median_ms']:.1f} ms")
        q, b = scrape["quiet"], scrape["busy"]
        check("probes not delayed by scrapes", b["lag_p99_ms"] <= q["lag_p99_ms"],
              f"lag p99 <= {q['lag_p99_ms']:g} ms quiet, <= {b['lag_p99_ms']:g} ms scraping")
    return out


if __name__ == "__main__":
    sys.exit(main())
