#!/usr/bin/env bash
# Whole-process benchmarks: a full poll of a large simulated site against the time its rate
# budget allows, the peak memory of that poll, and (ESM) the daemon's idle CPU. Loopback only.
# Usage: ./scripts/bench.sh [HOSTS] [PLATFORM]   (defaults: 10000 huawei_esm; or sangfor_scp,
#        h3c_cloudos or cecstack, whose fleets have 10 VMs per host)
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS="${1:-10000}"
PLATFORM="${2:-huawei_esm}"
cargo build --release --quiet
exec python3 - "$HOSTS" "$PLATFORM" <<'PY'
import json, os, re, resource, ssl, subprocess, sys, tempfile, time, urllib.request

hosts = int(sys.argv[1])
platform = sys.argv[2]
bin = "./target/release/headroom"


def timed_once(cfg_text):
    """Runs `headroom once` on a config; returns (exit code, wall seconds, peak RSS bytes, stdout)."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(cfg_text)
        path = f.name
    t = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([bin, "once", "--config", path], stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the build's
        wall = time.monotonic() - t
        out.seek(0)
        stdout = out.read().decode()
    os.unlink(path)
    return os.waitstatus_to_exitcode(status), wall, usage.ru_maxrss * 1024, stdout


# Configured instance sizes: their free and N-1 slots are counted too (SCP reads its hosts once
# more in the vms collector for them), so the poll measured is the one with every count on.
SIZES = """instance_sizes:
  - {name: web.large, vcpus: 4, memory_gib: 8, disk_gib: 50, alert_below: 5}
  - {name: mem.heavy, vcpus: 2, memory_gib: 96}
  - {name: gpu.t4, vcpus: 8, memory_gib: 32, gpus: 1, gpu_model: Tesla T4}
"""

if platform == "cecstack":
    instances = hosts * 10
    budget = 1200  # requests/min: the simulator has no limit; the floor scales with it
    sim = subprocess.Popen([bin, "simulate", "--platform", "cecstack", "--listen", "127.0.0.1:0", "--hosts", str(hosts),
                            "--vms", str(instances), "--pools", "10"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    addr = re.search(r"http://(\S+)", sim.stdout.readline()).group(1)
    names = ["capacity", "vm_counts", "overcommit", "hosts", "instances"]
    collectors = "".join(f"      {n}: {{interval: 1h}}\n" for n in names)
    cfg = f"""
server: {{listen: "127.0.0.1:0"}}
targets:
  - name: bench
    platform: cecstack
    endpoint: http://{addr}
    region_id: region0
    auth: {{headers: {{Authorization: "Bearer demo-cec-token"}}}}
    cecstack: {{page_size: 100}}
    budgets: {{api: {budget}}}
    collectors:
{collectors}"""
    try:
        code, wall, peak, stdout = timed_once(cfg)
        stats = json.load(urllib.request.urlopen(f"http://{addr}/sim/stats"))
        requests = sum(stats["calls"].values())
        floor = (requests - 1) * 60 / budget
        series = sum(1 for l in stdout.splitlines() if l and not l.startswith("#"))
        print(f"hosts / instances        {hosts} / {instances}")
        print(f"poll exit code           {code}")
        print(f"series                   {series}")
        print(f"requests                 {requests} (one budget of {budget}/min)")
        print(f"wall time of full poll   {wall:.1f} s")
        print(f"budget floor             {floor:.1f} s")
        print(f"over the floor           {100 * (wall - floor) / floor:+.1f} % (target within 5 %)")
        print(f"peak RSS of the poll     {peak / 1e6:.1f} MB")
    finally:
        sim.terminate()
    sys.exit(0)

if platform == "h3c_cloudos":
    servers = hosts * 10
    budget = 1200  # requests/min: the simulator has no limit; the floor scales with it
    sim = subprocess.Popen([bin, "simulate", "--platform", "h3c_cloudos", "--listen", "127.0.0.1:0", "--hosts", str(hosts),
                            "--vms", str(servers), "--pools", "10"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    addr = re.search(r"http://(\S+)", sim.stdout.readline()).group(1)
    names = ["hypervisors", "storage_pools", "virtualization_hosts", "bare_metal", "quotas", "servers", "flavor_slots", "gpus"]
    collectors = "".join(f"      {n}: {{interval: 1h}}\n" for n in names)
    cfg = f"""
server: {{listen: "127.0.0.1:0"}}
{SIZES}targets:
  - name: bench
    platform: h3c_cloudos
    endpoint: http://{addr}
    auth: {{username: admin, password: demo-password, project_id: 9052ae85792143ff955c35c52e8e41bd}}
    cloudos: {{page_size: 1000}}
    budgets: {{api: {budget}}}
    collectors:
{collectors}"""
    try:
        code, wall, peak, stdout = timed_once(cfg)
        stats = json.load(urllib.request.urlopen(f"http://{addr}/sim/stats"))
        requests = sum(stats["calls"].values()) + stats["tokens_issued"]
        floor = (requests - 1) * 60 / budget
        series = sum(1 for l in stdout.splitlines() if l and not l.startswith("#"))
        print(f"hosts / servers          {hosts} / {servers}")
        print(f"poll exit code           {code}")
        print(f"series                   {series}")
        print(f"requests                 {requests} (one budget of {budget}/min)")
        print(f"wall time of full poll   {wall:.1f} s")
        print(f"budget floor             {floor:.1f} s")
        print(f"over the floor           {100 * (wall - floor) / floor:+.1f} % (target within 5 %)")
        print(f"peak RSS of the poll     {peak / 1e6:.1f} MB")
    finally:
        sim.terminate()
    sys.exit(0)

if platform == "sangfor_scp":
    vms = hosts * 10
    ca = tempfile.NamedTemporaryFile(suffix=".pem", delete=False).name
    sim = subprocess.Popen([bin, "simulate", "--platform", "sangfor_scp", "--listen", "127.0.0.1:0", "--hosts", str(hosts),
                            "--vms", str(vms), "--pools", "10", "--tls-ca-out", ca],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    addr = re.search(r"https://(\S+)", sim.stdout.readline()).group(1)
    names = ["platform", "overview", "resource_pools", "hosts", "clusters", "storages", "vms", "quotas",
             "eip_pools", "object_storage", "gpus", "alarms", "licenses"]
    collectors = "".join(f"      {n}: {{interval: 1h}}\n" for n in names)
    cfg = f"""
server: {{listen: "127.0.0.1:0"}}
{SIZES}targets:
  - name: bench
    platform: sangfor_scp
    endpoint: https://{addr}
    auth: {{access_key: e96a96326f2841ba8bdf2242f6cb832e, secret_key: 68176b3ec9d64394bdfcbe124b3e6078}}
    tls: {{ca_file: {ca}}}
    # The OpenStack API's flavor catalogue is counted too (its GETs share the budget).
    scp: {{openstack: {{tenant: ops, username: ops-reader, password: demo-tenant-password}}}}
    collectors:
{collectors}"""
    try:
        code, wall, peak, stdout = timed_once(cfg)
        ctx = ssl._create_unverified_context()
        stats = json.load(urllib.request.urlopen(f"https://{addr}/sim/stats", context=ctx))
        gets = stats["gets"]
        floor = (gets - 1) * 60 / 480  # the default GET budget: 80 % of 600/min, first request free
        series = sum(1 for l in stdout.splitlines() if l and not l.startswith("#"))
        print(f"hosts / VMs              {hosts} / {vms}")
        print(f"poll exit code           {code}")
        print(f"series                   {series}")
        print(f"requests                 GET {gets}, bans {stats['bans']}, throttled {stats['throttled']}, most GETs in any 60 s {stats['get_max_in_window']} (limit 600)")
        print(f"wall time of full poll   {wall:.1f} s")
        print(f"budget floor             {floor:.1f} s (GET scope at 480/min)")
        print(f"over the floor           {100 * (wall - floor) / floor:+.1f} % (target within 5 %)")
        print(f"peak RSS of the poll     {peak / 1e6:.1f} MB")
    finally:
        sim.terminate()
        os.unlink(ca)
    sys.exit(0)

sim = subprocess.Popen([bin, "simulate", "--platform", "huawei_esm", "--listen", "127.0.0.1:0", "--hosts", str(hosts)],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
addr = re.search(r"http://(\S+)", sim.stdout.readline()).group(1)
metric_per_min = 120000  # 2000/s: half the documented 4000 TPS, so the poll is bound by the 60/min scope
cfg = f"""
server: {{listen: "127.0.0.1:0"}}
targets:
  - name: bench
    platform: huawei_esm
    endpoint: http://{addr}
    auth: {{token_url: "http://{addr}/v3/auth/tokens", username: capacity-reader, password: demo-password,
            domain: demo-domain, project: demo-project, apig_appcode: demo-appcode}}
    budgets: {{metric_api: {metric_per_min}}}
    collectors:
      physical_capacity: {{interval: 1h}}
      service_capacity: {{interval: 1h}}
      devices: {{interval: 1h}}
      cloud_service_alarms: {{interval: 1h}}
      hardware_alarms: {{interval: 1h}}
      host_metrics: {{interval: 1h}}
      tenant_resources: {{interval: 1h}}
"""
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
    f.write(cfg)
    path = f.name
try:
    returncode, wall, peak_rss, stdout = timed_once(cfg)
    stats = json.load(urllib.request.urlopen(f"http://{addr}/sim/stats"))
    calls = stats["calls"]
    capacity = stats["capacity_calls"]
    metric = sum(n for p, n in calls.items()) - capacity
    # The budget floor: capacity_api at 48/min (the first call is free), metric_api at its rate.
    # host_metrics lists the servers (capacity_api) before its per-host calls (metric_api), so
    # the floor is the capacity scope's time plus the per-host calls after its last page.
    floor_scope = max((capacity - 1) * 60 / 48, metric * 60 / metric_per_min)
    floor = (capacity - 1) * 60 / 48 + metric * 60 / metric_per_min
    series = sum(1 for l in stdout.splitlines() if l and not l.startswith("#"))
    print(f"hosts                    {hosts}")
    print(f"poll exit code           {returncode}")
    print(f"series                   {series}")
    print(f"requests                 capacity_api {capacity}, metric_api {metric}, throttled {stats['throttled']}")
    print(f"wall time of full poll   {wall:.1f} s")
    print(f"budget floor             {floor_scope:.1f} s (busiest scope alone), {floor:.1f} s (server list, then per-host calls)")
    print(f"over the floors          {100 * (wall - floor_scope) / floor_scope:+.1f} % / {100 * (wall - floor) / floor:+.1f} % (target within 5 %)")
    print(f"peak RSS of the poll     {peak_rss / 1e6:.1f} MB")

    # Idle CPU of the daemon once its first polls are done.
    daemon = subprocess.Popen([bin, "run", "--config", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = None
    for line in daemon.stderr:
        m = re.search(r"address=(\S+)", line)
        if m:
            base = "http://" + m.group(1)
            break
    while True:
        try:
            if urllib.request.urlopen(base + "/readyz").status == 200:
                break
        except Exception:
            pass
        time.sleep(1)
    def cpu():
        f = open(f"/proc/{daemon.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    t0, c0 = time.monotonic(), cpu()
    time.sleep(30)
    t1, c1 = time.monotonic(), cpu()
    t = time.monotonic()
    body = urllib.request.urlopen(base + "/metrics").read()
    scrape = time.monotonic() - t
    rss = int(open(f"/proc/{daemon.pid}/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    print(f"daemon idle CPU          {100 * (c1 - c0) / (t1 - t0):.2f} % of one core over {t1 - t0:.0f} s")
    print(f"daemon /metrics          {len(body) / 1e6:.1f} MB in {scrape * 1e3:.0f} ms")
    print(f"daemon RSS               {rss / 1e6:.1f} MB")
    daemon.terminate()
    daemon.wait(timeout=30)
finally:
    sim.terminate()
    os.unlink(path)
PY
