// CareBot staff pages. Every value from the robots is written with textContent: never as HTML.
"use strict";

const csrf = document.querySelector('meta[name="csrf"]').content;
const page = document.body.dataset.page;
const WHAT = {help_request: "Help request", reminder_unacked: "Reminder not confirmed",
              wellbeing_concern: "Wellbeing concern", robot_fault: "Robot problem"};
let seenHigh = new Set(JSON.parse(sessionStorage.getItem("seenHigh") || "[]"));
let audio = null;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function age(s) {
  if (s === null || s === undefined) return "never";
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

async function post(url) {
  const r = await fetch(url, {method: "POST", headers: {"X-CSRF-Token": csrf, "Content-Type": "application/json"},
                              body: "{}", credentials: "same-origin"});
  if (r.status === 401) location.href = "/login";
  return r;
}

let flashing = 0;
// Whether the browser lets this page notify. Asked once and then told of changes: reading
// Notification.permission is a synchronous round trip to the browser process, about 1 ms on every alert.
let notify = "Notification" in window && Notification.permission === "granted";
if ("Notification" in window && navigator.permissions) {
  navigator.permissions.query({name: "notifications"}).then((status) => {
    status.onchange = () => { notify = status.state === "granted"; };
  }, () => {});
}

function cue(alert) {
  const title = "(!) " + (WHAT[alert.type] || alert.type) + ": CareBot";
  if (document.title !== title) document.title = title;
  document.body.classList.add("flash");
  clearTimeout(flashing);
  flashing = setTimeout(() => document.body.classList.remove("flash"), 4000);
  if (audio) {
    for (let i = 0; i < 3; i++) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.3;
      o.connect(g); g.connect(audio.destination);
      o.start(audio.currentTime + i * 0.4); o.stop(audio.currentTime + i * 0.4 + 0.2);
    }
  }
  if (notify) {
    new Notification("CareBot: " + (WHAT[alert.type] || alert.type), {body: "Room " + alert.room, tag: alert.alert_id});
  }
}

// What became of a click, in words: sent and waiting for the robot, or why it was not sent (already acknowledged
// by someone else, already closed, the server unreachable). Never a silent nothing.
async function act(button, a, action) {
  button.disabled = true;
  const said = document.getElementById("said");
  const label = action === "ack" ? "Acknowledge" : "Resolve";
  const what = (WHAT[a.type] || a.type) + " in room " + a.room;
  try {
    const r = await post(`/api/alerts/${a.robot}/${a.alert_id}/${action}`);
    said.textContent = r.ok ? label + " sent for the " + what + ": waiting for the robot."
                            : label + " not sent for the " + what + ": " + (await r.text()).trim() + ".";
    said.className = r.ok ? "" : "error";
  } catch (err) {
    said.textContent = label + " not sent for the " + what + ": the server cannot be reached. Go to the room.";
    said.className = "error";
    button.disabled = false;
  }
}

// The alerts as the server last told them (a whole state, then each alert's changes as deltas), and the table's
// rows by alert: an update touches only the rows that changed, so it costs little however often it comes, and a
// keyboard user's focus stays where it was.
const alerts = new Map();
const rows = new Map();
const RANK = {high: 0, medium: 1, low: 2};
const clock = new Intl.DateTimeFormat(undefined, {hour: "numeric", minute: "2-digit", second: "2-digit"});
let version = -1;
let notes = [];
let notesShown = "";

function alertRow(a) {
  const tr = el("tr", undefined, "prio-" + a.priority + (a.robot_down ? " down" : ""));
  tr.dataset.alert = a.alert_id;
  tr.append(el("td", a.priority.toUpperCase(), "prio"));
  const what = el("td", WHAT[a.type] || a.type);
  for (const [k, v] of Object.entries(a.detail)) what.append(el("span", " (" + k + ": " + v + ")", "detail"));
  tr.append(what, el("td", a.room), el("td", a.robot), el("td", age(a.age_s)), el("td", a.level), el("td", a.state));
  const cell = el("td");
  if (a.state === "raised" || a.state === "escalated") {
    const b = el("button", "Acknowledge", "ack");
    b.disabled = a.pending === "ack";  // sent already: a second click would only send it again
    b.addEventListener("click", () => act(b, a, "ack"));
    cell.append(b);
  }
  const r = el("button", "Resolve", "resolve");
  r.disabled = a.pending === "resolve";
  r.addEventListener("click", () => act(r, a, "resolve"));
  cell.append(r);
  if (a.pending) cell.append(el("span", " sent, waiting for the robot", "pending"));
  if (a.robot_down) cell.append(el("span", " robot is down: go and see", "warn"));
  tr.append(cell);
  return tr;
}

function order(x, y) {  // newest high first
  return ((RANK[x.priority] ?? 3) - (RANK[y.priority] ?? 3)) || y.raised_ts - x.raised_ts;
}

// The alert's row: kept while what it shows is the same, else made afresh (the caller puts it in place).
function rowFor(a) {
  const sig = JSON.stringify([a.priority, a.type, a.detail, a.room, a.robot, a.level, a.state, a.pending,
                              a.robot_down]);
  let r = rows.get(a.alert_id);
  if (!r || r.sig !== sig) {
    const tr = alertRow(a);
    r = {tr, sig, age: tr.cells[4]};
    rows.set(a.alert_id, r);
  }
  const text = age(a.age_s);
  if (r.age.textContent !== text) r.age.textContent = text;
  return r;
}

function announce(a) {  // a new high alert, or one escalated: the cue, once a level
  if (a.priority !== "high" || (a.state !== "raised" && a.state !== "escalated")) return;
  const key = a.alert_id + ":" + a.level;
  if (seenHigh.has(key)) return;
  seenHigh.add(key);
  cue(a);
  remember();
}

// Redraws keep a keyboard user's place: a button whose row was made afresh is found again in the new row.
function keepingFocus(redraw) {
  const body = document.querySelector("#alerts tbody");
  const focused = body.contains(document.activeElement) ? document.activeElement : null;
  const keep = focused && [focused.closest("tr").dataset.alert, focused.className];
  redraw(body);
  if (keep && !body.contains(document.activeElement)) {
    const row = rows.get(keep[0]);
    const again = row && ([...row.tr.querySelectorAll("button")].find(x => x.className === keep[1] && !x.disabled)
                          || row.tr.querySelector("button:not(:disabled)"));
    if (again) again.focus();
  }
  const none = document.getElementById("none");
  if (none.hidden !== alerts.size > 0) none.hidden = alerts.size > 0;
}

function renderAlerts() {  // a whole state: every row in order
  keepingFocus((body) => {
    let at = body.firstChild;  // the rows before it are in place
    for (const a of [...alerts.values()].sort(order)) {
      const old = rows.get(a.alert_id);
      const r = rowFor(a);
      if (old && old.tr !== r.tr) { if (old.tr === at) at = at.nextSibling; old.tr.remove(); }
      if (r.tr === at) at = at.nextSibling; else body.insertBefore(r.tr, at);
      announce(a);
    }
    while (at) { const next = at.nextSibling; at.remove(); at = next; }  // closed: gone from the table
    for (const id of rows.keys()) if (!alerts.has(id)) rows.delete(id);
  });
}

function renderChange(a, closed) {  // a delta: the one alert's row, in its place; the others stay as they are
  keepingFocus((body) => {
    if (!a) {
      const r = rows.get(closed);
      if (r) r.tr.remove();
      rows.delete(closed);
      return;
    }
    const old = rows.get(a.alert_id);
    const r = rowFor(a);
    if (old && old.tr !== r.tr) old.tr.remove();
    let before = null;  // the first other row that comes after it
    for (const tr of body.rows) {
      const b = tr !== r.tr && alerts.get(tr.dataset.alert);
      if (b && order(a, b) < 0) { before = tr; break; }
    }
    if (r.tr.parentNode !== body || r.tr.nextSibling !== before) body.insertBefore(r.tr, before);
    announce(a);
  });
}

// The high alerts already announced, kept for this tab's next page: written once a burst, after the rows.
let remembering = 0;
function remember() {
  if (remembering) return;
  remembering = setTimeout(() => {
    remembering = 0;
    seenHigh = new Set([...seenHigh].slice(-200));
    sessionStorage.setItem("seenHigh", JSON.stringify([...seenHigh]));
  }, 0);
}

function notice(n) {
  return el("li", clock.format(new Date(n.ts * 1000)) + "  " + n.text);
}

function notesKey() {
  const n = notes[notes.length - 1];
  return notes.length + ":" + (n ? n.ts + n.text : "");
}

function renderNotices() {  // the newest first; redrawn only when they changed
  if (notesKey() === notesShown) return;
  notesShown = notesKey();
  document.getElementById("notices").replaceChildren(...notes.slice().reverse().map(notice));
}

function addNotices(fresh) {  // a delta's: on top, and the oldest beyond ten go
  if (!fresh.length) return;
  const list = document.getElementById("notices");
  list.prepend(...fresh.slice(-10).reverse().map(notice));
  while (list.children.length > 10) list.lastElementChild.remove();
  notesShown = notesKey();
}

function renderRobots(state) {
  const body = document.querySelector("#robots tbody");
  body.replaceChildren();
  for (const r of state.robots) {
    const tr = el("tr", undefined, "mode-" + r.mode);
    tr.dataset.robot = r.robot;
    tr.append(el("td", r.robot), el("td", r.mode, "mode"), el("td", r.behaviour || "–"),
              el("td", r.faults.length ? r.faults.join(", ") : "none"), el("td", r.open_alerts),
              el("td", r.heartbeat_age_s === null ? "never" : age(r.heartbeat_age_s) + " ago"),
              el("td", r.events_missing ? r.events_missing + " missing" : "none"));
    body.append(tr);
  }
}

function live() {
  const link = document.getElementById("link");
  let src = null;
  // This page's name for itself, kept across its reconnects: its new stream takes the place of the old one, whose
  // connection may have gone without a word to the server (the Wi-Fi lost), and would else count against the
  // account's pages for minutes.
  const pageId = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0"))
    .join("");
  let second = 0;
  let broker = {up: true};  // the server's link to the robots' broker, as its last whole state told
  const fresh = () => {  // "Live. Updated 10:41:07.": written at most once a second
    const now = Date.now();
    if (!broker.up) {  // no alert can reach this page: never "Live" over an empty table
      const text = "Not connected to the broker since " + clock.format(new Date(broker.since * 1000)) + " (" +
                   broker.why + "): new alerts cannot reach this page. Trying again…";
      if (link.textContent !== text) link.textContent = text;
      link.className = "link bad";
      return;
    }
    if (Math.floor(now / 1000) === second && link.className === "link ok") return;
    second = Math.floor(now / 1000);
    link.textContent = "Live. Updated " + clock.format(new Date(now)) + ".";
    link.className = "link ok";
  };
  const lost = () => { link.textContent = "Connection lost: trying again…"; link.className = "link bad"; };
  // A stream can go silent without closing (the Wi-Fi gone, a proxy or NAT that dropped it): the browser would
  // wait for ever while the page said "Live". The server sends something at least every keepalive; after two
  // of them and some slack without a word, the page says the connection is lost and opens a new one.
  const quiet = 2000 * Number(document.body.dataset.keepalive) + 3000;
  let heard = Date.now();
  const open = () => {
    if (src) src.close();
    heard = Date.now();
    src = new EventSource("/events?page=" + pageId);
    src.onmessage = onState;
    src.addEventListener("alert", onAlert);
    src.addEventListener("ping", () => { heard = Date.now(); });
    src.addEventListener("logout", () => { location.href = "/login"; });
    src.onerror = () => {
      lost();
      if (src.readyState === EventSource.CLOSED) refused();  // answered, but with no stream: it will not retry
    };
  };
  // Why the stream was refused: a session that ended while the page was away (a phone asleep past the idle
  // limit) goes to the login, and an account with too many pages open says so; either would else read as
  // "Connection lost" for ever, as if the Wi-Fi were to blame.
  const refused = async () => {
    let r;
    try {
      r = await fetch("/api/streams", { cache: "no-store" });
    } catch (err) {
      return;  // the network: "Connection lost" says it
    }
    if (r.status === 401) { location.href = "/login"; return; }
    if (!r.ok) return;
    const why = (await r.json()).refused;
    if (why) {
      link.textContent = "This page gets no alerts: " + why + ". Trying again…";
      link.className = "link bad";
    }
  };
  const onState = (m) => {  // the whole state: on (re)connecting, for other changes, and now and then
    heard = Date.now();
    const state = JSON.parse(m.data);
    version = state.version;
    alerts.clear();
    for (const a of state.alerts) alerts.set(a.alert_id, a);
    notes = state.notices;
    broker = state.broker;
    document.getElementById("site").textContent = "(" + state.site + ")";
    if (page === "alerts") { renderAlerts(); renderNotices(); }
    if (page === "robots") renderRobots(state);
    fresh();
  };
  const onAlert = (m) => {  // one alert's change: its row, at once
    heard = Date.now();
    const d = JSON.parse(m.data);
    if (d.version <= version) return;  // the last whole state had it already
    version = d.version;
    if (d.alert) alerts.set(d.alert.alert_id, d.alert); else alerts.delete(d.closed);
    if (d.notices.length) notes = notes.concat(d.notices).slice(-10);
    if (page === "alerts") { renderChange(d.alert, d.closed); addNotices(d.notices); }
    fresh();
  };
  open();
  setInterval(() => {
    if (Date.now() - heard <= quiet) return;
    lost();
    open();
  }, 1000);
}

function bar(svg, x, y, w, h, label) {
  const ns = "http://www.w3.org/2000/svg";
  const r = document.createElementNS(ns, "rect");
  r.setAttribute("x", x); r.setAttribute("y", y); r.setAttribute("width", w); r.setAttribute("height", h);
  const t = document.createElementNS(ns, "title"); t.textContent = label; r.append(t);
  svg.append(r);
}

function chart(title, rows, key, unit) {
  const ns = "http://www.w3.org/2000/svg";
  const fig = el("figure");
  fig.append(el("figcaption", title));
  const svg = document.createElementNS(ns, "svg");
  const data = rows.slice().reverse();
  const W = 40 * Math.max(1, data.length) + 20, H = 140;
  svg.setAttribute("viewBox", `0 0 ${W} ${H + 30}`); svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title + ": " + data.map(r => r.week + " " + (r[key] ?? "none")).join(", "));
  const max = Math.max(1, ...data.map(r => r[key] || 0));
  data.forEach((r, i) => {
    const v = r[key] || 0, h = Math.round(H * v / max);
    bar(svg, 20 + i * 40, H - h, 28, h, `${r.week}: ${r[key] ?? "none"} ${unit}`);
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", 20 + i * 40); t.setAttribute("y", H + 20); t.textContent = r.week.slice(5);
    svg.append(t);
  });
  fig.append(svg);
  return fig;
}

async function impact() {
  const r = await fetch("/api/impact", {credentials: "same-origin"});
  if (r.status === 401) { location.href = "/login"; return; }
  if (!r.ok) { document.getElementById("charts").textContent = await r.text(); return; }  // e.g. a stalled disk
  const rows = (await r.json()).rows;
  const all = rows.filter(x => x.robot === "all");
  document.getElementById("charts").replaceChildren(
    chart("Conversations a day", all, "conversations_per_day", "a day"),
    chart("Help requests", all, "help_requests", ""),
    chart("Median time to acknowledge (s)", all, "ack_median_s", "s"),
    chart("Reminders confirmed", all, "reminders_confirmed", ""));
  const body = document.querySelector("#impact tbody");
  body.replaceChildren(...rows.map(x => {
    const tr = el("tr", undefined, x.robot === "all" ? "all" : "");
    for (const k of ["week", "robot", "conversations_per_day", "help_requests", "ack_median_s", "ack_p90_s",
                     "reminders_confirmed", "reminders_escalated", "wellbeing_concerns", "asked_again",
                     "company_minutes"]) {
      tr.append(el("td", x[k] === null ? "–" : (k.endsWith("_s") ? x[k] + " s" : x[k])));
    }
    return tr;
  }));
}

document.getElementById("logout").addEventListener("click", async () => {
  await post("/logout"); location.href = "/login";
});
document.getElementById("sound").addEventListener("click", (e) => {
  audio = audio || new AudioContext();
  e.target.setAttribute("aria-pressed", "true");
  e.target.textContent = "Sound is on";
  if ("Notification" in window && Notification.permission === "default") {
    Notification.requestPermission().then((p) => { notify = p === "granted"; });
  }
});
if (page === "impact") impact(); else live();
