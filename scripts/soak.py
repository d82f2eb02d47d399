#!/usr/bin/env python3
"""Chaos soak of the release binary (issue 13): run by scripts/soak.sh.

Runs the four platform simulators as processes of their own, `headroom run` polling them, and
for MINUTES:
  * fault episodes, one simulator at a time: every answer a 500, a 429, not JSON, cut in half,
    or a list flooded with 1M records, for 40-150 s (some outlast max_age);
  * a SIGHUP every 40 s, a restart (SIGTERM, start again) every 150 s;
  * 200 concurrent scrapers of /metrics (half of them asking for gzip).
Asserts, and prints the figures:
  * no crash: every exit is a clean one asked for, within 5 s of SIGTERM;
  * RSS and open file descriptors bounded (RSS at most 256 MiB, fds at most the connection
    bound + 64);
  * each fault is reported with its reason (`headroom_collector_errors_total{reason}` of the
    faulted target grows by it);
  * last-good data is kept to max_age and no longer: served 20 s into an episode, gone after
    max_age + 15 s of one;
  * after a restart the last data is served from the state directory before the first poll;
  * 0 limit violations counted by the simulators (SCP bans and its busiest minute against its
    limit, ESM's busiest capacity minute against its limit);
  * scrapes answered while the daemon runs: none failed, p99 latency.
Everything listens on 127.0.0.1 with ephemeral ports.
"""

import gzip
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = sys.argv[1]
MINUTES = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
INTERVAL = 30
MAX_AGE = 3 * INTERVAL  # the default max_age
SCRAPERS = 200
CONNECTION_BOUND = 512
RSS_CEILING = 256 * 2**20
RESTART_EVERY = 150
RELOAD_EVERY = 40
FAULTS = {
    # fault body for POST /sim/faults -> the reason headroom must report
    "error": ({"error_rate": 1.0}, "http"),
    "throttle": ({"throttle_rate": 1.0}, "throttled"),
    "malformed": ({"malformed_rate": 1.0}, "parse"),
    "truncate": ({"truncate_rate": 1.0}, "parse"),
    "flood": ({"flood_items": 1000000}, "parse"),
}
TARGETS = {
    "huawei_esm": "esm-demo",
    "sangfor_scp": "scp-demo",
    "h3c_cloudos": "cloudos-demo",
    "cecstack": "cec-demo",
}

work = tempfile.mkdtemp(prefix="headroom-soak-")
problems = []
figures = {}
lock = threading.Lock()


def problem(text):
    with lock:
        problems.append(text)
    print(f"PROBLEM: {text}", flush=True)


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---- simulators ----

sims = {}
for platform in TARGETS:
    args = [BIN, "simulate", "--platform", platform, "--listen", "127.0.0.1:0",
            "--target-out", f"{work}/{platform}.yaml"]
    if platform == "sangfor_scp":
        args += ["--tls-ca-out", f"{work}/scp-ca.pem"]
    out = open(f"{work}/{platform}.out", "w")
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    sims[platform] = {"proc": proc, "out": f"{work}/{platform}.out"}
for platform, s in sims.items():
    deadline = time.time() + 30
    while time.time() < deadline:
        text = open(s["out"]).read()
        m = re.search(r"simulator on (https?)://(\S+)", text)
        if m and os.path.exists(f"{work}/{platform}.yaml"):
            s["base"] = f"{m.group(1)}://{m.group(2)}"
            break
        time.sleep(0.1)
    else:
        sys.exit(f"the {platform} simulator did not start: {open(s['out']).read()}")

import ssl  # noqa: E402  (only the SCP simulator's control endpoints need it)

SCP_TLS = ssl.create_default_context(cafile=f"{work}/scp-ca.pem")


def sim_request(platform, path, body=None):
    url = sims[platform]["base"] + path
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                 headers={"Content-Type": "application/json"})
    ctx = SCP_TLS if url.startswith("https") else None
    with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
        return json.loads(r.read() or b"null")


def set_faults(platform, faults):
    sim_request(platform, "/sim/faults", faults)


# ---- the daemon ----

import socket  # noqa: E402

with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    PORT = probe.getsockname()[1]
# One port for every start, as Prometheus would scrape it.
config = f"""server:
  listen: "127.0.0.1:{PORT}"
  state_dir: {work}/state
defaults:
  interval: {INTERVAL}s
targets:
""" + "".join(open(f"{work}/{p}.yaml").read() for p in TARGETS)
os.makedirs(f"{work}/state", exist_ok=True)
with open(f"{work}/config.yaml", "w") as f:
    f.write(config)

daemon = {"proc": None, "base": None, "up": False, "starts": 0}


def start_daemon():
    daemon["starts"] += 1
    logfile = f"{work}/daemon-{daemon['starts']}.log"
    err = open(logfile, "w")
    proc = subprocess.Popen([BIN, "run", "--config", f"{work}/config.yaml"],
                            stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 20
    while time.time() < deadline:
        m = re.search(r"address=(\S+)", open(logfile).read())
        if m:
            daemon.update(proc=proc, base=f"http://{m.group(1)}", log=logfile)
            daemon["up"] = True
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    problem(f"the daemon did not start: {open(logfile).read()[-2000:]}")
    sys.exit(1)


def stop_daemon():
    proc = daemon["proc"]
    daemon["up"] = False
    t = time.time()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        problem("the daemon was still running 10 s after SIGTERM")
        return None
    took = time.time() - t
    if code != 0:
        problem(f"the daemon exited with {code} after SIGTERM")
    if took > 5:
        problem(f"exit took {took:.1f} s after SIGTERM")
    return took


def scrape(path="/metrics", gz=False, timeout=10):
    req = urllib.request.Request(daemon["base"] + path,
                                 headers={"Accept-Encoding": "gzip"} if gz else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        body = r.read()
        if r.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return body.decode()


def series(text, family, **labels):
    """The values of `family` whose labels include these."""
    out = []
    for line in text.splitlines():
        if not line.startswith(family + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            out.append(float(line.rsplit(" ", 1)[1]))
    return out


def errors_of(text, target, reason):
    return sum(series(text, "headroom_collector_errors_total", target=target, reason=reason))


def has_data(text, target):
    return len(series(text, "headroom_collector_up", target=target)) > 0 and any(
        line.startswith(("headroom_resource_capacity{", "headroom_host_resource_capacity{",
                         "headroom_service_capacity{", "headroom_resource_free{"))
        and f'target="{target}"' in line
        for line in text.splitlines())


# ---- scrapers and the sampler ----

stop = threading.Event()
scrapes = {"ok": 0, "failed_while_up": 0, "refused_while_down": 0, "latencies": []}


def scraper(i):
    gz = i % 2 == 0
    while not stop.is_set():
        if not daemon["up"]:
            time.sleep(0.2)
            continue
        started = time.time()
        generation = (daemon["up"], daemon["starts"])
        try:
            scrape(gz=gz)
            with lock:
                scrapes["ok"] += 1
                scrapes["latencies"].append(time.time() - started)
        except Exception as e:  # noqa: BLE001
            with lock:
                if generation == (True, daemon["starts"]) and daemon["up"]:
                    scrapes["failed_while_up"] += 1
                    if scrapes["failed_while_up"] <= 5:
                        print(f"scrape failed while up: {e}", flush=True)
                else:
                    scrapes["refused_while_down"] += 1
        time.sleep(random.uniform(0.0, 0.2))


samples = []  # (elapsed, rss_bytes, fds)


def sampler(t0):
    while not stop.is_set():
        proc = daemon["proc"]
        try:
            status = open(f"/proc/{proc.pid}/status").read()
            rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) * 1024
            fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
            samples.append((time.time() - t0, rss, fds))
        except Exception:  # noqa: BLE001  (between a stop and a start)
            pass
        time.sleep(1)


def wait_for(what, check, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001
            pass
        time.sleep(1)
    problem(f"timed out ({timeout} s) waiting for {what}")
    return False


# ---- the run ----

start_daemon()
t0 = time.time()
end = t0 + MINUTES * 60
log(f"soak for {MINUTES:g} min in {work}; daemon at {daemon['base']}")
wait_for("every target's first data", lambda: all(has_data(scrape(), t) for t in TARGETS.values()),
         3 * INTERVAL)
threads = [threading.Thread(target=scraper, args=(i,), daemon=True) for i in range(SCRAPERS)]
threads.append(threading.Thread(target=sampler, args=(t0,), daemon=True))
for t in threads:
    t.start()

restarts, reloads, episodes = [], 0, []
state = {"next_restart": time.time() + RESTART_EVERY, "next_reload": time.time() + RELOAD_EVERY}
kinds = list(FAULTS)
random.shuffle(kinds)


def housekeeping():
    """SIGHUPs and restarts, due or not; called often."""
    global reloads
    now = time.time()
    if now >= state["next_reload"]:
        state["next_reload"] = now + RELOAD_EVERY
        daemon["proc"].send_signal(signal.SIGHUP)
        reloads += 1
    if now >= state["next_restart"]:
        state["next_restart"] = now + RESTART_EVERY
        took = stop_daemon()
        start_daemon()
        # The state directory: last data before the first poll ends (a poll takes seconds).
        text = scrape()
        kept = [t for t in TARGETS.values() if has_data(text, t)]
        restarts.append({"exit_s": took, "served_at_once": len(kept)})
        missing = sorted(set(TARGETS.values()) - set(kept))
        log(f"restarted (exit {took:.2f} s); served at once for {len(kept)} targets"
            + (f" (none for {', '.join(missing)}: in a fault episode past max_age?)" if missing else ""))



def scrape_retry():
    """A scrape that waits out a restart."""
    for _ in range(60):
        try:
            return scrape()
        except Exception:  # noqa: BLE001
            time.sleep(0.25)
    return ""


def up_now(target):
    values = series(scrape_retry(), "headroom_collector_up", target=target)
    return bool(values) and min(values) == 1.0


busy = {p: False for p in TARGETS}


class Counted:
    """The errors of one reason a target's collectors count, summed across restarts (each
    start counts from zero again)."""

    def __init__(self, target, reason):
        self.target, self.reason, self.gained = target, reason, 0.0
        self.last = (daemon["starts"], errors_of(scrape_retry(), target, reason))

    def sample(self):
        text = scrape_retry()
        now = (daemon["starts"], errors_of(text, self.target, self.reason))
        self.gained += now[1] - self.last[1] if now[0] == self.last[0] else now[1]
        self.last = now


def wait_counting(counted, until):
    while time.time() < until:
        time.sleep(min(5, max(0, until - time.time())))
        counted.sample()


def run_episode(n, kind, platform, length):
    target = TARGETS[platform]
    body, reason = FAULTS[kind]
    counted = Counted(target, reason)
    log(f"episode {n}: {kind} on {platform} for {length:.0f} s")
    set_faults(platform, body)
    started = time.time()
    ep = {"kind": kind, "platform": platform, "length": length, "reason": reason}
    wait_counting(counted, started + 20)
    # Within max_age of the last good poll the last data is still served.
    ep["kept_at_20s"] = has_data(scrape_retry(), target)
    if not ep["kept_at_20s"]:
        problem(f"{target}: no data 20 s into a {kind} episode (last-good must be kept to max_age)")
    # Every answer fails in these (a flood leaves answers without a list alone).
    if length >= MAX_AGE + 20 and kind != "flood":
        wait_counting(counted, started + MAX_AGE + 15)
        ep["dropped_after_max_age"] = not has_data(scrape_retry(), target)
        if not ep["dropped_after_max_age"]:
            problem(f"{target}: data still served {MAX_AGE + 15} s into a {kind} episode (max_age {MAX_AGE} s)")
    wait_counting(counted, started + length)
    ep["errors_counted"] = counted.gained
    if ep["errors_counted"] <= 0:
        problem(f"{target}: a {kind} episode of {length:.0f} s left no error of reason `{reason}`")
    set_faults(platform, {})
    # Recovery: every collector of the target succeeds again.
    t = time.time()
    while not up_now(target):
        if time.time() - t > 4 * INTERVAL + 70:
            problem(f"{target} did not recover within {4 * INTERVAL + 70} s after {kind}")
            break
        time.sleep(1)
    ep["recovered_s"] = time.time() - t
    with lock:
        episodes.append(ep)
    busy[platform] = False


workers = []
episode = 0
next_episode = time.time()
while time.time() < end - 60:
    housekeeping()
    free = [p for p in TARGETS if not busy[p]]
    if time.time() >= next_episode and free:
        platform = random.choice(free)
        kind = kinds[episode % len(kinds)]
        length = random.choice([40, 60, MAX_AGE + 30, MAX_AGE + 60])
        length = min(length, max(30, end - time.time() - 40))
        busy[platform] = True
        w = threading.Thread(target=run_episode, args=(episode, kind, platform, length), daemon=True)
        w.start()
        workers.append(w)
        episode += 1
        next_episode = time.time() + 45
    time.sleep(0.5)
while any(w.is_alive() for w in workers) and time.time() < end + 4 * INTERVAL + 120:
    housekeeping()
    time.sleep(0.5)

stop.set()
took = stop_daemon()
restarts.append({"exit_s": took, "served_at_once": None})

# ---- what the simulators counted ----

stats = {p: sim_request(p, "/sim/stats") for p in TARGETS}
scp = stats["sangfor_scp"]
if scp.get("bans", 0) != 0:
    problem(f"SCP banned the exporter {scp['bans']} times")
if scp.get("get_max_in_window", 0) > scp.get("get_limit", 600):
    problem(f"SCP saw {scp['get_max_in_window']} GETs in a minute, over its limit of {scp.get('get_limit')}")
esm = stats["huawei_esm"]
if esm.get("capacity_max_in_window", 0) > esm.get("capacity_limit_per_minute", 60):
    problem(f"ESM saw {esm['capacity_max_in_window']} capacity calls in a minute, over its limit")
for s in sims.values():
    s["proc"].terminate()

# ---- figures ----

n = len(samples)
quarter = max(1, n // 4)
rss_first = max((s[1] for s in samples[:quarter]), default=0)
rss_last = max((s[1] for s in samples[-quarter:]), default=0)
rss_max = max((s[1] for s in samples), default=0)
fds_max = max((s[2] for s in samples), default=0)
# A flood's bodies (9 MB each, one per collector reading at once) raise the peak, and the
# allocator keeps what was freed, so growth between quarters is not a leak by itself: the bound
# is a ceiling.
if rss_max > RSS_CEILING:
    problem(f"RSS peaked at {rss_max / 2**20:.0f} MiB, above {RSS_CEILING / 2**20:.0f} MiB")
if fds_max > CONNECTION_BOUND + 64:
    problem(f"{fds_max} file descriptors open")
if scrapes["failed_while_up"]:
    problem(f"{scrapes['failed_while_up']} scrapes failed while the daemon ran")
lat = sorted(scrapes["latencies"])
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0  # noqa: E731
served = [r["served_at_once"] for r in restarts if r["served_at_once"] is not None]
if served and min(served) == 0:
    problem("a restart served no target's data at once (the state directory)")
print()
print(f"soak: {MINUTES:g} min, {daemon['starts'] - 1} restarts, {reloads} SIGHUPs, "
      f"{len(episodes)} fault episodes, {SCRAPERS} scrapers")
print(f"  scrapes: {scrapes['ok']} answered, {scrapes['failed_while_up']} failed while up, "
      f"{scrapes['refused_while_down']} refused during restarts; latency p50 {p(0.5):.1f} ms, "
      f"p99 {p(0.99):.1f} ms, max {p(1.0):.1f} ms")
print(f"  RSS: peak {rss_max / 2**20:.1f} MiB (first quarter {rss_first / 2**20:.1f}, "
      f"last quarter {rss_last / 2**20:.1f}); fds: peak {fds_max}")
exits = ", ".join(f"{r['exit_s']:.2f} s" for r in restarts if r["exit_s"] is not None)
print(f"  exits after SIGTERM: {exits}")
print(f"  served at once after a restart: {served} of {len(TARGETS)} targets")
for ep in episodes:
    print(f"  episode {ep['kind']:9} on {ep['platform']:12} {ep['length']:4.0f} s: reason "
          f"`{ep['reason']}` +{ep['errors_counted']:.0f}, kept at 20 s: {ep['kept_at_20s']}, "
          f"dropped after max_age: {ep.get('dropped_after_max_age', '-')}, "
          f"recovered in {ep['recovered_s']:.0f} s")
print(f"  SCP: bans {scp.get('bans')}, busiest minute {scp.get('get_max_in_window')} GETs "
      f"(limit {scp.get('get_limit')}); ESM: busiest minute {esm.get('capacity_max_in_window')} "
      f"capacity calls (limit {esm.get('capacity_limit_per_minute')})")
if problems:
    print(f"\nsoak FAILED: {len(problems)} problem(s):")
    for text in problems:
        print(f"  - {text}")
    sys.exit(1)
print("\nsoak passed")
