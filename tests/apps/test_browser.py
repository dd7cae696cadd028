"""The chat page in a real browser: headless Chromium driven by selenium.

Two browsers join one room of the real chat server (started in-process),
chat, see each other's messages, the join notice and the member list; the
server is then stopped and started again on the same port and both pages
must show ``reconnecting``, come back to ``open`` and chat again.  User
text must show literally (no HTML injection), and the pages must log no
SEVERE console errors (beyond the browser's own "WebSocket connection ...
failed" lines while the server is down).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium``
package, which scripts/test.sh installs; without them the tests fail and
say so.  The browsers are module-scoped (one start
for the whole file) and the tests of this file build on each other in
order, as the fixtures do: run the file as a whole.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from wsframework.apps.chat.app import make_server  # noqa: E402

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

MISSING = [path for path in (CHROMEDRIVER, CHROMIUM) if not os.path.exists(path)]

ROOM = "browsertest"
TIMEOUT = 10
# What Chromium itself logs (SEVERE) for a refused WebSocket connection.
WEBSOCKET_FAILED = re.compile(r"WebSocket connection to '[^']*' failed")


class ChatServerHolder:
    """The real chat server on a fixed port, restartable."""

    def __init__(self) -> None:
        self.server = make_server(host="127.0.0.1", port=0, history=50)
        self.server.start()
        self.port = self.server.port
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.server.stop()

    def start_again(self) -> None:
        self.server = make_server(host="127.0.0.1", port=self.port, history=50)
        self.server.start()


class Browser:
    """One headless Chromium with its own profile, and its console log."""

    def __init__(self, profile_dir: str) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--window-size=1000,800", f"--user-data-dir={profile_dir}"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.logs: list[dict] = []

    def collect_logs(self) -> list[dict]:
        """Everything logged since the last call (get_log empties the buffer)."""
        entries = self.driver.get_log("browser")
        self.logs.extend(entries)
        return entries

    def wait(self, condition, message: str = ""):
        return WebDriverWait(self.driver, TIMEOUT, poll_frequency=0.05).until(condition, message)

    def find(self, element_id: str):
        return self.driver.find_element(By.ID, element_id)

    def state(self) -> str:
        return self.find("state").text

    def messages(self) -> list[tuple[str, str, bool]]:
        """(nick, text, own) of every chat message on the page."""
        return self.driver.execute_script("""
            return Array.from(document.querySelectorAll('#messages > li.message')).map(
                li => [li.querySelector(':scope > .nick').textContent,
                       li.querySelector(':scope > .text').textContent,
                       li.classList.contains('own')]);
        """)

    def notices(self) -> list[str]:
        return self.driver.execute_script("""
            return Array.from(document.querySelectorAll('#messages > li.notice'))
                .map(li => li.textContent);
        """)

    def members(self) -> list[str]:
        return self.driver.execute_script("""
            return Array.from(document.querySelectorAll('#members > li'))
                .map(li => li.textContent);
        """)

    def join(self, nick: str, room: str) -> None:
        for element_id, value in (("nick", nick), ("room", room)):
            field = self.find(element_id)
            field.clear()
            field.send_keys(value)
        self.find("join").click()

    def say(self, text: str) -> None:
        self.wait(lambda d: self.find("send").is_enabled(), "send button never enabled")
        self.find("text").send_keys(text, Keys.ENTER)   # Enter sends

    def has_message(self, nick: str, text: str) -> bool:
        return any(m[0] == nick and m[1] == text for m in self.messages())


@pytest.fixture(scope="module")
def chat():
    holder = ChatServerHolder()
    yield holder
    holder.server.stop(timeout=1)


@pytest.fixture(scope="module")
def browsers(chat, tmp_path_factory):
    assert not MISSING, f"{MISSING} missing: scripts/test.sh installs chromium and chromium-driver"
    started: list[Browser] = []
    try:
        for name in ("alice", "bob"):
            started.append(Browser(str(tmp_path_factory.mktemp(f"chrome-{name}"))))
        yield started
    finally:
        for browser in started:
            browser.driver.quit()


@pytest.fixture(scope="module")
def joined(chat, browsers):
    """alice and bob in ROOM; bob first tries alice's (taken) nickname."""
    alice, bob = browsers
    for browser in browsers:
        browser.driver.get(chat.url)
        browser.wait(lambda d: browser.find("join-form").is_displayed(), "no join form")
        assert browser.find("room").get_attribute("value") == "lobby"
        assert browser.state() == "closed"

    alice.join("alice", ROOM)
    alice.wait(lambda d: alice.find("room-name").text == ROOM, "alice never joined")
    assert alice.state() == "open"

    bob.join("alice", ROOM)
    bob.wait(lambda d: bob.find("join-error").is_displayed(), "no error for a taken nickname")
    assert bob.find("join-error").text
    assert bob.find("join-form").is_displayed()
    assert not bob.find("chat-view").is_displayed()
    bob.join("bob", ROOM)
    bob.wait(lambda d: bob.find("room-name").text == ROOM, "bob never joined")
    return alice, bob


def test_two_pages_chat(chat, joined):
    alice, bob = joined
    alice.wait(lambda d: alice.members() == ["alice", "bob"], "alice's member list")
    bob.wait(lambda d: bob.members() == ["alice", "bob"], "bob's member list")
    alice.wait(lambda d: any("bob joined" in n for n in alice.notices()), "no join notice")
    assert any("You joined" in n for n in bob.notices())

    alice.say("hello from alice")
    bob.wait(lambda d: bob.has_message("alice", "hello from alice"), "bob missed alice")
    bob.say("hi alice, bob here")
    for browser in joined:
        browser.wait(lambda d, b=browser: b.has_message("bob", "hi alice, bob here"),
                     "a page missed bob's message")
        assert browser.has_message("alice", "hello from alice")
        assert browser.state() == "open"
    # Own messages are marked as such, the others' not.
    assert ("alice", "hello from alice", True) in [tuple(m) for m in alice.messages()]
    assert ("alice", "hello from alice", False) in [tuple(m) for m in bob.messages()]
    # The nickname is remembered for the next visit.
    assert alice.driver.execute_script(
        "return localStorage.getItem('wsframework.chat.nick')") == "alice"
    # Chromium offered permessage-deflate and the server agreed: the chat
    # went over compressed connections.
    agreed = [[e.name for e in c.extensions] for c in chat.server.websockets.connections]
    assert agreed == [["permessage-deflate"], ["permessage-deflate"]]


def test_user_text_is_escaped(joined):
    alice, bob = joined
    alice.say("<b>x</b>")
    bob.wait(lambda d: bob.has_message("alice", "<b>x</b>"), "bob missed the markup message")
    for browser in joined:
        browser.wait(lambda d, b=browser: b.has_message("alice", "<b>x</b>"))
        assert browser.driver.execute_script(
            "return document.querySelectorAll('#messages b').length") == 0
        shown = browser.driver.find_elements(By.CSS_SELECTOR, "#messages > li.message > .text")
        assert shown[-1].text == "<b>x</b>"


def test_no_severe_console_errors_while_chatting(joined):
    for browser in joined:
        severe = [e for e in browser.collect_logs() if e["level"] == "SEVERE"]
        assert severe == []


def test_reconnects_after_server_restart(chat, joined):
    alice, bob = joined
    for browser in joined:
        browser.collect_logs()
    chat.stop()
    for browser in joined:
        browser.wait(lambda d, b=browser: b.state() == "reconnecting", "never reconnecting")
    chat.start_again()
    for browser in joined:
        browser.wait(lambda d, b=browser: b.state() == "open", "never open again")
        browser.wait(lambda d, b=browser: any("Reconnected" in n for n in b.notices()),
                     "never re-joined")
    # Both re-joined the same room with the same nicknames.
    alice.wait(lambda d: alice.members() == ["alice", "bob"], "alice's members after restart")
    bob.wait(lambda d: bob.members() == ["alice", "bob"], "bob's members after restart")
    assert alice.find("room-name").text == ROOM and alice.find("me").text == "alice"

    bob.say("still here")
    alice.wait(lambda d: alice.has_message("bob", "still here"), "no chat after restart")
    alice.say("me too")
    bob.wait(lambda d: bob.has_message("alice", "me too"), "no chat after restart")
    # What was on the page before the restart is still there.
    assert bob.has_message("alice", "hello from alice")

    for browser in joined:
        severe = [e for e in browser.collect_logs() if e["level"] == "SEVERE"
                  and not WEBSOCKET_FAILED.search(e["message"])]
        assert severe == []


def test_leave_notice_and_screenshot(joined, tmp_path_factory):
    alice, bob = joined
    bob.find("leave").click()                     # bob leaves: alice sees the notice
    alice.wait(lambda d: any("bob" in n and "left" in n for n in alice.notices()),
               "no leave notice")
    alice.wait(lambda d: alice.members() == ["alice"], "bob still listed")
    # A screenshot of the page as a test artifact (WSF_ARTIFACTS, else a
    # pytest temporary folder), checked to be a real PNG image.
    folder = os.environ.get("WSF_ARTIFACTS") or str(tmp_path_factory.mktemp("artifacts"))
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "chat-page.png")
    assert alice.driver.save_screenshot(path)
    with open(path, "rb") as image:
        assert image.read(8) == b"\x89PNG\r\n\x1a\n"
    assert os.path.getsize(path) > 10_000
