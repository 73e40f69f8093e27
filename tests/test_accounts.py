"""API_KEYS_FILE on its own: parsing, the errors that name the line, the entry `keys new`
prints, and monthly quotas counted in memory."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from screenshotd.auth.accounts import KeysFileError, key_digest, parse_accounts, toml_entry
from screenshotd.auth.usage import MemoryUsage, periods
from screenshotd.cli.main import main

GOOD = """
# the team's keys
[[keys]]
name = "acme"
key_sha256 = "{acme}"
domains = ["acme.com", "*.acme.com"]
rate_limit_per_minute = 120
monthly_quota = 10000
max_concurrent = 2

[[keys]]
name = "old"
key_sha256 = "{old}"
revoked = true
"""


def good() -> str:
    return GOOD.format(acme=key_digest("acme-key").hex(), old=key_digest("old-key").hex())


def test_a_file_of_named_keys():
    accounts = parse_accounts(good())
    acme = accounts[key_digest("acme-key")]
    assert acme.name == "acme" and acme.domains == ("acme.com", "*.acme.com")
    assert acme.rate_limit_per_minute == 120 and acme.monthly_quota == 10000
    assert not acme.revoked and accounts[key_digest("old-key")].revoked
    assert acme.max_concurrent == 2 and accounts[key_digest("old-key")].max_concurrent is None
    assert key_digest("wrong") not in accounts


@pytest.mark.parametrize(("change", "message"), [
    (("monthly_quota = 10000", "monthly_quota = -1"), "keys[0] (the [[keys]] at line 3): "
     "monthly_quota must be a whole number"),
    (("revoked = true", 'revoked = "yes"'), "keys[1] (the [[keys]] at line 11): revoked"),
    (('name = "old"', 'name = "acme"'), "keys[1] (the [[keys]] at line 11): the name 'acme' "
     "is used twice"),
    (("max_concurrent = 2", "max_concurrent = 0"), "max_concurrent must be 1 or more"),
    (("max_concurrent = 2", "max_concurrent = 1.5"), "max_concurrent must be a whole number"),
    (("domains =", "domain ="), "keys[0] (the [[keys]] at line 3): unknown field 'domain'"),
    (("rate_limit_per_minute = 120", "rate_limit_per_minute = = 1"), "line 7"),
    (("[[keys]]\nname = \"old\"", "[[keys]]\nname = \"o ld\""), "keys[1]"),
])
def test_a_bad_file_names_the_key_and_the_line(change: tuple[str, str], message: str):
    with pytest.raises(KeysFileError) as raised:
        parse_accounts(good().replace(*change, 1))
    assert message in str(raised.value), raised.value


def test_a_short_digest_is_refused_with_how_to_make_one():
    with pytest.raises(KeysFileError) as raised:
        parse_accounts('[[keys]]\nname = "x"\nkey_sha256 = "abc"\n')
    assert "64 hex digits" in str(raised.value) and "keys new" in str(raised.value)


def test_keys_new_prints_the_key_once_and_an_entry_that_reads_back():
    result = CliRunner().invoke(main, ["keys", "new", "--name", "acme", "--domains",
                                       "acme.com,*.acme.com", "--monthly-quota", "3",
                                       "--max-concurrent", "2"])
    assert result.exit_code == 0, result.output
    key = result.stderr.rsplit(": ", 1)[1].strip()
    assert key.startswith("sk_") and key not in result.stdout
    [account] = parse_accounts(result.stdout).values()
    assert account.digest == key_digest(key) and account.monthly_quota == 3
    assert account.max_concurrent == 2
    assert account.domains == ("acme.com", "*.acme.com")
    bad = CliRunner().invoke(main, ["keys", "new", "--name", "a b"])
    assert bad.exit_code == 2 and "--name" in bad.output
    assert toml_entry("x", "k").count("\n") == 3


async def test_a_monthly_quota_in_memory():
    now = [1_800_000_000.0]
    usage = MemoryUsage(clock=lambda: now[0])
    assert [await usage.charge("acme", 1, 3) for _ in range(3)] == [1, 2, 3]
    assert await usage.charge("acme", 1, 3) is None  # the 4th: nothing counted
    usage.hit("acme")
    assert await usage.report("acme") == {"renders_today": 3, "renders_month": 3,
                                          "hits_month": 1}
    await usage.refund("acme", 1)
    assert (await usage.report("acme"))["renders_month"] == 2
    now[0] = periods(now[0])[2] + 1  # the next month
    assert await usage.charge("acme", 3, 3) == 3
