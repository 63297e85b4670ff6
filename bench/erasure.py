"""Erasure of one customer with 1,000 messages, 20 media files, tickets and Rasa's events for
their conversation; goal ≤ 5 s, and a later export finds nothing but the audit trail.

    .venv/bin/python -m bench.erasure [--messages 1000] [--media 20] [--tickets 5]

The hub's services as the wiring builds them, on SQLite in a temporary folder; Rasa's tracker
store is written by Rasa's own SQLTrackerStore (the Rasa environment). Seconds of the export
before the erasure, of the erasure, and of the export after it. Prints JSON; progress goes to
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bot.app import PROJECT_ROOT, HubServices, Settings, build_hub_services
from bot.conversations import InboundMessage
from bot.dialogue import DialogueUnavailable
from bot.privacy import Subject
from bot.tickets import TicketDraft
from channels.media import render_text_image, sniff_file, synthesize_speech
from tests.launch import free_port

logger = logging.getLogger("bench.erasure")

CUSTOMER = "bench-customer"
GOAL_S = 5.0
WRITE_EVENTS = """
import asyncio, sys
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=sys.argv[1])
tracker = DialogueStateTracker(sys.argv[2], None)
for i in range(int(sys.argv[3])):
    tracker.update(UserUttered(f"question {i}, phone 13812345678"))
    tracker.update(BotUttered(f"answer {i}"))
asyncio.run(store.save(tracker))
"""


async def seed(hub: HubServices, messages: int, media: int, tickets: int, var: Path) -> str:
    """The customer's data; returns their conversation id."""
    for i in range(messages // 2):
        text = f"Where is order YX26110{i:05d}? Call 13812345678"
        # Rasa is down on purpose: each message is kept, marked failed.
        with contextlib.suppress(DialogueUnavailable):
            await hub.conversations.receive(InboundMessage("rest", CUSTOMER, text))
    conversation_id = await hub.conversations.find("rest", CUSTOMER)
    assert conversation_id is not None
    for i in range(messages - messages // 2):
        await hub.conversations.post(conversation_id, f"Reply {i}", author="agent")
    sources = var / "sources"
    sources.mkdir()
    samples = [
        synthesize_speech("Where is my order?", "en", sources / "voice.wav"),
        render_text_image(["订单号：YX2611010001"], sources / "order.png"),
    ]
    store = hub.media.store
    for i in range(media):
        spool = store.incoming()
        shutil.copyfile(samples[i % 2], spool)
        sniffed = sniff_file(spool, filename=samples[i % 2].name)
        kept = await store.keep(spool, channel="rest", sender=CUSTOMER, media=sniffed)
        await store.settle(kept, status="accepted", text=f"text of file {i}")
    for i in range(tickets):
        draft = TicketDraft(CUSTOMER, f"Problem {i}", "Broken on arrival; call 13812345678")
        await hub.tickets.create(draft, actor="bench")
    await hub.consents.grant(CUSTOMER, "marketing", "rest")
    return conversation_id


def write_events(settings: Settings, conversation_id: str, turns: int) -> None:
    path = settings.var_dir / "rasa" / "tracker.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    python = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
    subprocess.run(
        [str(python), "-c", WRITE_EVENTS, str(path), conversation_id, str(turns)],
        check=True,
        capture_output=True,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false"},
    )


def summary(bundle: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        data = json.loads(archive.read("data.json"))
        files = [n for n in archive.namelist() if n.startswith("media/")]
    conversation = data["conversation"]
    return {
        "messages": len(conversation["messages"]) if conversation else 0,
        "media_files": len(files),
        "tickets": len(data["tickets"]),
        "dialogue_events": len(data["dialogue_events"]),
        "consents": len(data["consents"]),
        "audit_records": len(data["audit"]),
        "bytes": len(bundle),
    }


async def measure(var: Path, messages: int, media: int, tickets: int) -> dict[str, Any]:
    nobody = free_port()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, var_dir=var, rasa_port=nobody, actions_port=nobody, log_level="WARNING"
    )
    hub = build_hub_services(settings)
    await hub.database.migrate()
    await hub.dialogue.start()
    try:
        print("seeding", file=sys.stderr)
        conversation_id = await seed(hub, messages, media, tickets, var)
        write_events(settings, conversation_id, messages // 2)
        subject = Subject("rest", CUSTOMER)
        started = time.perf_counter()
        before = await hub.personal_data.export(subject, actor_kind="admin", actor_id="bench")
        export_s = time.perf_counter() - started
        started = time.perf_counter()
        report = await hub.personal_data.erase(subject, actor_kind="admin", actor_id="bench")
        erase_s = time.perf_counter() - started
        started = time.perf_counter()
        after = await hub.personal_data.export(subject, actor_kind="admin", actor_id="bench")
        export_after_s = time.perf_counter() - started
        left_on_disk = [p for p in (var / "media").rglob("*") if p.is_file()]
    finally:
        await hub.dialogue.close()
        hub.tracker_events.dispose()
        hub.database.dispose()
    found_after = summary(after)
    empty = all(found_after[k] == 0 for k in ("messages", "media_files", "tickets"))
    return {
        "customer": {"messages": messages, "media_files": media, "tickets": tickets},
        "export_before": {**summary(before), "seconds": round(export_s, 3)},
        "erasure": {**report.as_json(), "seconds": round(erase_s, 3)},
        "export_after": {**found_after, "seconds": round(export_after_s, 3)},
        "files_left_on_disk": len(left_on_disk),
        "goal_s": GOAL_S,
        "meets_goal": erase_s <= GOAL_S and empty and found_after["dialogue_events"] == 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--media", type=int, default=20)
    parser.add_argument("--tickets", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(measure(Path(folder), args.messages, args.media, args.tickets))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
