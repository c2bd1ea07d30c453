"""Swagger UI (`GET /swagger`) in a real headless Chromium, against the local stack and the real model.

The page must list every operation of `GET /openapi.json`, and its "Try it out" must work as a
person would use it: POST /vectorize, edited body, Execute, a live 200 answer with 384-dimension
vectors, sent to the local API itself. Chromium and its driver come from Debian
(`scripts/install-chromium.sh`); without them this test fails, it never skips. On failure a
screenshot and the page's HTML are saved under the test's tmp_path, named in the error.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import pytest

from local.launcher import ReadyStack

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as missing:  # fail the tests with a clear message, not the whole collection
    SELENIUM_MISSING: ImportError | None = missing
else:
    SELENIUM_MISSING = None

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
REQUEST_BODY = {"config": {"model": MODEL}, "texts": ["a cat", "a kitten"]}
RENDER_SECONDS = 30
ANSWER_SECONDS = 120


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """Headless Debian Chromium through its own chromedriver: Selenium Manager never downloads anything."""
    if SELENIUM_MISSING is not None:
        pytest.fail(f"selenium is not installed ({SELENIUM_MISSING}): pip install -r requirements-dev.txt")
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.is_file()]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: run scripts/install-chromium.sh (as root) first")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@contextmanager
def evidence_on_failure(driver: WebDriver, folder: Path) -> Iterator[None]:
    """On any failure inside, keep what the browser showed and name the files in the error."""
    try:
        yield
    except BaseException as error:
        screenshot, html = folder / "swagger.png", folder / "swagger.html"
        try:
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(1400, min(int(height), 12000))  # the whole page in one screenshot
            driver.execute_script("window.scrollTo(0, 0)")
            driver.save_screenshot(str(screenshot))
            html.write_text(driver.page_source, encoding="utf-8")
            error.add_note(f"browser evidence: {screenshot} and {html}")
        except Exception as unsaved:  # the browser itself may be what failed
            error.add_note(f"no browser evidence saved: {unsaved!r}")
        raise


def documented_operations(api: str) -> set[tuple[str, str]]:
    document = httpx.get(f"{api}/openapi.json", timeout=30)
    assert document.status_code == 200, document.text
    return {(method.upper(), path) for path, methods in document.json()["paths"].items() for method in methods}


def rendered_operations(driver: WebDriver) -> set[tuple[str, str]]:
    return {
        (block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip().upper(),
         block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path"))
        for block in driver.find_elements(By.CSS_SELECTOR, ".opblock")
    }


def open_swagger(driver: WebDriver, api: str, expected: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Load the page and wait until Swagger UI has rendered the expected operations (or give up)."""
    driver.get(f"{api}/swagger")
    with suppress(TimeoutException):  # the assertion that follows says what is missing
        WebDriverWait(driver, RENDER_SECONDS, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: expected <= rendered_operations(d))
    return rendered_operations(driver)


def operation_block(driver: WebDriver, method: str, path: str) -> WebElement:
    for block in driver.find_elements(By.CSS_SELECTOR, ".opblock"):
        if (block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text.strip().upper() == method
                and block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path") == path):
            return block
    raise AssertionError(f"no {method} {path} operation block in the page")


def test_swagger_ui_lists_every_documented_operation(
    browser: WebDriver, local_stack: ReadyStack, tmp_path: Path,
) -> None:
    expected = documented_operations(local_stack.api)
    assert ("POST", "/vectorize") in expected
    with evidence_on_failure(browser, tmp_path):
        rendered = open_swagger(browser, local_stack.api, expected)
        assert rendered == expected, (
            f"missing from the page: {sorted(expected - rendered)}; "
            f"not in /openapi.json: {sorted(rendered - expected)}")
        assert "Text vectorizer" in browser.find_element(By.CSS_SELECTOR, ".information-container .title").text


def test_try_it_out_vectorizes_through_the_local_api(
    browser: WebDriver, local_stack: ReadyStack, tmp_path: Path,
) -> None:
    expected = documented_operations(local_stack.api)
    wait = WebDriverWait(browser, RENDER_SECONDS)
    with evidence_on_failure(browser, tmp_path):
        open_swagger(browser, local_stack.api, expected)
        block = operation_block(browser, "POST", "/vectorize")
        block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
        wait.until(lambda _: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"))
        block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()

        editor = wait.until(lambda _: block.find_element(By.CSS_SELECTOR, "textarea.body-param__text"))
        assert json.loads(editor.get_attribute("value")) != REQUEST_BODY  # the schema's example, before editing
        editor.send_keys(Keys.CONTROL, "a")
        editor.send_keys(Keys.DELETE)
        editor.send_keys(json.dumps(REQUEST_BODY))
        assert json.loads(editor.get_attribute("value")) == REQUEST_BODY

        block.find_element(By.CSS_SELECTOR, "button.execute").click()
        answer = WebDriverWait(browser, ANSWER_SECONDS).until(
            lambda _: block.find_element(By.CSS_SELECTOR, ".live-responses-table tbody tr.response"))

        servers = [option.text for option in browser.find_elements(By.CSS_SELECTOR, ".servers select option")]
        request_url = block.find_element(By.CSS_SELECTOR, ".request-url pre").text.strip()
        assert request_url == f"{local_stack.api}/vectorize", (
            f"Execute called {request_url}, not the local API's {local_stack.api}/vectorize "
            f"(the page's servers: {servers})")
        # the cell is the code, then "Undocumented" when the operation's documented responses lack it
        status = answer.find_element(By.CSS_SELECTOR, ".response-col_status").text.split()[0]
        shown = answer.find_element(By.CSS_SELECTOR, ".response-col_description pre").text
        assert status == "200", f"Swagger UI shows status {status}: {shown[:500]}"
        assert '"dimensions": 384' in shown, shown[:500]
        body = json.loads(shown)
        assert body["model"] == MODEL
        assert [len(vector) for vector in body["vectors"]] == [384, 384]
