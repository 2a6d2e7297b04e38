"""Instructions per request of the partner pages and of their floors, counted by valgrind:
deterministic within about 1 % on a loaded machine, where wall times move by half.

    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg/cg.%p \\
        .venv/bin/python bench/callgrind_pages.py /people/list/ /partner/50001
    .venv/bin/python bench/callgrind_pages.py --sum /tmp/cg

The app and the floors are bench_partners.py's (SQLite under bench/instance by default, or
DATABASE_URL), built and warmed up without instrumentation; instrumentation is switched on
(`callgrind_control -i on`) around N requests of each page, then dumped under the page's name.
Each page is counted twice. `--sum` prints each dump's instructions per request.
NO_FLOORS=1 counts the pages only.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))
FLOORS = ("/raw/person", "/raw/organization", "/raw/person?json=1")


def instructions(path: str) -> int:
    """The dump's own costs summed (its `summary:` line is not always right)."""
    total, skip = 0, False
    for line in open(path, errors="replace"):
        if skip:  # the inclusive cost of a call, counted in the callee already
            skip = False
        elif line.startswith("calls="):
            skip = True
        elif line[:1].isdigit() or line[:1] in "+-*":
            parts = line.split()
            if len(parts) >= 2:
                total += int(parts[-1])
    return total


def summarise(folder: str, requests: int) -> None:
    for dump in sorted(glob.glob(f"{folder}/cg.*.*"), key=lambda p: int(p.rsplit(".", 1)[1])):
        head = open(dump, errors="replace").read(2000)
        trigger = re.search(r"^desc: Trigger: dump (.*)$", head, re.M)
        name = trigger.group(1) if trigger else dump
        print(f"{name:40s} {instructions(dump) / requests / 1e6:8.2f} M instructions/request")


def main() -> None:
    requests = int(os.environ.get("N", "10"))
    if sys.argv[1:2] == ["--sum"]:
        summarise(sys.argv[2], requests)
        return
    import logging

    import bench_partners as b

    args = b.parse_args(["--skip-plain"])
    url = b.configure_environment(args)
    logging.disable(logging.WARNING)
    app, _ = b.build_app(args, url)
    client = app.test_client()
    b.login(client)
    from app.extensions import db

    with app.app_context():
        raw = b.raw_reference_app(db.engine).test_client()
    heavy = b.heavy_partner_id(args.partners)
    pid = str(os.getpid())

    def control(*arguments: str) -> None:
        subprocess.run(["callgrind_control", *arguments, pid], capture_output=True, check=False)

    def count(name: str, get) -> None:
        for _ in range(5):
            get()
        for _ in range(2):
            control("-i", "on")
            time.sleep(3)  # the command is taken up asynchronously
            for _ in range(requests):
                get()
            control(f"--dump={name}")
            control("-i", "off")
            time.sleep(3)

    for path in sys.argv[1:]:
        headers = {}
        if path.startswith("/api/"):
            token = client.post(
                "/api/v1/security/login",
                json={"username": b.ADMIN_USER, "password": b.ADMIN_PASSWORD, "provider": "db"},
            ).get_json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
        count(path, lambda path=path, headers=headers: client.get(path, headers=headers))
    if os.environ.get("NO_FLOORS"):
        return
    for path in (*FLOORS, f"/raw/sheet/{heavy}"):
        count(f"floor {path}", lambda path=path: raw.get(path))


if __name__ == "__main__":
    main()
