"""Shared test fixtures."""

from __future__ import annotations

import os
import random
import sqlite3
import urllib.parse
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import settings as hypothesis_settings

# No per-example deadline: CI and the team's machines run at load 10-20 on 2 cores, where a
# 20 ms example took 590 ms (review R4, session 23); a test asserts behaviour, not time.
hypothesis_settings.register_profile("dedup", deadline=None)
hypothesis_settings.load_profile("dedup")

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
UKRAINE = FIXTURES / "ukraine-talks.txt"


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261127)


# -- storage backends (tests/storage_contract.py) ----------------------------------------

#: The Redis server the Redis tests use (``.ci/run`` starts one and sets it).
REDIS_URL = os.environ.get("DEDUP_TEST_REDIS_URL", "")
NO_REDIS = "DEDUP_TEST_REDIS_URL is not set: no Redis server to test against (.ci/run starts one)"


@dataclass
class Backend:
    """A fresh index location on one backend, and the few backend-specific moves a
    behaviour test needs."""

    name: str
    url: str
    strict_removal: bool  # no band entry of a removed row is left at all
    tamper: Callable[[str, str], None]  # overwrite one stored meta field


def redis_url(**options: Any) -> str:
    """``DEDUP_TEST_REDIS_URL`` with query ``options`` added."""
    parts = urllib.parse.urlsplit(REDIS_URL)
    query = urllib.parse.parse_qsl(parts.query) + [(k, str(v)) for k, v in options.items()]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on the test server, its keys deleted afterwards."""
    if not REDIS_URL:
        pytest.skip(NO_REDIS)
    import redis

    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=10_000))
    for lo in range(0, len(keys), 10_000):
        client.unlink(*keys[lo : lo + 10_000])
    client.close()


@pytest.fixture(params=["sqlite", "redis"])
def backend(request, tmp_path) -> Backend:
    if request.param == "sqlite":
        path = tmp_path / "contract.dedup"

        def tamper_file(key: str, value: str) -> None:
            from dedup.storage.sqlite.schema import meta_check

            with closing(sqlite3.connect(path)) as conn:
                conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
                # as another dedup would have written it (not damage): its checksum agrees
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                conn.execute("UPDATE meta SET value = ? WHERE key = 'meta_check'", (meta_check(meta),))
                conn.commit()

        return Backend("sqlite", str(path), False, tamper_file)
    prefix = request.getfixturevalue("redis_prefix")
    import redis

    def tamper_server(key: str, value: str) -> None:
        from dedup.storage.redis.records import meta_check

        with closing(redis.Redis.from_url(REDIS_URL)) as client:
            client.hset(f"{prefix}:meta", key, value)
            # as another dedup would have written it (not damage): its checksum agrees
            meta = {k.decode(): v.decode() for k, v in client.hgetall(f"{prefix}:meta").items()}
            client.hset(f"{prefix}:meta", "meta_check", meta_check(meta))

    # A short lease: a writer killed on purpose holds the lock this long.
    return Backend("redis", redis_url(prefix=prefix, lease=3), True, tamper_server)


class _InProcessOs:
    """``os`` for :mod:`dedup.cli.failures` while the CLI runs inside pytest (CliRunner):
    ``_exit(code)`` raises ``SystemExit(code)``, which CliRunner records as the exit code.

    Why: the CLI ends an interrupted or broken-pipe run with ``os._exit`` when other
    threads are alive (they could hold a normal exit), and in the test process threads of
    other tests' libraries are alive (e.g. Dask's daemon ``Dask-Offload`` thread after
    tests/test_dask.py), so a real ``os._exit`` would end pytest itself.  The real
    ``os._exit`` path is tested in subprocesses (tests/test_signals.py,
    tests/test_cli_output.py).  Only this module's reference is replaced, never
    ``os._exit`` itself (forked workers use it)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def _exit(code: int) -> None:
        raise SystemExit(code)


@pytest.fixture(autouse=True)
def _cli_exit_stays_in_process(monkeypatch):
    from dedup.cli import failures

    monkeypatch.setattr(failures, "os", _InProcessOs())


def pytest_configure(config) -> None:
    """Tests send Ctrl-C (SIGINT) to dedup processes they start, as a terminal would.  A
    pytest started in the background by a non-interactive shell (``pytest ... &``)
    inherits SIGINT *ignored*, and so does every process it starts -- a dedup that then
    ignores the tests' Ctrl-C is right to, and the tests failed (session 15: a
    start-up signal test and a Dask one).  So the run starts with Python's own SIGINT
    handler, as one in a terminal does."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
