"""Catalogue and event files: CSV, JSON, JSON lines and MovieLens u.data; bad rows reported."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from bot.orders import FIXTURES
from bot.recommend import (
    CATALOGUE,
    CatalogueError,
    CatalogueItem,
    Event,
    EventImportError,
    RowProblem,
    load_catalogue,
    load_events,
)

DATA = Path(__file__).parent / "data" / "recommend"
HEADER = "id,name_zh,name_en,category,price,description_zh,description_en,stock,attributes,image"


def test_the_shipped_catalogue_is_the_order_fixtures_products() -> None:
    items, problems = load_catalogue(CATALOGUE)
    products = yaml.safe_load(FIXTURES.read_text(encoding="utf-8"))["products"]
    assert problems == []
    assert [(i.id, i.name_zh, i.name_en, i.category, i.price) for i in items] == [
        (p["sku"], p["name_zh"], p["name_en"], p["category"], float(p["price"])) for p in products
    ]
    assert all(i.description_zh and i.description_en and i.stock is not None for i in items)


def test_csv_catalogue_with_bad_rows_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text(
        "\n".join(
            [
                HEADER,
                'A1,降噪耳机,ANC headphones,audio,299,好耳机,good,5,"{""colour"": ""black""}",a.png',
                "A2,茶,Tea,food,abc,,,,,",
                "A3,,Mug,home,20,,,,,",
                "A4,杯子,Mug,home,20,,,-1,,",
                "A5,杯子,Mug,home,20,,,,colour=red; size=L,",
                "A1,重复,Duplicate,audio,1,,,,,",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    items, problems = load_catalogue(path)
    assert items == [
        CatalogueItem(
            "A1",
            "降噪耳机",
            "ANC headphones",
            "audio",
            299.0,
            "好耳机",
            "good",
            5,
            {"colour": "black"},
            "a.png",
        ),
        CatalogueItem(
            "A5", "杯子", "Mug", "home", 20.0, "", "", None, {"colour": "red", "size": "L"}, None
        ),
    ]
    assert problems == [
        RowProblem(3, "price 'abc' is not a number"),
        RowProblem(4, "missing name_zh"),
        RowProblem(5, "stock -1 must be zero or more"),
        RowProblem(7, "item id 'A1' appears twice; keep one row"),
    ]


def test_json_array_catalogue_reports_the_line_of_each_bad_object(tmp_path: Path) -> None:
    path = tmp_path / "items.json"
    good = {"id": "B1", "name_zh": "书", "name_en": "Book", "category": "books", "price": 30}
    path.write_text("[\n" + json.dumps(good) + ',\n  {"id": "B2"},\n  7\n]\n', encoding="utf-8")
    items, problems = load_catalogue(path)
    assert [i.id for i in items] == ["B1"]
    assert problems == [
        RowProblem(3, "missing name_zh, name_en, category, price"),
        RowProblem(4, "not a JSON object"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("items.txt", "x", "must end in .csv, .json or .jsonl"),
        ("items.csv", "id,name\nA,B\n", "has no column(s) name_zh, name_en, category, price"),
        ("items.json", '{"id": 1}', "must hold a JSON array"),
        ("items.json", '[{"id": 1}', "is not valid JSON"),
    ],
)
def test_unreadable_catalogues_say_what_to_fix(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_catalogue(path)


def test_missing_catalogue_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "none.csv")


def test_movielens_fixture_loads_with_two_bad_rows() -> None:
    events, problems = load_events(DATA / "u.data", "movielens")
    assert len(events) == 40
    assert problems == [
        RowProblem(8, "value 'five' is not a number"),
        RowProblem(16, "expected 4 tab-separated fields (user, item, rating, timestamp), found 1"),
    ]
    first = DATA.joinpath("u.data").read_text().splitlines()[0].split("\t")
    assert events[0] == Event(
        first[0], first[1], "rating", datetime.fromtimestamp(int(first[3]), UTC), float(first[2])
    )


def test_csv_events_with_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,kind,at,value,channel,device,query\n"
        "c1,A1,view,2026-11-30T10:00:00+08:00,,webchat,mobile,\n"
        "c1,A1,like,2026-11-30T10:00:00Z,,,,\n"
        "c1,A1,rating,2026-11-30T10:00:00Z,,,,\n"
        "c2,A2,search,yesterday,,,,earphones\n"
        ",A2,click,2026-11-30,,,,\n"
        "c2,A2,purchase,2026-11-30 12:00:00,,wechat,desktop,\n",
        encoding="utf-8",
    )
    events, problems = load_events(path, "csv")
    assert events == [
        Event(
            "c1", "A1", "view", datetime(2026, 11, 30, 2, 0, tzinfo=UTC), None, "webchat", "mobile"
        ),
        Event(
            "c2",
            "A2",
            "purchase",
            datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
            None,
            "wechat",
            "desktop",
        ),
    ]
    assert problems == [
        RowProblem(
            3,
            "kind 'like' is not one of view, search, click, cart, purchase, rating, return, "
            "dismiss",
        ),
        RowProblem(4, "a rating needs a value between 0 and 10"),
        RowProblem(5, "time 'yesterday' is neither ISO 8601 nor Unix seconds"),
        RowProblem(6, "missing user_id"),
    ]


def test_json_lines_events(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"user_id": "u", "item_id": "i", "kind": "cart", "at": 1764547200}\n'
        "\n"
        "{not json}\n"
        '["u", "i"]\n'
        '{"user_id": "u", "item_id": "i", "kind": "return", "at": "2026-12-01T00:00:00Z"}\n',
        encoding="utf-8",
    )
    events, problems = load_events(path, "jsonl")
    assert [(e.kind, e.at) for e in events] == [
        ("cart", datetime(2025, 12, 1, tzinfo=UTC)),
        ("return", datetime(2026, 12, 1, tzinfo=UTC)),
    ]
    assert problems == [
        RowProblem(3, "not valid JSON (Expecting property name enclosed in double quotes)"),
        RowProblem(4, "not a JSON object"),
    ]


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("xml", "", "unknown events format 'xml'; use one of csv, movielens, jsonl"),
        ("csv", "user,item\n", r"has no column\(s\) user_id, item_id, kind, at"),
    ],
)
def test_unreadable_event_files_say_what_to_fix(
    tmp_path: Path, fmt: str, content: str, message: str
) -> None:
    path = tmp_path / "events"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EventImportError, match=message):
        load_events(path, fmt)
