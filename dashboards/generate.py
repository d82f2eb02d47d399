#!/usr/bin/env python3
"""Generates headroom's Grafana dashboards (dashboards/*.json) from one description.

The JSON files are committed, so Grafana users need nothing but them; this script is their
source. `python3 dashboards/generate.py` rewrites them; `--check` exits 1 when a committed file
differs from what the script generates (scripts/test.sh runs it). Every panel query must return
data from a Prometheus that scraped the demo (tests/prometheus_e2e.rs checks this), and every
metric name must be in METRICS.md or recorded by rules/ (tests/dashboards.rs).
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
SCHEMA_VERSION = 42  # Grafana 13 (older Grafana loads it as well)

# Label filters built from the template variables. An absent label matches `.*`, so "All" keeps
# the series of platforms that do not report a region, AZ or pool.
PT = 'job=~"$job",platform=~"$platform",target=~"$target"'
SCOPE = PT + ',region=~"$region",az=~"$az",pool=~"$pool"'
# Quotas carry an AZ on some platforms and a region on none, so their dashboard has no region.
QUOTA = PT + ',az=~"$az",tenant=~"$tenant"'
# The exporter's own series are per replica (each sends its own requests): filtered by instance.
SELF = PT + ',instance=~"$instance"'

# The labels that place a pool-view series, outermost first (METRICS.md, "levels").
POOL_PLACES = ["region", "az", "pool", "cluster", "datastore", "eip_pool", "direction"]
SEP = " · "
# Families where the lower of two replicas' figures is the one that never overstates free capacity.
LOWEST = {"capacity", "allocatable", "free", "limit"}


def once(expr, lowest=False):
    """One series per place, whoever scraped it.

    Two replicas of headroom polling the same targets (an HA pair: one job, two instances), or
    two jobs scraping one exporter, report the same figures under different `job`/`instance`
    labels; summed as they come, every total would double. The capacity panels keep one of them.
    Where replicas differ for a moment (each polls at its own time) they keep the one that does
    not overstate free capacity: the highest allocated, used or fill, the lowest capacity, free,
    limit or margin (`lowest=True`).
    """
    return f"{'min' if lowest else 'max'} without (job, instance) ({expr})"


def placed(expr, labels):
    """Adds `_<label>` = " / <value>" for each place label a series has, so a legend of
    `{{target}}{{_region}}{{_az}}{{_pool}}` reads "esm-1 / cn-north-1 / pool-a" with no
    doubled or dangling separator where a platform reports no region or pool."""
    for label in labels:
        expr = f'label_replace({expr}, "_{label}", " / $1", "{label}", "(.+)")'
    return expr


def at(labels, first="target"):
    """The legend of a place: the first label, then each place label after a separator."""
    return "{{" + first + "}}" + "".join("{{_" + label + "}}" for label in labels)


def tagged(expr, label, value):
    """Adds a constant label to every series of `expr` (so several queries can share a legend)."""
    return f'label_replace({expr}, "{label}", "{value}", "", "")'


def kinds(parts):
    """One query showing several families side by side, each tagged with `kind`."""
    return "\n  or\n".join(tagged(expr, "kind", kind) for kind, expr in parts)


def query(expr, legend="", instant=False, table=False):
    return {"expr": expr, "legend": legend, "instant": instant or table, "table": table}


def panel(kind, title, description, queries, unit, w=12, h=8, **extra):
    return {
        "kind": kind,
        "title": title,
        "description": description,
        "queries": queries,
        "unit": unit,
        "w": w,
        "h": h,
        **extra,
    }


def row(title):
    """A row header: the panels after it, up to the next row, sit under its title."""
    return {"kind": "row", "title": title}


def render_row(r, pid, y):
    return {
        "id": pid,
        "type": "row",
        "title": r["title"],
        "collapsed": False,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
        "panels": [],
    }


def render_panel(p, pid, x, y):
    targets = []
    for i, q in enumerate(p["queries"]):
        t = {
            "datasource": DS,
            "refId": chr(ord("A") + i),
            "expr": q["expr"],
            "legendFormat": q["legend"] or "__auto",
            "instant": q["instant"],
            "range": not q["instant"],
            "format": "table" if q["table"] else "time_series",
        }
        targets.append(t)
    defaults = {"unit": p["unit"]}
    if p["unit"] == "percentunit":
        defaults["min"] = 0
    thresholds = p.get("thresholds")
    defaults["thresholds"] = {
        "mode": "absolute",
        "steps": thresholds
        or [{"color": "green", "value": None}],
    }
    defaults["color"] = {"mode": "thresholds" if thresholds else "palette-classic"}
    if "mappings" in p:
        defaults["mappings"] = p["mappings"]
    if "decimals" in p:
        defaults["decimals"] = p["decimals"]
    out = {
        "id": pid,
        "type": p["kind"],
        "title": p["title"],
        "description": p["description"],
        "datasource": DS,
        "gridPos": {"h": p["h"], "w": p["w"], "x": x, "y": y},
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": panel_options(p),
    }
    if p["kind"] == "table":
        out["transformations"] = [
            {
                "id": "organize",
                "options": {
                    # The capacity queries keep one replica's series and drop job and instance
                    # (`once`); the exporter's tables are per replica and keep instance.
                    "excludeByName": {"Time": True, "job": True, "__name__": True},
                    "renameByName": {"Value": p.get("value_name", "Value")},
                },
            }
        ]
    return out


def panel_options(p):
    kind = p["kind"]
    if kind == "timeseries":
        return {
            "legend": {"displayMode": "table", "placement": "right", "showLegend": True, "calcs": ["lastNotNull", "max"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if kind == "bargauge":
        return {
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "left",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        }
    if kind == "stat":
        return {
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "textMode": "value_and_name",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        }
    if kind == "table":
        return {
            "showHeader": True,
            "cellHeight": "sm",
            "footer": {"show": False, "reducer": ["sum"], "fields": ""},
            "sortBy": [{"displayName": p.get("value_name", "Value"), "desc": p.get("sort_desc", True)}],
        }
    raise ValueError(kind)


def variable(name, label, query_text, include_all=True, multi=True):
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": query_text,
        "refresh": 2,
        "includeAll": include_all,
        "allValue": ".*",
        "multi": multi,
        "sort": 1,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


DATASOURCE_VAR = {
    "name": "datasource",
    "label": "Data source",
    "type": "datasource",
    "query": "prometheus",
    "options": [],
    "refresh": 1,
    "hide": 0,
    "includeAll": False,
    "multi": False,
}

RESOURCE_SERIES = '{__name__=~"headroom_resource_(capacity|allocatable|allocated|used|free)"'


def job_variable(series):
    """The Prometheus job(s) headroom is scraped as; the other variables list what they hold."""
    return variable("job", "Job", f"label_values({series}, job)")


def scope_variables():
    return [
        DATASOURCE_VAR,
        job_variable(RESOURCE_SERIES + "}"),
        variable("platform", "Platform", f'label_values({RESOURCE_SERIES},job=~"$job"}}, platform)'),
        variable("target", "Target", f'label_values({RESOURCE_SERIES},job=~"$job",platform=~"$platform"}}, target)'),
        variable("region", "Region", f"label_values({RESOURCE_SERIES},{PT}}}, region)"),
        variable("az", "AZ", f'label_values({RESOURCE_SERIES},{PT},region=~"$region"}}, az)'),
        variable("pool", "Pool", f'label_values({RESOURCE_SERIES},{PT},region=~"$region",az=~"$az"}}, pool)'),
    ]


def dashboard(uid, title, description, variables, panels):
    x = y = line_h = 0
    rendered = []
    for pid, p in enumerate(panels, start=1):
        if p["kind"] == "row":
            y, x, line_h = y + line_h, 0, 0
            rendered.append(render_row(p, pid, y))
            y += 1
            continue
        if x + p["w"] > 24:
            x, y, line_h = 0, y + line_h, 0
        rendered.append(render_panel(p, pid, x, y))
        x += p["w"]
        line_h = max(line_h, p["h"])
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["headroom"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-24h", "to": "now"},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "tags": ["headroom"],
                "asDropdown": True,
                "title": "headroom",
                "tooltip": "The other headroom dashboards",
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "targetBlank": False,
            }
        ],
        "templating": {"list": variables},
        "panels": rendered,
    }


PERCENT_STEPS = [
    {"color": "green", "value": None},
    {"color": "orange", "value": 0.8},
    {"color": "red", "value": 0.9},
]

# The resources of the overview (one name each in the vocabulary, one meaning and unit on every
# platform; METRICS.md lists them), with the unit of the panel.
RESOURCES = [
    ("vCPU", "vcpu", "short"),
    ("CPU threads", "cpu_threads", "short"),
    ("Memory", "memory", "bytes"),
    ("Storage", "storage", "bytes"),
    ("Local disk", "local_disk", "bytes"),
    ("GPU cards", "gpu", "short"),
    ("EIP", "eip", "short"),
]


def resource_panel(name, resource, unit):
    by = "sum by (platform, target, resource)"
    sel = f'resource="{resource}"'
    return panel(
        "timeseries",
        f"{name}: capacity, allocatable, allocated, used, free",
        f"{name} per target from the pool view, which counts each target's hardware once (one "
        "level per resource). Free is the platform's own figure, else allocatable - allocated, "
        "else capacity - allocated.",
        [
            query(
                kinds(
                    [
                        ("capacity", f"{by} ({once(f'headroom_resource_capacity{{{SCOPE},{sel}}}', True)})"),
                        ("allocatable", f"{by} ({once(f'headroom_resource_allocatable{{{SCOPE},{sel}}}', True)})"),
                        ("allocated", f"{by} ({once(f'headroom_resource_allocated{{{SCOPE},{sel}}}')})"),
                        ("used", f"{by} ({once(f'headroom_resource_used{{{SCOPE},{sel}}}')})"),
                        ("free", f"{by} ({once(f'pool:headroom_resource_free:effective{{{SCOPE},{sel}}}', True)})"),
                    ]
                ),
                "{{target}}" + SEP + "{{kind}}",
            )
        ],
        unit,
        w=12,
    )


def overview():
    panels = [
        row("Fullest and soonest full"),
        panel(
            "bargauge",
            "Fullest pools",
            "The 20 fullest pools, datastores, GPU models and EIP pools: allocated or used share "
            "(basis) of what may be allocated. Above 1 where the platform overcommits against "
            "physical capacity.",
            [query(f"topk(20, {placed(once(f'pool:headroom_resource_fill:ratio{{{SCOPE}}}'), POOL_PLACES + ['gpu_model'])})",
                   at(POOL_PLACES + ["gpu_model"]) + SEP + "{{resource}} {{basis}}",
                   instant=True)],
            "percentunit",
            w=12,
            h=12,
            thresholds=PERCENT_STEPS,
        ),
        panel(
            "table",
            "Days to exhaustion",
            "Days until the free amount reaches 0 at the trend of the last 7 days (nearest "
            "first; only shrinking pools; 365 means a year or more).",
            [query(f"bottomk(20, {once(f'pool:headroom_resource_exhaustion:days{{{SCOPE}}}', True)})", table=True)],
            "d",
            w=12,
            h=12,
            value_name="Days",
            sort_desc=False,
            thresholds=[
                {"color": "red", "value": None},
                {"color": "orange", "value": 7},
                {"color": "green", "value": 30},
            ],
        ),
    ]
    panels.append(row("How many more fit"))
    panels += [
        panel(
            "bargauge",
            "Free slots per instance size",
            "How many more instances of each flavor (catalog), configured size (config) or "
            "platform-counted flavor (platform) fit, counted host by host on the usable hosts. "
            "Sizes compete for the same hosts: do not add them up.",
            [query(f"sort_desc({placed(once(f'headroom_flavor_free_slots{{{SCOPE}}}', True), ['region', 'az', 'pool'])})",
                   at(["region", "az", "pool"]) + SEP + "{{flavor}} ({{origin}})", instant=True)],
            "short",
            w=12,
            h=12,
        ),
        panel(
            "bargauge",
            "Free slots after losing a host (N-1)",
            "What is left of the free slots when the place loses the host whose loss costs most "
            "and its instances are re-placed on the others. Below a configured size's "
            "alert_below, HeadroomFlavorSlotsLow fires.",
            [query(f"sort({placed(once(f'headroom_flavor_free_slots_n_minus_one{{{SCOPE}}}', True), ['region', 'az', 'pool'])})",
                   at(["region", "az", "pool"]) + SEP + "{{flavor}} ({{origin}})", instant=True)],
            "short",
            w=12,
            h=12,
        ),
    ]
    panels.append(row("Per resource"))
    panels += [resource_panel(*r) for r in RESOURCES]
    panels.append(row("Per target and pool"))
    panels.append(
        panel(
            "timeseries",
            "Allocation ratio by target",
            "Allocated over allocatable (or capacity) per target and resource, from the sums of "
            "each target (region, AZ and pool filters do not apply).",
            [query(once(f"target:headroom_resource_allocation:ratio{{{PT}}}"), "{{target}}" + SEP + "{{resource}}")],
            "percentunit",
            w=12,
        )
    )
    panels.append(
        panel(
            "timeseries",
            "Free memory by pool",
            "What is left to allocate, per pool.",
            [query(placed("sum by (target, region, az, pool) ("
                          + once(f'pool:headroom_resource_free:effective{{{SCOPE},resource="memory"}}', True) + ")",
                          ["region", "az", "pool"]),
                   at(["region", "az", "pool"]))],
            "bytes",
            w=12,
        )
    )
    return dashboard(
        "headroom-overview",
        "headroom / Capacity overview",
        "Capacity, allocation and headroom across every platform and target headroom polls.",
        scope_variables(),
        panels,
    )


HOST = "{{target}} / {{host}}" + SEP


def pools():
    host_mem = kinds(
        [
            ("capacity", once(f'headroom_host_resource_capacity{{{SCOPE},resource="memory"}}', True)),
            ("allocated", once(f'headroom_host_resource_allocated{{{SCOPE},resource="memory"}}')),
        ]
    )
    panels = [
        row("Pool"),
        panel(
            "timeseries",
            "Pool fill",
            "Allocated or used share (basis) of each resource of the selected pools.",
            [query(placed(once(f"pool:headroom_resource_fill:ratio{{{SCOPE}}}"), POOL_PLACES + ["gpu_model"]),
                   at(POOL_PLACES + ["gpu_model"]) + SEP + "{{resource}} {{basis}}")],
            "percentunit",
            w=24,
            thresholds=PERCENT_STEPS,
        ),
        panel(
            "table",
            "N-1 headroom",
            "What the pool's hosts may hold after losing the largest one, minus what is "
            "allocated, in the resource's unit (memory in bytes, GPUs in cards). Below 0, the "
            "pool cannot lose its largest host.",
            [query(once(f"pool:headroom_n_minus_one:margin{{{SCOPE}}}", True), table=True)],
            "short",
            w=12,
            value_name="Margin",
            sort_desc=False,
            thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 0}],
        ),
        panel(
            "stat",
            "N-1 status",
            "OK when the pool survives losing its largest host.",
            [query(placed(once(f"pool:headroom_n_minus_one:ok{{{SCOPE}}}", True), POOL_PLACES),
                   at(POOL_PLACES) + SEP + "{{resource}}", instant=True)],
            "none",
            w=12,
            mappings=[
                {"type": "value", "options": {"0": {"text": "LOST", "color": "red"}, "1": {"text": "OK", "color": "green"}}}
            ],
            thresholds=[{"color": "red", "value": None}, {"color": "green", "value": 1}],
        ),
        row("Hosts"),
        panel(
            "table",
            "Capacity on hosts that take no instances",
            "Capacity of hosts that are offline, in maintenance or disabled for scheduling "
            "(reason), left out of the pool's capacity, allocatable and free; what their "
            "instances hold stays allocated.",
            [query(once(f"headroom_resource_unusable{{{SCOPE}}}", True), table=True)],
            "short",
            w=24,
            h=6,
            value_name="Unusable",
        ),
        panel(
            "bargauge",
            "Host allocation",
            "Allocated share of each host's capacity (above 1 where the host overcommits).",
            [query(f"sort_desc({once(f'host:headroom_host_resource_allocation:ratio{{{SCOPE}}}')})",
                   HOST + "{{resource}}", instant=True)],
            "percentunit",
            w=12,
            h=12,
            thresholds=PERCENT_STEPS,
        ),
        panel(
            "timeseries",
            "Host usage",
            "Used share of each host's capacity, or the platform's own utilisation.",
            [query(once(f"host:headroom_host_resource_usage:ratio{{{SCOPE}}}"), HOST + "{{resource}}")],
            "percentunit",
            w=12,
            h=12,
        ),
        panel(
            "timeseries",
            "Host memory",
            "Memory capacity and allocation per host.",
            [query(host_mem, HOST + "{{kind}}")],
            "bytes",
            w=12,
        ),
        panel(
            "table",
            "Hosts",
            "Host inventory of the selected pools.",
            [query(once(f"headroom_host_info{{{SCOPE}}}"), table=True)],
            "none",
            w=12,
        ),
        panel(
            "timeseries",
            "Hosts by state",
            "Number of hosts or devices per state.",
            [query(f"sum by (target, state) ({once(f'headroom_hosts{{{SCOPE}}}')})", "{{target}}" + SEP + "{{state}}")],
            "short",
            w=12,
        ),
        row("Overcommit"),
        panel(
            "timeseries",
            "Overcommit ratios",
            "Configured overcommit (allocation) ratios at every level the platform reports: "
            "region, AZ, pool, flavor type and host.",
            [
                query(placed(once(f"headroom_resource_overcommit_ratio{{{SCOPE}}}", True), ["region", "az", "pool", "cluster", "flavor"]),
                      at(["region", "az", "pool", "cluster", "flavor"]) + SEP + "{{resource}} at {{level}} level"),
                query(once(f"headroom_host_resource_overcommit_ratio{{{SCOPE}}}", True), HOST + "{{resource}}"),
            ],
            "none",
            w=12,
        ),
    ]
    return dashboard(
        "headroom-pools",
        "headroom / Pool drill-down",
        "One pool or cluster: fill, hosts, overcommit and N-1 headroom.",
        scope_variables(),
        panels,
    )


def gpu():
    def by_model(resource):
        return kinds(
            [
                (fam, "sum by (target, gpu_model) ("
                 + once(f'headroom_resource_{fam}{{{SCOPE},resource="{resource}",gpu_model!=""}}', fam in LOWEST)
                 + ")")
                for fam in ("capacity", "allocated", "used")
            ]
        )

    def by_pool(resource, families):
        return placed(
            kinds(
                [
                    (fam, "sum by (target, region, az, pool) ("
                     + once(f'headroom_resource_{fam}{{{SCOPE},resource="{resource}"}}', fam in LOWEST)
                     + ")")
                    for fam in families
                ]
            ),
            ["region", "az", "pool"],
        )

    def by_host(resource, families):
        return kinds(
            [(fam, once(f'headroom_host_resource_{fam}{{{SCOPE},resource="{resource}"}}', fam in LOWEST) + " > 0")
             for fam in families]
        )

    panels = [
        row("By model"),
        panel(
            "timeseries",
            "GPU cards by model",
            "Cards that exist, are allocated to instances, and are in use, per model.",
            [query(by_model("gpu"), "{{target}}" + SEP + "{{gpu_model}}" + SEP + "{{kind}}")],
            "short",
            w=12,
        ),
        panel(
            "timeseries",
            "GPU memory by model",
            "GPU memory that exists and is in use, per model.",
            [query(by_model("gpu_memory"), "{{target}}" + SEP + "{{gpu_model}}" + SEP + "{{kind}}")],
            "bytes",
            w=12,
        ),
        row("By pool"),
        panel(
            "bargauge",
            "GPU fill by pool",
            "Allocated or used share of GPU cards, vGPUs and GPU memory per pool and model.",
            [query("sort_desc("
                   + placed(once(f'pool:headroom_resource_fill:ratio{{{SCOPE},resource=~"gpu|vgpu|gpu_memory"}}'),
                            POOL_PLACES + ["gpu_model"])
                   + ")",
                   at(POOL_PLACES + ["gpu_model"]) + SEP + "{{resource}} {{basis}}", instant=True)],
            "percentunit",
            w=8,
            thresholds=PERCENT_STEPS,
        ),
        panel(
            "timeseries",
            "GPU cards by pool",
            "Cards per pool, whatever their model.",
            [query(by_pool("gpu", ("capacity", "allocated", "used")), at(["region", "az", "pool"]) + SEP + "{{kind}}")],
            "short",
            w=8,
        ),
        panel(
            "timeseries",
            "GPU memory by pool",
            "GPU memory per pool, whatever the model.",
            [query(by_pool("gpu_memory", ("capacity", "used")), at(["region", "az", "pool"]) + SEP + "{{kind}}")],
            "bytes",
            w=8,
        ),
        row("By host"),
        panel(
            "table",
            "GPU memory by host",
            "GPU memory per host: capacity and in use.",
            [query(by_host("gpu_memory", ("capacity", "used")), table=True)],
            "bytes",
            w=12,
            value_name="GPU memory",
        ),
        panel(
            "table",
            "GPU cards by host",
            "GPU cards per host: capacity, allocated and in use.",
            [query(by_host("gpu", ("capacity", "allocated", "used")), table=True)],
            "short",
            w=12,
            value_name="Cards",
        ),
    ]
    return dashboard(
        "headroom-gpu",
        "headroom / GPU",
        "GPU cards and GPU memory by model, pool and host.",
        scope_variables(),
        panels,
    )


TENANT = "{{target}}{{_az}}" + SEP + "{{tenant}}" + SEP


def quotas():
    variables = [
        DATASOURCE_VAR,
        job_variable("headroom_quota_used"),
        variable("platform", "Platform", 'label_values(headroom_quota_used{job=~"$job"}, platform)'),
        variable("target", "Target", 'label_values(headroom_quota_used{job=~"$job",platform=~"$platform"}, target)'),
        variable("az", "AZ", f"label_values(headroom_quota_used{{{PT}}}, az)"),
        variable("tenant", "Tenant", f'label_values(headroom_quota_used{{{PT},az=~"$az"}}, tenant)'),
    ]

    def used_and_limit(unit_sel):
        return kinds(
            [
                (fam, "sum by (target, tenant, resource) ("
                 + once(f"headroom_quota_{fam}{{{QUOTA},{unit_sel}}}", fam in LOWEST) + ")")
                for fam in ("used", "limit")
            ]
        )

    panels = [
        row("Nearest to their limit"),
        panel(
            "bargauge",
            "Nearest to their limit",
            "Quota used over limit per tenant and resource, fullest first (unlimited quotas have "
            "no limit and are not shown).",
            [query(f"topk(30, {placed(once(f'tenant:headroom_quota_usage:ratio{{{QUOTA}}}'), ['az'])})",
                   TENANT + "{{resource}}", instant=True)],
            "percentunit",
            w=12,
            h=14,
            thresholds=[
                {"color": "green", "value": None},
                {"color": "orange", "value": 0.8},
                {"color": "red", "value": 0.9},
            ],
        ),
        panel(
            "timeseries",
            "Quota use over time (10 fullest)",
            "How the fullest quotas evolved.",
            [query(f"topk(10, {placed(once(f'tenant:headroom_quota_usage:ratio{{{QUOTA}}}'), ['az'])})",
                   TENANT + "{{resource}}")],
            "percentunit",
            w=12,
            h=14,
        ),
        row("Used and limit"),
        panel(
            "timeseries",
            "vCPU quota: used and limit",
            "Per tenant.",
            [query(used_and_limit('resource="vcpu"'), "{{target}}" + SEP + "{{tenant}}" + SEP + "{{kind}}")],
            "short",
            w=12,
        ),
        panel(
            "timeseries",
            "Memory and storage quota: used and limit",
            "Per tenant.",
            [query(used_and_limit('unit="bytes"'), "{{target}}" + SEP + "{{tenant}}" + SEP + "{{resource}} {{kind}}")],
            "bytes",
            w=12,
        ),
        panel(
            "table",
            "Counted quotas: used and limit",
            "Instances, volumes, EIPs and every other counted quota, per tenant.",
            [query(used_and_limit('unit="count"'), table=True)],
            "short",
            w=12,
        ),
        panel(
            "table",
            "Allocated to tenants (from their instances)",
            "What each tenant's instances hold, summed from the instance list, beside the quota "
            "bookkeeping.",
            [query("sum by (target, tenant, resource, unit) ("
                   + once(f"headroom_tenant_resource_allocated{{{QUOTA}}}") + ")", table=True)],
            "short",
            w=12,
        ),
    ]
    return dashboard(
        "headroom-quotas",
        "headroom / Quotas",
        "Tenant quotas nearest to their limit, and what tenants hold.",
        variables,
        panels,
    )


# A service's utilisation is per place, and per flavor or storage type where it says.
SERVICE_PLACES = ["region", "az", "pool", "flavor", "storage_type"]
SERVICE = "{{target}}" + SEP + "{{service}}" + SEP + "{{resource}}"


def services():
    """The service view: what each cloud service, quota view or second API reports about the
    hardware the pool view counts. Never summed with the pool view."""
    variables = [
        DATASOURCE_VAR,
        job_variable("headroom_service_allocated"),
        variable("platform", "Platform", 'label_values(headroom_service_allocated{job=~"$job"}, platform)'),
        variable("target", "Target", 'label_values(headroom_service_allocated{job=~"$job",platform=~"$platform"}, target)'),
        variable("service", "Service", f"label_values(headroom_service_allocated{{{PT}}}, service)"),
    ]
    svc = PT + ',service=~"$service"'

    def svc_sum(fam):
        return "sum by (target, service, resource, unit) (" + once(f"headroom_service_{fam}{{{svc}}}", fam in LOWEST) + ")"

    panels = [
        row("Services"),
        panel(
            "table",
            "Services: capacity, allocated, used, free",
            "What each cloud service reports (ESM's ten services, the SCP quota view, pool summary "
            "and ECS/EVS sums, the CloudOS bare-metal service, the CECSTACK ECS drill-down), per "
            "target, service and resource. These describe hardware the pool view already counts: "
            "the Capacity overview is the total, this is how each service sees its share.",
            [query(kinds([(fam, svc_sum(fam)) for fam in ("capacity", "allocated", "used", "free")]), table=True)],
            "short",
            w=24,
            h=10,
        ),
        panel(
            "bargauge",
            "Service allocation",
            "Allocated over capacity, per service and resource, where the service states its "
            "capacity.",
            [query(f"sort_desc({svc_sum('allocated')} / ({svc_sum('capacity')} > 0))", SERVICE, instant=True)],
            "percentunit",
            w=12,
            h=10,
            thresholds=PERCENT_STEPS,
        ),
        panel(
            "timeseries",
            "Service allocation over time",
            "Allocated per service and resource, over time (the trend each service's own "
            "bookkeeping shows).",
            [query(svc_sum("allocated"), SERVICE)],
            "short",
            w=12,
            h=10,
        ),
        row("Quota views and utilisation"),
        panel(
            "table",
            "Quota views: allocated, used, limit and the total as reported",
            "A platform's quota view of its pools (Sangfor SCP `virtual_resources`): what its "
            "quotas handed out and what is occupied, the limit, and the `total` the platform "
            "reports, whose meaning as capacity its document does not define (its own example shows "
            "30 vCPU beside 274 allocated). Shown as reported; never a denominator.",
            [query(kinds([
                (kind, "sum by (target, az, resource, storage_type) ("
                 + once(f'headroom_service_{fam}{{{PT},service="quota_view"}}', fam in LOWEST) + ")")
                for kind, fam in (("allocated", "allocated"), ("used", "used"), ("limit", "limit"),
                                  ("total as reported", "total_reported"))
            ]), table=True)],
            "short",
            w=24,
            h=10,
        ),
        panel(
            "timeseries",
            "Service utilisation",
            "Utilisation a service or monitoring API reports (ESM services' used ratio, SCP pool "
            "monitoring).",
            [query(placed(once(f"headroom_service_utilization_ratio{{{svc}}}"), SERVICE_PLACES),
                   at(SERVICE_PLACES) + SEP + "{{service}}" + SEP + "{{resource}}")],
            "percentunit",
            w=24,
        ),
    ]
    return dashboard(
        "headroom-services",
        "headroom / Cloud services",
        "Each cloud service's own view of capacity (service view): ESM services, quota views, "
        "bare metal. The Capacity overview counts the hardware; this shows how services see it.",
        variables,
        panels,
    )


def replica(legend):
    """An exporter-health legend: per replica of headroom, each of which sends its own requests."""
    return legend + " ({{instance}})"


COLLECTOR = replica("{{target}}" + SEP + "{{collector}}")


def exporter():
    variables = [
        DATASOURCE_VAR,
        job_variable("headroom_collector_up"),
        variable("instance", "Instance", 'label_values(headroom_collector_up{job=~"$job"}, instance)'),
        variable("platform", "Platform", 'label_values(headroom_collector_up{job=~"$job",instance=~"$instance"}, platform)'),
        variable("target", "Target", 'label_values(headroom_collector_up{job=~"$job",instance=~"$instance",platform=~"$platform"}, target)'),
    ]
    errors = (
        f"sum by (instance, target, collector, reason) (increase(headroom_collector_errors_total{{{SELF}}}[$__rate_interval]))"
        "\n  or\n"
        + tagged(
            f"sum by (instance, target, collector) (increase(headroom_collector_skipped_total{{{SELF}}}[$__rate_interval]))",
            "reason",
            "skipped",
        )
    )
    panels = [
        row("Collectors"),
        panel(
            "stat",
            "Collectors up",
            "Share of collectors whose last poll succeeded.",
            [query(f"sum(headroom_collector_up{{{SELF}}}) / count(headroom_collector_up{{{SELF}}})", "up", instant=True)],
            "percentunit",
            w=6,
            h=6,
            thresholds=[
                {"color": "red", "value": None},
                {"color": "orange", "value": 0.9},
                {"color": "green", "value": 1},
            ],
        ),
        panel(
            "stat",
            "Series served",
            "Series the collectors serve now.",
            [query(f"sum(headroom_collector_series{{{SELF}}})", "series", instant=True)],
            "short",
            w=6,
            h=6,
        ),
        panel(
            "table",
            "Collector status",
            "Every collector, failing ones first (the status page shows why they fail).",
            [query(f"headroom_collector_up{{{SELF}}}", table=True)],
            "none",
            w=12,
            h=6,
            value_name="Up",
            sort_desc=False,
            mappings=[
                {"type": "value", "options": {"0": {"text": "down", "color": "red"}, "1": {"text": "up", "color": "green"}}}
            ],
        ),
        panel(
            "timeseries",
            "Data age",
            "Seconds since each collector's last successful poll; above 3 intervals its data is "
            "dropped.",
            [query(f"time() - headroom_collector_last_success_timestamp_seconds{{{SELF}}}", COLLECTOR)],
            "s",
            w=12,
        ),
        panel(
            "timeseries",
            "Poll time as share of the interval",
            "Wall time of the last poll over the collector's interval, budget waits included; "
            "above 100 % the budget cannot serve the interval.",
            [query(f"headroom_collector_duration_seconds{{{SELF}}} / headroom_collector_interval_seconds{{{SELF}}}",
                   COLLECTOR)],
            "percentunit",
            w=12,
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
        ),
        row("Platform APIs"),
        panel(
            "timeseries",
            "API requests against budget",
            "Requests per second sent to each target, beside the rate budget of its limit scopes.",
            [
                query(f"sum by (instance, target) (rate(headroom_api_requests_total{{{SELF}}}[$__rate_interval]))",
                      replica("{{target}}" + SEP + "sent")),
                query(f"headroom_api_budget_requests_per_second{{{SELF}}}",
                      replica("{{target}}" + SEP + "budget of {{scope}}")),
            ],
            "reqps",
            w=12,
        ),
        panel(
            "timeseries",
            "Throttles and retries",
            "HTTP 429 answers per limit scope (each pauses the scope) and requests sent again.",
            [query(placed(kinds([
                ("throttled", f"sum by (instance, target, scope) (increase(headroom_api_throttled_total{{{SELF}}}[$__rate_interval]))"),
                ("retried", f"sum by (instance, target) (increase(headroom_api_retries_total{{{SELF}}}[$__rate_interval]))"),
            ]), ["scope"]), replica("{{target}}{{_scope}}" + SEP + "{{kind}}"))],
            "short",
            w=12,
        ),
        panel(
            "timeseries",
            "Failed and skipped polls by reason",
            "Failed polls by reason (timeout, auth, throttled, http, parse, budget) and polls "
            "skipped because the previous one was still running.",
            [query(errors, replica("{{target}}" + SEP + "{{collector}}" + SEP + "{{reason}}"))],
            "short",
            w=12,
        ),
        panel(
            "timeseries",
            "API latency (p95)",
            "95th percentile of request duration per target and API.",
            [query(f"histogram_quantile(0.95, sum by (instance, target, api, le) (rate(headroom_api_request_duration_seconds_bucket{{{SELF}}}[$__rate_interval])))",
                   replica("{{target}}" + SEP + "{{api}}"))],
            "s",
            w=12,
        ),
        panel(
            "timeseries",
            "Time waiting for the budget",
            "Share of time requests of each limit scope spent waiting for the rate budget.",
            [query(f"sum by (instance, target, scope) (rate(headroom_api_budget_wait_seconds_total{{{SELF}}}[$__rate_interval]))",
                   replica("{{target}}" + SEP + "{{scope}}"))],
            "percentunit",
            w=12,
        ),
        panel(
            "timeseries",
            "Token requests",
            "Authentication token requests by result.",
            [query(f"sum by (instance, target, result) (increase(headroom_auth_token_refreshes_total{{{SELF}}}[$__rate_interval]))",
                   replica("{{target}}" + SEP + "{{result}}"))],
            "short",
            w=12,
        ),
    ]
    return dashboard(
        "headroom-exporter",
        "headroom / Exporter health",
        "Is headroom collecting: collectors, data age, poll time, API budget, throttles and errors.",
        variables,
        panels,
    )


DASHBOARDS = {
    "headroom-overview.json": overview,
    "headroom-pools.json": pools,
    "headroom-gpu.json": gpu,
    "headroom-quotas.json": quotas,
    "headroom-services.json": services,
    "headroom-exporter.json": exporter,
}


def main():
    check = "--check" in sys.argv[1:]
    stale = []
    for name, build in DASHBOARDS.items():
        text = json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
        path = HERE / name
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python3 dashboards/generate.py and commit): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
