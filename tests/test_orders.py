"""The order store and service on a real SQLite file seeded from the project's fixtures."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

import bot.orders as orders
from bot.orders import (
    Budget,
    FixturesError,
    InvalidAddress,
    InvalidOrder,
    InvalidOrderId,
    InvalidStateChange,
    OrderChange,
    OrderNotFound,
    OrdersError,
    OrderService,
    classify_return_reason,
    normalize_order_id,
    parse_budget,
    phone_last4_from,
)

TODAY = date(2026, 11, 28)


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OrderService:
    # The store dates the fixtures relative to the day it is seeded: pin that day.
    monkeypatch.setattr(OrderService, "today", lambda self: TODAY)
    return OrderService(tmp_path / "orders.db")


def days_ago(days: int) -> date:
    return TODAY - timedelta(days=days)


@pytest.mark.parametrize(
    "text",
    [
        "YX2611010001",
        "yx2611010001",
        "yx 2611 010 001",
        "2611010001",
        " YX-2611010001 ",
        "#2611010001",
    ],
)
def test_order_ids_are_normalized(text: str) -> None:
    assert normalize_order_id(text) == "YX2611010001"


@pytest.mark.parametrize(
    "text", ["", "YX26110100", "YX26110100012", "AB2611010001", "订单", "13800138000"]
)
def test_malformed_order_ids_say_what_is_expected(text: str) -> None:
    with pytest.raises(InvalidOrderId, match="expected YX and 10 digits"):
        normalize_order_id(text)


def test_the_fixtures_hold_at_least_50_orders_of_every_status() -> None:
    data = yaml.safe_load(orders.FIXTURES.read_text(encoding="utf-8"))
    assert len(data["orders"]) >= 50
    assert {o["status"] for o in data["orders"]} == set(orders.ORDER_STATUSES)


def test_an_order_is_read_whole(service: OrderService) -> None:
    order = service.get("yx 2611 010 001")
    assert (order.id, order.customer_id, order.status, order.customer_tier) == (
        "YX2611010001",
        "customer-001",
        "delivered",
        "silver",
    )
    assert (order.placed_on, order.shipped_on, order.delivered_on) == (
        days_ago(6),
        days_ago(5),
        days_ago(3),
    )
    assert order.item_names("en") == "Sony WH-1000XM5 headphones ×1"
    assert order.item_names("zh") == "索尼 WH-1000XM5 降噪耳机 ×1"
    assert order.total == 2299
    assert order.carrier in {"sf", "jd", "zto"}
    assert order.tracking_number


def test_unknown_order(service: OrderService) -> None:
    with pytest.raises(OrderNotFound, match="YX2699999999"):
        service.get("2699999999")


def test_orders_of_a_customer_newest_first(service: OrderService) -> None:
    found = service.orders_of("customer-001")
    assert [o.id for o in found][:3] == ["YX2611010004", "YX2611010003", "YX2611010002"]
    placed = [o.placed_on for o in found]
    assert placed == sorted(placed, reverse=True)
    assert {f"YX261101000{n}" for n in range(1, 6)} <= {o.id for o in found}
    assert all(o.customer_id == "customer-001" for o in found)
    assert service.orders_of("nobody") == []


def test_phone_verification_takes_the_last_four_digits(service: OrderService) -> None:
    order = service.get("YX2611010001")
    last4 = order.phone[-4:]
    assert service.phone_matches(order, f"尾号{last4}")
    assert service.phone_matches(order, order.phone)
    assert not service.phone_matches(order, "0000" if last4 != "0000" else "1111")
    assert not service.phone_matches(order, "no digits")


@pytest.mark.parametrize(
    ("order_id", "reason", "code", "kind", "deadline_days_ago", "fee"),
    [
        ("YX2611010001", "不想要了", "eligible", "no_reason", -4, 10),  # delivered 3 days ago
        ("YX2611010001", "屏幕坏了", "eligible", "quality", -12, 0),
        ("YX2611010005", "changed my mind", "no_reason_window_passed", "no_reason", 3, 0),
        ("YX2611010005", "it arrived damaged", "eligible", "quality", -5, 0),
        ("YX2611010006", "broken", "window_passed", "quality", 20, 0),  # delivered 35 days ago
        ("YX2611010007", "不喜欢", "item_excluded", "no_reason", -1, 0),  # underwear
        ("YX2611010007", "有破损", "eligible", "quality", -9, 0),
        ("YX2611010002", "不要了", "not_delivered", "no_reason", None, 0),  # shipped
        ("YX2611010009", "不要了", "cancelled", "no_reason", None, 0),
        ("YX2611010010", "不要了", "already_returning", "no_reason", None, 0),
    ],
)
def test_return_eligibility_follows_the_policy(
    service: OrderService,
    order_id: str,
    reason: str,
    code: str,
    kind: str,
    deadline_days_ago: int | None,
    fee: int,
) -> None:
    decision = service.return_eligibility(order_id, reason, TODAY)
    deadline = None if deadline_days_ago is None else days_ago(deadline_days_ago)
    assert (decision.code, decision.kind, decision.deadline, decision.shipping_fee) == (
        code,
        kind,
        deadline,
        fee,
    )
    assert decision.eligible is (code == "eligible")


def test_gold_members_return_for_free(service: OrderService) -> None:
    # customer-002 is Gold; YX2611010011 is not theirs, so build the case from their own order.
    order = next(o for o in service.orders_of("customer-002") if o.status == "delivered")
    assert order.customer_tier == "gold"
    decision = service.return_eligibility(order.id, "quality issue", TODAY)
    assert decision.shipping_fee == 0


def test_the_return_window_moves_with_today(service: OrderService) -> None:
    assert service.return_eligibility(
        "YX2611010001", "不想要了", TODAY + timedelta(days=4)
    ).eligible
    late = service.return_eligibility("YX2611010001", "不想要了", TODAY + timedelta(days=5))
    assert late.code == "no_reason_window_passed"


def test_request_return_changes_the_status_and_records_why(service: OrderService) -> None:
    returned = service.request_return("YX2611010001", "尺码不合适", TODAY)
    assert returned.status == "return_requested"
    assert service.history("YX2611010001") == [("return_requested", "no_reason: 尺码不合适")]
    with pytest.raises(InvalidStateChange, match="already_returning") as raised:
        service.request_return("YX2611010001", "尺码不合适", TODAY)
    assert raised.value.code == "already_returning"


def test_an_ineligible_return_changes_nothing(service: OrderService) -> None:
    with pytest.raises(InvalidStateChange) as raised:
        service.request_return("YX2611010005", "don't like it", TODAY)
    assert raised.value.code == "no_reason_window_passed"
    assert service.get("YX2611010005").status == "delivered"
    assert service.history("YX2611010005") == []


@pytest.mark.parametrize("order_id", ["YX2611010003", "YX2611010004"])  # paid, pending_payment
def test_orders_before_shipping_can_be_cancelled(service: OrderService, order_id: str) -> None:
    assert service.cancel(order_id).status == "cancelled"
    assert service.history(order_id) == [("cancelled", "")]


@pytest.mark.parametrize(
    ("order_id", "code"),
    [
        ("YX2611010002", "after_shipping"),
        ("YX2611010001", "after_shipping"),
        ("YX2611010009", "cancelled"),
        ("YX2611010010", "in_return"),
    ],
)
def test_cancel_and_address_change_refuse_after_shipping(
    service: OrderService, order_id: str, code: str
) -> None:
    before = service.get(order_id)
    with pytest.raises(InvalidStateChange, match=before.status) as cancel:
        service.cancel(order_id)
    with pytest.raises(InvalidStateChange) as readdress:
        service.change_address(order_id, "上海市徐汇区漕溪北路88号")
    assert cancel.value.code == readdress.value.code == code
    assert service.get(order_id) == before


def test_address_change_before_shipping(service: OrderService) -> None:
    old = service.get("YX2611010003").address
    changed = service.change_address("YX2611010003", "  上海市徐汇区   漕溪北路88号 ")
    assert changed.address == "上海市徐汇区 漕溪北路88号"
    assert service.history("YX2611010003") == [("address_changed", f"from: {old}")]


@pytest.mark.parametrize("address", ["", "北京", "x" * 201])
def test_bad_addresses_are_refused_and_nothing_changes(service: OrderService, address: str) -> None:
    before = service.get("YX2611010003")
    with pytest.raises(InvalidAddress, match="6 to 200 characters"):
        service.change_address("YX2611010003", address)
    assert service.get("YX2611010003") == before


def test_the_store_is_seeded_once_and_keeps_changes(tmp_path: Path) -> None:
    first = OrderService(tmp_path / "orders.db")
    first.cancel("YX2611010003")
    again = OrderService(tmp_path / "orders.db")
    assert again.get("YX2611010003").status == "cancelled"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "must hold the lists"),
        ("customers: []\nproducts: []\norders: [{id: YX1}]", "malformed"),
        (
            "customers: [{id: c, name: n, phone: '1', tier: diamond}]\nproducts: []\norders: []",
            "tier 'diamond' is not one of",
        ),
        ("customers: [\n", "cannot read"),
    ],
)
def test_bad_fixtures_are_refused_and_leave_no_store(
    tmp_path: Path, content: str, message: str
) -> None:
    fixtures = tmp_path / "fixtures.yml"
    fixtures.write_text(content, encoding="utf-8")
    with pytest.raises(FixturesError, match=message):
        OrderService(tmp_path / "orders.db", fixtures=fixtures)
    # Nothing half-seeded: a later start with good fixtures seeds cleanly.
    assert OrderService(tmp_path / "orders.db").get("YX2611010001").id == "YX2611010001"


def test_products_by_category_and_budget(service: OrderService) -> None:
    found = service.products("electronics", Budget(None, 2000))
    assert [p.sku for p in found] == ["EL-003", "EL-007", "EL-006"]
    assert all(p.category == "electronics" and p.price <= 2000 for p in found)
    assert service.products("books", Budget(10000, None)) == []


@pytest.mark.parametrize(
    ("text", "budget"),
    [
        ("两千以内", Budget(None, 2000)),
        ("1000-2000元", Budget(1000, 2000)),
        ("一千到两千", Budget(1000, 2000)),
        ("一千五左右", Budget(1200, 1800)),
        ("3000以上", Budget(3000, None)),
        ("500块", Budget(None, 500)),
        ("under $300", Budget(None, 2100)),
        ("around 500 yuan", Budget(400, 600)),
        ("between 100 and 200", Budget(100, 200)),
        ("预算1.5万", Budget(None, 15000)),
        ("随便", None),
    ],
)
def test_budgets_are_read(text: str, budget: Budget | None) -> None:
    assert parse_budget(text) == budget


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("屏幕坏了", "quality"),
        ("收到就是破损的", "quality"),
        ("发错货了", "quality"),
        ("it arrived damaged", "quality"),
        ("doesn't work", "quality"),
        ("尺码不合适", "no_reason"),
        ("changed my mind", "no_reason"),
    ],
)
def test_return_reasons_are_classified(text: str, kind: str) -> None:
    assert classify_return_reason(text) == kind


@pytest.mark.parametrize(
    ("text", "last4"),
    [("尾号8001", "8001"), ("13800138001", "8001"), ("it's 1234", "1234"), ("12", None)],
)
def test_phone_endings_are_read(text: str, last4: str | None) -> None:
    assert phone_last4_from(text) == last4


def test_every_public_error_is_an_orders_error() -> None:
    errors = [FixturesError, InvalidAddress, InvalidOrderId, InvalidStateChange, OrderNotFound]
    assert all(issubclass(e, OrdersError) for e in errors)
    assert set(orders.__all__) >= {e.__name__ for e in errors}


@pytest.mark.parametrize(
    ("customer_id", "verified", "allowed"),
    [
        ("customer-001", [], True),  # the sender's own order
        ("customer-002", [], False),
        (None, [], False),  # an anonymous sender (web chat)
        (None, ["YX2611010001"], True),  # verified by the phone's last four digits
        ("customer-002", ["YX2611010002"], False),  # verifying another order does not count
    ],
)
def test_who_may_see_an_order(
    service: OrderService, customer_id: str | None, verified: list[str], allowed: bool
) -> None:
    order = service.get("YX2611010001")
    assert order.customer_id == "customer-001"
    assert service.may_see(order, customer_id, verified) is allowed
    assert orders.may_see(order, customer_id, verified) is allowed


def test_phone_attempts_are_limited() -> None:
    assert [OrderService.phone_attempts_left(n) for n in range(5)] == [3, 2, 1, 0, 0]
    assert orders.MAX_PHONE_ATTEMPTS == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("  上海市徐汇区   漕溪北路88号 ", "上海市徐汇区 漕溪北路88号"),
        ("100 Century Ave, Pudong, Shanghai", "100 Century Ave, Pudong, Shanghai"),
    ],
)
def test_addresses_are_tidied(text: str, expected: str) -> None:
    assert orders.clean_address(text) == expected == OrderService.clean_address(text)


@pytest.mark.parametrize("address", ["", "   ", "北京", "x" * 201])
def test_bad_addresses_say_what_an_address_needs(address: str) -> None:
    with pytest.raises(InvalidAddress, match="needs 6 to 200 characters"):
        orders.clean_address(address)


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("8001", "8001"),
        ("尾号是8001", "8001"),
        ("it ends with 8001", "8001"),
        ("138 0013 8001", "8001"),
        ("13800138001", "8001"),
        ("1234吧", "1234"),
        # New messages, not wrong digits: they must not count as failed attempts.
        ("预算2000以内", None),
        ("预算300左右", None),
        ("YX2611010005", None),
        ("算了，帮我推荐个耳机吧", None),
        ("help me change my address to 上海市浦东新区世纪大道100号", None),
        ("能退货吗", None),
        ("what is your return policy for items bought 1234 days ago", None),
    ],
)
def test_phone_answers_are_told_from_new_messages(text: str, digits: str | None) -> None:
    assert orders.phone_answer_from(text) == digits


def test_order_ids_are_found_in_free_text() -> None:
    text = "查一下订单YX2611010001，顺便问下 yx 2611 010 002 和 2611010003"
    assert orders.order_ids_in(text) == ["YX2611010001", "YX2611010002", "YX2611010003"]
    assert orders.order_ids_in("电话13800138001") == []


def test_the_nlu_order_id_regex_is_the_module_pattern() -> None:
    entities = yaml.safe_load(
        (Path(__file__).resolve().parents[1] / "nlu_data/train/entities.yml").read_text("utf-8")
    )
    regex = next(item for item in entities["nlu"] if item.get("regex") == "order_id")
    assert regex["examples"].strip() == f"- {orders.ORDER_ID_PATTERN}"


@pytest.mark.parametrize(
    ("text", "wrong"),
    [
        ("wait, wrong order", True),
        ("that's not the right order", True),
        ("订单号不对", True),
        ("不是这个订单", True),
        ("换一个订单", True),
        ("actually no, keep it", False),
        ("不退了", False),
        ("where is my order", False),
    ],
)
def test_a_wrong_order_is_recognised(text: str, wrong: bool) -> None:
    assert orders.names_wrong_order(text) is wrong


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("help me change my address to 上海市浦东新区世纪大道100号", "上海市浦东新区世纪大道100号"),
        ("订单YX2611010025的地址改成北京市朝阳区建国路88号", "北京市朝阳区建国路88号"),
        (
            "update my address to 88 Nanjing Road, Huangpu, Shanghai",
            "88 Nanjing Road, Huangpu, Shanghai",
        ),
        ("the order is YX2611010015", None),  # an order id is never an address
        ("send it to YX2611010001", None),
        ("I need to change my address", None),
        ("改地址", None),
        ("我要改地址", None),
        # The verb before 地址: "改地址到…", "修改收货地址为…", "换地址：…".
        ("改地址到深圳市南山区科技园南路2号", "深圳市南山区科技园南路2号"),
        ("修改收货地址为北京市朝阳区建国路88号", "北京市朝阳区建国路88号"),
        ("换地址：杭州市西湖区文三路5号", "杭州市西湖区文三路5号"),
    ],
)
def test_an_address_given_with_the_request(text: str, address: str | None) -> None:
    assert orders.address_given(text) == address


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("我要开发票", "invoice"),
        ("你们有没有实体店", "physical_store"),
        ("帮我办个分期", "installments"),
        ("给我出一份报价单", "quotation"),
        ("I need an invoice", "invoice"),
        ("can I visit one of your shops", "physical_store"),
        ("帮我约个师傅上门安装", "other"),
    ],
)
def test_unsupported_services_are_named(text: str, service: str) -> None:
    assert orders.unsupported_service(text) == service
    assert service in orders.UNSUPPORTED_SERVICES


def test_a_placed_order_is_stored_numbered_and_told(service: OrderService) -> None:
    told: list[OrderChange] = []
    service.subscribe(told.append)
    address = "广州市天河区天河路385号太古汇一座2205"
    first = service.place(
        "customer-001", [("EL-005", 2)], address=address, recipient="张伟", phone="13530246633"
    )
    second = service.place(
        "customer-001", [("EL-005", 1)], address=address, recipient="张伟", phone="13530246633"
    )
    prefix = f"YX{service.today():%y%m%d}"
    assert (first.id, second.id) == (f"{prefix}0001", f"{prefix}0002")
    assert (first.status, first.customer_id, first.total) == (
        "paid",
        "customer-001",
        2 * first.items[0].product.price,
    )
    assert service.get(first.id) == first
    assert [(c.kind, c.order.id) for c in told] == [("placed", first.id), ("placed", second.id)]
    assert service.history(first.id) == [("placed", "")]


@pytest.mark.parametrize(
    ("customer", "items", "error"),
    [
        ("nobody", [("EL-005", 1)], "no customer has id 'nobody'"),
        ("customer-001", [("NOPE-1", 1)], "no product has the SKU 'NOPE-1'"),
        ("customer-001", [("EL-005", 0)], "the quantity of EL-005 must be 1 to 99, not 0"),
        ("customer-001", [], "an order has 1 to 50 lines"),
    ],
)
def test_a_bad_order_is_refused_and_nothing_is_stored(
    service: OrderService, customer: str, items: list[tuple[str, int]], error: str
) -> None:
    before = len(service.orders_of("customer-001"))
    with pytest.raises(InvalidOrder, match=re.escape(error)):
        service.place(
            customer,
            items,
            address="广州市天河区天河路385号",
            recipient="张伟",
            phone="13530246633",
        )
    assert len(service.orders_of("customer-001")) == before
