"""The running platform: `bot run` ingested the sample knowledge base and the action server answers
from it."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest

from tests.launch import PlatformProcess

pytestmark = pytest.mark.integration


def run_action(platform: PlatformProcess, text: str, language: str) -> dict[str, Any]:
    tracker = {
        "sender_id": "customer-kb",
        "slots": {"language": language},
        "latest_message": {"text": text, "intent": {"name": "ask_knowledge", "confidence": 0.9}},
        "events": [],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
    }
    response = httpx.post(
        f"{platform.actions_url}/webhook",
        json={
            "next_action": "action_answer_from_knowledge",
            "sender_id": "customer-kb",
            "tracker": tracker,
            "domain": {},
            "version": "3.6.21",
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_action_server_answers_from_the_sample_knowledge_base(
    platform: PlatformProcess,
) -> None:
    zh = run_action(platform, "无理由退货的运费谁出？", "zh")
    (message,) = zh["responses"]
    assert message["text"].startswith(
        "质量问题退换货运费由我们承担。无理由退货运费由顾客承担，统一10元"
    )
    assert "\n\n参考资料：\n[1] 退货运费谁出？" in message["text"]
    assert message["custom"]["citations"][0]["doc_id"] == "returns-shipping-fee"
    assert zh["events"] == []

    en = run_action(platform, "Can I pay with WeChat?", "en")
    assert en["responses"][0]["text"].startswith("We accept Alipay, WeChat Pay")

    # Declined: any entries it came close to ("did you mean…?"), then a human or a ticket.
    unknown = run_action(platform, "你们公司的股票代码是多少", "zh")
    (declined,) = unknown["responses"]
    assert declined["custom"]["knowledge"]["abstained"] is True
    assert [b["payload"] for b in declined["buttons"]][-2:] == ["/request_human", "/open_ticket"]


def test_what_the_knowledge_base_could_not_answer_is_listed(platform: PlatformProcess) -> None:
    asked = [
        ("store-1", "你们有线下门店吗"),
        ("store-2", "你们有线下门店吗？"),
        ("store-3", "do you have a physical store in Shanghai"),
    ]
    for sender, text in asked:
        response = httpx.post(
            f"{platform.hub_url}/api/messages",
            json={"sender": f"{sender}-{uuid.uuid4().hex[:6]}", "text": text},
            timeout=60,
        )
        assert response.status_code == 200, response.text
    listed = subprocess.run(
        [sys.executable, "-m", "bot", "kb", "unanswered", "--days", "1"],
        env=platform.env,
        capture_output=True,
        text=True,
        check=True,
    )
    questions = {q["question"]: q for q in json.loads(listed.stdout)["questions"]}
    # The two wordings of one question are one line, in the latest wording.
    assert questions["你们有线下门店吗？"]["asked"] == 2
    assert questions["你们有线下门店吗？"]["language"] == "zh"
    assert questions["do you have a physical store in Shanghai"]["asked"] == 1
    # Asked again: the sample knowledge base still has no answer.
    assert questions["你们有线下门店吗？"]["answered_now"] is False
    assert "你们有线下门店吗" not in questions
