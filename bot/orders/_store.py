"""The demo order store: one SQLite file, created and seeded from the fixtures file on first use."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import yaml

from bot.orders._errors import FixturesError
from bot.orders._models import (
    CATEGORIES,
    ORDER_STATUSES,
    PRODUCT_KINDS,
    TIERS,
    Order,
    OrderItem,
    Product,
)

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS seeded (seeded_on TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, phone TEXT NOT NULL, tier TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS products (
    sku TEXT PRIMARY KEY, name_zh TEXT NOT NULL, name_en TEXT NOT NULL, category TEXT NOT NULL,
    price INTEGER NOT NULL, kind TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS orders (
    id TEXT PRIMARY KEY, customer_id TEXT NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL, placed_on TEXT NOT NULL, shipped_on TEXT, delivered_on TEXT,
    carrier TEXT, tracking_number TEXT, address TEXT NOT NULL, recipient TEXT NOT NULL,
    phone TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id);
CREATE TABLE IF NOT EXISTS order_items (
    order_id TEXT NOT NULL REFERENCES orders(id), sku TEXT NOT NULL REFERENCES products(sku),
    quantity INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL REFERENCES orders(id),
    at TEXT NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL);
"""


class OrderStore:
    """Rows in and out of the SQLite file; no rules here (see ``_policy``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # A connection per operation: the action server calls from several tasks at once.
        connection = sqlite3.connect(self.path, timeout=10)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys = ON")
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def ensure_seeded(self, fixtures: Path, today: date) -> None:
        """Create the tables and load ``fixtures`` (dates relative to ``today``) once."""
        data = _read_fixtures(fixtures) if not self._is_seeded() else None
        if data is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(SCHEMA)
            # Two processes may start at once: the second finds the first one's rows.
            db.execute("BEGIN IMMEDIATE")
            if db.execute("SELECT 1 FROM seeded").fetchone() is not None:
                return
            _insert_fixtures(db, data, today)
            db.execute("INSERT INTO seeded VALUES (?)", (today.isoformat(),))
        logger.info("Seeded the order store with %d orders", len(data["orders"]))

    def _is_seeded(self) -> bool:
        if not self.path.exists():
            return False
        with self._connect() as db:
            has_table = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seeded'"
            ).fetchone()
            return bool(has_table) and db.execute("SELECT 1 FROM seeded").fetchone() is not None

    def order(self, order_id: str) -> Order | None:
        with self._connect() as db:
            row = db.execute(_ORDER_SELECT + " WHERE o.id = ?", (order_id,)).fetchone()
            return None if row is None else _order(db, row)

    def orders_of(self, customer_id: str) -> list[Order]:
        with self._connect() as db:
            rows = db.execute(
                _ORDER_SELECT + " WHERE o.customer_id = ? ORDER BY o.placed_on DESC, o.id DESC",
                (customer_id,),
            ).fetchall()
            return [_order(db, row) for row in rows]

    def customer_ids(self) -> list[str]:
        with self._connect() as db:
            return [str(r["id"]) for r in db.execute("SELECT id FROM customers ORDER BY id")]

    def tier_of(self, customer_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT tier FROM customers WHERE id = ?", (customer_id,)).fetchone()
            return None if row is None else str(row["tier"])

    def products(self) -> list[Product]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM products ORDER BY price, sku").fetchall()
            return [_product(row) for row in rows]

    def update(
        self, order_id: str, changes: dict[str, str], event: str, detail: str, today: date
    ) -> None:
        """Change columns of one order and record why, in one transaction."""
        columns = ", ".join(f"{name} = ?" for name in changes)
        with self._connect() as db:
            db.execute(f"UPDATE orders SET {columns} WHERE id = ?", (*changes.values(), order_id))
            db.execute(
                "INSERT INTO order_events (order_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                (order_id, today.isoformat(), event, detail),
            )

    def insert(self, order: Order, today: date) -> str:
        """Store a new order with the next free id of its day (YX + yymmdd + 4 digits); the id.
        The customer and products must exist (their foreign keys say so)."""
        prefix = f"YX{today:%y%m%d}"
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # two processes placing at once get different ids
            last = db.execute(
                "SELECT max(id) FROM orders WHERE id LIKE ?", (prefix + "%",)
            ).fetchone()[0]
            order_id = f"{prefix}{int(last[-4:]) + 1 if last else 1:04d}"
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, NULL, NULL, NULL, NULL, ?, ?, ?)",
                (
                    order_id,
                    order.customer_id,
                    order.status,
                    order.placed_on.isoformat(),
                    order.address,
                    order.recipient,
                    order.phone,
                ),
            )
            db.executemany(
                "INSERT INTO order_items VALUES (?, ?, ?)",
                [(order_id, i.product.sku, i.quantity) for i in order.items],
            )
            db.execute(
                "INSERT INTO order_events (order_id, at, kind, detail) VALUES (?, ?, ?, ?)",
                (order_id, today.isoformat(), "placed", ""),
            )
        return order_id

    def events(self, order_id: str) -> list[tuple[str, str]]:
        """(kind, detail) of every change made to an order, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT kind, detail FROM order_events WHERE order_id = ? ORDER BY id", (order_id,)
            ).fetchall()
            return [(row["kind"], row["detail"]) for row in rows]


_ORDER_SELECT = (
    "SELECT o.*, c.tier AS customer_tier FROM orders o JOIN customers c ON c.id = o.customer_id"
)


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _product(row: sqlite3.Row) -> Product:
    return Product(
        row["sku"], row["name_zh"], row["name_en"], row["category"], row["price"], row["kind"]
    )


def _order(db: sqlite3.Connection, row: sqlite3.Row) -> Order:
    items = db.execute(
        "SELECT p.*, i.quantity FROM order_items i JOIN products p ON p.sku = i.sku"
        " WHERE i.order_id = ? ORDER BY i.rowid",
        (row["id"],),
    ).fetchall()
    return Order(
        id=row["id"],
        customer_id=row["customer_id"],
        customer_tier=row["customer_tier"],
        status=row["status"],
        placed_on=date.fromisoformat(row["placed_on"]),
        shipped_on=_day(row["shipped_on"]),
        delivered_on=_day(row["delivered_on"]),
        carrier=row["carrier"],
        tracking_number=row["tracking_number"],
        address=row["address"],
        recipient=row["recipient"],
        phone=row["phone"],
        items=tuple(OrderItem(_product(item), item["quantity"]) for item in items),
    )


def _read_fixtures(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise FixturesError(f"cannot read the order fixtures {path}: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(data.get(key), list) for key in ("customers", "products", "orders")
    ):
        raise FixturesError(f"{path} must hold the lists customers, products and orders")
    return cast(dict[str, Any], data)


def _check(value: Any, allowed: tuple[str, ...], what: str, where: str) -> str:
    if value not in allowed:
        raise FixturesError(f"{where}: {what} {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _insert_fixtures(db: sqlite3.Connection, data: dict[str, Any], today: date) -> None:
    def ago(days: Any) -> str | None:
        return None if days is None else (today - timedelta(days=int(days))).isoformat()

    try:
        for c in data["customers"]:
            tier = _check(c["tier"], TIERS, "tier", f"customer {c['id']}")
            db.execute(
                "INSERT INTO customers VALUES (?, ?, ?, ?)", (c["id"], c["name"], c["phone"], tier)
            )
        for p in data["products"]:
            where = f"product {p['sku']}"
            category = _check(p["category"], CATEGORIES, "category", where)
            kind = _check(p["kind"], PRODUCT_KINDS, "kind", where)
            db.execute(
                "INSERT INTO products VALUES (?, ?, ?, ?, ?, ?)",
                (p["sku"], p["name_zh"], p["name_en"], category, int(p["price"]), kind),
            )
        for o in data["orders"]:
            status = _check(o["status"], ORDER_STATUSES, "status", f"order {o['id']}")
            db.execute(
                "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    o["id"],
                    o["customer"],
                    status,
                    ago(o["placed_days_ago"]),
                    ago(o.get("shipped_days_ago")),
                    ago(o.get("delivered_days_ago")),
                    o.get("carrier"),
                    o.get("tracking_number"),
                    o["address"],
                    o["recipient"],
                    str(o["phone"]),
                ),
            )
            for item in o["items"]:
                db.execute(
                    "INSERT INTO order_items VALUES (?, ?, ?)",
                    (o["id"], item["sku"], int(item["quantity"])),
                )
    except (KeyError, TypeError, ValueError) as exc:
        raise FixturesError(f"the order fixtures are malformed: {exc!r}") from exc
    except sqlite3.IntegrityError as exc:
        raise FixturesError(f"the order fixtures are inconsistent: {exc}") from exc
