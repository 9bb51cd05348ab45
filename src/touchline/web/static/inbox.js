/* The agents' inbox, live: listens to /inbox/stream (Server-Sent Events, the session's cookie) and, on a
   change, fetches the page again and swaps the queue and the open conversation in place, keeping what the
   agent is typing. Also: the reply box's counter and note mode, canned responses inserted. */
(function () {
  "use strict";
  var inbox = document.getElementById("inbox");
  if (!inbox) return;
  var status = document.getElementById("inbox-live");
  var pending = null;

  function refresh() {
    if (pending) return;
    pending = fetch(location.href, { credentials: "same-origin", headers: { "X-Partial": "1" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var doc = new DOMParser().parseFromString(html, "text/html");
        ["#inbox-list", "#thread", "#thread-status"].forEach(function (selector) {
          var now = document.querySelector(selector), fresh = doc.querySelector(selector);
          if (now && fresh) now.replaceWith(fresh);
        });
        var thread = document.getElementById("thread");
        if (thread) thread.scrollTop = thread.scrollHeight;
      })
      .catch(function () { /* the next change tries again */ })
      .then(function () { pending = null; });
  }

  if (window.EventSource) {
    var source = new EventSource("/inbox/stream");
    source.addEventListener("open", function () { if (status) status.textContent = status.getAttribute("data-live"); });
    source.addEventListener("error", function () { if (status) status.textContent = status.getAttribute("data-offline"); });
    source.addEventListener("change", function () { refresh(); });
  }

  var thread = document.getElementById("thread");
  if (thread) thread.scrollTop = thread.scrollHeight;
  var composer = document.getElementById("composer");
  if (!composer) return;
  var body = composer.querySelector("textarea");
  var count = document.getElementById("reply-count");
  var submit = composer.querySelector("button[type=submit]");
  var hint = composer.querySelector(".note-hint");
  function counted() {
    if (count) count.textContent = count.getAttribute("data-template").replace("__n__", String(body.value.length));
  }
  body.addEventListener("input", counted);
  counted();
  composer.addEventListener("change", function (event) {
    if (event.target.name !== "kind") return;
    var note = event.target.value === "note";
    composer.classList.toggle("is-note", note);
    if (hint) hint.hidden = !note;
    submit.textContent = submit.getAttribute(note ? "data-note" : "data-reply");
  });
  body.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) composer.requestSubmit();
  });
  var insert = document.getElementById("canned-insert");
  if (insert) {
    insert.addEventListener("click", function () {
      var chosen = document.getElementById("canned").value;
      var at = body.selectionStart || body.value.length;
      body.value = body.value.slice(0, at) + chosen + body.value.slice(body.selectionEnd || at);
      body.focus();
      counted();
    });
  }
})();
