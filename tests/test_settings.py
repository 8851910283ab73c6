"""crawler/settings.py: the loopback/test environment overrides and their one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler import settings
from crawler.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
OVERRIDES = (
    "RADAR_CONCURRENCY_PER_HOST",
    "RADAR_DOMAIN_BUDGET",
    "RADAR_AUTOTHROTTLE",
    "RADAR_DOWNLOAD_DELAY",
    "RADAR_DOWNLOAD_TIMEOUT",
    "RADAR_GITHUB_MAX_REQUESTS",
    "RADAR_MAX_PAGES",
)
NAMES = (
    "CONCURRENT_REQUESTS",
    "CONCURRENT_REQUESTS_PER_DOMAIN",
    "RADAR_DOMAIN_BUDGET",
    "AUTOTHROTTLE_ENABLED",
    "DOWNLOAD_DELAY",
)


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OVERRIDES}
    env.update(values)
    return env


def _settings_in_child(**values: str) -> dict[str, object]:
    code = (
        "import json, crawler.settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {NAMES!r}}}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=_env(**values),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout)


def test_defaults_are_polite():
    assert _settings_in_child() == {
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "RADAR_DOMAIN_BUDGET": 200,
        "AUTOTHROTTLE_ENABLED": True,
        "DOWNLOAD_DELAY": 1.0,
    }


def test_env_lifts_the_limits_for_a_loopback_run():
    got = _settings_in_child(
        RADAR_CONCURRENCY_PER_HOST="16",
        RADAR_DOMAIN_BUDGET="100000",
        RADAR_AUTOTHROTTLE="0",
        RADAR_DOWNLOAD_DELAY="0",
    )
    assert got == {
        "CONCURRENT_REQUESTS": 16,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
        "RADAR_DOMAIN_BUDGET": 100000,
        "AUTOTHROTTLE_ENABLED": False,
        "DOWNLOAD_DELAY": 0.0,
    }
    # More per host than the total would be capped by the total: the total follows.
    assert _settings_in_child(RADAR_CONCURRENCY_PER_HOST="32")["CONCURRENT_REQUESTS"] == 32


@pytest.mark.parametrize(
    ("read", "raw", "expected"),
    [
        (lambda: settings.env_int("RADAR_T", 7, minimum=1), "", 7),
        (lambda: settings.env_int("RADAR_T", 7, minimum=1), " 12 ", 12),
        (lambda: settings.env_float("RADAR_T", 1.5), "0", 0.0),
        (lambda: settings.env_float("RADAR_T", 1.5), "0.25", 0.25),
        (lambda: settings.env_switch("RADAR_T", True), "0", False),
        (lambda: settings.env_switch("RADAR_T", False), "1", True),
        (lambda: settings.env_switch("RADAR_T", True), "", True),
    ],
)
def test_env_readers(monkeypatch, read, raw, expected):
    monkeypatch.setenv("RADAR_T", raw)
    assert read() == expected


@pytest.mark.parametrize(
    ("read", "raw", "expected"),
    [
        (lambda: settings.env_int("RADAR_T", 7, minimum=1), "lots", "a whole number >= 1"),
        (lambda: settings.env_int("RADAR_T", 7, minimum=1), "0", "a whole number >= 1"),
        (lambda: settings.env_int("RADAR_T", 7, minimum=1), "2.5", "a whole number >= 1"),
        (lambda: settings.env_int("RADAR_T", 7, minimum=1), "-3", "a whole number >= 1"),
        (lambda: settings.env_float("RADAR_T", 1.0), "-1", "a number >= 0"),
        (lambda: settings.env_float("RADAR_T", 1.0), "nan", "a number >= 0"),
        (lambda: settings.env_float("RADAR_T", 1.0), "inf", "a number >= 0"),
        (lambda: settings.env_float("RADAR_T", 1.0), "1s", "a number >= 0"),
        (lambda: settings.env_switch("RADAR_T", True), "off", "0 or 1"),
    ],
)
def test_bad_env_value_is_a_config_error_naming_it(monkeypatch, read, raw, expected):
    monkeypatch.setenv("RADAR_T", raw)
    with pytest.raises(ConfigError) as info:
        read()
    assert str(info.value) == f"environment variable RADAR_T={raw!r}: expected {expected}"


def test_crawl_with_a_bad_override_stops_before_fetching(tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text('[[source]]\nname = "local"\nkind = "feed"\nurl = "http://127.0.0.1:9/f"\n')
    args = ["--no-ingest", "--sources", str(sources), "--data-dir", str(tmp_path / "data")]
    result = subprocess.run(
        [sys.executable, "-m", "crawler.cli", *args],
        cwd=REPO,
        env=_env(RADAR_DOMAIN_BUDGET="lots", RADAR_ALLOW_HOSTS="127.0.0.1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr == (
        "crawl: error: environment variable RADAR_DOMAIN_BUDGET='lots': "
        "expected a whole number >= 1\n"
    )
    assert not (tmp_path / "data" / "raw").exists()  # nothing fetched, nothing written


@pytest.mark.parametrize(("value", "caps"), [(None, [50, 1000]), ("7", [7, 7])])
def test_the_github_cap_applies_with_or_without_a_token(value, caps):
    code = (
        "import json, crawler.settings as s; "
        "print(json.dumps([s.RADAR_GITHUB_MAX_REQUESTS, s.RADAR_GITHUB_MAX_REQUESTS_TOKEN]))"
    )
    env = _env() if value is None else _env(RADAR_GITHUB_MAX_REQUESTS=value)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(out.stdout) == caps
