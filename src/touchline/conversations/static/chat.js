/*
 * Touchline's web chat for a shop's pages: a launcher button and a chat window, messages in real time.
 *
 *   <script src="https://touchline.shop.example/sdk/chat.js" defer data-write-key="tlw_..."
 *           data-identifier="user_id:kim-01" data-user-hash="(signed on the shop's server)"></script>
 *
 * data-identifier and data-user-hash only for a signed-in customer; data-lang="ko|en" (default: the
 * page's <html lang>, else the browser's); data-position="left".
 *
 * Proactive chat: when the workspace switches it on (GET /v1/chat/proactive), the chat watches a shopper
 * hesitate: idle on the checkout page (path matching data-checkout-path, default /checkout|/order|/payment)
 * for the workspace's idle time, exit intent on a desktop (the pointer leaving through the top), leaving
 * the cart page (data-cart-path, default /cart) while data-cart-items > 0. Each is reported once per page
 * (POST /v1/chat/hesitation); when the server's rule says so, the window opens with its message. The visitor is known by the anonymous
 * id analytics.js keeps (localStorage or cookie "ajs_anonymous_id"), so the chat joins their profile; a
 * page without analytics.js gets one made here and kept the same way. Messages arrive over a
 * Server-Sent Events stream read with fetch (so the write key goes in a header, never in a URL),
 * resumed with Last-Event-ID. Everything the server sends is shown as text, never as markup.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) return;
  var src = new URL(script.src, document.baseURI);
  var base = src.origin + src.pathname.replace(/\/sdk\/chat\.js$/, "");
  var data = script.dataset;
  var pageLang = data.lang || document.documentElement.lang || navigator.language || "en";
  var lang = pageLang.slice(0, 2).toLowerCase() === "ko" ? "ko" : "en";
  var TEXT = {
    en: { open: "Chat with us", title: "Chat", close: "Close chat", placeholder: "Write a message…",
          send: "Send", hello: "Hello! How can we help? We usually answer within a few minutes.",
          failed: "Not sent. Try again.", you: "You", agent: "Shop", bot: "Assistant",
          low: "Very dissatisfied", high: "Very satisfied", rated: "Thank you for rating us ",
          npsLow: "Not at all likely", npsHigh: "Extremely likely", shop: "Shop",
          comment: "Anything to add? (optional)", thanks: "Thank you for your feedback!" },
    ko: { open: "채팅 상담", title: "채팅 상담", close: "채팅 닫기", placeholder: "메시지를 입력하세요",
          send: "보내기", hello: "안녕하세요! 무엇을 도와드릴까요? 보통 몇 분 안에 답변드립니다.",
          failed: "보내지 못했습니다. 다시 시도해 주세요.", you: "나", agent: "상담원", bot: "챗봇",
          low: "매우 불만족", high: "매우 만족", rated: "평가해 주셔서 감사합니다 ",
          npsLow: "전혀 아니다", npsHigh: "매우 그렇다", shop: "쇼핑몰",
          comment: "더 남기실 말씀이 있으신가요? (선택)", thanks: "소중한 의견 감사합니다!" }
  }[lang];

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

  var state = {
    writeKey: data.writeKey || "",
    identifier: data.identifier || "",
    userHash: data.userHash || "",
    messages: [],
    seen: {},
    open: false,
    lastEventId: null,
    streaming: false,
    proactive: null,
    hesitated: {}
  };

  var host = document.createElement("div");
  host.setAttribute("data-touchline-chat", "");
  var root = host.attachShadow({ mode: "open" });
  var side = data.position === "left" ? "left" : "right";
  root.innerHTML =
    "<style>" +
    ":host{all:initial}" +
    ".wrap{position:fixed;bottom:20px;" + side + ":20px;z-index:2147483000;font:15px/1.45 system-ui,'Noto Sans KR',sans-serif;color:#1b2430}" +
    "button.launch{width:56px;height:56px;border-radius:50%;border:0;background:#12263f;color:#fff;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.25)}" +
    "button:focus-visible,textarea:focus-visible{outline:3px solid #4c9aff;outline-offset:2px}" +
    ".win{position:absolute;bottom:70px;" + side + ":0;width:min(370px,calc(100vw - 40px));height:min(520px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;border-radius:14px;box-shadow:0 8px 28px rgba(0,0,0,.22);overflow:hidden}" +
    ".win[hidden]{display:none}" +
    "header{display:flex;justify-content:space-between;align-items:center;padding:12px 14px;background:#12263f;color:#fff;font-weight:600}" +
    ".close{border:0;background:none;font-size:22px;line-height:1;cursor:pointer;color:#fff}" +
    "ol{list-style:none;margin:0;padding:12px;flex:1;overflow:auto;display:flex;flex-direction:column;gap:8px;background:#f6f7f9}" +
    "li{max-width:80%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-break:keep-all;overflow-wrap:anywhere}" +
    "li.in{align-self:flex-end;background:#12263f;color:#fff;border-bottom-right-radius:4px}" +
    "li.out,li.hello{align-self:flex-start;background:#fff;border:1px solid #e4e7ec;border-bottom-left-radius:4px}" +
    "li.failed{opacity:.6}" +
    "li.quick{max-width:100%;padding:0;background:none;border:0;display:flex;flex-wrap:wrap;gap:6px}" +
    "li.quick button{border:1px solid #12263f;border-radius:16px;background:#fff;color:#12263f;padding:5px 12px;font:inherit;font-size:13px;cursor:pointer;word-break:keep-all}" +
    ".when{display:block;font-size:11px;opacity:.7;margin-top:2px}" +
    "li.rate{max-width:100%;padding:0;background:none;border:0;display:flex;flex-direction:column;gap:4px}" +
    ".scores{display:flex;flex-wrap:wrap;gap:6px}.scores button{width:40px;height:40px;padding:0;white-space:nowrap;border:1px solid #12263f;border-radius:50%;background:#fff;color:#12263f;font:inherit;font-weight:600;cursor:pointer}" +
    ".scores.nps{gap:3px}.scores.nps button{width:28px;height:28px;font-size:12px;letter-spacing:-.5px}" +
    ".scale{display:flex;justify-content:space-between;width:224px;font-size:11px;opacity:.75;word-break:keep-all}.scale.nps{width:338px;max-width:100%}" +
    ".rated{font-size:13px;word-break:keep-all}.remark{display:flex;gap:6px}.remark input{flex:1;font:inherit;font-size:13px;padding:6px 8px;border:1px solid #d0d5dd;border-radius:8px}" +
    ".remark button{border:0;border-radius:8px;background:#12263f;color:#fff;padding:0 10px;font:inherit;font-size:13px;cursor:pointer;word-break:keep-all}" +
    "form{display:flex;gap:8px;padding:10px;border-top:1px solid #e4e7ec;background:#fff}" +
    "textarea{flex:1;resize:none;height:40px;font:inherit;padding:8px;border:1px solid #d0d5dd;border-radius:8px}" +
    "button.send{border:0;border-radius:8px;background:#12263f;color:#fff;padding:0 14px;font:inherit;cursor:pointer;word-break:keep-all}" +
    ".error{color:#b42318;padding:0 12px 8px;font-size:13px}.error:empty{display:none}" +
    "@media (max-width:480px){.win{position:fixed;left:0;right:0;bottom:0;top:0;width:auto;height:auto;border-radius:0}}" +
    "</style>" +
    "<div class='wrap'><div class='win' role='dialog' hidden><header><span class='heading'></span>" +
    "<button class='close' type='button'>×</button></header><ol aria-live='polite'></ol><div class='error' role='alert'></div>" +
    "<form><textarea rows='1' maxlength='4000'></textarea><button class='send' type='submit'></button></form></div>" +
    "<button class='launch' type='button' aria-haspopup='dialog' aria-expanded='false'>" +
    "<svg width='26' height='26' viewBox='0 0 24 24' aria-hidden='true' fill='currentColor'><path d='M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z'/></svg>" +
    "</button></div>";
  var launch = root.querySelector(".launch");
  var win = root.querySelector(".win");
  var list = root.querySelector("ol");
  var form = root.querySelector("form");
  var input = root.querySelector("textarea");
  var error = root.querySelector(".error");
  root.querySelector(".heading").textContent = TEXT.title;
  root.querySelector(".close").setAttribute("aria-label", TEXT.close);
  root.querySelector(".send").textContent = TEXT.send;
  launch.setAttribute("aria-label", TEXT.open);
  win.setAttribute("aria-label", TEXT.title);
  input.setAttribute("placeholder", TEXT.placeholder);
  input.setAttribute("aria-label", TEXT.placeholder);
  var when = new Intl.DateTimeFormat(lang === "ko" ? "ko-KR" : "en", { timeStyle: "short" });
  var anonymous = anonymousId();

  function headers(extra) {
    var h = { Authorization: "Basic " + btoa(state.writeKey + ":") };
    if (state.userHash) h["X-Touchline-User-Hash"] = state.userHash;
    for (var k in extra || {}) h[k] = extra[k];
    return h;
  }

  function query() {
    var q = "?anonymous_id=" + encodeURIComponent(anonymous);
    if (state.identifier) q += "&identifier=" + encodeURIComponent(state.identifier);
    return q;
  }

  function add(message) {
    if (state.seen[message.id]) return;
    state.seen[message.id] = true;
    state.messages.push(message);
    // A history read again after a reset can bring older messages after newer ones: keep time order.
    state.messages.sort(function (a, b) { return a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0; });
    render();
  }

  function render() {
    launch.setAttribute("aria-expanded", String(state.open));
    win.hidden = !state.open;
    list.textContent = "";
    var hello = document.createElement("li");
    hello.className = "hello" + (state.proactive ? " proactive" : "");
    hello.textContent = state.proactive || TEXT.hello;
    list.appendChild(hello);
    state.messages.forEach(function (message) {
      var li = document.createElement("li");
      li.className = (message.direction === "inbound" ? "in" : "out") + (message.failed ? " failed" : "");
      li.setAttribute("data-message-id", message.id);
      li.textContent = message.body;
      var time = document.createElement("span");
      time.className = "when";
      var who = message.direction === "inbound" ? TEXT.you : message.author === "bot" ? TEXT.bot :
        message.author === "system" ? TEXT.shop : TEXT.agent;
      li.setAttribute("data-author", message.author || "");
      time.textContent = who + " · " +
        when.format(new Date(message.created_at));
      li.appendChild(time);
      list.appendChild(li);
      if (message.survey) list.appendChild(ratingRow(message));
    });
    // The answers the customer can tap, under the latest message only (an older question is settled).
    var latest = state.messages[state.messages.length - 1];
    if (latest && latest.direction === "outbound" && latest.quick_replies && latest.quick_replies.length) {
      var quick = document.createElement("li");
      quick.className = "quick";
      latest.quick_replies.forEach(function (text) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = text;
        button.addEventListener("click", function () {
          send(text).catch(function () { error.textContent = TEXT.failed; });
        });
        quick.appendChild(button);
      });
      list.appendChild(quick);
    }
    list.scrollTop = list.scrollHeight;
  }

  // A rating request (after an agent resolved the chat): five buttons, then a thank-you and a comment.
  function ratingRow(message) {
    var row = document.createElement("li");
    row.className = "rate";
    row.setAttribute("data-rating-for", message.id);
    var rating = message.rating;
    var nps = message.survey.kind === "nps";
    var low = nps ? 0 : 1, high = nps ? 10 : 5;
    if (!rating) {
      var scores = document.createElement("div");
      scores.className = "scores" + (nps ? " nps" : "");
      var range = [];
      for (var n = low; n <= high; n++) range.push(n);
      range.forEach(function (score) {
        var button = document.createElement("button");
        button.type = "button";
        button.textContent = String(score);
        button.setAttribute("aria-label", score + " / " + high + (score === low ? " · " + (nps ? TEXT.npsLow : TEXT.low) :
          score === high ? " · " + (nps ? TEXT.npsHigh : TEXT.high) : ""));
        button.addEventListener("click", function () {
          rate(message, score, null).catch(function () { error.textContent = TEXT.failed; });
        });
        scores.appendChild(button);
      });
      var scale = document.createElement("div");
      scale.className = "scale" + (nps ? " nps" : "");
      scale.innerHTML = "<span></span><span></span>";
      scale.firstChild.textContent = nps ? TEXT.npsLow : TEXT.low;
      scale.lastChild.textContent = nps ? TEXT.npsHigh : TEXT.high;
      row.appendChild(scores);
      row.appendChild(scale);
      return row;
    }
    var done = document.createElement("div");
    done.className = "rated";
    done.textContent = rating.comment ? TEXT.thanks : TEXT.rated + "(" + rating.score + "/" + high + ")";
    row.appendChild(done);
    if (!rating.comment) {
      var remark = document.createElement("form");
      remark.className = "remark";
      var field = document.createElement("input");
      field.maxLength = 2000;
      field.placeholder = TEXT.comment;
      field.setAttribute("aria-label", TEXT.comment);
      var submit = document.createElement("button");
      submit.type = "submit";
      submit.textContent = TEXT.send;
      remark.appendChild(field);
      remark.appendChild(submit);
      remark.addEventListener("submit", function (e) {
        e.preventDefault();
        var text = field.value.trim();
        if (text) rate(message, rating.score, text).catch(function () { error.textContent = TEXT.failed; });
      });
      row.appendChild(remark);
    }
    return row;
  }

  function rate(message, score, comment) {
    var body = { anonymous_id: anonymous, message_id: message.id, score: score };
    if (comment) body.comment = comment;
    if (state.identifier) body.identifier = state.identifier;
    error.textContent = "";
    return fetch(base + "/v1/chat/rating", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }), credentials: "omit",
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok && r.status !== 409) throw new Error("Touchline chat: HTTP " + r.status);
      return r.json();
    }).then(function (answer) {
      // 409: rated already (another tab): show the rating that stands.
      var stood = answer.detail && answer.detail[0] && answer.detail[0].rating;
      message.rating = answer.message ? answer.message.rating : (stood || message.rating);
      render();
    });
  }

  function load() {
    return fetch(base + "/v1/chat/messages" + query(), { headers: headers(), credentials: "omit" })
      .then(function (r) { if (!r.ok) throw new Error("Touchline chat: HTTP " + r.status); return r.json(); })
      .then(function (body) { body.messages.forEach(add); });
  }

  function listen() {
    if (state.streaming) return;
    state.streaming = true;
    var extra = state.lastEventId ? { "Last-Event-ID": state.lastEventId } : {};
    fetch(base + "/v1/chat/stream" + query(), { headers: headers(extra), credentials: "omit", cache: "no-store" })
      .then(function (response) {
        if (!response.ok || !response.body) throw new Error("Touchline chat: HTTP " + response.status);
        var reader = response.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) return;
            buffer += decoder.decode(chunk.value, { stream: true });
            var at;
            while ((at = buffer.indexOf("\n\n")) >= 0) {
              handle(buffer.slice(0, at));
              buffer = buffer.slice(at + 2);
            }
            return pump();
          });
        }
        return pump();
      })
      .catch(function () { /* reconnect below */ })
      .then(function () {
        state.streaming = false;
        setTimeout(listen, 3000);
      });
  }

  function handle(block) {
    var id = null, kind = "message", payload = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("id: ") === 0) id = line.slice(4);
      else if (line.indexOf("event: ") === 0) kind = line.slice(7);
      else if (line.indexOf("data: ") === 0) payload += line.slice(6);
    });
    if (kind === "reset") {  // more was missed than the stream replays: read the history again
      state.lastEventId = null;
      load().catch(function () { /* the next reconnect tries again */ });
      return;
    }
    if (id) state.lastEventId = id;
    if (kind === "message" && payload) add(JSON.parse(payload).message);
  }

  function send(text) {
    var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(36).slice(2);
    var body = { anonymous_id: anonymous, client_message_id: key.replace(/[^A-Za-z0-9_.:-]/g, ""), text: text,
                 language: lang, page_url: location.href.slice(0, 2048) };
    if (state.identifier) body.identifier = state.identifier;
    error.textContent = "";
    return fetch(base + "/v1/chat/messages", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }), credentials: "omit",
      body: JSON.stringify(body)
    }).then(function (r) {
      if (!r.ok) throw new Error("Touchline chat: HTTP " + r.status);
      return r.json();
    }).then(function (answer) { add(answer.message); listen(); });
  }

  launch.addEventListener("click", function () {
    state.open = !state.open;
    render();
    if (state.open) input.focus();
  });
  root.querySelector(".close").addEventListener("click", function () {
    state.open = false;
    render();
    launch.focus();
  });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text).catch(function () { error.textContent = TEXT.failed; input.value = text; });
  });

  // --- proactive chat: report hesitation; open when the workspace's rule says so -----------------------
  var pageKey = "p" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);

  function hesitate(signal) {
    if (state.hesitated[signal] || state.open) return;
    state.hesitated[signal] = true;
    var body = { anonymous_id: anonymous, signal: signal, key: pageKey + "-" + signal, language: lang,
                 page_url: location.href.slice(0, 2048) };
    if (state.identifier) body.identifier = state.identifier;
    if (data.cartValue && !isNaN(Number(data.cartValue))) body.cart_value = Number(data.cartValue);
    return fetch(base + "/v1/chat/hesitation", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }), credentials: "omit",
      keepalive: signal === "cart_exit", body: JSON.stringify(body)
    }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (answer) {
        if (answer && answer.open && answer.message && !state.open) {
          state.proactive = answer.message;
          state.open = true;
          render();
        }
      }).catch(function () { /* a hesitation not reported changes nothing for the shopper */ });
  }

  function watch(config) {
    if (!config || !config.enabled) return;
    var wanted = {};
    (config.signals || []).forEach(function (name) { wanted[name] = true; });
    var path = location.pathname;
    var checkout = new RegExp(data.checkoutPath || "/(checkout|order|payment)", "i");
    var cart = new RegExp(data.cartPath || "/cart", "i");
    if (wanted.checkout_idle && checkout.test(path)) {
      var timer = null;
      var idle = Math.max(1, Number(config.idle_seconds) || 30) * 1000;
      var again = function () {
        clearTimeout(timer);
        timer = setTimeout(function () { hesitate("checkout_idle"); }, idle);
      };
      ["mousemove", "keydown", "scroll", "touchstart", "click"].forEach(function (name) {
        document.addEventListener(name, again, { passive: true });
      });
      again();
    }
    if (wanted.exit_intent && window.matchMedia && window.matchMedia("(pointer: fine)").matches) {
      document.documentElement.addEventListener("mouseleave", function (e) {
        if (e.clientY <= 0) hesitate("exit_intent");
      });
    }
    if (wanted.cart_exit && cart.test(path) && Number(data.cartItems || 0) > 0) {
      window.addEventListener("pagehide", function () { hesitate("cart_exit"); });
    }
  }

  function proactive() {
    return fetch(base + "/v1/chat/proactive", { headers: headers(), credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(watch)
      .catch(function () { /* no proactive chat: the launcher still works */ });
  }

  window.TouchlineChat = {
    open: function () { state.open = true; render(); },
    hesitate: hesitate,
    identify: function (identifier, userHash) {
      state.identifier = identifier || "";
      state.userHash = userHash || "";
      return load();
    }
  };

  // A question waiting for the customer (the shop's survey, the rating of a resolved chat) opens the
  // window once on this browser, so it is seen; closing it is remembered.
  function askIfWaiting() {
    var latest = state.messages[state.messages.length - 1];
    if (!latest || !latest.survey || latest.rating || state.open) return;
    var seenKey = "touchline_chat_asked";
    if (stored(seenKey) === latest.id) return;
    try { window.localStorage.setItem(seenKey, latest.id); } catch (e) { /* storage blocked: opens again */ }
    state.open = true;
    render();
  }

  function start() {
    document.body.appendChild(host);
    render();
    load().then(askIfWaiting).catch(function () { /* the launcher still works; the stream retries */ }).then(listen);
    proactive();
  }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
