"""Test helpers that look at a rendered report from outside Python.

- ``axe_violations``: open an HTML file in headless Chromium, wait until its scripts have rendered, run axe-core.
- ``pdf_page_images`` / ``pdf_text``: PDF pages as PNG images and as text (poppler's pdftoppm and pdftotext).
- ``page_has_ink`` / ``page_colour_share``: how much of a page image is drawn on, and how much of it in colour.

Chromium, poppler and axe-core are installed by ``scripts/setup-test-tools`` (``./run test`` calls it). A missing
tool is an error with that advice, never a skip.

Chromium is driven through its DevTools protocol over a pipe (``--remote-debugging-pipe``: commands on file
descriptor 3, replies on 4, each a JSON text ended by a NUL byte), so the page under test is opened unchanged, from
its own file, and axe-core is evaluated into it only after the page has loaded and settled.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
AXE_JS = REPO / ".tools" / "axe-core" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")
SETUP_HINT = "run scripts/setup-test-tools (./run test does this) to install it"

# Chromium flags: headless as root in a container, no first-run chores, no network chatter, no throttled timers.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--remote-debugging-pipe",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--mute-audio",
    "--hide-scrollbars",
    "--window-size=1280,1024",
)

# Waits for the page: its load event; then window.__reportReady === true where the page declares that flag
# (it must then set it to false before load and to true once its charts are drawn); then a DOM quiet for QUIET ms.
SETTLE_JS = """
(async (timeoutMs, quietMs) => {
  const t0 = performance.now();
  const elapsed = () => performance.now() - t0;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  if (document.readyState !== "complete") {
    await new Promise((resolve) => window.addEventListener("load", resolve, { once: true }));
  }
  const declared = window.__reportReady !== undefined;
  while (declared && window.__reportReady !== true) {
    if (elapsed() > timeoutMs) return "not-ready";
    await sleep(20);
  }
  let last = performance.now();
  const observer = new MutationObserver(() => { last = performance.now(); });
  observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
  while (performance.now() - last < quietMs && elapsed() < timeoutMs) await sleep(20);
  observer.disconnect();
  await Promise.race([
    new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))),
    sleep(200),
  ]);
  return declared ? "ready" : "settled";
})(%d, %d)
"""

AXE_RUN_JS = """
axe.run(document, { runOnly: { type: "tag", values: %s }, resultTypes: ["violations"] })
  .then((result) => result.violations)
"""


class ToolMissingError(RuntimeError):
    """A program or file the helpers need is not installed."""


class BrowserError(RuntimeError):
    """Chromium failed, timed out or answered with an error."""


class PageError(AssertionError):
    """The page under test reported errors (uncaught exceptions, console.error, failed loads) or never got ready."""


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ToolMissingError(f"Chromium not found (looked for {', '.join(CHROMIUM_NAMES)} on PATH); {SETUP_HINT}")


def axe_source() -> str:
    if not AXE_JS.is_file():
        raise ToolMissingError(f"axe-core not found at {AXE_JS.relative_to(REPO)}; {SETUP_HINT}")
    return AXE_JS.read_text("utf-8")


def _program(name: str, package: str) -> str:
    found = shutil.which(name)
    if not found:
        raise ToolMissingError(f"{name} not found on PATH (Debian package {package}); {SETUP_HINT}")
    return found


def _high_fd(fd: int) -> int:
    """The same pipe end on a descriptor number of at least 10, so it cannot collide with 3 or 4 in the child."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


# Runs in a short-lived Python before Chromium: puts the two pipe ends on descriptors 3 and 4, then becomes Chromium.
_EXEC_WITH_PIPES = (
    "import os, sys\n"
    "r, w = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.dup2(r, 3); os.dup2(w, 4); os.close(r); os.close(w)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


class Chromium:
    """One headless Chromium, driven through the DevTools protocol. Use as a context manager."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self._binary = find_chromium()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._to_browser = -1
        self._from_browser = -1
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self._targets: dict[str, str] = {}  # session id -> target id

    def __enter__(self) -> Chromium:
        # Chromium puts a Unix socket under TMPDIR, and socket paths are limited to about 100
        # characters: the browser gets a short folder of its own, whatever TMPDIR the tests run with
        self._tmp = tempfile.TemporaryDirectory(prefix="esmonitor-chromium-", ignore_cleanup_errors=True,
                                                dir=_short_temp_root())
        tmp = Path(self._tmp.name)
        to_read, to_write = os.pipe()  # we write commands, Chromium reads them on fd 3
        from_read, from_write = os.pipe()  # Chromium writes replies on fd 4, we read them
        child_read, child_write = _high_fd(to_read), _high_fd(from_write)
        self._to_browser, self._from_browser = to_write, from_read
        os.set_blocking(to_write, False)  # a stuck browser must not block us on a full pipe
        self._log = open(tmp / "chromium.log", "wb")  # closed in __exit__
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _EXEC_WITH_PIPES, str(child_read), str(child_write), self._binary,
                 *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                pass_fds=(child_read, child_write), start_new_session=True, env={**os.environ, "TMPDIR": str(tmp)},
            )
        except BaseException:
            self._close_fds()
            self._log.close()
            self._tmp.cleanup()
            raise
        finally:
            os.close(child_read)
            os.close(child_write)
        try:
            self.send("Browser.getVersion")
        except BaseException as error:
            self.__exit__(type(error), error, None)
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        proc = self._proc
        if proc is not None:
            healthy = kind is None or issubclass(kind, (PageError, ToolMissingError))
            if proc.poll() is None and healthy:  # after a browser error it may be stuck: then just kill it
                try:
                    self._write({"id": 0, "method": "Browser.close"}, time.monotonic() + 5)
                    proc.wait(timeout=5)
                except (OSError, BrowserError, subprocess.TimeoutExpired):
                    pass
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self._proc = None
        self._close_fds()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _close_fds(self) -> None:
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                os.close(fd)
        self._to_browser = self._from_browser = -1

    def _log_tail(self) -> str:
        if self._tmp is None:
            return ""
        log = Path(self._tmp.name) / "chromium.log"
        lines = log.read_text("utf-8", errors="replace").splitlines() if log.exists() else []
        return "\n".join(lines[-15:])

    def _write(self, message: dict[str, Any], deadline: float) -> None:
        data = memoryview(json.dumps(message).encode("utf-8") + b"\0")
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not take a command within {self.timeout:g} s; its last output:\n"
                                   f"{self._log_tail()}")
            _, ready, _ = select.select([], [self._to_browser], [], left)
            if ready:
                try:
                    data = data[os.write(self._to_browser, data):]
                except BlockingIOError:
                    continue
                except BrokenPipeError:
                    raise BrowserError(f"Chromium exited unexpectedly; its last output:\n{self._log_tail()}") from None

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"Chromium did not answer within {self.timeout:g} s; its last output:\n"
                                   f"{self._log_tail()}")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited unexpectedly; its last output:\n{self._log_tail()}")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, session: str | None = None, deadline: float | None = None,
             **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept in order."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        deadline = deadline if deadline is not None else time.monotonic() + self.timeout
        self._write(message, deadline)
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method} failed: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self._events.append(reply)

    def wait_for(self, method: str, deadline: float, **match: Any) -> dict[str, Any]:
        """Wait for an event whose params contain ``match``; earlier events stay recorded."""
        seen = 0
        while True:
            for event in self._events[seen:]:
                params = event.get("params", {})
                if event["method"] == method and all(params.get(k) == v for k, v in match.items()):
                    return event
            seen = len(self._events)
            reply = self._read(deadline)
            if "method" in reply:
                self._events.append(reply)

    def evaluate(self, session: str, expression: str, deadline: float) -> Any:
        result = self.send("Runtime.evaluate", session, deadline, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"script in the page failed: {text}")
        return result.get("result", {}).get("value")

    def open(self, html_path: Path, settle_timeout: float = 30.0, quiet_ms: int = 250) -> str:
        """Open a file in a fresh tab, wait until it is ready (see SETTLE_JS); return the tab's session id."""
        deadline = time.monotonic() + self.timeout
        self._events.clear()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session: str = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self._targets[session] = target
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable", session)
        self.send("Page.setLifecycleEventsEnabled", session, enabled=True)
        nav = self.send("Page.navigate", session, deadline, url=Path(html_path).resolve().as_uri())
        if nav.get("errorText"):
            raise BrowserError(f"could not open {html_path}: {nav['errorText']}")
        self.wait_for("Page.lifecycleEvent", deadline, name="load", frameId=nav["frameId"], loaderId=nav["loaderId"])
        state = self.evaluate(session, SETTLE_JS % (int(settle_timeout * 1000), quiet_ms), deadline)
        if state == "not-ready":
            self.close_tab(session)
            raise PageError(f"{html_path} declares window.__reportReady but it did not become true within "
                            f"{settle_timeout:g} s{_format_errors(self.page_errors(session))}")
        return session

    def page_errors(self, session: str) -> list[str]:
        """Uncaught exceptions, console.error calls and error log entries (failed loads) seen in a tab."""
        errors = []
        for event in self._events:
            if event.get("sessionId") != session:
                continue
            params = event.get("params", {})
            if event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(details.get("exception", {}).get("description") or details.get("text", "exception"))
            elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
                args = params.get("args", [])
                errors.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description", ""))) for a in args))
            elif event["method"] == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                errors.append(f"{entry.get('source', 'log')}: {entry.get('text', '')} {entry.get('url', '')}".strip())
        return errors

    def axe(self, html_path: Path, tags: Sequence[str] = ("wcag2a", "wcag2aa"), allow_page_errors: bool = False,
            settle_timeout: float = 30.0) -> list[dict[str, Any]]:
        """axe-core's violations for a file, after the page has rendered. See ``axe_violations``."""
        source = axe_source()
        session = self.open(html_path, settle_timeout=settle_timeout)
        deadline = time.monotonic() + self.timeout
        errors = self.page_errors(session)
        if errors and not allow_page_errors:
            self.close_tab(session)
            raise PageError(f"{html_path} reported errors while rendering{_format_errors(errors)}")
        self.evaluate(session, source + "\n;void 0", deadline)
        violations: list[dict[str, Any]] = self.evaluate(session, AXE_RUN_JS % json.dumps(list(tags)), deadline)
        self.close_tab(session)
        return violations

    def close_tab(self, session: str) -> None:
        self.send("Target.closeTarget", targetId=self._targets.pop(session))


def _format_errors(errors: Iterable[str]) -> str:
    lines = [f"\n  - {e}" for e in errors]
    return ":" + "".join(lines) if lines else ""


def axe_violations(html_path: Path, tags: Sequence[str] = ("wcag2a", "wcag2aa"), *, allow_page_errors: bool = False,
                   timeout: float = 60.0, settle_timeout: float = 30.0) -> list[dict[str, Any]]:
    """axe-core's ``violations`` for an HTML file, checked in headless Chromium after its scripts have rendered.

    The page is ready after its load event, then (if it defines ``window.__reportReady``) once that flag is true,
    then once its DOM has been quiet for a quarter second. Each violation has ``id``, ``impact``, ``help``,
    ``helpUrl``, ``tags`` and ``nodes`` (each with ``target`` and ``html``). Errors the page reports while rendering
    (uncaught exceptions, ``console.error``, failed loads) raise ``PageError`` unless ``allow_page_errors``.
    """
    axe_source()  # fail before starting a browser
    with Chromium(timeout=timeout) as browser:
        return browser.axe(html_path, tags, allow_page_errors=allow_page_errors, settle_timeout=settle_timeout)


def describe(violations: Iterable[dict[str, Any]]) -> str:
    """A readable list of violations for an assertion message."""
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(map(str, n.get("target", []))) for n in v.get("nodes", [])[:5])
        lines.append(f"{v['id']} ({v.get('impact')}): {v.get('help')} [{len(v.get('nodes', []))} x] {targets}")
    return "\n".join(lines) or "no violations"


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(args, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed ({done.returncode}): "
                           f"{done.stderr.decode('utf-8', 'replace').strip()}")
    return done


def pdf_page_images(pdf: Path, out_dir: Path, dpi: int = 40, prefix: str = "page") -> list[Path]:
    """Each page of ``pdf`` as a PNG in ``out_dir`` (``prefix-N.png``), in page order."""
    pdftoppm = _program("pdftoppm", "poppler-utils")
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f"{prefix}-*.png"):
        stale.unlink()
    _run([pdftoppm, "-png", "-r", str(dpi), str(pdf), str(out_dir / prefix)])
    pages = [p for p in out_dir.glob(f"{prefix}-*.png") if p.stem[len(prefix) + 1:].isdigit()]
    return sorted(pages, key=lambda p: int(p.stem[len(prefix) + 1:]))


def pdf_text(pdf: Path) -> list[str]:
    """The text of each page of ``pdf`` (``pdftotext -layout``), one string per page."""
    pdftotext = _program("pdftotext", "poppler-utils")
    text: str = _run([pdftotext, "-layout", "-enc", "UTF-8", str(pdf), "-"]).stdout.decode("utf-8")
    pages = text.split("\f")
    return pages[:-1] if pages and pages[-1] == "" else pages


def _rgb(png: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(png) as image:
        if image.mode in ("RGBA", "LA", "P"):
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            background.alpha_composite(rgba)
            return np.asarray(background.convert("RGB"), dtype=np.int16)
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def page_has_ink(png: Path, threshold: int = 245) -> float:
    """Share of the page's pixels that are not white (any channel below ``threshold``)."""
    pixels = _rgb(png)
    return float((pixels.min(axis=2) < threshold).mean())


def page_colour_share(png: Path, chroma: int = 40) -> float:
    """Share of the page's pixels that are clearly coloured: the spread between channels is at least ``chroma``.

    Black, white and greys (text, rules, anti-aliasing) have a spread near zero, so a page of text scores about 0
    and a page with a coloured chart scores above 0.
    """
    pixels = _rgb(png)
    return float((pixels.max(axis=2) - pixels.min(axis=2) >= chroma).mean())


def _short_temp_root() -> str | None:
    """The system's own temporary folder when TMPDIR is long (None: the default one)."""
    default = tempfile.gettempdir()
    if len(default) <= 40:
        return None
    for candidate in ("/tmp", "/var/tmp"):
        if os.path.isdir(candidate) and os.access(candidate, os.W_OK):
            return candidate
    return None
