"""The collector's web page in headless Chromium: the graph, statuses, the side panel, focus,
search, live refresh, the token prompt and the large-graph limit.

The page talks to the collector's real HTTP API over a SQLite store, filled through the store's
own ingest with the records services put on the wire. Where that API cannot be imported, or
with ``CHOREO_WEB_STAND_IN=1`` (to work on the page alone), a stand-in serving the same views
(``collector_stand_in``) takes its place.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright's Python package; no
browser is downloaded. ``CHOREO_CHROMIUM`` names another binary. The page must load nothing
from outside the collector: any other request fails the test.

``CHOREO_UPDATE_SCREENSHOT=1`` writes the panel screenshot to ``docs/collector.png`` for the
README instead of a temporary file.
"""

from __future__ import annotations

import importlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, expect, sync_playwright
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from choreo.collector.views import Status
from choreo.collector.web import STATIC_DIR
from choreo.events.models import AssetDeclared, AssetEvent

from . import lineage_examples as examples
from .collector_stand_in import create_stand_in_app
from .lineage_examples import CUSTOMERS, FORECAST, ORDERS, SUMMARY, Lineage

CHROMIUM = Path(os.environ.get("CHOREO_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "collector.png"
COLOURS = {  # the status colours of style.css, as computed
    Status.FRESH: "rgb(31, 157, 85)",
    Status.STALE: "rgb(211, 154, 0)",
    Status.FAILED: "rgb(217, 45, 32)",
    Status.LATE: "rgb(122, 79, 214)",
    Status.NEVER_BUILT: "rgb(152, 162, 179)",
}
TOKEN = "s3cret-token"  # noqa: S105 - the test's own token
GROUP = "choreo-collector"
DASH = "\N{EN DASH}"  # the history pager's range separator
REFRESH_SECONDS = 0.2  # how long the real queries may trail the store


def _real_api() -> dict[str, ModuleType] | None:
    """The collector's store, queries and HTTP modules, when they can be imported."""
    if os.environ.get("CHOREO_WEB_STAND_IN") == "1":
        return None
    try:
        modules = {
            name: importlib.import_module(f"choreo.collector.{name}")
            for name in ("http", "queries", "store")
        }
    except ImportError:
        return None
    return modules if hasattr(modules["http"], "create_app") else None


REAL_API = _real_api()


def setup_module() -> None:
    """Without a browser the page cannot be tested: fail, naming what to install."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run scripts/system-deps (apt-get install chromium)"
        )


@dataclass
class Collector:
    """A running collector API serving the web page, and a way to announce more records."""

    url: str
    lineage: Lineage
    log: list[str]
    """One line per request, e.g. ``GET /api/assets/x?history_offset=15 200``."""
    store: Any = None
    """The real collector's store; ``None`` for the stand-in."""
    offsets: dict[str, int] = field(default_factory=dict)

    def announce(self, record: AssetEvent, status: Status) -> None:
        """An event arrives; ``status`` is what its asset then is (the stand-in's answer)."""
        self.lineage.events.append(record)
        self.lineage.statuses[record.asset] = status
        self.lineage.reasons.pop(record.asset, None)
        if self.store is not None:
            self.ingest([record])

    def ingest(self, records: list[AssetEvent | AssetDeclared]) -> None:
        """Store records through the real collector's ingest, each at its topic's next offset."""
        assert REAL_API is not None
        batch = []
        for record in records:
            topic = (
                "choreo.declarations"
                if isinstance(record, AssetDeclared)
                else f"choreo.asset.{record.asset}"
            )
            offset = self.offsets.get(topic, 0)
            self.offsets[topic] = offset + 1
            batch.append(REAL_API["store"].Consumed(topic, 0, offset, record))
        self.store.ingest(batch, GROUP)


def logged(app: ASGIApp, log: list[str]) -> ASGIApp:
    """``app``, noting each HTTP request and its answer's status in ``log``."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        status: list[int] = []

        async def noting(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await app(scope, receive, noting)
        query = scope.get("query_string", b"").decode()
        path = scope["path"] + (f"?{query}" if query else "")
        log.append(f"{scope['method']} {path} {status[0] if status else '-'}")

    return wrapper


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free local port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the collector under test did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Any]:
    """A factory: ``collector(lineage, token=None)`` serves ``lineage`` and the page."""
    running = ExitStack()

    @contextmanager
    def start(lineage: Lineage, token: str | None) -> Iterator[Collector]:
        log: list[str] = []
        if REAL_API is None:
            app = create_stand_in_app(lineage, STATIC_DIR, token=token)
            with serve(logged(app, log)) as url:
                yield Collector(url=url, lineage=lineage, log=log)
            return
        store = REAL_API["store"].Store(f"sqlite:///{tmp_path / 'collector.db'}")
        store.create()
        queries = REAL_API["queries"].LineageQueries(store, refresh_seconds=REFRESH_SECONDS)
        app = REAL_API["http"].create_app(
            queries,
            token=SecretStr(token) if token else None,
            health=lambda: {"healthy": True},
            metrics_registry=CollectorRegistry(),
            static_dir=STATIC_DIR,
        )
        with serve(logged(app, log)) as url:
            running_collector = Collector(url=url, lineage=lineage, log=log, store=store)
            running_collector.ingest([*lineage.declarations, *lineage.events])
            yield running_collector
        store.close()

    def factory(lineage: Lineage, token: str | None = None) -> Collector:
        return running.enter_context(start(lineage, token))

    with running:
        yield factory


@pytest.fixture
def shop(collector: Any) -> Collector:
    """The shop example: summary stale, forecast failed."""
    served: Collector = collector(examples.shop())
    return served


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, with no background traffic."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab that refuses every request leaving the machine and records page errors."""
    context = browser.new_context(
        viewport={"width": 1440, "height": 900}, timezone_id="UTC", locale="en-GB"
    )
    tab = context.new_page()
    outside: list[str] = []
    errors: list[str] = []

    def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        # Chromium logs each non-2xx answer (a 401 before the token) as a console error.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    tab.route("**/*", local_only)
    tab.on("console", console)
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    context.close()
    assert outside == [], "the page must load everything from the collector"
    assert errors == []


def test_page_draws_the_assets_edges_and_status_colours(shop: Collector, page: Page) -> None:
    """The shop graph shows four assets, three edges and each status in its colour."""
    page.goto(shop.url)
    nodes = page.locator("#graph .node")
    expect(nodes).to_have_count(4)
    drawn = nodes.evaluate_all("els => els.map(e => e.dataset.asset)")
    assert sorted(drawn) == sorted([ORDERS, CUSTOMERS, SUMMARY, FORECAST])
    assert page.locator("#graph .edge").count() == 3
    edge = page.locator(f'#graph .edge[data-edge="{ORDERS} -> {SUMMARY}"]')
    expect(edge).to_have_attribute("data-kind", "both")
    expect(edge).to_have_css("stroke-dasharray", "none")

    for asset, status in shop.lineage.statuses.items():
        node = page.locator(f'#graph .node[data-asset="{asset}"]')
        expect(node).to_have_attribute("data-status", status.value)
        expect(node).to_have_class(f"node status-{status.value}")
        expect(node.locator(".node-stripe")).to_have_css("fill", COLOURS[status])
    summary = page.locator(f'#graph .node[data-asset="{SUMMARY}"]')
    reason = re.escape(f"{SUMMARY}, stale: input {CUSTOMERS} has a newer version")
    expect(summary).to_have_attribute("aria-label", re.compile(f"^{reason}"))
    legend = page.locator("#status-legend")
    expect(legend.locator(".legend-status")).to_have_count(len(Status))
    expect(legend.locator(".status-failed .count")).to_have_text("1")
    expect(legend.locator(".status-fresh .count")).to_have_text("2")
    expect(page.locator("#live")).to_contain_text("4 assets")


def test_observed_only_edges_are_dashed(collector: Any, page: Page) -> None:
    """Edges known only from events' inputs, not from any declaration, are drawn dashed."""
    served: Collector = collector(examples.chain(3))
    page.goto(served.url)
    edges = page.locator("#graph .edge")
    expect(edges).to_have_count(2)
    for kind, dashes in zip(
        edges.evaluate_all("els => els.map(e => e.dataset.kind)"),
        edges.evaluate_all("els => els.map(e => getComputedStyle(e).strokeDasharray)"),
        strict=True,
    ):
        assert (kind, dashes) == ("observed", "6px, 5px")


def test_clicking_an_asset_shows_declaration_history_and_provenance(
    shop: Collector, page: Page, tmp_path: Path
) -> None:
    """Clicking the summary opens its declaration and history; an event opens its provenance."""
    page.goto(shop.url)
    page.locator(f'#graph .node[data-asset="{SUMMARY}"]').click()

    panel = page.locator("#panel")
    expect(panel).to_be_visible()
    expect(page.locator("#panel-title")).to_have_text(SUMMARY)
    expect(page.locator("#panel-status .badge")).to_have_text("stale")
    facts = panel.locator(".facts").first
    for text in ("analytics", "shop-summary", "eager", "1d 2h", ORDERS, CUSTOMERS):
        expect(facts).to_contain_text(text)
    history = panel.locator("table.history tbody tr")
    expect(history).to_have_count(7)
    expect(panel.locator(".pager")).to_contain_text(f"1{DASH}7 of 7")
    expect(panel.locator(".impact")).to_contain_text(FORECAST)

    history.first.locator("button").click()
    tree = panel.locator(".provenance .tree")
    expect(tree.locator("[role=treeitem]")).to_have_count(3)  # the event and its two inputs
    expect(tree).to_contain_text(ORDERS)
    expect(tree).to_contain_text(CUSTOMERS)
    expect(panel.locator("table.history tr.chosen")).to_have_count(1)

    # The README's picture: the graph, and the panel from its top.
    page.locator("#panel-body").evaluate("body => body.scrollTo(0, 0)")
    update = os.environ.get("CHOREO_UPDATE_SCREENSHOT") == "1"
    target = SCREENSHOT if update else tmp_path / "collector.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_provenance_loads_deeper_levels_on_demand(collector: Any, page: Page) -> None:
    """A provenance tree cut off at the fetched depth offers, and loads, the next levels."""
    lineage = examples.chain(6)
    served: Collector = collector(lineage)
    page.goto(f"{served.url}#asset=chain.a5")
    page.locator("#panel table.history tbody tr").first.locator("button").click()
    tree = page.locator("#panel .provenance .tree")
    expect(tree.locator("[role=treeitem]")).to_have_count(4)  # a5, a4, a3 and a2, cut off
    a3 = tree.locator("summary").filter(has_text="chain.a3")
    a3.click(position={"x": 4, "y": 8})  # the disclosure triangle, not the asset link
    tree.get_by_role("button", name="show inputs").click()
    expect(tree.locator("[role=treeitem]")).to_have_count(6)
    expect(tree).to_contain_text("chain.a0")
    a2 = lineage.events[2].event_id
    assert f"GET /api/events/{a2}/provenance?depth=3 200" in served.log


def test_history_pages_through_older_events(collector: Any, page: Page) -> None:
    """History shows a page of events at a time; "Older" fetches the next page."""
    lineage = examples.shop()
    at = datetime.now(UTC)
    lineage.events += [
        examples.event(100 + n, ORDERS, "2026-11-20", at, by="shop-ingest") for n in range(20)
    ]
    served: Collector = collector(lineage)
    page.goto(served.url)
    page.locator(f'#graph .node[data-asset="{ORDERS}"]').click()
    pager = page.locator("#panel .pager")
    expect(pager).to_contain_text(f"1{DASH}15 of 27")
    pager.get_by_role("button", name="Older events").click()
    expect(pager).to_contain_text(f"16{DASH}27 of 27")
    expect(page.locator("#panel table.history tbody tr")).to_have_count(12)
    assert f"GET /api/assets/{ORDERS}?history_limit=15&history_offset=15 200" in served.log


def test_focus_shows_upstream_and_downstream_to_the_depth(shop: Collector, page: Page) -> None:
    """Focus on the forecast at depth 1 draws it and its input; depth 2 reaches the sources."""
    page.goto(shop.url)
    nodes = page.locator("#graph .node")
    expect(nodes).to_have_count(4)
    page.locator(f'#graph .node[data-asset="{FORECAST}"]').click()
    page.locator("#depth").fill("1")
    page.locator("#focus").click()
    expect(nodes).to_have_count(2)
    expect(page.locator(f'#graph .node[data-asset="{FORECAST}"]')).to_have_class(
        "node status-failed selected root"
    )
    expect(page.locator("#focus-label")).to_contain_text("1 upstream, 0 downstream")
    page.locator("#depth").fill("2")
    page.locator("#depth").dispatch_event("change")
    expect(nodes).to_have_count(4)
    assert f"GET /api/assets/{FORECAST}/upstream?depth=2 200" in shop.log
    assert f"GET /api/assets/{FORECAST}/downstream?depth=2 200" in shop.log
    page.locator("#clear-focus").click()
    expect(nodes).to_have_count(4)
    expect(page.locator("#clear-focus")).to_be_hidden()


def test_search_highlights_then_filters(shop: Collector, page: Page) -> None:
    """A search dims the assets that do not match; "only matches" draws just the matches."""
    page.goto(shop.url)
    expect(page.locator("#graph .node")).to_have_count(4)
    page.locator("#search").fill("predicted")
    expect(page.locator("#graph .node.match")).to_have_count(1)
    expect(page.locator("#graph .node.dim")).to_have_count(3)
    page.locator("#only-matches").check()
    expect(page.locator("#graph .node")).to_have_count(1)
    page.locator("#search").press("Enter")
    expect(page.locator("#panel-title")).to_have_text(FORECAST)


def test_status_legend_filters(shop: Collector, page: Page) -> None:
    """Pressing a status in the legend keeps just the assets with that status bright."""
    page.goto(shop.url)
    page.locator("#status-legend .legend-status.status-stale").click()
    expect(page.locator("#status-legend .legend-status.status-stale")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#graph .node.match")).to_have_count(1)
    expect(page.locator(f'#graph .node.match[data-asset="{SUMMARY}"]')).to_have_count(1)


def test_keyboard_selects_a_node(shop: Collector, page: Page) -> None:
    """Nodes take keyboard focus; Enter opens the panel and Escape closes it."""
    page.goto(shop.url)
    page.locator(f'#graph .node[data-asset="{CUSTOMERS}"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#panel-title")).to_have_text(CUSTOMERS)
    expect(page.locator("#panel")).to_contain_text("only known from events")
    page.keyboard.press("Escape")
    expect(page.locator("#panel")).to_be_hidden()


def test_page_follows_new_events(shop: Collector, page: Page) -> None:
    """A new event reaches the page by polling the graph, cheaply when nothing changed."""
    page.goto(shop.url)
    forecast = page.locator(f'#graph .node[data-asset="{FORECAST}"]')
    expect(forecast).to_have_attribute("data-status", "failed")
    page.wait_for_timeout(4500)
    polls = [line for line in shop.log if line.startswith("GET /api/graph ")]
    assert len(polls) >= 2
    if shop.store is None:  # the stand-in sends an ETag: unchanged graphs are not sent again
        assert "GET /api/graph 304" in polls

    summaries = [e for e in shop.lineage.events if e.asset == SUMMARY]
    rebuilt = examples.event(
        60, FORECAST, None, datetime.now(UTC), by="shop-forecast", inputs=summaries
    )
    shop.announce(rebuilt, Status.FRESH)
    expect(forecast).to_have_attribute("data-status", "fresh", timeout=8000)


def test_token_is_asked_for_kept_and_sent(collector: Any, page: Page) -> None:
    """On 401 the page asks for a token, keeps it for the tab and sends it as a bearer."""
    served: Collector = collector(examples.shop(), token=TOKEN)
    page.goto(served.url)
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#notice")).to_contain_text("needs an API token")
    page.locator("#notice").get_by_role("button", name="Enter token").click()
    expect(dialog).to_be_visible()
    page.locator("#token-input").fill("wrong")
    page.locator("#token-ok").click()
    expect(page.locator("#token-reason")).to_contain_text("refused")
    page.locator("#token-input").fill(TOKEN)
    page.locator("#token-ok").click()
    expect(page.locator("#graph .node")).to_have_count(4)
    assert page.evaluate("sessionStorage.getItem('choreo.collector.token')") == TOKEN
    page.reload()
    expect(page.locator("#graph .node")).to_have_count(4)
    expect(dialog).to_be_hidden()
    assert "GET /api/graph 401" in served.log


def test_a_large_graph_is_drawn_only_in_part(collector: Any, page: Page) -> None:
    """With more assets than the page draws, it says so and draws what a search selects."""
    served: Collector = collector(examples.large(layers=8, width=80))
    page.goto(served.url)
    expect(page.locator("#empty")).to_contain_text("Too many assets to draw")
    expect(page.locator("#notice")).to_contain_text("640 assets")
    expect(page.locator("#graph .node")).to_have_count(0)
    page.locator("#search").fill("big.l3_")
    expect(page.locator("#graph .node")).to_have_count(80)
    page.locator("#search").fill("")
    page.locator("#empty .asset-list button").first.click()
    expect(page.locator("#panel-title")).to_have_text("big.l0_0")
    page.locator("#depth").fill("1")
    page.locator("#focus").click()
    expect(page.locator("#graph .node")).to_have_count(3)  # big.l0_0 and the two it feeds
