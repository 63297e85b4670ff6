"""Which settings turn each messaging app on: all of an app's are given (on), none (off), or
some (a half-configured app, which stops the hub with the names of those missing).

One table for the two that ask: the wiring, which mounts the apps that are on
(``configured_apps``), and the campaigns' conversation courier, which fails at once a message
for an app that is off, naming what turns it on, rather than leave it queued for no sender.
"""

from __future__ import annotations

from bot.app._settings import Settings

# The settings (``Settings`` field names) each app needs, in the order the README lists them.
APP_SETTINGS: dict[str, tuple[str, ...]] = {
    "wechat": ("wechat_app_id", "wechat_app_secret", "wechat_token"),
    "wecom": ("wecom_corp_id", "wecom_agent_id", "wecom_secret", "wecom_token", "wecom_aes_key"),
    "telegram": ("telegram_bot_token", "telegram_secret_token"),
    "slack": ("slack_bot_token", "slack_signing_secret"),
    "feishu": (
        "feishu_app_id",
        "feishu_app_secret",
        "feishu_verification_token",
        "feishu_encrypt_key",
    ),
    "dingtalk": ("dingtalk_app_key", "dingtalk_app_secret", "dingtalk_robot_code"),
}


def env_names(names: tuple[str, ...] | list[str]) -> str:
    """Settings as their environment variables, in words: "BOT_A, BOT_B and BOT_C"."""
    shown = [f"BOT_{n.upper()}" for n in names]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def apps_off(settings: Settings) -> dict[str, str]:
    """Each app none of whose settings is given, with what turns it on (a half-configured app
    is left to ``configured_apps``, which refuses to start the hub)."""
    return {
        app: f"the {app} channel is off: set {env_names(names)} to turn it on"
        for app, names in APP_SETTINGS.items()
        if not any(getattr(settings, name) for name in names)
    }
