#!/usr/bin/env python3
"""Opens an HTML report in headless Chromium and checks it as a reader's browser sees it.

    check_report.py REPORT.html --screenshot OUT.png

Chromium (Debian package `chromium`, installed by scripts/setup.sh) is driven over the Chrome
DevTools Protocol (websocket-client from PyPI): the page is loaded from its file with the
network cut off (every request that is not the file itself is recorded and failed), and once
it has loaded the script collects
  - console messages of level error/warning and uncaught exceptions,
  - every request the page made other than its own file,
  - each figure's bounding box (`figure svg`) and each table's,
and saves a full-page screenshot. It prints one JSON object and exits 1 if the page has a
console error, made a request, has no figure, or has a figure with an empty box.
"""

import argparse
import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import websocket  # websocket-client


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cdp:
    """A minimal Chrome DevTools Protocol session over one page's websocket."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=30)
        self.next_id = 0
        self.events = []

    def call(self, method, timeout=30, **params):
        """Sends `method` and returns its result, handling the events that come before it;
        `timeout` (s) bounds each wait for a message (a tall page's screenshot takes a while
        on a busy machine)."""
        self.next_id += 1
        mine = self.next_id
        self.ws.settimeout(timeout)
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mine:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self.handle(msg)

    def handle(self, msg):
        method, params = msg["method"], msg.get("params", {})
        if method == "Fetch.requestPaused":
            # The network is cut off: the file itself loads, anything else fails (and is kept).
            url = params["request"]["url"]
            if url == self.page_url:
                self.ws.send(json.dumps({"id": 0, "method": "Fetch.continueRequest",
                                         "params": {"requestId": params["requestId"]}}))
            else:
                self.events.append(("request", url))
                self.ws.send(json.dumps({"id": 0, "method": "Fetch.failRequest",
                                         "params": {"requestId": params["requestId"],
                                                    "errorReason": "BlockedByClient"}}))
        else:
            self.events.append((method, params))

    def wait_for(self, method, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if any(e[0] == method for e in self.events):
                return True
            self.ws.settimeout(max(0.1, end - time.time()))
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if "method" in msg:
                self.handle(msg)
        return False


MEASURE = """(() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.width, r.height]; };
  return JSON.stringify({
    title: document.title,
    figures: [...document.querySelectorAll('figure svg')].map(box),
    tables: [...document.querySelectorAll('table')].map(box),
    width: document.documentElement.scrollWidth,
    height: document.documentElement.scrollHeight,
  });
})()"""


def check(report, screenshot):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium not found: run scripts/setup.sh (Debian package `chromium`)")
    port = free_port()
    profile = tempfile.mkdtemp(prefix="coinfer-chromium-")
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run",
         "--disable-background-networking", "--disable-component-update",
         "--disable-default-apps", "--disable-sync", "--mute-audio",
         f"--user-data-dir={profile}", f"--remote-debugging-port={port}",
         "--window-size=1100,1400", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = None
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
                import urllib.request
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                    pages = [t for t in json.load(r) if t.get("type") == "page"]
                if pages:
                    target = pages[0]["webSocketDebuggerUrl"]
                    break
            except OSError:
                pass
            time.sleep(0.1)
        if target is None:
            sys.exit("chromium did not start its DevTools endpoint")
        cdp = Cdp(target)
        cdp.page_url = pathlib.Path(report).resolve().as_uri()
        for domain in ("Page", "Runtime", "Log"):
            cdp.call(f"{domain}.enable")
        cdp.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        cdp.call("Page.navigate", url=cdp.page_url)
        loaded = cdp.wait_for("Page.loadEventFired", 30)
        cdp.wait_for("never", 0.5)  # late console messages
        measured = json.loads(cdp.call("Runtime.evaluate", expression=MEASURE,
                                       returnByValue=True)["result"]["value"])
        cdp.call("Emulation.setDeviceMetricsOverride", width=1100,
                 height=min(int(measured["height"]), 16000), deviceScaleFactor=1, mobile=False)
        shot = cdp.call("Page.captureScreenshot", timeout=180, format="png",
                        captureBeyondViewport=True)
        pathlib.Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)

    console = []
    for method, params in cdp.events:
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "warning", "assert"):
            console.append(" ".join(str(a.get("value", a.get("description", "")))
                                    for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            console.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            console.append(params["entry"].get("text", ""))
    requests = [url for kind, url in cdp.events if kind == "request"]
    empty = [i for i, (w, h) in enumerate(measured["figures"]) if not (w > 0 and h > 0)]
    result = {
        "report": str(report), "screenshot": str(screenshot), "loaded": loaded,
        "title": measured["title"], "figures": measured["figures"],
        "tables": len(measured["tables"]), "page_height": measured["height"],
        "console_errors": console, "requests": requests, "empty_figures": empty,
    }
    result["ok"] = bool(loaded and not console and not requests and measured["figures"]
                        and not empty)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report")
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()
    if not os.path.isfile(args.report):
        sys.exit(f"{args.report}: no such file")
    result = check(args.report, args.screenshot)
    print(json.dumps(result, indent=2))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
