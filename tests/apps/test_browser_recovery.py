"""The page across a worker's death, in headless Chromium: its worker
(a real ``serve --redis`` process) is frozen while the page sends a
message and others talk on another worker, then killed with SIGKILL and
replaced; the page reconnects, joins with ``since``, shows exactly what it
missed, and sends its unacknowledged message again, which everyone gets
once."""

from __future__ import annotations

import json
import os
import signal

from selenium.webdriver.support.ui import WebDriverWait

from wsframework import connect

from ..redis_server import free_port, redis_server  # noqa: F401  (fixture)
from .test_browser import MISSING, Browser
from .test_cli import Serve

ROOM = "recovery"


def start_worker(port: int, url: str) -> tuple[Serve, int]:
    worker = Serve("--port", str(port), "--redis", url, "--redis-secret", "k")
    found = worker.wait_for(r"chat server on http://127\.0\.0\.1:(\d+)/ \(pid (\d+)\)")[0]
    return worker, int(found.group(2))


def test_the_page_recovers_what_it_missed_when_its_worker_dies(
        redis_server, tmp_path):  # noqa: F811
    assert not MISSING, f"{MISSING} missing: scripts/test.sh installs chromium and chromium-driver"
    port = free_port()
    workers = []
    browser = None
    try:
        first, first_pid = start_worker(port, redis_server.url)
        workers.append(first)
        other_port = free_port()
        other, _ = start_worker(other_port, redis_server.url)
        workers.append(other)
        browser = Browser(str(tmp_path / "chrome"))
        wait = WebDriverWait(browser.driver, 30, poll_frequency=0.05)
        browser.driver.get(f"http://127.0.0.1:{port}/")
        browser.wait(lambda d: browser.find("join-form").is_displayed(), "no join form")
        browser.join("page", ROOM)
        browser.wait(lambda d: browser.find("room-name").text == ROOM, "never joined")

        talker = connect(f"ws://127.0.0.1:{other_port}/ws", ["chat"])
        talker.send(json.dumps({"type": "join", "room": ROOM, "nick": "talker"}))
        received = []

        def say(text: str) -> None:
            talker.send(json.dumps({"type": "message", "text": text, "client_id": text}))

        def next_event(kind: str) -> dict:
            while True:
                event = json.loads(talker.receive(timeout=20).data)
                if event["type"] == "message":
                    received.append(event["text"])
                if event["type"] == kind:
                    return event

        next_event("welcome")
        say("m1")
        next_event("ack")
        browser.wait(lambda d: browser.has_message("talker", "m1"), "the page missed m1")

        os.kill(first_pid, signal.SIGSTOP)       # the page's worker freezes ...
        browser.say("sent while frozen")         # ... so this is never acknowledged
        for text in ("m2", "m3"):                # ... and the page misses these
            say(text)
            next_event("ack")
        os.kill(first_pid, signal.SIGKILL)
        wait.until(lambda d: browser.state() == "reconnecting", "never reconnecting")
        replacement, _ = start_worker(port, redis_server.url)
        workers.append(replacement)
        wait.until(lambda d: browser.state() == "open", "never open again")
        wait.until(lambda d: browser.has_message("page", "sent while frozen"),
                   "the unacknowledged message was not sent again")
        while received.count("sent while frozen") == 0:
            next_event("message")
        say("m4")                                # one round trip more: no second copy
        next_event("ack")
        while "m4" not in received:
            next_event("message")
        assert received.count("sent while frozen") == 1
        wait.until(lambda d: browser.has_message("talker", "m4"), "the page missed m4")
        shown = [(nick, text) for nick, text, _ in browser.messages()]
        assert shown == [("talker", "m1"), ("talker", "m2"), ("talker", "m3"),
                         ("page", "sent while frozen"), ("talker", "m4")]
        assert browser.driver.execute_script(
            "return document.querySelectorAll('#messages > li.pending').length") == 0
        # The rejoin asked for what came after m1, and got exactly that.
        assert browser.find("messages").get_attribute("data-recovered") == "true"
        notices = browser.notices()
        assert any("Reconnected" in n for n in notices)
        assert not any("could not be recovered" in n for n in notices)
        talker.close()
    finally:
        if browser is not None:
            browser.driver.quit()
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait()
