// The resident's screen: shows the robot's own sentences and state from the event stream, and sends
// the buttons. The key comes in the address fragment (never sent to a server) from the kiosk launcher.
"use strict";
(function () {
  const params = new URLSearchParams(location.hash.slice(1));
  const key = params.get("key") || sessionStorage.getItem("carebot-screen-key") || "";
  if (params.get("key")) {
    sessionStorage.setItem("carebot-screen-key", key);
    history.replaceState(null, "", location.pathname);  // the key leaves the address bar
  }
  const $ = (id) => document.getElementById(id);
  const MIN_PX = 48;  // the caption is never smaller than this, whatever the screen
  const ELLIPSIS = " …";  // ends a page that another follows
  let texts = null;
  let view = { mode: "off", caption: "", previous: "" };
  let offlineTimer = null;
  // The sentence being shown: its words, its pieces (its words, a word too wide for the screen in parts;
  // glued[i]: piece i continues the word before it), its pages (runs of pieces that fit), when it began.
  let shown = { said: null, text: "", words: [], pieces: [], glued: [], pages: [[0, 0]], start: 0, wpm: 150,
                timer: null };

  function render() {
    if (!texts) return;
    const mode = view.mode in texts.states ? view.mode : "off";
    document.body.dataset.mode = mode;
    $("state-words").textContent = texts.states[mode];
    const sentence = view.caption || texts.captions.none;
    if (view.said !== shown.said || sentence !== shown.text) {  // a new sentence has begun
      shown = { ...shown, said: view.said, text: sentence, words: sentence.split(/\s+/).filter(Boolean),
                start: performance.now(), wpm: pace(view.wpm) };
    }
    $("previous").textContent = view.previous || "";
    const listen = $("listening");
    listen.dataset.button = view.privacy ? "start_listening" : "stop_listening";
    listen.textContent = texts.buttons[listen.dataset.button];
    fit();  // last: the buttons' words are set, so the room left for the captions is known
  }

  // -- fitting the sentence between the state and the buttons (on each new view and each resize) --

  function fits() {
    const box = $("captions"), caption = $("caption");
    return box.scrollHeight <= box.clientHeight + 1 && caption.scrollWidth <= caption.clientWidth + 1;
  }

  function pace(wpm) {  // the robot's voice says 130-180 words a minute; anything else is no pace to page by
    return typeof wpm === "number" && wpm >= 60 && wpm <= 600 ? wpm : 150;
  }

  function pageText(from, to) {
    let text = "";
    for (let i = from; i < to; i++) text += (i > from && !shown.glued[i] ? " " : "") + shown.pieces[i];
    return text + (to < shown.pieces.length ? ELLIPSIS : "");
  }

  // Cut piece i where the caption's width and height end (between characters as they are seen, so an accent
  // stays on its letter); piece i + 1 is the rest, glued to it.
  function split(i) {
    const chars = Array.from(new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(shown.pieces[i]),
                             (s) => s.segment);
    if (chars.length < 2) return;  // one character (however many marks it carries) is as small as a page gets
    const caption = $("caption");
    const k = largest(1, chars.length - 1, (end) => {
      caption.textContent = chars.slice(0, end).join("") + ELLIPSIS;
      return fits();
    });
    shown.pieces.splice(i, 1, chars.slice(0, k).join(""), chars.slice(k).join(""));
    shown.glued.splice(i + 1, 0, true);
  }

  function largest(lo, hi, ok) {  // the largest n in [lo, hi] with ok(n), given ok(lo) (ok holds up to some n)
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (ok(mid)) lo = mid; else hi = mid - 1;
    }
    return lo;
  }

  // The whole sentence at the set size with the previous one above it; else without the previous one;
  // else in smaller type, down to 48 px; else in pages of whole words at 48 px, each shown in turn.
  function fit() {
    const caption = $("caption"), previous = $("previous");
    shown.pieces = shown.words.slice();
    shown.glued = shown.words.map(() => false);
    const n = shown.pieces.length;
    caption.style.fontSize = "";
    caption.textContent = pageText(0, n);
    previous.hidden = !previous.textContent;
    shown.pages = [[0, n]];
    if (fits()) return turn();
    previous.hidden = true;
    if (fits()) return turn();
    const set = Math.floor(parseFloat(getComputedStyle(caption).fontSize));
    const px = largest(MIN_PX, Math.max(MIN_PX, set), (size) => {
      caption.style.fontSize = size + "px";
      return size === MIN_PX || fits();
    });
    caption.style.fontSize = px + "px";
    if (px > MIN_PX || fits()) return turn();
    shown.pages = [];
    for (let from = 0; from < shown.pieces.length;) {  // a page holds at least one character: this always ends
      const ok = (end) => { caption.textContent = pageText(from, end); return fits(); };
      if (!ok(from + 1)) split(from);  // a word wider than the room
      const to = largest(from + 1, shown.pieces.length, ok);
      shown.pages.push([from, to]);
      from = to;
    }
    turn();
  }

  // Show the page holding the word being said now (words at the voice's rate from when the sentence
  // began), and turn to the next page when its first word is due. The last page stays.
  function turn() {
    clearTimeout(shown.timer);
    const msPerWord = 60000 / shown.wpm;
    const word = (performance.now() - shown.start) / msPerWord;
    let k = 0;
    while (k + 1 < shown.pages.length && shown.pages[k + 1][0] <= word) k += 1;
    const [from, to] = shown.pages[k];
    const caption = $("caption");
    caption.textContent = pageText(from, to);
    caption.dataset.page = (k + 1) + "/" + shown.pages.length;
    caption.dataset.said = String(shown.said);  // which sentence this is (a count; tests wait on its arrival)
    if (k + 1 < shown.pages.length) {
      shown.timer = setTimeout(turn, Math.max(0, shown.start + shown.pages[k + 1][0] * msPerWord - performance.now()));
    }
  }

  function offline(on) {
    document.body.classList.toggle("offline", on);
    if (on && texts) {
      $("state-words").textContent = texts.captions.offline;
    } else {
      render();
    }
  }

  // Whether the server on this port knows the key: it signs a random challenge with it (robot/screen_server.py,
  // /proof). The key goes only to a server that does: while the robot is down, another process could take
  // its port and would be sent the key by a reconnect or a press, and could show captions of its own.
  const PROOF = new TextEncoder().encode("carebot-screen-server:");
  const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  let signer = null;

  async function genuine() {
    try {
      signer = signer || await crypto.subtle.importKey("raw", new TextEncoder().encode(key),
                                                       { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const nonce = hex(crypto.getRandomValues(new Uint8Array(16)));
      const answer = await fetch("/proof?nonce=" + nonce, { cache: "no-store", credentials: "omit" });
      const proof = answer.ok ? (await answer.json()).proof : null;
      const challenge = new Uint8Array([...PROOF, ...new TextEncoder().encode(nonce)]);
      return proof === hex(new Uint8Array(await crypto.subtle.sign("HMAC", signer, challenge)));
    } catch (err) {
      return false;
    }
  }

  function lost() {  // lost for 3 s, the page says so until the robot is back; it tries again every second
    if (offlineTimer === null) offlineTimer = setTimeout(() => offline(true), 3000);
    setTimeout(connect, 1000);
  }

  async function connect() {
    if (!key || !(await genuine())) return lost();
    const events = new EventSource("/events?key=" + encodeURIComponent(key));
    events.addEventListener("hello", (e) => {
      const hello = JSON.parse(e.data);
      texts = hello.texts;
      document.documentElement.lang = hello.language;
      document.documentElement.style.setProperty("--caption", hello.font_px + "px");
      for (const b of document.querySelectorAll("button[data-button]")) {
        b.textContent = texts.buttons[b.dataset.button];
      }
      clearTimeout(offlineTimer);
      offlineTimer = null;
      offline(false);
    });
    events.addEventListener("view", (e) => {
      view = JSON.parse(e.data);
      render();
    });
    events.onerror = () => {  // never the browser's own retry, which would send the key unproved
      events.close();
      lost();
    };
  }

  async function press(button, element) {
    element.classList.add("pressed");
    setTimeout(() => element.classList.remove("pressed"), 400);
    try {
      if (!(await genuine())) return offline(true);
      await fetch("/press", {
        method: "POST", cache: "no-store", credentials: "omit",
        headers: { "Content-Type": "application/json", "X-Screen-Key": key },
        body: JSON.stringify({ button: button }),
      });
    } catch (err) {
      offline(true);
    }
  }

  window.addEventListener("resize", () => { if (texts) fit(); });

  document.addEventListener("DOMContentLoaded", () => {
    for (const b of document.querySelectorAll("button[data-button]")) {
      b.addEventListener("click", () => press(b.dataset.button, b));
    }
    connect();
  });
})();
