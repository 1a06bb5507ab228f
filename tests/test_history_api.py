"""The telemetry history API against the real database: answers are checked against values computed
here from the rows the test inserted itself."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.support.api import app_client, login
from tests.support.services import migrated_database
from tests.support.smoke_history import SMOKE_COLUMNS, insert_smoke, new_smoke_detector, reading

BASE = datetime(2025, 3, 10, 8, 0, tzinfo=UTC)
USERS = {
    "hist-admin": ("admin", ()),
    "hist-manager-a": ("manager", ("hist-a",)),
    "hist-resident-a": ("resident", ("hist-a",)),
    "hist-manager-b": ("manager", ("hist-b",)),
}


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    """A database of its own: a hub process elsewhere in the session may have rolled its hours up, which
    moves the rollup's watermark, and these answers must come from the rows the tests insert here."""
    with migrated_database() as url:
        yield url


@pytest.fixture(scope="module")
def client(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with app_client(database_url, users=USERS, mqtt_auth_dir=tmp_path_factory.mktemp("auth")) as c:
        yield c


@pytest.fixture(scope="module")
def tokens(client: TestClient) -> dict[str, dict[str, str]]:
    return {name: login(client, name) for name in USERS}


def history(client: TestClient, headers: dict[str, str], device_id: str, **params: str) -> httpx.Response:
    r: httpx.Response = client.get(f"/api/v1/devices/{device_id}/telemetry", params=params, headers=headers)
    return r


def answer(client: TestClient, headers: dict[str, str], device_id: str, **params: str) -> Any:
    r = history(client, headers, device_id, **params)
    assert r.status_code == 200, r.text
    return r.json()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_raw_readings_are_answered_as_stored_within_the_half_open_range(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    device = new_smoke_detector(conn)
    neighbour = new_smoke_detector(conn)
    readings = [
        reading(BASE + timedelta(seconds=30 * i), 20.0 + 0.25 * i, i % 3 == 0, None if i == 4 else -60 - i)
        for i in range(11)
    ]
    insert_smoke(conn, device, readings)
    insert_smoke(conn, neighbour, [reading(BASE, 99.0, True, -1)])

    body = answer(
        client,
        tokens["hist-admin"],
        device,
        **{
            "from": "2025-03-10T08:00:00",
            "to": "2025-03-10T10:05:00+02:00",
            "metrics": "temperature_c,alarm,rssi_dbm",
        },
    )

    assert body["device_id"] == device
    assert body["kind"] == "smoke_detector"
    assert body["bucket"] == "raw"
    assert at(body["from"]) == BASE, "a time without an offset is UTC"
    assert at(body["to"]) == BASE + timedelta(minutes=5)
    assert body["metrics"] == ["temperature_c", "alarm", "rssi_dbm"]
    expected = [
        {"t": r["time"], "temperature_c": r["temperature_c"], "alarm": r["alarm"], "rssi_dbm": r["rssi_dbm"]}
        for r in readings
        if r["time"] < BASE + timedelta(minutes=5)
    ]
    assert len(expected) == 10, "the reading at `to` itself is outside the range"
    assert [{**p, "t": at(p["t"])} for p in body["points"]] == expected


def test_all_metrics_of_the_kind_by_default(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    device = new_smoke_detector(conn)
    insert_smoke(conn, device, [reading(BASE, 21.5, False, -70)])

    body = answer(
        client, tokens["hist-admin"], device, **{"from": BASE.isoformat(), "to": "2025-03-10T09:00:00Z"}
    )

    stored = reading(BASE, 21.5, False, -70)
    assert body["metrics"] == list(SMOKE_COLUMNS)
    assert [{**p, "t": at(p["t"])} for p in body["points"]] == [
        {"t": BASE, **{c: stored[c] for c in SMOKE_COLUMNS}}
    ]


@pytest.mark.parametrize(
    ("bucket", "width"),
    [("1m", timedelta(minutes=1)), ("1h", timedelta(hours=1)), ("1d", timedelta(days=1))],
)
def test_buckets_hold_avg_min_max_and_the_fraction_true(
    client: TestClient,
    tokens: dict[str, dict[str, str]],
    conn: psycopg.Connection[Any],
    bucket: str,
    width: timedelta,
) -> None:
    device = new_smoke_detector(conn)
    rng = random.Random(bucket)
    start = BASE - timedelta(hours=3)
    rssi_lost_at = datetime(2025, 3, 12, tzinfo=UTC)
    times = [start + timedelta(seconds=47 * i) for i in range(4000)]
    readings = [
        reading(
            t,
            rng.randrange(-160, 600) / 4,
            rng.random() < 0.3,
            None if t >= rssi_lost_at else rng.randrange(-120, -30),
        )
        for t in times
    ]
    insert_smoke(conn, device, readings)
    end = start + timedelta(hours=50)

    body = answer(
        client,
        tokens["hist-admin"],
        device,
        **{
            "from": start.isoformat(),
            "to": end.isoformat(),
            "bucket": bucket,
            "metrics": "temperature_c,alarm,rssi_dbm",
        },
    )

    groups: dict[datetime, list[dict[str, Any]]] = {}
    epoch = datetime(2000, 1, 3, tzinfo=UTC)
    for r in readings:
        if start <= r["time"] < end:
            groups.setdefault(epoch + (r["time"] - epoch) // width * width, []).append(r)

    def summary(values: list[float]) -> dict[str, Any] | None:
        if not values:
            return None
        return {
            "n": len(values),
            "avg": pytest.approx(sum(values) / len(values), rel=1e-12),
            "min": min(values),
            "max": max(values),
        }

    expected = [
        {
            "t": t,
            "temperature_c": summary([r["temperature_c"] for r in rows]),
            "alarm": summary([float(r["alarm"]) for r in rows]),
            "rssi_dbm": summary([r["rssi_dbm"] for r in rows if r["rssi_dbm"] is not None]),
        }
        for t, rows in sorted(groups.items())
    ]
    assert body["bucket"] == bucket
    assert len(body["points"]) == len(expected) > 2
    assert any(p["rssi_dbm"] is None for p in expected), "the data has buckets without the optional metric"
    assert [{**p, "t": at(p["t"])} for p in body["points"]] == expected


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(minutes=5), "raw"),
        (timedelta(hours=2), "raw"),
        (timedelta(hours=2, seconds=1), "1m"),
        (timedelta(days=2), "1m"),
        (timedelta(days=2, seconds=1), "1h"),
        (timedelta(days=60), "1h"),
        (timedelta(days=60, seconds=1), "1d"),
        (timedelta(days=400), "1d"),
    ],
)
def test_the_bucket_is_chosen_from_the_length_of_the_range(
    client: TestClient,
    tokens: dict[str, dict[str, str]],
    conn: psycopg.Connection[Any],
    span: timedelta,
    expected: str,
) -> None:
    device = new_smoke_detector(conn)
    insert_smoke(conn, device, [reading(BASE - timedelta(seconds=1), 30.0, True, -50)])

    body = answer(
        client, tokens["hist-admin"], device, **{"from": (BASE - span).isoformat(), "to": BASE.isoformat()}
    )

    assert body["bucket"] == expected
    assert len(body["points"]) == 1
    value = body["points"][0]["temperature_c"]
    assert value == (30.0 if expected == "raw" else {"n": 1, "avg": 30.0, "min": 30.0, "max": 30.0})


def test_the_default_range_is_the_last_24_hours(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    device = new_smoke_detector(conn)
    now = datetime.now(UTC)
    insert_smoke(
        conn,
        device,
        [
            reading(now - timedelta(hours=25), 10.0, False, None),
            reading(now - timedelta(hours=1), 40.0, True, None),
        ],
    )

    body = answer(client, tokens["hist-admin"], device, metrics="temperature_c")

    assert at(body["to"]) - at(body["from"]) == timedelta(hours=24)
    assert abs(at(body["to"]) - now) < timedelta(seconds=30)
    assert body["bucket"] == "1m"
    assert [p["temperature_c"] for p in body["points"]] == [{"n": 1, "avg": 40.0, "min": 40.0, "max": 40.0}]


def test_an_unknown_metric_is_refused_by_name_with_the_valid_ones_listed(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    device = new_smoke_detector(conn)

    r = history(client, tokens["hist-admin"], device, metrics="temperature_c,power_w")

    assert r.status_code == 422
    assert r.json() == {
        "error": {
            "status": 422,
            "message": "unknown metric for a smoke_detector: power_w; valid metrics: "
            "smoke_obscuration_pct_per_m, temperature_c, battery_pct, alarm, fault, tamper, test_button, rssi_dbm",
            "details": [],
        }
    }


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2025-03-10T09:00:00Z", "to": "2025-03-10T09:00:00Z"}, "`to` must be later than `from`"),
        ({"from": "2025-03-10T09:00:00Z", "to": "2025-03-10T08:00:00Z"}, "`to` must be later than `from`"),
        (
            {"from": "2024-01-01T00:00:00Z", "to": "2025-03-10T00:00:00Z"},
            "the range from `from` to `to` is 434 days; at most 400 days",
        ),
        (
            {"from": "2025-01-01T00:00:00Z", "to": "2025-03-10T00:00:00Z", "bucket": "1m"},
            "1m buckets over 68 days would be more than 20000 points; choose a coarser bucket or a shorter range",
        ),
    ],
)
def test_a_bad_range_is_refused_with_a_clear_message(
    client: TestClient,
    tokens: dict[str, dict[str, str]],
    conn: psycopg.Connection[Any],
    params: dict[str, str],
    message: str,
) -> None:
    device = new_smoke_detector(conn)

    r = history(client, tokens["hist-admin"], device, **params)

    assert r.status_code == 422
    assert r.json()["error"]["message"] == message


def test_malformed_parameters_are_refused_by_validation(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    device = new_smoke_detector(conn)

    bad_bucket = history(client, tokens["hist-admin"], device, bucket="5m")
    bad_time = history(client, tokens["hist-admin"], device, **{"from": "yesterday"})

    assert bad_bucket.status_code == 422
    assert bad_bucket.json()["error"]["message"].startswith("invalid request: query.bucket:")
    assert bad_time.status_code == 422
    assert bad_time.json()["error"]["message"].startswith("invalid request: query.from:")


def test_too_many_raw_readings_are_refused_rather_than_truncated(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    device = new_smoke_detector(conn)
    insert_smoke(
        conn,
        device,
        [reading(BASE + timedelta(milliseconds=300 * i), 20.0, False, None) for i in range(20_001)],
    )
    window = {"from": BASE.isoformat(), "to": (BASE + timedelta(hours=2)).isoformat()}

    raw = history(client, tokens["hist-admin"], device, metrics="temperature_c", **window)
    minutes = answer(client, tokens["hist-admin"], device, metrics="temperature_c", bucket="1m", **window)

    assert raw.status_code == 422
    assert raw.json()["error"]["message"] == (
        "more than 20000 readings in the range; ask for a bucket (1m, 1h, 1d) or a shorter range"
    )
    assert sum(p["temperature_c"]["n"] for p in minutes["points"]) == 20_001


def test_callers_see_only_devices_of_their_communities(
    client: TestClient, tokens: dict[str, dict[str, str]], conn: psycopg.Connection[Any]
) -> None:
    device = new_smoke_detector(conn, community="hist-a")
    insert_smoke(conn, device, [reading(BASE, 22.0, False, None)])
    window = {"from": BASE.isoformat(), "to": (BASE + timedelta(minutes=1)).isoformat()}
    path = f"/api/v1/devices/{device}/telemetry"

    anonymous = client.get(path, params=window)
    other = client.get(path, params=window, headers=tokens["hist-manager-b"])
    other_bad_metric = client.get(
        path, params={**window, "metrics": "nope"}, headers=tokens["hist-manager-b"]
    )
    missing = client.get("/api/v1/devices/hist-no-such-device/telemetry", headers=tokens["hist-admin"])

    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert other.status_code == 404
    assert other.json()["error"]["message"] == f"no device {device} in your communities"
    assert other_bad_metric.status_code == 404, "the valid metrics would tell the device's kind"
    assert missing.status_code == 404
    for name in ("hist-manager-a", "hist-resident-a", "hist-admin"):
        r = client.get(path, params=window, headers=tokens[name])
        assert r.status_code == 200, (name, r.text)
        assert r.json()["points"][0]["temperature_c"] == 22.0


def test_the_openapi_documents_the_answer_with_examples(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    get = spec["paths"]["/api/v1/devices/{device_id}/telemetry"]["get"]

    assert {p["name"] for p in get["parameters"]} == {"device_id", "from", "to", "bucket", "metrics"}
    content = get["responses"]["200"]["content"]["application/json"]
    assert set(content["examples"]) == {"raw", "hourly"}
    assert content["schema"] == {"$ref": "#/components/schemas/History"}
    assert set(spec["components"]["schemas"]["History"]["properties"]) == {
        "device_id",
        "kind",
        "bucket",
        "from",
        "to",
        "metrics",
        "points",
    }
