"""The benchmark fleet: a realistic mix of kinds across several communities, registered in one COPY.

Registering 10,000 devices through the API would hash 10,000 passwords and rewrite the broker's auth
files for each; the load generator publishes as the `loadgen` account instead, so the registry rows
need no credentials and a bulk COPY sets the fleet up in well under a second.
"""

from dataclasses import dataclass
from typing import Any

import psycopg

# (kind, share of the fleet, id abbreviation): detectors dominate a residential estate, gates and
# manholes are fewer.
KIND_MIX = (
    ("smoke_detector", 0.40, "sd"),
    ("lamppost", 0.25, "lp"),
    ("manhole", 0.15, "mh"),
    ("access_gate", 0.20, "gt"),
)
COMMUNITIES = 8
PROBE_ID = "bench-probe"
PROBE_COMMUNITY = "bench-c01"
ALARM_COMMUNITY = "bench-alarm"


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    kind: str
    community: str
    building: str | None
    grid: str


def fleet(n: int) -> list[Device]:
    """`n` devices in the KIND_MIX proportions (largest remainder, so the total is exactly `n`).

    Kinds are interleaved so that any round-robin split of the list carries the same mix.
    """
    exact = [share * n for _, share, _ in KIND_MIX]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    by_kind: list[list[Device]] = []
    for (kind, _, abbr), count in zip(KIND_MIX, counts, strict=True):
        devices = []
        for i in range(count):
            community = f"bench-c{i % COMMUNITIES + 1:02d}"
            local = i // COMMUNITIES
            building = f"b{local // 20 + 1:03d}" if kind in ("smoke_detector", "access_gate") else None
            grid = f"g{local // 100 + 1:02d}"
            devices.append(Device(f"{community}-{abbr}{local + 1:05d}", kind, community, building, grid))
        by_kind.append(devices)
    out: list[Device] = []
    longest = max((len(d) for d in by_kind), default=0)
    for i in range(longest):
        out.extend(devices[i] for devices in by_kind if i < len(devices))
    return out


def probe_device() -> Device:
    return Device(PROBE_ID, "smoke_detector", PROBE_COMMUNITY, "probe", "g01")


def alarm_devices(n: int) -> list[Device]:
    """Smoke detectors for the alert probe, each in a building and grid of its own, so that no
    correlation or storm rule joins their alarms."""
    return [
        Device(f"{ALARM_COMMUNITY}-sd{i:05d}", "smoke_detector", ALARM_COMMUNITY, f"ab{i:05d}", f"ag{i:05d}")
        for i in range(1, n + 1)
    ]


def register(conn: psycopg.Connection[Any], devices: list[Device]) -> None:
    communities = sorted({d.community for d in devices})
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO communities (id, name) VALUES (%s, %s) ON CONFLICT (id) DO NOTHING",
            [(c, f"Benchmark community {c}") for c in communities],
        )
        with cur.copy("COPY devices (id, kind, community_id, building, grid) FROM STDIN") as copy:
            for d in devices:
                copy.write_row((d.id, d.kind, d.community, d.building, d.grid))
