"""Every runnable stage of a multi-target Dockerfile must end as a non-root user.

Usage: dockerfile_users.py DOCKERFILE...

hadolint and checkov look at a Dockerfile as one image: checkov is satisfied by a USER anywhere in
the file, hadolint only by the last stage. Here each stage with an ENTRYPOINT or CMD (one that
`docker build --target` turns into an image to run) must set USER to a non-zero UID or a name other
than root, since a stage that sets none inherits its base image's user.
"""

import re
import sys


def stages(text: str):
    name, user, runs = None, None, False
    for raw in re.sub(r"\\\n", " ", text).splitlines():
        line = raw.strip()
        word = line.split(" ", 1)[0].upper()
        if word == "FROM":
            if name is not None:
                yield name, user, runs
            parts = line.split()
            name = parts[3] if len(parts) >= 4 and parts[2].upper() == "AS" else parts[1]
            user, runs = None, False
        elif word == "USER":
            user = line.split()[1]
        elif word in ("ENTRYPOINT", "CMD"):
            runs = True
    if name is not None:
        yield name, user, runs


def main() -> int:
    bad = checked = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            for name, user, runs in stages(f.read()):
                if not runs:
                    continue
                checked += 1
                if user is None or user.split(":")[0] in ("0", "root"):
                    print(f"  ERROR {path}: stage {name} runs as {user or 'its base image user'}, not a set non-root USER")
                    bad += 1
    print(f"runnable stages: {checked} checked, {bad} not explicitly non-root")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
