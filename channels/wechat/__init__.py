"""The WeChat Official Account channel: ``/channels/wechat`` (plaintext or safe mode), replies
through the customer-service message API and the durable outbox."""

from wechatpy.crypto import WeChatCrypto

from channels.wechat._api import CHANNEL, REFUSED, TOKEN_EXPIRED, WeChatApi, render
from channels.wechat._router import PATH, build_router, normalize


def safe_mode(token: str, aes_key: str, app_id: str) -> WeChatCrypto:
    """wechatpy's crypto for safe mode; ``ValueError`` when the EncodingAESKey is malformed."""
    if len(aes_key) != 43:
        raise ValueError(
            f"BOT_WECHAT_AES_KEY must be the 43-character EncodingAESKey, not {len(aes_key)}"
        )
    try:
        return WeChatCrypto(token, aes_key, app_id)
    except (AssertionError, ValueError) as exc:
        raise ValueError("BOT_WECHAT_AES_KEY is not a valid EncodingAESKey (base64)") from exc


__all__ = [
    "CHANNEL",
    "PATH",
    "REFUSED",
    "TOKEN_EXPIRED",
    "WeChatApi",
    "build_router",
    "normalize",
    "render",
    "safe_mode",
]
