"""Permission rules, independent of any platform."""

from __future__ import annotations

import pytest

from bot.core.errors import PermissionDenied
from bot.core.values import Actor, Scope
from bot.core.visibility import Permissions

CHANNEL = Scope("discord", "G1", "C1")


def test_everyone_may_upload_by_default_but_only_admins_workspace_wide() -> None:
    rules = Permissions(admins=frozenset({"discord:42"}))
    rules.check_manage(Actor("discord", "7"), CHANNEL)
    with pytest.raises(PermissionDenied, match="only admins can change workspace-wide documents"):
        rules.check_manage(Actor("discord", "7"), CHANNEL.workspace_wide())
    rules.check_manage(Actor("discord", "42"), CHANNEL.workspace_wide())
    assert not rules.is_admin(Actor("slack", "42")), "admin ids are per platform"


def test_uploaders_by_user_and_by_role() -> None:
    rules = Permissions(uploaders=frozenset({"slack:U1", "discord:role:Editors"}))
    rules.check_manage(Actor("slack", "U1"), Scope("slack", "T", "C"))
    rules.check_manage(Actor("discord", "9", frozenset({"Editors"})), CHANNEL)
    with pytest.raises(PermissionDenied, match="you are not allowed to add or delete documents here"):
        rules.check_manage(Actor("discord", "9", frozenset({"Guests"})), CHANNEL)


def test_bad_permission_settings_fail_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.settings import SettingsError, load_settings

    monkeypatch.setenv("TEAMBOT_ADMINS", "slack:U1,U2")
    with pytest.raises(SettingsError, match="TEAMBOT_ADMINS: 'U2' is not"):
        load_settings(_env_file=None)
