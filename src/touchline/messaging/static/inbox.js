/*
 * Touchline's in-app inbox for a shop's web pages: a bell with the unread count, and a panel with the
 * customer's messages. Messages are marked read when the customer opens them.
 *
 *   <script src="https://touchline.shop.example/sdk/inbox.js" defer
 *           data-write-key="tlw_..." data-identifier="user_id:kim-01"
 *           data-user-hash="(signed on the shop's server, if the workspace has an identity secret)"></script>
 *
 * Optional: data-lang="ko|en" (default: the browser's), data-poll-seconds="60", data-position="left".
 * A single-page shop can call TouchlineInbox.identify(identifier, userHash) after sign-in, and
 * TouchlineInbox.refresh(). Everything the server sends is shown as text, never as markup.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) return;
  var src = new URL(script.src, document.baseURI);
  var base = src.origin + src.pathname.replace(/\/sdk\/inbox\.js$/, "");
  var data = script.dataset;
  var lang = (data.lang || navigator.language || "en").slice(0, 2).toLowerCase() === "ko" ? "ko" : "en";
  var TEXT = {
    en: { inbox: "Messages", empty: "No messages yet.", open: "Open", close: "Close", unread: " unread" },
    ko: { inbox: "메시지함", empty: "아직 메시지가 없습니다.", open: "열기", close: "닫기", unread: "개 안 읽음" }
  }[lang];
  var state = {
    writeKey: data.writeKey || "",
    identifier: data.identifier || "",
    userHash: data.userHash || "",
    messages: [],
    unread: 0,
    open: false
  };

  var host = document.createElement("div");
  host.setAttribute("data-touchline-inbox", "");
  var root = host.attachShadow({ mode: "open" });
  var side = data.position === "left" ? "left" : "right";
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".wrap{position:fixed;bottom:20px;" + side + ":20px;z-index:2147483000;font:14px/1.45 system-ui,sans-serif;color:#1b2430}" +
    "button.bell{position:relative;width:52px;height:52px;border-radius:50%;border:0;background:#12263f;color:#fff;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.25)}" +
    "button.bell:focus-visible,.item:focus-visible,.close:focus-visible{outline:3px solid #4c9aff;outline-offset:2px}" +
    ".badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 5px;border-radius:10px;background:#d92d20;color:#fff;font-size:12px;line-height:20px;box-sizing:border-box}" +
    ".badge[hidden]{display:none}" +
    ".panel{position:absolute;bottom:64px;" + side + ":0;width:min(360px,calc(100vw - 40px));max-height:min(480px,70vh);overflow:auto;background:#fff;border-radius:12px;box-shadow:0 8px 28px rgba(0,0,0,.22)}" +
    ".panel[hidden]{display:none}" +
    "header{display:flex;justify-content:space-between;align-items:center;padding:12px 14px;border-bottom:1px solid #e4e7ec;font-weight:600}" +
    ".close{border:0;background:none;font-size:18px;cursor:pointer;color:#475467}" +
    "ul{list-style:none;margin:0;padding:0}" +
    ".item{display:block;width:100%;text-align:left;border:0;border-bottom:1px solid #f2f4f7;background:#fff;padding:10px 14px;cursor:pointer;font:inherit;color:inherit}" +
    ".item.unread{background:#eef4ff}" +
    ".title{font-weight:600}.body{margin-top:2px;white-space:pre-line}.meta{margin-top:4px;color:#667085;font-size:12px}" +
    ".empty{padding:16px 14px;color:#667085}" +
    "</style>" +
    "<div class='wrap'><button class='bell' type='button' aria-haspopup='dialog' aria-expanded='false'>" +
    "<svg width='24' height='24' viewBox='0 0 24 24' aria-hidden='true' fill='currentColor'><path d='M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z'/></svg>" +
    "<span class='badge' hidden></span></button>" +
    "<div class='panel' role='dialog' hidden><header><span class='heading'></span>" +
    "<button class='close' type='button'>×</button></header><ul></ul></div></div>";
  var bell = root.querySelector(".bell");
  var badge = root.querySelector(".badge");
  var panel = root.querySelector(".panel");
  var list = root.querySelector("ul");
  var closeButton = root.querySelector(".close");
  root.querySelector(".heading").textContent = TEXT.inbox;
  panel.setAttribute("aria-label", TEXT.inbox);
  closeButton.setAttribute("aria-label", TEXT.close);
  var when = new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en", { dateStyle: "medium", timeStyle: "short" });

  function url(path) {
    var query = state.userHash ? "?user_hash=" + encodeURIComponent(state.userHash) : "";
    return base + "/v1/inbox/" + encodeURIComponent(state.identifier) + path + query;
  }

  function call(method, path) {
    return fetch(url(path), {
      method: method,
      headers: { Authorization: "Basic " + btoa(state.writeKey + ":") },
      credentials: "omit"
    }).then(function (response) {
      if (!response.ok) throw new Error("Touchline inbox: HTTP " + response.status);
      return response.json();
    });
  }

  function render() {
    badge.hidden = state.unread === 0;
    badge.textContent = state.unread > 99 ? "99+" : String(state.unread);
    bell.setAttribute("aria-label", TEXT.inbox + (state.unread ? ", " + state.unread + TEXT.unread : ""));
    bell.setAttribute("aria-expanded", String(state.open));
    panel.hidden = !state.open;
    list.textContent = "";
    if (!state.messages.length) {
      var empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = TEXT.empty;
      list.appendChild(empty);
      return;
    }
    state.messages.forEach(function (message) {
      var li = document.createElement("li");
      var item = document.createElement("button");
      item.type = "button";
      item.className = "item" + (message.read_at ? "" : " unread");
      item.setAttribute("data-message-id", message.id);
      [["title", message.title], ["body", message.body],
       ["meta", when.format(new Date(message.created_at)) + (message.url ? " · " + TEXT.open : "")]]
        .forEach(function (part) {
          if (!part[1]) return;
          var div = document.createElement("div");
          div.className = part[0];
          div.textContent = part[1];
          item.appendChild(div);
        });
      item.addEventListener("click", function () { choose(message); });
      li.appendChild(item);
      list.appendChild(li);
    });
  }

  function choose(message) {
    var done = message.read_at ? Promise.resolve() : call("POST", "/" + encodeURIComponent(message.id) + "/read")
      .then(function () {
        message.read_at = new Date().toISOString();
        state.unread = Math.max(0, state.unread - 1);
        render();
        var again = list.querySelector('[data-message-id="' + CSS.escape(message.id) + '"]');
        if (again) again.focus();
      });
    done.catch(function (error) { console.warn(error.message); }).then(function () {
      if (message.url && /^https?:\/\//i.test(message.url)) window.location.assign(message.url);
    });
  }

  function refresh() {
    if (!state.writeKey || !state.identifier) return Promise.resolve();
    return call("GET", "").then(function (inbox) {
      state.messages = inbox.messages || [];
      state.unread = inbox.unread || 0;
      render();
    }).catch(function (error) { console.warn(error.message); });
  }

  function toggle(open) {
    state.open = open;
    render();
    if (open) {
      var first = list.querySelector(".item");
      (first || closeButton).focus();
    } else {
      bell.focus();
    }
  }

  bell.addEventListener("click", function () { toggle(!state.open); });
  closeButton.addEventListener("click", function () { toggle(false); });
  // On the document: keys pressed inside the panel reach it too (keyboard events cross the shadow root).
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && state.open) toggle(false);
  });

  window.TouchlineInbox = {
    identify: function (identifier, userHash) {
      state.identifier = identifier || "";
      state.userHash = userHash || "";
      return refresh();
    },
    refresh: refresh,
    open: function () { toggle(true); },
    close: function () { toggle(false); }
  };

  function start() {
    document.body.appendChild(host);
    render();
    refresh();
    var every = Math.max(15, Number(data.pollSeconds) || 60) * 1000;
    setInterval(function () { if (document.visibilityState === "visible") refresh(); }, every);
  }

  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
