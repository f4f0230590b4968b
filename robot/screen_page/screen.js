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
  let texts = null;
  let view = { mode: "off", caption: "", previous: "" };
  let offlineTimer = null;

  function render() {
    if (!texts) return;
    const mode = view.mode in texts.states ? view.mode : "off";
    document.body.dataset.mode = mode;
    $("state-words").textContent = texts.states[mode];
    const words = view.caption || texts.captions.none;
    $("caption").textContent = words;
    $("caption").classList.toggle("long", words.length > 80);  // a long sentence still fits, at 48 px or more
    $("previous").textContent = view.previous || "";
    const listen = $("listening");
    listen.dataset.button = view.privacy ? "start_listening" : "stop_listening";
    listen.textContent = texts.buttons[listen.dataset.button];
  }

  function offline(on) {
    document.body.classList.toggle("offline", on);
    if (on && texts) {
      $("state-words").textContent = texts.captions.offline;
    } else {
      render();
    }
  }

  function connect() {
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
    events.onerror = () => {
      // The browser retries every second by itself; lost for 3 s, the page says so until the robot is back.
      if (offlineTimer === null) offlineTimer = setTimeout(() => offline(true), 3000);
      if (events.readyState === EventSource.CLOSED) {  // refused (no key, too many screens): no retry of its own
        setTimeout(connect, 5000);
      }
    };
  }

  async function press(button, element) {
    element.classList.add("pressed");
    setTimeout(() => element.classList.remove("pressed"), 400);
    try {
      await fetch("/press", {
        method: "POST", cache: "no-store", credentials: "omit",
        headers: { "Content-Type": "application/json", "X-Screen-Key": key },
        body: JSON.stringify({ button: button }),
      });
    } catch (err) {
      offline(true);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const b of document.querySelectorAll("button[data-button]")) {
      b.addEventListener("click", () => press(b.dataset.button, b));
    }
    connect();
  });
})();
