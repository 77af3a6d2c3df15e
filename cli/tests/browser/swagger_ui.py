"""Swagger UI as a person sees it: headless Chromium opens a running service's `/q/swagger-ui`,
waits for the operations to render, runs "Try it out" on the greeter's GET with a name, and
reads the response's status and body off the page. Keeps a screenshot of the result.

Usage: swagger_ui.py BASE_URL SCREENSHOT.png
Exits non-zero, with what the page showed, when something is not there.
"""

import sys

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as shown
from selenium.webdriver.support.ui import WebDriverWait

# The greeter's GET binding, as the API document names its path.
GREETER_PATH = "/helloworld/{name}"
NAME = "browser"


def main(base: str, screenshot: str) -> None:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    # No sandbox: CI runs as root, which Chromium's sandbox refuses.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1400"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        run(browser, base)
    except TimeoutException as timeout:
        body = browser.find_element(By.TAG_NAME, "body").text
        sys.exit(f"{timeout.msg or 'timed out'}; the page showed:\n{body}")
    finally:
        browser.save_screenshot(screenshot)
        browser.quit()


def run(browser, base: str) -> None:
    wait = WebDriverWait(browser, 30)
    browser.get(f"{base}/q/swagger-ui")

    # The operations render from the service's own API document.
    operation = wait.until(
        shown.visibility_of_element_located(
            (By.XPATH, f"//div[contains(@class, 'opblock-get')]"
                       f"[.//*[@data-path='{GREETER_PATH}']]")),
        f"no GET {GREETER_PATH} operation rendered")
    operation.find_element(By.CSS_SELECTOR, ".opblock-summary").click()

    try_it = wait.until(
        lambda _: operation.find_element(By.CSS_SELECTOR, "button.try-out__btn"),
        "no 'Try it out' button")
    try_it.click()
    name = wait.until(
        lambda _: operation.find_element(By.CSS_SELECTOR, ".parameters input[type='text']"),
        "no input for the `name` parameter")
    name.send_keys(NAME)
    operation.find_element(By.CSS_SELECTOR, "button.execute").click()

    # The live response: its status cell and its body, as the page shows them.
    status = wait.until(
        lambda _: operation.find_element(
            By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"),
        "no live response")
    wait.until(lambda _: status.text.strip() != "", "the response has no status")
    body = operation.find_element(
        By.CSS_SELECTOR, ".live-responses-table .response .response-col_description").text
    print(f"status: {status.text.strip()}\nbody: {body}")
    if status.text.strip() != "200" or f"Hello {NAME}" not in body:
        sys.exit(f"expected 200 with `Hello {NAME}`, the page shows {status.text!r}: {body}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
