/*
 * Touchline's in-app messages for a shop's pages: a banner, a modal or a slide-in, when a rule on the page
 * holds ("viewed this product 3 times", "cart over ₩50,000") or when a journey or an event made one
 * waiting for this customer.
 *
 *   <script src="https://touchline.shop.example/sdk/inapp.js" defer data-write-key="tlw_..."
 *           data-product-id="knit-01" data-cart-value="59000"></script>
 *
 * data-product-id on a product page, data-cart-value where the cart's worth is known (the shop's currency);
 * data-identifier and data-user-hash only for a signed-in customer (as chat.js); data-lang="ko|en" (default:
 * the page's <html lang>, else the browser's); data-poll-seconds (30; 0: never) is how often an open page
 * asks for what a journey has just sent. A single-page shop calls TouchlineInApp.page({product_id,
 * cart_value}) on each view, TouchlineInApp.identify(identifier, userHash) after sign-in.
 *
 * The visitor is known by the anonymous id analytics.js keeps (localStorage or cookie "ajs_anonymous_id"),
 * the same as the chat's; a page without analytics.js gets one made here and kept the same way. Product
 * views are counted in this browser (localStorage "tl_inapp_views"). The server decides: it lists what may
 * be shown now (frequency rules, consent), and a message is shown only once the server has recorded its
 * impression; clicks and dismissals are recorded too (events on the customer's profile). At most one
 * message per page. Everything the server sends is shown as text, never as markup; links only http(s).
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) return;
  var src = new URL(script.src, document.baseURI);
  var base = src.origin + src.pathname.replace(/\/sdk\/inapp\.js$/, "");
  var data = script.dataset;
  var pageLang = data.lang || document.documentElement.lang || navigator.language || "en";
  var lang = pageLang.slice(0, 2).toLowerCase() === "ko" ? "ko" : "en";
  var TEXT = {
    en: { close: "Close", more: "Take a look", label: "Message from the shop" },
    ko: { close: "닫기", more: "보러 가기", label: "상점 안내" }
  }[lang];
  var VIEWS = "tl_inapp_views";
  var DAY = 86400000;

  function stored(name) {
    var value = null;
    try { value = window.localStorage.getItem(name); } catch (e) { /* storage blocked */ }
    if (!value) {
      var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
      value = match ? decodeURIComponent(match[1]) : null;
    }
    if (!value) return null;
    try { var parsed = JSON.parse(value); if (typeof parsed === "string") return parsed; } catch (e) { /* raw */ }
    return value;
  }

  function anonymousId() {
    var id = stored("ajs_anonymous_id");
    if (id) return id;
    id = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() :
      "tl-" + Date.now().toString(36) + Math.random().toString(36).slice(2);
    try { window.localStorage.setItem("ajs_anonymous_id", JSON.stringify(id)); } catch (e) { /* blocked */ }
    document.cookie = "ajs_anonymous_id=" + encodeURIComponent(JSON.stringify(id)) + "; path=/; max-age=31536000; SameSite=Lax";
    return id;
  }

  function randomKey() {
    return (Date.now().toString(36) + Math.random().toString(36).slice(2, 12)).replace(/[^A-Za-z0-9]/g, "");
  }

  var state = {
    writeKey: data.writeKey || "",
    identifier: data.identifier || "",
    userHash: data.userHash || "",
    page: { product_id: data.productId || null, cart_value: data.cartValue ? Number(data.cartValue) : null },
    pageKey: randomKey(),
    showing: null,
    seen: {},
    loading: false
  };
  var anonymous = anonymousId();

  // --- what this browser saw: product views ------------------------------------------------------------

  function readViews() {
    try { return JSON.parse(window.localStorage.getItem(VIEWS) || "{}") || {}; } catch (e) { return {}; }
  }

  function countView(productId) {
    var views = readViews();
    var now = Date.now();
    var list = (views[productId] || []).filter(function (t) { return now - t < 365 * DAY; });
    list.push(now);
    views[productId] = list.slice(-50);
    var ids = Object.keys(views);
    if (ids.length > 200) {  // the products seen longest ago go first
      ids.sort(function (a, b) { return views[a][views[a].length - 1] - views[b][views[b].length - 1]; });
      ids.slice(0, ids.length - 200).forEach(function (id) { delete views[id]; });
    }
    try { window.localStorage.setItem(VIEWS, JSON.stringify(views)); } catch (e) { /* blocked: no counts */ }
  }

  function viewsOf(productId, days) {
    var since = Date.now() - days * DAY;
    return (readViews()[productId] || []).filter(function (t) { return t >= since; }).length;
  }

  function holds(rule) {
    if (!rule) return false;
    if (rule.kind === "any_page") return true;
    if (rule.kind === "product_views") {
      return !!state.page.product_id && viewsOf(state.page.product_id, rule.within_days || 30) >= rule.at_least;
    }
    if (rule.kind === "cart_value") {
      return typeof state.page.cart_value === "number" && !isNaN(state.page.cart_value) &&
        state.page.cart_value >= rule.at_least;
    }
    return false;  // a rule this script does not know yet
  }

  // --- the server ---------------------------------------------------------------------------------------

  function user() {
    return state.identifier || "anonymous_id:" + anonymous;
  }

  function headers(extra) {
    var h = { Authorization: "Basic " + btoa(state.writeKey + ":") };
    if (state.userHash) h["X-Touchline-User-Hash"] = state.userHash;
    for (var k in extra || {}) h[k] = extra[k];
    return h;
  }

  function report(kind, message, keepalive) {
    var body = { type: kind, message_id: message.id, user: user(), key: state.pageKey + "-" + message.id.slice(0, 12) + "-" + kind,
                 platform: "web", language: lang, page_url: location.href.slice(0, 2048) };
    if (state.identifier) body.anonymous_id = anonymous;
    return fetch(base + "/v1/inapp/events", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }), credentials: "omit",
      keepalive: !!keepalive, body: JSON.stringify(body)
    }).then(function (r) { return r.ok ? r.json() : null; });
  }

  function refresh() {
    if (state.showing || state.loading || !state.writeKey) return Promise.resolve(null);
    state.loading = true;
    var query = "?user=" + encodeURIComponent(user()) + "&platform=web&lang=" + lang;
    return fetch(base + "/v1/inapp/messages" + query, { headers: headers(), credentials: "omit", cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("Touchline in-app: HTTP " + r.status); return r.json(); })
      .then(function (answer) {
        var chosen = null;
        (answer.messages || []).some(function (m) {
          if (state.seen[m.id]) return false;
          if (m.pending || (m.trigger && m.trigger.type === "page" && holds(m.trigger.rule))) { chosen = m; return true; }
          return false;
        });
        if (!chosen) return null;
        state.seen[chosen.id] = true;
        // Shown only once the server has recorded the impression (another tab may have used the last one).
        return report("impression", chosen).then(function (recorded) {
          if (recorded && recorded.show) show(chosen);
          return chosen;
        });
      })
      .catch(function () { return null; /* nothing shown: the page goes on */ })
      .then(function (chosen) { state.loading = false; return chosen; });
  }

  // --- showing a message --------------------------------------------------------------------------------

  var STYLE =
    ":host{all:initial}" +
    "*{box-sizing:border-box}" +
    ".msg{position:fixed;z-index:2147483001;font:15px/1.45 system-ui,'Noto Sans KR',sans-serif;color:#1b2430;word-break:keep-all;overflow-wrap:anywhere}" +
    ".title{font-weight:700;margin:0}" +
    ".body{margin:2px 0 0;white-space:pre-line}" +
    ".cta{display:inline-block;border:0;border-radius:8px;padding:9px 16px;font:inherit;font-weight:600;cursor:pointer;text-decoration:none;background:#e8590c;color:#fff;white-space:nowrap}" +
    ".close{border:0;background:none;font-size:24px;line-height:1;cursor:pointer;color:inherit;padding:4px 8px}" +
    "button:focus-visible,a:focus-visible{outline:3px solid #4c9aff;outline-offset:2px}" +
    ".banner{left:0;right:0;display:flex;align-items:center;gap:14px;padding:12px 16px;background:#12263f;color:#fff;box-shadow:0 2px 10px rgba(0,0,0,.25)}" +
    ".banner.top{top:0}.banner.bottom{bottom:0}" +
    ".banner .text{flex:1;min-width:0}" +
    ".backdrop{position:fixed;inset:0;z-index:2147483001;background:rgba(16,24,40,.5);display:flex;align-items:center;justify-content:center;padding:20px}" +
    ".modal{position:relative;width:min(420px,100%);background:#fff;border-radius:16px;padding:26px 24px 22px;box-shadow:0 12px 40px rgba(0,0,0,.3);text-align:center}" +
    ".modal .title{font-size:20px;margin-right:18px;margin-left:18px}.modal .body{margin:8px 0 18px}" +
    ".modal .cta{display:block;width:100%}" +
    ".modal .close,.slide .close{position:absolute;top:6px;right:6px;color:#475467}" +
    ".slide{bottom:92px;width:min(340px,calc(100vw - 32px));background:#fff;border-radius:14px;padding:18px 18px 16px;box-shadow:0 8px 28px rgba(0,0,0,.22);transition:transform .3s ease-out,opacity .3s}" +
    ".slide.right{right:16px}.slide.left{left:16px}" +
    ".slide.entering{transform:translateY(16px);opacity:0}" +
    ".slide .title{margin-right:24px}.slide .body{margin:4px 0 12px}" +
    "@media (max-width:560px){.banner{flex-wrap:wrap;gap:8px 12px}.banner .text{flex-basis:calc(100% - 48px)}.banner .close{order:2}.banner .cta{order:3}}" +
    "@media (prefers-reduced-motion:reduce){.slide{transition:none}}";

  function safeUrl(url) {
    if (!url) return null;
    try {
      var parsed = new URL(url, document.baseURI);
      return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
    } catch (e) { return null; }
  }

  function show(message) {
    var host = document.createElement("div");
    host.setAttribute("data-touchline-inapp", message.layout);
    host.setAttribute("data-message-id", message.id);
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = STYLE;
    root.appendChild(style);

    var box = document.createElement("div");
    var text = document.createElement("div");
    text.className = "text";
    var title = document.createElement("p");
    title.className = "title";
    title.id = "tl-inapp-title";
    title.textContent = message.title || "";
    var body = document.createElement("p");
    body.className = "body";
    body.textContent = message.body || "";
    text.appendChild(title);
    if (message.body) text.appendChild(body);

    var url = safeUrl(message.url);
    var cta = null;
    if (url || message.button) {
      cta = document.createElement(url ? "a" : "button");
      cta.className = "cta";
      cta.textContent = message.button || TEXT.more;
      if (url) cta.setAttribute("href", url); else cta.setAttribute("type", "button");
    }
    var close = document.createElement("button");
    close.className = "close";
    close.type = "button";
    close.setAttribute("aria-label", TEXT.close);
    close.textContent = "×";

    var outer = box;
    if (message.layout === "modal") {
      outer = document.createElement("div");
      outer.className = "backdrop msg";
      box.className = "modal";
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-modal", "true");
      box.setAttribute("aria-labelledby", "tl-inapp-title");
      box.appendChild(close);
      box.appendChild(text);
      if (cta) box.appendChild(cta);
      outer.appendChild(box);
    } else if (message.layout === "slide_in") {
      box.className = "msg slide entering " + (message.position === "left" ? "left" : "right");
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-labelledby", "tl-inapp-title");
      box.appendChild(close);
      box.appendChild(text);
      if (cta) box.appendChild(cta);
    } else {
      box.className = "msg banner " + (message.position === "bottom" ? "bottom" : "top");
      box.setAttribute("role", "region");
      box.setAttribute("aria-label", TEXT.label);
      box.appendChild(text);
      if (cta) box.appendChild(cta);
      box.appendChild(close);
    }
    root.appendChild(outer);
    state.showing = { message: message, host: host };

    function end(kind) {
      if (!state.showing || state.showing.host !== host) return;
      state.showing = null;
      document.removeEventListener("keydown", onKey, true);
      host.remove();
      return report(kind, message, true).catch(function () { /* recorded or not, it is gone */ });
    }
    function onKey(e) {
      if (e.key === "Escape" && message.layout !== "banner") end("dismiss");
    }
    close.addEventListener("click", function () { end("dismiss"); });
    if (message.layout === "modal") {
      outer.addEventListener("click", function (e) { if (e.target === outer) end("dismiss"); });
    }
    document.addEventListener("keydown", onKey, true);
    if (cta) {
      cta.addEventListener("click", function (e) {
        if (url) e.preventDefault();
        var done = end("click") || Promise.resolve();
        if (url) {
          // keepalive lets the click be recorded while the page goes; wait a moment for it all the same
          Promise.race([done, new Promise(function (resolve) { setTimeout(resolve, 400); })])
            .then(function () { window.location.assign(url); });
        }
      });
    }
    document.body.appendChild(host);
    if (message.layout === "slide_in") {
      requestAnimationFrame(function () { requestAnimationFrame(function () { box.classList.remove("entering"); }); });
    }
    if (message.layout === "modal" && cta) cta.focus();
  }

  // --- the page -----------------------------------------------------------------------------------------

  function page(context) {
    context = context || {};
    if (context.product_id !== undefined) state.page.product_id = context.product_id ? String(context.product_id) : null;
    if (context.cart_value !== undefined) state.page.cart_value = context.cart_value === null ? null : Number(context.cart_value);
    if (context.product_id) countView(String(context.product_id));
    return refresh();
  }

  window.TouchlineInApp = {
    page: page,
    refresh: refresh,
    identify: function (identifier, userHash) {
      state.identifier = identifier || "";
      state.userHash = userHash || "";
      return refresh();
    },
    views: function (productId) { return viewsOf(String(productId), 365); }
  };

  function start() {
    if (state.page.product_id) countView(state.page.product_id);
    refresh();
    var every = data.pollSeconds === undefined ? 30 : Number(data.pollSeconds);
    if (every > 0) {
      setInterval(function () { if (document.visibilityState === "visible") refresh(); }, Math.max(5, every) * 1000);
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") refresh();
    });
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
