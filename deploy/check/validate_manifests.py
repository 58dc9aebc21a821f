"""Validate rendered Kubernetes manifests against the API schemas, offline.

Usage: validate_manifests.py K8S_VERSION FILE...

Built-in kinds are checked strictly (unknown fields are errors) with the JSON schemas that ship
inside the `kubernetes-validate` wheel, so no network is needed. Custom resources have no schema
there: the kinds listed in CRD_KINDS are skipped on purpose and counted as skipped; any other kind
without a schema fails the run, so a typo in `kind:` cannot pass as "unknown CRD".
Then the references between resources are checked, as the API server would not: every Secret,
ConfigMap and ServiceAccount a pod template names must be rendered too (a Secret may also be the
target of an ExternalSecret), and every NetworkPolicy must select at least one pod template, so
a mistyped label cannot leave a policy that protects nothing.
Prints one line per file and exits 1 on any error.
"""

import sys
from collections import Counter

import kubernetes_validate
import yaml

# Operator CRDs the manifests use: Prometheus Operator and External Secrets Operator.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("external-secrets.io/v1", "ExternalSecret"),
    ("external-secrets.io/v1", "SecretStore"),
}


class KubeLoader(yaml.SafeLoader):
    """PyYAML, but with integers the way the API server reads them.

    PyYAML makes an arbitrarily large int of any digit string; Go's YAML (and so kubectl and the
    API server) keeps a plain scalar that does not fit 64 bits as a string, and kustomize leaves
    such scalars unquoted. A 20-byte Ethereum address like 0x2222...2222 is one of them.
    """


def _int_or_string(loader: yaml.SafeLoader, node: yaml.ScalarNode):
    value = yaml.SafeLoader.construct_yaml_int(loader, node)
    return value if -(2**63) <= value < 2**64 else node.value


KubeLoader.add_constructor("tag:yaml.org,2002:int", _int_or_string)


POD_OWNERS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


def pod_refs(spec: dict):
    """(kind, name) of every Secret, ConfigMap and ServiceAccount a pod spec refers to."""
    yield "ServiceAccount", spec.get("serviceAccountName", "default")
    for vol in spec.get("volumes", []):
        if "secret" in vol:
            yield "Secret", vol["secret"]["secretName"]
        if "configMap" in vol:
            yield "ConfigMap", vol["configMap"]["name"]
        for src in vol.get("projected", {}).get("sources", []):
            if "secret" in src:
                yield "Secret", src["secret"]["name"]
            if "configMap" in src:
                yield "ConfigMap", src["configMap"]["name"]
    for c in spec.get("containers", []) + spec.get("initContainers", []):
        for env in c.get("env", []):
            ref = env.get("valueFrom", {})
            if "secretKeyRef" in ref:
                yield "Secret", ref["secretKeyRef"]["name"]
            if "configMapKeyRef" in ref:
                yield "ConfigMap", ref["configMapKeyRef"]["name"]
        for src in c.get("envFrom", []):
            if "secretRef" in src:
                yield "Secret", src["secretRef"]["name"]
            if "configMapRef" in src:
                yield "ConfigMap", src["configMapRef"]["name"]


def selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        op = expr["operator"]
        if (op == "In" and value not in expr["values"]) or (op == "NotIn" and value in expr["values"]):
            return False
        if (op == "Exists" and not present) or (op == "DoesNotExist" and present):
            return False
    return True


def reference_errors(docs: list) -> list:
    have = {(d["kind"], d["metadata"]["name"]) for d in docs}
    have |= {("Secret", d["spec"]["target"]["name"]) for d in docs if d["kind"] == "ExternalSecret"}
    errors, pods = [], []
    for d in docs:
        if d["kind"] in POD_OWNERS:
            template = d["spec"]["template"]
            pods.append(template["metadata"].get("labels", {}))
            for ref in sorted(set(pod_refs(template["spec"]))):
                if ref not in have and ref != ("ServiceAccount", "default"):
                    errors.append(f"{d['kind']}/{d['metadata']['name']}: refers to {ref[0]}/{ref[1]}, which is not rendered")
    for d in docs:
        if d["kind"] == "NetworkPolicy" and not any(selects(d["spec"]["podSelector"], p) for p in pods):
            errors.append(f"NetworkPolicy/{d['metadata']['name']}: its podSelector matches no pod template")
    return errors


def main() -> int:
    version, files = sys.argv[1], sys.argv[2:]
    failed = 0
    for path in files:
        with open(path) as f:
            docs = [d for d in yaml.load_all(f, Loader=KubeLoader) if d]
        kinds: Counter = Counter()
        skipped: Counter = Counter()
        errors = []
        for doc in docs:
            key = (doc.get("apiVersion"), doc.get("kind"))
            name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
            if key in CRD_KINDS:
                skipped[doc["kind"]] += 1
                continue
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                kinds[doc["kind"]] += 1
            except kubernetes_validate.SchemaNotFoundError:
                errors.append(f"{name}: no schema for {key[0]} {key[1]} and not a known CRD")
            except kubernetes_validate.ValidationError as e:
                where = ".".join(str(p) for p in e.path)
                errors.append(f"{name}: {where}: {e.message}")
        if not docs:
            errors.append("no resources rendered")
        errors += reference_errors(docs)
        failed += len(errors)
        status = "ok" if not errors else "FAILED"
        crds = ", ".join(f"{n} {k}" for k, n in sorted(skipped.items())) or "none"
        print(
            f"{path}: {status}: {len(docs)} resources, {sum(kinds.values())} validated "
            f"(k8s {version}, strict), {sum(skipped.values())} CRs skipped ({crds})"
        )
        for err in errors:
            print(f"  ERROR {err}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
