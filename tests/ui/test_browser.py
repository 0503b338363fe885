"""The dashboard in a real browser: the operating system's Chromium, headless, driven by
Playwright, against the whole product on a loopback port (scheduler on, sandboxes on).
One server and one browser for the module; the tests run in order and share its state, so
under pytest-xdist they run in one worker (`--dist loadfile`, the Makefile's).
Screenshots of each main page go to `test-artifacts/ui/`."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from conftest import LiveServer
from ledgerbridge.api.app import create_app
from ledgerbridge.config import Settings
from ledgerbridge.connect import connect_sandbox
from ledgerbridge.db import utcnow, write_transaction
from ledgerbridge.providers.base import ConnectorSettings, RetryPolicy
from ledgerbridge.providers.registry import get_platform
from ledgerbridge.sandbox.configure import configure_tenant
from ledgerbridge.tables import sync_state
from template_databases import SQLiteTemplate

CHROMIUM = (
    os.environ.get("LEDGERBRIDGE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
)
if not CHROMIUM or not Path(CHROMIUM).exists():
    pytest.skip("no Chromium found (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
KEY = "lb_browser_key"
REALM = "4620816365178309"
CUSTOMERS = 120
QUICK_RETRY = RetryPolicy(attempts=2, base_delay=0.001, max_delay=0.01, max_throttle_wait=0.05)


class Product:
    def __init__(self, server: LiveServer, connection_id: str, app: Any) -> None:
        self.server, self.connection_id, self.app = server, connection_id, app

    def url(self, path: str) -> str:
        return self.server.url + path


@pytest.fixture(scope="module")
def product(
    sqlite_template: SQLiteTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Product]:
    """The product with one QuickBooks Online sandbox company, connected and not yet
    synced; each request to the sandbox takes 100 ms and a page holds 10 customers, so a
    sync lasts long enough to watch."""
    folder = tmp_path_factory.mktemp("ui")
    main, sandbox = sqlite_template.copy_to(folder)
    settings = Settings(
        data_dir=folder,
        database_url=main,
        sandbox_database_url=sandbox,
        api_key=KEY,
        sync_page_size=10,
        _env_file=None,  # type: ignore[call-arg]
    )
    app = create_app(settings)
    server = LiveServer(app)  # started once the connection is put off: its scheduler is on
    databases = app.state.databases
    context = app.state.sandbox
    get_platform("qbo").sandbox.seed(context, REALM, CUSTOMERS, 7)
    configure_tenant(databases.sandbox, "qbo", REALM, ["latency_ms=100"])
    info = connect_sandbox(
        databases, app.state.cipher, provider="qbo", tenant=REALM, server_url=server.url
    )
    with write_transaction(databases.main) as conn:  # synced when the test asks, not before
        conn.execute(
            sa.update(sync_state)
            .where(sync_state.c.connection_id == info.id)
            .values(next_run_at=utcnow() + timedelta(days=1))
        )
    server.start()
    # Failed requests retried at once, as in the other sync tests: the failing-sync test
    # need not wait out production's back-off.
    app.state.sync.env.connector_settings = ConnectorSettings(page_size=10, retry=QUICK_RETRY)
    yield Product(server, info.id, app)
    server.stop()
    databases.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    tab = context.new_page()
    yield tab
    context.close()


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sign_in_refuses_a_bad_key_and_lets_a_good_one_in(page: Any, product: Product) -> None:
    page.goto(product.url("/"))
    assert page.url.endswith("/ui/sign-in")
    screenshot(page, "sign-in")
    page.get_by_label("API key").fill("lb_not_a_key")
    page.get_by_role("button", name="Sign in").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("not valid")
    assert page.url.endswith("/ui/sign-in")
    # The keyboard alone signs in: the key field has the focus, Enter sends the form.
    assert page.evaluate("document.activeElement.id") == "api_key"
    page.keyboard.press("Control+A")
    page.keyboard.type(KEY)
    page.keyboard.press("Enter")
    sync_api.expect(page.get_by_role("heading", name="Connections")).to_be_visible()
    sync_api.expect(page.get_by_role("link", name=product.connection_id)).to_be_visible()
    screenshot(page, "connections")


def test_a_sync_shows_its_progress_live_without_a_reload(page: Any, product: Product) -> None:
    page.goto(product.url(f"/ui/connections/{product.connection_id}"))
    page.get_by_role("button", name="Sync now").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("queued")
    page.evaluate("window.notReloaded = true")
    # The first row's cells move while the run goes: seen running with some pages read...
    page.wait_for_function(
        """() => {
            const row = document.querySelector('#runs tbody tr');
            return row && row.querySelector('[data-field=status]').textContent.trim() === 'running'
                && Number(row.querySelector('[data-field=pages]').textContent) > 0;
        }"""
    )
    screenshot(page, "connection-syncing")
    # ...then succeeded with every customer, and the page never reloaded.
    first = page.locator("#runs tbody tr").first
    sync_api.expect(first.locator("[data-field=status]")).to_have_text("succeeded")
    sync_api.expect(first.locator("[data-field=records]")).to_have_text(
        re.compile(f"^{CUSTOMERS}\\b")
    )
    assert page.evaluate("window.notReloaded") is True
    sync_api.expect(page.locator("#live-note")).to_have_text("No run in progress.")
    page.reload()
    assert page.locator(".chart rect").count() >= 1
    screenshot(page, "connection")


def test_pausing_a_connection(page: Any, product: Product) -> None:
    page.goto(product.url(f"/ui/connections/{product.connection_id}"))
    page.get_by_role("button", name="Pause").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("Paused.")
    sync_api.expect(page.locator("#connection-status")).to_have_text("paused")
    sync_api.expect(page.locator("#next-run")).to_have_text("none")
    page.get_by_role("button", name="Sync now").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("The connection is paused")
    page.go_back()
    page.reload()
    page.get_by_role("button", name="Resume").click()
    sync_api.expect(page.get_by_role("status")).to_have_text("Resumed.")
    sync_api.expect(page.locator("#connection-status")).to_have_text("active")
    sync_api.expect(page.locator("#next-run")).not_to_have_text("none")


def test_reauthorising_goes_through_the_consent_page_and_back(page: Any, product: Product) -> None:
    page.goto(product.url(f"/ui/connections/{product.connection_id}"))
    page.get_by_role("button", name="Re-authorise").click()
    # The sandbox's consent page: the person picks the company this connection reaches.
    page.get_by_label("Company (realm id)").fill(REALM)
    page.get_by_role("button", name="Connect").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("Re-authorised")
    assert page.url.split("?")[0].endswith(f"/ui/connections/{product.connection_id}")
    sync_api.expect(page.locator("#connection-status")).to_have_text("active")


def test_a_key_is_made_and_shown_once(page: Any, product: Product) -> None:
    page.goto(product.url("/ui"))
    page.get_by_role("navigation").get_by_role("link", name="Keys").click()
    page.get_by_label("Name").fill("reporting")
    page.get_by_label("Scope").select_option("read")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_label("The key").input_value()
    assert secret.startswith("lb_")
    screenshot(page, "keys")
    page.goto(product.url("/ui/keys"))
    sync_api.expect(page.locator("#keys")).to_contain_text("reporting")
    assert secret not in page.content()


def test_subscribing_a_webhook(page: Any, product: Product) -> None:
    page.goto(product.url("/ui/webhooks"))
    page.get_by_label("URL").fill(product.url("/no-receiver-here"))
    page.get_by_label("sync.failed").check()
    page.get_by_role("button", name="Subscribe").click()
    assert page.get_by_label("Signing secret").input_value().startswith("whsec_")
    sync_api.expect(page.locator("#webhooks")).to_contain_text("sync.failed")


def test_records_browse_and_filter(page: Any, product: Product) -> None:
    page.goto(product.url(f"/ui/connections/{product.connection_id}"))
    page.get_by_role("link", name="Browse records").click()
    rows = page.locator("#records tbody tr")
    sync_api.expect(rows).to_have_count(50)
    screenshot(page, "records")
    page.get_by_role("link", name="Next page").click()
    sync_api.expect(rows).to_have_count(50)
    page.get_by_role("link", name="Next page").click()
    sync_api.expect(rows).to_have_count(CUSTOMERS - 100)
    sync_api.expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    # Only the ones QuickBooks reports inactive (deleted), then one id.
    page.get_by_label("deleted").check()
    page.get_by_role("button", name="Apply").click()
    badges = page.locator("#records tbody .badge")
    assert badges.count() >= 1
    assert set(badges.all_text_contents()) == {"DELETED"}
    page.get_by_label("deleted").uncheck()
    page.get_by_label("Provider ids").fill("1")
    page.get_by_role("button", name="Apply").click()
    sync_api.expect(rows).to_have_count(1)
    # A bad date is a clear message, not a 500.
    page.get_by_label("Modified at or after").fill("last tuesday")
    page.get_by_role("button", name="Apply").click()
    sync_api.expect(page.get_by_role("alert")).to_contain_text("modified_after")


def test_one_record_side_by_side(page: Any, product: Product) -> None:
    page.goto(product.url(f"/ui/connections/{product.connection_id}/customers?ids=1"))
    page.locator("#records tbody a").first.click()
    sync_api.expect(page.locator("#unified")).to_contain_text('"display_name"')
    sync_api.expect(page.locator("#metadata")).to_contain_text('"last_action"')
    sync_api.expect(page.locator("#remote")).to_contain_text('"SyncToken"')
    screenshot(page, "customer")


def test_a_sandbox_knob_makes_the_next_sync_fail_and_the_error_shows(
    page: Any, product: Product
) -> None:
    page.goto(product.url("/ui/sandboxes"))
    tenant = page.locator("section.tenant", has_text=REALM)
    sync_api.expect(tenant.locator(".count")).to_have_text(str(CUSTOMERS))
    screenshot(page, "sandboxes")
    tenant.get_by_label("error rate").fill("1")
    tenant.get_by_label("error statuses").fill("503")
    tenant.get_by_role("button", name="Save knobs").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("saved")
    page.goto(product.url(f"/ui/connections/{product.connection_id}"))
    page.get_by_role("button", name="Sync now").click()
    first = page.locator("#runs tbody tr").first
    sync_api.expect(first.locator("[data-field=status]")).to_have_text("failed")
    sync_api.expect(page.locator("#last-error")).to_be_visible()
    sync_api.expect(page.locator("#last-error")).not_to_be_empty()
    screenshot(page, "connection-error")


def test_a_failed_sync_is_delivered_and_redelivered(page: Any, product: Product) -> None:
    page.goto(product.url("/ui/webhooks"))
    page.locator("#webhooks tbody a").first.click()
    first = page.locator("#deliveries tbody tr").first
    sync_api.expect(first).to_contain_text("sync.failed")
    screenshot(page, "webhook")
    first.get_by_role("button", name="Redeliver").click()
    sync_api.expect(page.get_by_role("status")).to_contain_text("sent again")
    sync_api.expect(page.locator("#deliveries tbody tr")).to_have_count(2)


def test_pages_fit_a_phone(browser: Any, page: Any, product: Product) -> None:
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, storage_state=page.context.storage_state()
    )
    tab = phone.new_page()
    try:
        for path in (
            "/ui",
            f"/ui/connections/{product.connection_id}",
            "/ui/keys",
            "/ui/webhooks",
            "/ui/sandboxes",
        ):
            tab.goto(product.url(path))
            width = tab.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide on a phone"
        screenshot(tab, "connection-phone")
    finally:
        phone.close()
