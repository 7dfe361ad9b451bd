"""Shares of the bridge's CPU by area, from py-spy's collapsed stacks (``--format raw``, as
``benchmarks/bridge_cpu.py --profile FILE`` writes them).

Each sample goes to the area of its deepest frame that names one (a store call made by an
oauthlib validator counts as the store, oauthlib's own parsing as oauthlib), so the shares
add up to 100 %. ``--top N`` also lists the N functions with most samples of their own.

    .venv/bin/python benchmarks/profile_shares.py FILE [--top 25]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

# (area, pattern on "function (file:line)"), the first that matches a frame wins.
AREAS: list[tuple[str, str]] = [
    ("plaid calls", r"plaid_link|plaid/|plaid_client|urllib3/|http/client|httpx|httpcore|aiohttp"),
    ("sealing", r"store/sealed|store/key_file|cryptography/"),
    ("store/SQLite", r"store/|sqlite3|psycopg"),
    ("metrics", r"bridge/metrics/|prometheus_client/"),
    ("logging", r"logging/|bridge/logs\.py|access_log|request_ids"),
    ("request recorder", r"request_recorder|kore_requests|routes/recording"),
    ("audit", r"bridge/audit|deferred_audit"),
    ("i18n/templates", r"jinja2/|babel/|bridge/i18n/|bridge/page\.py|gettext"),
    ("oauthlib", r"oauthlib/|bridge/oauth\.py|client_auth|authorization_checks"),
    ("json", r"json/"),
    ("thread-pool hops", r"anyio/|concurrent/futures|threading\.py|queue\.py"),
    ("starlette/uvicorn", r"starlette/|uvicorn/|httptools|h11/"),
    ("asyncio loop", r"asyncio/|selectors\.py"),
    ("bridge other", r"kore_plaid_nb/"),
]


# Leaf frames of a thread that waits (py-spy counts some of them as active): left out.
IDLE = re.compile(
    r"^(Condition\.wait|SocketIO\.readinto|Runner\.run|Queue\.get|Event\.wait|.*select"
    r"|.*do_poll|_Checkpointer\._run) "
)


def area_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for area, pattern in AREAS:
            if re.search(pattern, frame):
                return area
    return "other"


def read_stacks(path: Path) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    stacks = read_stacks(args.file)
    total = sum(stacks.values())
    areas: Counter[str] = Counter()
    own: Counter[str] = Counter()
    idle = sum(count for frames, count in stacks.items() if IDLE.match(frames[-1]))
    print(f"{total} samples, {idle} idle (left out)")
    total -= idle
    for frames, count in stacks.items():
        if IDLE.match(frames[-1]):
            continue
        areas[area_of(list(frames))] += count
        own[re.sub(r":\d+\)$", ")", frames[-1])] += count
    for area, count in areas.most_common():
        print(f"{area:<20} {100 * count / total:5.1f} %")
    for function, count in own.most_common(args.top):
        print(f"{100 * count / total:5.1f} %  {function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
