"""``bench.security --http`` at a tiny size: the real hub over HTTP, the guesser and the agent in
processes of their own. What the report says, not how fast (speed goals live in bench/)."""

from __future__ import annotations

from bench.security_http import login_under_guessing_http


async def test_the_guesser_is_locked_out_and_the_agent_from_another_address_is_not() -> None:
    report = await login_under_guessing_http(rate=40, seconds=1, quiet_seconds=0.6, connections=8)
    guesser = report["guesser"]
    # Five passwords checked (the default BOT_CONSOLE_LOGIN_MAX_FAILURES), the rest refused.
    assert (guesser["statuses"], guesser["password_checks"], guesser["connection_errors"]) == (
        {"401": 5, "429": 35},
        5,
        0,
    )
    assert guesser["lockout_detail"].startswith("too many failed logins")
    # The hub took X-Forwarded-For from loopback: the agent's address is not the guesser's.
    for phase in ("quiet", "under_flood"):
        agent = report["real_agent"][phase]
        assert (agent["success_rate"], agent["refused"]) == (1.0, 0), phase
    assert set(report) == {
        "how",
        "guesser",
        "real_agent",
        "hub_cpu_share_under_flood",
        "load_average_1_5_15",
    }
