"""The PostgreSQL engine's connections: a statement timeout and TCP keepalives (`app.db`)."""

from __future__ import annotations

from sqlalchemy import text

from app.db import STATEMENT_TIMEOUT_MS, create_engine_for, database_urls


async def test_postgres_connections_time_statements_out_and_probe_idle_peers(
    postgres_url: str,
) -> None:
    engine = create_engine_for(database_urls(postgres_url))
    try:
        async with engine.connect() as connection:
            timeout = (await connection.execute(text("SHOW statement_timeout"))).scalar_one()
            raw = await connection.get_raw_connection()
            parameters = raw.driver_connection.info.get_parameters()  # type: ignore[union-attr]
    finally:
        await engine.dispose()
    assert STATEMENT_TIMEOUT_MS == 60_000
    assert timeout == "1min"
    assert {name: parameters.get(name) for name in ("keepalives", "keepalives_idle")} == {
        "keepalives": "1",
        "keepalives_idle": "30",
    }
