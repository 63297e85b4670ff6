"""How fast campaign messages may go out on each channel: the messaging apps cap how fast a
business may push, and a campaign that ignores the cap is refused (HTTP 429, WeChat's 45009)
or, on WeCom, silently dropped. A campaign paces itself below each cap: a recipient over it is
deferred (kept pending, counted in the report), never dropped.

The counters live in a ``limits`` storage, as the channels' own rate limits do: ``memory://``
in one hub, Redis when replicas share the pace. A short window (up to ``EXACT_UP_TO`` sends)
is a moving window, exact: no more than the rate in any stretch of that length. A long one
(a daily quota of 400,000) is a sliding-window counter: a moving window would keep a time stamp
per send, and its edge approximation is what the headroom below each quota absorbs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from limits import RateLimitItem, parse_many
from limits.aio.storage import MovingWindowSupport, SlidingWindowCounterSupport
from limits.aio.storage import Storage as AsyncStorage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from bot.marketing._errors import InvalidMarketingRequest

logger = logging.getLogger(__name__)

# What a campaign may push on each channel by default: about 80% of each platform's documented
# cap for a business's sends, the rest left for the bot's and agents' replies, which use the
# same API. A key "<channel>:<label>" paces a channel's other API (WeChat's template messages).
SEND_RATES: dict[str, str] = {
    # Telegram Bot FAQ, "My bot is hitting limits": bulk notifications to many users, "not more
    # than 30 messages per second or so"; in one chat one a second (a campaign sends one per
    # chat). https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this
    "telegram": "25/second",
    # Slack, "Rate limits": posting messages, 1 per second (chat.postMessage: per channel, under
    # an unpublished workspace-wide limit of "several hundred" a minute): the documented figure.
    # https://api.slack.com/docs/rate-limits
    "slack": "1/second",
    # WeChat Official Account, 接口调用频次限制: 发送客服消息 500,000 a day for a new account.
    # https://developers.weixin.qq.com/doc/offiaccount/Message_Management/API_Call_Limits.html
    "wechat": "400000/day",
    # WeChat 模板消息接口: 日调用上限 10万次 (100,000 a day; raised past 100k followers).
    # https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html
    "wechat:template_message": "80000/day",
    # WeCom 访问频率限制, 发送应用消息频率: per app, the account cap × 200 person-times a day
    # (200 seats: 40,000), 30 a minute to one member; past it messages are dropped unsent.
    # https://developer.work.weixin.qq.com/document/path/90454
    "wecom": "32000/day",
    # Feishu, 发送消息 (im/v1/messages): 1000 a minute and 50 a second per app, 5 QPS to one user.
    # https://open.feishu.cn/document/server-docs/im-v1/message/create
    "feishu": "40/second;800/minute",
    # DingTalk, 调用频率限制: an app of a standard-edition organisation calls a server API 20
    # times a second (professional 40, exclusive 60).
    # https://open.dingtalk.com/document/orgapp/invocation-frequency-limit
    "dingtalk": "16/second",
}
NAMESPACE = "campaign-pace"
# Windows of up to this many sends are exact (a moving window keeps one time stamp per send).
EXACT_UP_TO = 1000


def send_rates(overrides: Mapping[str, str]) -> dict[str, list[RateLimitItem]]:
    """``SEND_RATES`` with ``overrides`` (a channel's rate in ``limits`` notation, "25/second",
    "40/second;800/minute"; "" or "none" lifts the channel's limit); InvalidMarketingRequest
    names the bad one."""
    rates: dict[str, list[RateLimitItem]] = {}
    for key, text in {**SEND_RATES, **overrides}.items():
        if text.strip().lower() in ("", "none"):
            continue
        try:
            rates[key] = parse_many(text)
        except ValueError:
            raise InvalidMarketingRequest(
                f"the send rate of {key!r} must read like '25/second' or '40/second;800/minute', "
                f"not {text!r}"
            ) from None
    return rates


class SendPace:
    """Counts campaign sends per channel against its rates; a channel without one is unpaced."""

    def __init__(
        self, rates: Mapping[str, list[RateLimitItem]], storage_uri: str = "memory://"
    ) -> None:
        self.rates = {key: list(items) for key, items in rates.items() if items}
        uri = storage_uri if storage_uri.startswith("async+") else f"async+{storage_uri}"
        try:
            storage = storage_from_string(uri, implementation="redispy")
        except ConfigurationError:
            scheme = storage_uri.split("://", 1)[0]  # a storage URI may carry a password
            raise InvalidMarketingRequest(
                f"the campaign pace's storage {scheme!r} is not usable; use memory:// or "
                "redis://host:port"
            ) from None
        assert isinstance(storage, AsyncStorage)
        assert isinstance(storage, MovingWindowSupport | SlidingWindowCounterSupport)
        self._exact = MovingWindowRateLimiter(storage)
        self._counted = SlidingWindowCounterRateLimiter(storage)

    def paced(self, key: str) -> bool:
        """Whether sends on ``key`` have a rate."""
        return key in self.rates

    def _limiter(self, item: RateLimitItem) -> MovingWindowRateLimiter:
        if item.amount <= EXACT_UP_TO:
            return self._exact
        return self._counted  # type: ignore[return-value]  # same interface

    async def room(self, key: str) -> int | None:
        """How many sends ``key`` may make now (None: unpaced)."""
        items = self.rates.get(key)
        if not items:
            return None
        left = [
            (await self._limiter(i).get_window_stats(i, NAMESPACE, key)).remaining for i in items
        ]
        return max(0, min(left))

    async def wait(self, key: str) -> float:
        """Seconds until ``key`` may send again (0: now)."""
        waits = [0.0]
        for item in self.rates.get(key, []):
            stats = await self._limiter(item).get_window_stats(item, NAMESPACE, key)
            if stats.remaining <= 0:
                waits.append(stats.reset_time - time.time())
        return max(waits)

    async def take(self, key: str) -> bool:
        """Count one send on ``key`` if every one of its rates has room; False (counting
        nothing when the room was gone before) when one has none. Between the test and the
        count another worker may take the last place: then the rates counted before stay."""
        items = self.rates.get(key, [])
        for item in items:
            if not await self._limiter(item).test(item, NAMESPACE, key):
                return False
        for item in items:
            if not await self._limiter(item).hit(item, NAMESPACE, key):
                logger.debug("Campaign pace on %s: another worker took the last place", key)
                return False
        return True
