"""`bench.pairs` sums up alternating drains of the hub and the peer: each contestant's spread, the
pairs' rate ratios and the hub drains that met both of the issue's targets in one run."""

from typing import Any

from bench.pairs import summarize


def hub(rate: float, us: float, db: float = 10.0, rss: float = 141.0) -> dict[str, Any]:
    return {
        "drain_msgs_per_s": rate,
        "hub_cpu_us_per_msg": us,
        "db_cpu_us_per_msg": db,
        "hub_rss_mb": rss,
        "lost": 0,
        "duplicated": 0,
    }


def peer(rate: float, us: float, db: float = 14.0, rss: float = 270.0, lost: int = 0) -> dict[str, Any]:
    return {
        "drain_msgs_per_s": rate,
        "peer_cpu_us_per_msg": us,
        "db_cpu_us_per_msg": db,
        "peer_rss_mb": rss,
        "lost": lost,
        "duplicated": 0,
    }


def test_spreads_ratios_and_targets_met() -> None:
    pairs = [
        (hub(30_000, 28.0, db=9.5), peer(32_000, 26.0)),
        (hub(29_500, 30.5), peer(29_500, 27.0, lost=2)),  # fast enough, too much CPU
        (hub(20_000, 40.0, db=14.0, rss=142.0), peer(25_000, 33.0, db=17.0, rss=290.0)),
    ]
    s = summarize(pairs, target_rate=29_000, target_us=30)
    assert s["pairs"] == 3
    assert s["hub"]["drain_msgs_per_s"] == {"min": 20_000, "median": 29_500, "max": 30_000}
    assert s["hub"]["cpu_us_per_msg"] == {"min": 28.0, "median": 30.5, "max": 40.0}
    assert s["hub"]["db_cpu_us_per_msg"] == {"min": 9.5, "median": 10.0, "max": 14.0}
    assert s["hub"]["rss_mb"]["max"] == 142.0
    assert s["peer"]["cpu_us_per_msg"] == {"min": 26.0, "median": 27.0, "max": 33.0}
    assert s["peer"]["rss_mb"] == {"min": 270.0, "median": 270.0, "max": 290.0}
    assert (s["peer"]["lost"], s["hub"]["lost"]) == (2, 0)
    assert s["hub_over_peer_rate"] == {"each": [0.938, 1.0, 0.8], "median": 0.938}
    assert s["hub_drains_meeting_targets"] == 1
