"""`pip check`, except for packages installed with --no-deps on purpose (their declared deps are left out).

    python tools/pip_check.py [REQUIREMENTS_NO_DEPS ...]

Exits 1 and prints pip's lines when any other package has a broken or missing requirement.
"""
import re
import subprocess
import sys
from pathlib import Path


def no_deps_names(paths) -> set[str]:
    names = set()
    for path in paths:
        for line in Path(path).read_text().splitlines():
            m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#")[0])
            if m:
                names.add(re.sub(r"[-_.]+", "-", m.group(1)).lower())
    return names


def main(argv) -> int:
    allowed = no_deps_names(argv)
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    problems = [line for line in done.stdout.splitlines()
                if line.strip() and not line.startswith("No broken requirements")
                and re.sub(r"[-_.]+", "-", line.split()[0]).lower() not in allowed]
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
