"""Chromium as a judge of Common Encryption: plays fragmented MP4 through MSE and EME Clear Key.

A static page (served from a temporary folder on a loopback port: EME needs a secure
context, which 127.0.0.1 is) appends the given segments to one SourceBuffer, answers the
Clear Key licence request with the key given, and reports how far playback went: the
frames Chromium decoded and presented, the media time reached, and any error of the
media element or of the key session. Debian's Chromium, driven by Playwright.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.web import CHROMIUM, CHROMIUM_FLAGS

PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted></video><script>
const config = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const video = document.getElementById("v");
const report = {frames: 0, lastMediaTime: -1, encryptedEvents: 0, errors: []};
window.report = report;
const b64url = hex => btoa(String.fromCharCode(...hex.match(/../g).map(h => parseInt(h, 16))))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
function countFrame(now, meta) {
  report.frames += 1; report.lastMediaTime = meta.mediaTime;
  video.requestVideoFrameCallback(countFrame);
}
video.requestVideoFrameCallback(countFrame);
video.addEventListener("error", () => report.errors.push("video: " + video.error.code + " " + video.error.message));
video.addEventListener("encrypted", () => { report.encryptedEvents += 1; });
video.addEventListener("ended", () => { report.ended = true; });
async function licence(keys) {
  const session = keys.createSession("temporary");
  session.addEventListener("message", async event => {
    const request = JSON.parse(new TextDecoder().decode(event.message));
    report.requestedKids = request.kids;
    const answer = {keys: [{kty: "oct", kid: b64url(config.kid), k: b64url(config.key)}], type: "temporary"};
    try { await session.update(new TextEncoder().encode(JSON.stringify(answer))); }
    catch (e) { report.errors.push("update: " + e); }
  });
  const ids = {kids: [b64url(config.kid)]};
  await session.generateRequest("keyids", new TextEncoder().encode(JSON.stringify(ids)));
}
async function main() {
  const capabilities = {initDataTypes: ["keyids", "cenc"],
    videoCapabilities: [{contentType: `video/mp4; codecs="${config.video}"`}]};
  if (config.audio) capabilities.audioCapabilities = [{contentType: `audio/mp4; codecs="${config.audio}"`}];
  const access = await navigator.requestMediaKeySystemAccess("org.w3.clearkey", [capabilities]);
  const keys = await access.createMediaKeys();
  await video.setMediaKeys(keys);
  await licence(keys);
  const source = new MediaSource();
  video.src = URL.createObjectURL(source);
  await new Promise(resolve => source.addEventListener("sourceopen", resolve, {once: true}));
  const codecs = [config.video, config.audio].filter(Boolean).join(",");
  const buffer = source.addSourceBuffer(`video/mp4; codecs="${codecs}"`);
  buffer.addEventListener("error", () => report.errors.push("sourcebuffer error"));
  for (const name of config.files) {
    const bytes = await (await fetch(name)).arrayBuffer();
    buffer.appendBuffer(bytes);
    await new Promise(resolve => buffer.addEventListener("updateend", resolve, {once: true}));
  }
  report.buffered = [...Array(buffer.buffered.length).keys()].map(i => [buffer.buffered.start(i), buffer.buffered.end(i)]);
  source.endOfStream();
  await video.play();
}
main().catch(e => report.errors.push("main: " + e)).finally(() => { report.started = true; });
</script>"""


@contextlib.contextmanager
def _served(folder: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Not logged: the report says what happened."""


def play(files: list[Path], key: bytes, kid: bytes, video_codec: str, audio_codec: str | None = None,
         until_media_time: float = 1.5, deadline_s: float = 30.0) -> dict[str, Any]:
    """Play ``files`` (an init-bearing segment and what follows it) with Clear Key ``key`` for ``kid``;
    the page's report once playback passed ``until_media_time``, ended, failed or the deadline came."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout, sync_playwright

    with tempfile.TemporaryDirectory() as folder:
        names = []
        for number, file in enumerate(files):
            names.append(f"{number:03d}.mp4")
            shutil.copyfile(file, Path(folder) / names[-1])
        (Path(folder) / "index.html").write_text(PAGE)
        config = {"files": names, "key": key.hex(), "kid": kid.hex(), "video": video_codec, "audio": audio_codec}
        with _served(Path(folder)) as base, sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page()
                page.goto(f"{base}/index.html#{json.dumps(config)}")
                with contextlib.suppress(PlaywrightTimeout):  # the report says how far it got
                    page.wait_for_function(
                        f"""() => window.report && (window.report.errors.length > 0 || window.report.ended
                              || window.report.lastMediaTime >= {until_media_time})""", timeout=deadline_s * 1000)
                return page.evaluate("""() => Object.assign({}, window.report,
                    {currentTime: document.getElementById("v").currentTime,
                     decoded: document.getElementById("v").getVideoPlaybackQuality().totalVideoFrames})""")
            finally:
                browser.close()

