"""The outage-stragglers job: devices still silent once an outage is over get cases of their own
(`hub.cases.storms.split_stragglers`). It reads everything from the cases and alerts tables, so a
restart loses nothing; with several workers only the one holding the lock runs."""

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from psycopg_pool import ConnectionPool

from hub.cases import storms
from hub.cases.config import DispatchConfig

log = logging.getLogger(__name__)

STRAGGLERS_LOCK = 0x5C_4855_4402


def run(pool: ConnectionPool, dispatch: Callable[[], DispatchConfig]) -> dict[str, int] | None:
    """What the run did, or None when another worker holds the job."""
    with pool.connection() as conn, conn.transaction():
        got = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (STRAGGLERS_LOCK,)).fetchone()
        if not got or not got[0]:
            return None
        opened = storms.split_stragglers(conn, dispatch(), datetime.now(UTC))
    if opened:
        log.info("%d device(s) still silent after an outage got cases of their own", len(opened))
    return {"cases_opened": len(opened)}
