"""The contact caps setting (`CDP_CONTACT_CAPS`): refused with one line when bad, used as
given when good, from the environment or an explicit one."""

from __future__ import annotations

import pytest

from cdp.config import ConfigError, load_settings


@pytest.mark.parametrize(
    "caps",
    [
        '{"NEWSLETTER": {"limit": 1, "hours": 24}}',
        '{"MARKETING": {"limit": 0, "hours": 24}}',
        '{"MARKETING": {"limit": 1, "hours": 0}}',
        '{"MARKETING": {"limit": -1, "hours": 24}}',
    ],
    ids=["unknown-purpose", "limit-0", "hours-0", "negative-limit"],
)
def test_a_bad_contact_caps_setting_is_refused(monkeypatch: pytest.MonkeyPatch, caps: str) -> None:
    monkeypatch.setenv("CDP_CONTACT_CAPS", caps)
    with pytest.raises(ConfigError) as refused:
        load_settings()
    message = str(refused.value)
    assert "CDP_CONTACT_CAPS" in message
    assert "\n" not in message
    with pytest.raises(ConfigError):
        load_settings({"CDP_CONTACT_CAPS": caps})


def test_a_contact_caps_setting_that_is_not_json_is_refused_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_CONTACT_CAPS", "not json")
    with pytest.raises(ConfigError, match="CDP_CONTACT_CAPS"):
        load_settings()


def test_a_good_contact_caps_setting_from_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_CONTACT_CAPS", '{"MARKETING": {"limit": 2, "hours": 12}}')
    caps = load_settings().contact_caps
    assert {p: (c.limit, c.hours) for p, c in caps.items()} == {"MARKETING": (2, 12)}


def test_a_good_contact_caps_setting_in_an_explicit_environ_is_used() -> None:
    caps = load_settings({"CDP_CONTACT_CAPS": '{"MARKETING": {"limit": 2, "hours": 12}}'})
    assert {p: (c.limit, c.hours) for p, c in caps.contact_caps.items()} == {"MARKETING": (2, 12)}
