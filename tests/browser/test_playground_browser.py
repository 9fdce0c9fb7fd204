"""The playground in headless Chromium: what a person does, step by step."""

from __future__ import annotations

import json
import random

from pages import API_KEY, field, screenshot
from playwright.sync_api import Page, expect

from chainserve.server.lzstring import (
    compress_to_encoded_uri_component,
    decompress_from_encoded_uri_component,
)


def test_run_streams_output_and_steps(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/joke/playground/")
    field(page, "topic").fill("cats")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output-text")).to_have_text("Why did the chicken cross the road?")
    expect(page.locator(".run-status")).to_contain_text("Done")
    steps = page.locator(".steps")
    for name in ("ChatPromptTemplate", "FakeListChatModel", "StrOutputParser"):
        expect(steps.locator(f'details[data-name="{name}"]')).to_have_count(1)
    page.locator('details[data-name="FakeListChatModel"] > summary').click()
    expect(page.locator('details[data-name="FakeListChatModel"] .step-body')).to_contain_text(
        "cats"
    )
    screenshot(page, "default-playground")


def test_errors_are_readable(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/joke/playground/")
    page.get_by_role("button", name="Edit as JSON").click()
    page.locator("textarea.whole-input").fill('{"subject": "cats"}')
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output .error-message")).to_contain_text("input \u203a topic")
    screenshot(page, "default-playground-error")


def test_share_link_restores_configuration(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/configurable/playground/")
    template = field(page, "configurable.template")
    expect(template).to_have_value("say {name}")
    template.fill("shout {name}!")
    page.get_by_role("button", name="Share").click()
    link = page.locator("input.share-link").input_value()
    assert "/configurable/c/" in link and link.endswith("/playground/")
    config_hash = link.split("/c/")[1].split("/")[0]
    assert json.loads(decompress_from_encoded_uri_component(config_hash) or "") == {
        "configurable": {"template": "shout {name}!"}
    }
    fresh = page.context.browser.new_page()  # type: ignore[union-attr]
    try:
        fresh.goto(link)
        expect(field(fresh, "configurable.template")).to_have_value("shout {name}!")
        field(fresh, "name").fill("Ada")
        fresh.get_by_role("button", name="Run").click()
        expect(fresh.locator(".output-text")).to_have_text("shout Ada!")
        screenshot(fresh, "shared-configuration")
    finally:
        fresh.close()


def test_configurable_alternative_and_nested_router(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/alternatives/playground/")
    field(page, "configurable.model").select_option(label="other")
    field(page, "question").fill("hi")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output-text")).to_have_text("Answer from the other model")
    screenshot(page, "configurable-alternatives")
    page.goto(f"{base_url}/api/v1/nested/playground")  # redirected to the trailing slash
    field(page, "name").fill("router")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output-text")).to_have_text("say router")


def test_base64_file_widget(page: Page, base_url: str, tmp_path) -> None:
    upload = tmp_path / "notes.txt"
    upload.write_text("hello from a file, uploaded by the playground")
    page.goto(f"{base_url}/file/playground/")
    page.locator('.field[data-path="file"] input[type="file"]').set_input_files(str(upload))
    expect(page.locator(".file-status")).to_contain_text("notes.txt")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output-text")).to_have_text(
        "45 characters, starting with: hello from a file, u"
    )
    screenshot(page, "base64file-widget")


def test_chat_widget_extends_history(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/chat_widget/playground/")
    field(page, "question").fill("how are you")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".pair-row")).to_have_count(1)
    expect(page.locator(".pair-row textarea.ai")).to_have_value("You said: how are you")
    expect(field(page, "question")).to_have_value("")
    screenshot(page, "chat-widget")


def test_chat_playground_two_turns(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/chat/playground/")
    box = page.locator("textarea.composer-input")
    box.fill("Hello there")
    box.press("Enter")
    expect(page.locator(".bubble-ai").last).to_contain_text("You said: Hello there")
    box.fill("Second turn")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".bubble-ai").last).to_contain_text("You said: Second turn")
    expect(page.locator(".bubble")).to_have_count(4)
    # Edit the last question and resend: the reply follows the edit.
    page.locator(".bubble-human").last.get_by_role("button", name="Edit").click()
    page.locator("textarea.edit-input").fill("Edited turn")
    page.get_by_role("button", name="Save & resend").click()
    expect(page.locator(".bubble-ai").last).to_contain_text("You said: Edited turn")
    expect(page.locator(".bubble")).to_have_count(4)
    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator(".bubble-ai").last).to_contain_text("You said: Edited turn")
    expect(page.locator(".bubble")).to_have_count(4)
    screenshot(page, "chat-playground")


def test_chat_playground_hides_thumbs_while_tracing_is_off(page: Page, base_url: str) -> None:
    """With LangSmith tracing off (as in these tests), feedback cannot be recorded, so
    the page shows no thumbs even though ``HEAD /feedback`` answers 200 as in LangServe.
    (tests/browser/test_trace_link_browser.py rates an answer with tracing on.)"""
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/feedback" in r.url else None)
    index = page.goto(f"{base_url}/rated_chat/playground/")
    assert index is not None and '"feedback": false' in index.text()
    page.locator("textarea.composer-input").fill("rate me")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".bubble-ai")).to_contain_text("You said: rate me")
    expect(page.get_by_role("button", name="Regenerate")).to_have_count(1)
    expect(page.get_by_role("button", name="Thumbs up")).to_have_count(0)
    assert asked == []


def test_protected_route_with_api_key_header(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/secure/playground/")
    expect(page.locator(".error-box")).to_contain_text("Settings")
    screenshot(page, "protected-before-key")
    page.get_by_role("button", name="Open settings").click()
    page.locator(".header-name").first.fill("x-api-key")
    page.locator(".header-value").first.fill(API_KEY)
    screenshot(page, "protected-settings")
    page.get_by_role("button", name="Save").click()
    field(page, "topic").fill("locks")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".output-text")).to_have_text("Why did the chicken cross the road?")
    assert page.evaluate("localStorage.getItem('chainserve.playground.headers')").count(API_KEY)
    screenshot(page, "protected-after-key")


def test_lzstring_matches_python(page: Page, base_url: str) -> None:
    """The page's lz-string codec and the server's agree, both ways."""
    rng = random.Random(7)
    texts = ['{"configurable": {"template": "hash {name}"}}', "", "é✓😀 日本", "ab" * 500]
    texts += [
        "".join(rng.choice('ab{}":é😀 xyz') for _ in range(rng.randint(1, 400))) for _ in range(50)
    ]
    page.goto(f"{base_url}/joke/playground/")
    module = page.evaluate(
        "async () => { const s = [...document.scripts].find((x) => x.type === 'module');"
        " return new URL('lzstring.js', s.src).href; }"
    )
    results = page.evaluate(
        "async ([url, texts]) => { const lz = await import(url);"
        " return texts.map((t) => [lz.compressToEncodedURIComponent(t),"
        " lz.decompressFromEncodedURIComponent(lz.compressToEncodedURIComponent(t))]); }",
        [module, texts],
    )
    for text, (encoded, decoded) in zip(texts, results, strict=True):
        assert encoded == compress_to_encoded_uri_component(text)
        assert decoded == text
        assert decompress_from_encoded_uri_component(encoded) == text


def test_plain_text_into_an_untyped_input(page: Page, base_url: str) -> None:
    # /words accepts any value; a person types words, not a JSON string literal.
    page.goto(f"{base_url}/words/playground/")
    page.locator("textarea.json-input").first.fill("hello big world")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".run-status")).to_contain_text("Done")
    expect(page.locator(".output")).to_contain_text("hello|big|world|")
    screenshot(page, "untyped-plain-text")
