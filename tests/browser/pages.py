"""Helpers the browser tests share (kept out of conftest.py, which pytest imports
under the same module name as every other conftest.py)."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page

API_KEY = "let-me-in"  # what the /secure route of the test app wants in x-api-key
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot under test-output/screenshots for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def field(page: Page, path: str) -> Locator:
    """The input, textarea or select of the form field at ``path`` (dot-separated)."""
    return page.locator(f'.field[data-path="{path}"]').locator("textarea, input, select").first
