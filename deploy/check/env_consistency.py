"""The kustomize overlays and the Terraform environments must describe the same environment.

Usage: env_consistency.py REPO_ROOT

For each environment that has both infra/terraform/environments/<env>/main.tf and
kustomize/overlays/<env>/environment.yaml, the overlay's values are recomputed from Terraform's:
the environment name, the AWS account and region, the data and endpoint subnet ranges (the vpc
module's fixed offsets: the /22s at index 2 and 4 of the /16) and the KMS alias the resolver signs
with. A range typed into only one of the two would otherwise show up as a NetworkPolicy that
silently blocks the database.
Runs with python-hcl2, like tf_docs.py.
"""

import ipaddress
import re
import sys
from pathlib import Path

import hcl2
import yaml

from tf_docs import one


def cidrsubnet(cidr: str, newbits: int, num: int) -> str:
    net = ipaddress.ip_network(cidr)
    return str(list(net.subnets(prefixlen_diff=newbits))[num])


def terraform_values(main_tf: Path) -> dict:
    with main_tf.open() as f:
        parsed = hcl2.load(f)
    provider = next(one(p['"aws"'] if '"aws"' in p else p["aws"]) for p in parsed["provider"])
    module = next(
        one(body) for m in parsed["module"] for name, body in m.items() if one(name) == "crosslock"
    )
    module = {one(k): one(v) for k, v in module.items()}
    provider = {one(k): v for k, v in provider.items()}
    env, vpc = module["environment"], module["vpc_cidr"]
    return {
        "name": env,
        "account": one(provider["allowed_account_ids"]),
        "region": one(provider["region"]),
        "dataCidr": cidrsubnet(vpc, 6, 2),
        "endpointsCidr": cidrsubnet(vpc, 6, 4),
        "kmsAlias": f"alias/crosslock-{env}-resolver-eth",
    }


def overlay_values(overlay: Path) -> dict:
    with (overlay / "environment.yaml").open() as f:
        values = dict(yaml.safe_load(f)["data"])
    kustomization = (overlay / "kustomization.yaml").read_text()
    alias = re.search(r"RESOLVER_ETH_KMS_KEY_ID=(\S+)", kustomization)
    values["kmsAlias"] = alias.group(1) if alias else "(not set in the overlay)"
    return values


def main() -> int:
    root = Path(sys.argv[1])
    problems, compared = [], []
    for env_dir in sorted((root / "infra/terraform/environments").iterdir()):
        overlay = root / "kustomize/overlays" / env_dir.name
        if not (env_dir / "main.tf").exists() or not (overlay / "environment.yaml").exists():
            continue
        want, have = terraform_values(env_dir / "main.tf"), overlay_values(overlay)
        compared.append(env_dir.name)
        for key, value in want.items():
            if str(have.get(key)) != str(value):
                problems.append(f"{env_dir.name}: overlay has {key}={have.get(key)}, Terraform implies {value}")
    for problem in problems:
        print(f"  ERROR {problem}")
    print(f"overlays vs terraform: {len(compared)} environments compared ({', '.join(compared)}), {len(problems)} mismatches")
    return 1 if problems or not compared else 0


if __name__ == "__main__":
    sys.exit(main())
