// The session's segments as one timeline in one <video>, through Media Source Extensions.
// Each segment's init part and fragments are byte ranges of the untouched original file,
// fetched with Range requests a little ahead of the playhead and appended in order; their
// timestamps already run on the session's timeline, so nothing is shifted or rewritten.
(() => {
  "use strict";
  const data = JSON.parse(document.getElementById("player-data").textContent);
  const video = document.getElementById("video");
  const AHEAD = 20, BEHIND = 30;       // seconds kept buffered ahead of and behind the playhead
  const parts = [];                    // every segment's init then its fragments, in timeline order
  data.segments.forEach((segment, number) => segment.parts.forEach(part => parts.push({...part, number})));
  const source = new MediaSource();
  let buffer = null, next = 0, initOf = -1, busy = false;
  // Leaving the page (signing out, a form sent) stops every download first: a range request
  // still on its way after the session ended would be refused and audited as an intrusion.
  const leaving = new AbortController();
  document.addEventListener("submit", () => leaving.abort(), true);
  window.addEventListener("pagehide", () => leaving.abort());

  // An encrypted session (Common Encryption): the browser's Clear Key system asks the station
  // for the session's content key, which it gives only to this signed-in session once a
  // reason was given; the segments themselves are played as they are.
  async function protect() {
    const access = await navigator.requestMediaKeySystemAccess("org.w3.clearkey", [{
      initDataTypes: ["cenc"],
      videoCapabilities: [{contentType: 'video/mp4; codecs="avc1.42E01E"'}],
      audioCapabilities: [{contentType: 'audio/mp4; codecs="mp4a.40.2"'}]}]);
    const keys = await access.createMediaKeys();
    await video.setMediaKeys(keys);
    let asked = false;
    video.addEventListener("encrypted", event => {
      if (asked) return;                 // every segment names the same key id
      asked = true;
      const session = keys.createSession("temporary");
      session.addEventListener("message", async message => {
        const form = new URLSearchParams({csrf: data.csrf, message: new TextDecoder().decode(message.message)});
        const answer = await fetch(data.licence, {method: "POST", body: form, credentials: "same-origin",
                                                  cache: "no-store", signal: leaving.signal});
        if (!answer.ok) { show(`licence: ${await refusal(answer)}`); return; }
        await session.update(new Uint8Array(await answer.arrayBuffer()));
      });
      session.generateRequest(event.initDataType, event.initData).catch(error => show(error.message));
    });
  }

  // The station's one sentence saying why it refused (its refused page), else the HTTP status.
  async function refusal(answer) {
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    return page.getElementById("refused")?.textContent || `HTTP ${answer.status}`;
  }

  (data.licence ? protect() : Promise.resolve()).then(() => { video.src = URL.createObjectURL(source); },
                                                      error => show(`encrypted footage: ${error.message}`));
  source.addEventListener("sourceopen", () => {
    buffer = source.addSourceBuffer(data.mime);
    buffer.mode = "segments";
    source.duration = data.duration;
    pump();
  }, {once: true});

  function show(message) {
    document.getElementById("player-error").textContent = message;
  }

  function append(bytes) {
    return new Promise((resolve, reject) => {
      buffer.addEventListener("updateend", resolve, {once: true});
      buffer.addEventListener("error", () => reject(new Error("the browser refused the bytes")), {once: true});
      buffer.appendBuffer(bytes);
    });
  }

  function removeBefore(end) {
    return new Promise(resolve => {
      buffer.addEventListener("updateend", resolve, {once: true});
      buffer.remove(0, end);
    });
  }

  async function bytes(segment, part) {
    const last = part.offset + part.size - 1;
    const answer = await fetch(segment.media, {headers: {Range: `bytes=${part.offset}-${last}`},
                                               credentials: "same-origin", cache: "no-store",
                                               signal: leaving.signal});
    if (answer.status !== 206) throw new Error(`${segment.name}: HTTP ${answer.status}`);
    return answer.arrayBuffer();
  }

  async function pump() {
    if (busy || !buffer) return;
    busy = true;
    try {
      while (next < parts.length && parts[next].start < video.currentTime + AHEAD) {
        const at = next, part = parts[at], segment = data.segments[part.number];
        if (initOf !== part.number) {            // a new segment, or a seek into one: its init first
          await append(await bytes(segment, segment.parts[0]));
          initOf = part.number;
        }
        if (part.kind === "fragment") await append(await bytes(segment, part));
        if (next === at) next = at + 1;          // unless a seek moved the queue meanwhile
        if (video.currentTime - BEHIND > 0 && buffer.buffered.length && buffer.buffered.start(0) < video.currentTime - BEHIND)
          await removeBefore(video.currentTime - BEHIND);
      }
      if (next >= parts.length && source.readyState === "open" && !buffer.updating) source.endOfStream();
    } catch (error) {
      if (!leaving.signal.aborted) show(error.message);
    } finally {
      busy = false;
    }
  }

  function buffered(time) {
    for (let i = 0; i < video.buffered.length; i++)
      if (video.buffered.start(i) <= time && time < video.buffered.end(i)) return true;
    return false;
  }

  video.addEventListener("seeking", () => {
    if (buffered(video.currentTime)) return;
    let at = parts.findIndex(p => p.kind === "fragment" && p.start > video.currentTime);
    at = at < 0 ? parts.length - 1 : Math.max(at - 1, 0);
    next = at;
    initOf = -1;
    pump();
  });
  video.addEventListener("timeupdate", pump);
  video.addEventListener("waiting", () => {      // a missing segment leaves a gap: go on after it
    const t = video.currentTime, after = data.segments.find(s => s.start > t + 0.001);
    const current = data.segments.find(s => s.start <= t && t < s.start + s.duration);
    const end = current ? current.start + current.duration : t;
    if (after && after.start - end > 0.1 && end - t < 0.5) video.currentTime = after.start;
  });
  video.addEventListener("error", () => show(`decode error ${video.error.code}: ${video.error.message}`));

  // The capture time of the frame on screen, from the frame index, beside the burned-in overlay.
  const frameTables = new Map();
  function table(segment) {
    if (!frameTables.has(segment.name))
      frameTables.set(segment.name, fetch(segment.frames, {credentials: "same-origin", cache: "no-store",
                                                     signal: leaving.signal})
        .then(answer => answer.json()).then(body => new Map(body.frames)));
    return frameTables.get(segment.name);
  }
  function iso(microseconds) {
    const offset = data.offset_min, sign = offset < 0 ? "-" : "+", abs = Math.abs(offset);
    const text = new Date(microseconds / 1000 + offset * 60000).toISOString().slice(0, -1);
    return `${text}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`;
  }
  async function showTime(mediaTime) {
    const segment = data.segments.find(s => s.start <= mediaTime + 1e-6 && mediaTime < s.start + s.duration)
      || data.segments[data.segments.length - 1];
    const pts = Math.round(mediaTime * data.fps);
    document.getElementById("playing-segment").textContent = segment.name;
    const state = document.getElementById("playing-state");
    state.textContent = segment.label;
    state.className = `badge state-${segment.state}`;
    document.getElementById("cursor").style.left = `${100 * mediaTime / (data.duration || 1)}%`;
    const wall = (await table(segment)).get(pts);
    document.getElementById("capture-time").textContent = wall === undefined ? "-" : iso(wall);
    document.getElementById("frame-number").textContent = `(pts ${pts})`;
  }
  if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
    const onFrame = (_now, frame) => { showTime(frame.mediaTime); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  } else {
    video.addEventListener("timeupdate", () => showTime(video.currentTime));
  }
})();
