"""The WeCom (企业微信) channel: ``/channels/wecom`` (callback crypto), replies through the
app-message API and the durable outbox."""

from wechatpy.enterprise.crypto import WeChatCrypto

from channels.wecom._api import CHANNEL, REFUSED, TOKEN_EXPIRED, WeComApi, render
from channels.wecom._router import PATH, build_router, normalize


def callback_crypto(token: str, aes_key: str, corp_id: str) -> WeChatCrypto:
    """wechatpy's WeCom crypto; ``ValueError`` when the EncodingAESKey is malformed."""
    if len(aes_key) != 43:
        raise ValueError(
            f"BOT_WECOM_AES_KEY must be the 43-character EncodingAESKey, not {len(aes_key)}"
        )
    try:
        return WeChatCrypto(token, aes_key, corp_id)
    except (AssertionError, ValueError) as exc:
        raise ValueError("BOT_WECOM_AES_KEY is not a valid EncodingAESKey (base64)") from exc


__all__ = [
    "CHANNEL",
    "PATH",
    "REFUSED",
    "TOKEN_EXPIRED",
    "WeComApi",
    "build_router",
    "callback_crypto",
    "normalize",
    "render",
]
