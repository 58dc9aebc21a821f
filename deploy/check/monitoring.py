"""Monitoring checks for scripts/check-deploy.

  monitoring.py rules RENDERED.yaml OUT.yml
      Write the `spec` of the PrometheusRule in a rendered overlay as a plain Prometheus rules
      file, for `promtool check rules` and `promtool test rules`.
  monitoring.py contract OPERATIONS.md FILE...
      Every `crosslock_*` metric named in the given alert rules and dashboards must be listed in
      the metrics contract table of docs/operations.md, so the daemons' authors know what to expose;
      and every alert's `runbook` anchor must be a heading there.
"""

import json
import re
import sys

import yaml

METRIC = re.compile(r"\bcrosslock_[a-z0-9_]+")
# Histogram series derive from the documented base name.
SUFFIXES = ("_bucket", "_sum", "_count")


def rules(rendered: str, out: str) -> int:
    with open(rendered) as f:
        found = [d for d in yaml.safe_load_all(f) if d and d.get("kind") == "PrometheusRule"]
    if len(found) != 1:
        print(f"{rendered}: expected one PrometheusRule, found {len(found)}")
        return 1
    spec = found[0]["spec"]
    with open(out, "w") as f:
        yaml.safe_dump(spec, f, sort_keys=False)
    alerts = sum(1 for g in spec["groups"] for r in g["rules"] if "alert" in r)
    print(f"{rendered}: {len(spec['groups'])} groups, {alerts} alerts -> {out}")
    return 0


def anchor(heading: str) -> str:
    """The anchor a Markdown renderer gives a heading: lower case, punctuation dropped, dashes."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def contract(doc: str, files: list) -> int:
    with open(doc) as f:
        text = f.read()
    documented = set(re.findall(r"^\| `(crosslock_[a-z0-9_]+)", text, re.M))
    anchors = {anchor(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}
    broken = []
    used = {}
    for path in files:
        with open(path) as f:
            text = f.read()
        if path.endswith(".json"):
            json.loads(text)  # a dashboard must at least be valid JSON
        for target in re.findall(r"runbook: \S*#([a-z0-9_-]+)", text):
            if target not in anchors:
                broken.append(target)
        for name in METRIC.findall(text):
            for suffix in SUFFIXES:
                if name.endswith(suffix) and name[: -len(suffix)] in documented:
                    name = name[: -len(suffix)]
            used.setdefault(name, set()).add(path)
    missing = sorted(set(used) - documented)
    for name in missing:
        print(f"  ERROR {name} is used in {', '.join(sorted(used[name]))} but not in {doc}")
    for target in broken:
        print(f"  ERROR runbook anchor #{target} is not a heading in {doc}")
    unused = sorted(documented - set(used))
    print(
        f"metrics contract: {len(documented)} metrics documented, {len(used)} used by alerts and "
        f"dashboards, {len(missing)} undocumented, {len(unused)} documented but unused"
        + (f" ({', '.join(unused)})" if unused else "")
        + f"; {len(broken)} broken runbook links"
    )
    return 1 if missing or broken else 0


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    sys.exit(rules(*args) if command == "rules" else contract(args[0], args[1:]))
