/* Touchline dashboard: partial page updates (the htmx idea in a few lines), charts, small form helpers.
   Every page works without this file; with it, reports and searches update in place. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  // The viewer's time zone, for dates and daily buckets on the next request.
  try {
    var tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (tz && document.cookie.split("; ").indexOf("tl_tz=" + encodeURIComponent(tz)) < 0) {
      document.cookie = "tl_tz=" + encodeURIComponent(tz) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: the server's default zone stays */ }

  function drawCharts(root) {
    if (!window.Plotly) return;
    root.querySelectorAll(".chart[data-figure]").forEach(function (el) {
      var figure = JSON.parse(el.getAttribute("data-figure"));
      // The box keeps the figure's height; plotly fills its width, and follows it when the window resizes.
      el.style.height = (figure.layout.height || 300) + "px";
      delete figure.layout.height;
      figure.layout.autosize = true;
      window.Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displayModeBar: false });
      el.setAttribute("data-drawn", "1");
    });
  }

  // Fetch a page (or fragment) and put its element with the target's id in place of the target.
  function swap(url, target, init) {
    var current = document.querySelector(target);
    if (!current) { window.location.href = url; return Promise.resolve(); }
    current.setAttribute("aria-busy", "true");
    init = init || {};
    init.credentials = "same-origin";
    init.headers = { "X-Partial": "1", "X-CSRF-Token": csrf() };
    return fetch(url, init).then(function (response) {
      if (response.status === 401 && response.headers.get("X-Login")) {
        window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
        return;
      }
      return response.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.querySelector(target) || doc.querySelector("#error");
        if (!fresh) { window.location.href = url; return; }
        current.replaceWith(fresh);
        drawCharts(fresh);
        document.dispatchEvent(new CustomEvent("touchline:swapped", { detail: { target: target } }));
      });
    }).catch(function () {
      current.removeAttribute("aria-busy");
    });
  }

  function queryOf(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) { params.append(key, value); });
    return params.toString();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-partial]");
    if (link && !event.metaKey && !event.ctrlKey && !event.shiftKey) {
      event.preventDefault();
      swap(link.href, link.getAttribute("data-partial"));
      history.pushState(null, "", link.href);
      return;
    }
    var add = event.target.closest("[data-add-row]");
    if (add) { addRow(add.parentElement); return; }
    var remove = event.target.closest("[data-remove-row]");
    if (remove) {
      var row = remove.closest("[data-row]");
      var list = row.parentElement;
      if (list.querySelectorAll("[data-row]").length > 1) {
        row.remove();
        renumber(list);
        var form = list.closest("form");
        if (form) form.dispatchEvent(new Event("input", { bubbles: true }));
      }
    }
  });

  function addRow(container) {
    var list = container.querySelector("[data-rows]");
    var template = container.querySelector("template[data-row-template]");
    var next = 0;
    list.querySelectorAll("[name]").forEach(function (el) {
      var m = /^c-(\d+)-/.exec(el.name);
      if (m) next = Math.max(next, parseInt(m[1], 10) + 1);
    });
    var html = template.innerHTML.replace(/__i__/g, String(next));
    list.insertAdjacentHTML("beforeend", html);
    renumber(list);
    var added = list.lastElementChild;
    var field = added.querySelector("input:not([type=hidden]), select");
    if (field) field.focus();
  }

  function renumber(list) {
    list.querySelectorAll(":scope > [data-row]").forEach(function (row, k) {
      row.querySelectorAll("[data-tpl]").forEach(function (el) {
        el.textContent = el.getAttribute("data-tpl").replace("__n__", String(k + 1));
      });
      row.querySelectorAll("[data-tpl-aria]").forEach(function (el) {
        el.setAttribute("aria-label", el.getAttribute("data-tpl-aria").replace("__n__", String(k + 1)));
      });
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); return; }
    if (form.id === "segment-form" && event.submitter && event.submitter.hasAttribute("data-preview-button")) {
      event.preventDefault();
      preview(form);
      return;
    }
    var target = form.getAttribute("data-partial");
    if (target && (form.method || "get").toLowerCase() === "get") {
      event.preventDefault();
      var url = (form.getAttribute("action") || location.pathname) + "?" + queryOf(form);
      swap(url, target);
      history.pushState(null, "", url);
    }
  });

  // Search as you type.
  var typingTimer = null;
  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.hasAttribute && input.hasAttribute("data-autosubmit-input")) {
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { input.form.requestSubmit(); }, 300);
    }
  });

  // The segment editor: fields per condition kind, builder / JSON panes, live count preview.
  var previewTimer = null;
  function preview(form) {
    return swap(form.getAttribute("data-preview"), "#preview", { method: "POST", body: new FormData(form) });
  }
  function editorChanged(event) {
    var form = event.target.closest && event.target.closest("#segment-form");
    if (!form) return;
    if (event.target.hasAttribute("data-kind-select")) {
      event.target.closest(".cond-fields").setAttribute("data-kind", event.target.value);
    }
    if (event.target.name === "mode") {
      form.setAttribute("data-mode", event.target.value);
      var json = form.querySelector("#definition-json");
      var latest = document.querySelector("#preview template[data-definition]");
      if (event.target.value === "json" && latest && latest.innerHTML.trim()) {
        json.value = latest.content.textContent.trim();
      }
    }
    if (event.target.name === "name" || event.target.name === "description") return;
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () { preview(form); }, 400);
  }
  document.addEventListener("input", editorChanged);
  document.addEventListener("change", editorChanged);

  // The builder suggests the values customers have for the trait typed in its row (the names come with the page).
  var suggested = {};
  function suggestValues(input) {
    var form = input.closest("#segment-form");
    var list = form && form.querySelector('datalist[data-values-for="' + input.name + '"]');
    var trait = input.value.trim();
    if (!list || !trait) return;
    if (!suggested[trait]) {
      suggested[trait] = fetch(form.getAttribute("data-suggest") + "?trait=" + encodeURIComponent(trait),
                               { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : { values: [] }; })
        .catch(function () { delete suggested[trait]; return { values: [] }; });
    }
    suggested[trait].then(function (found) {
      list.textContent = "";
      (found.values || []).forEach(function (v) {
        var option = document.createElement("option");
        option.value = v.value;
        list.appendChild(option);
      });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.hasAttribute && event.target.hasAttribute("data-trait-input")) suggestValues(event.target);
  });
  document.addEventListener("focusin", function (event) {
    var value = event.target.closest && event.target.closest("label") && event.target.list;
    if (!value || !value.hasAttribute("data-values-for")) return;
    var trait = document.querySelector('[name="' + value.getAttribute("data-values-for") + '"]');
    if (trait) suggestValues(trait);
  });

  window.addEventListener("popstate", function () { window.location.reload(); });

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    var form = document.getElementById("segment-form");
    if (form) {
      var checked = form.querySelector('input[name="mode"]:checked');
      form.setAttribute("data-mode", checked ? checked.value : "builder");
      preview(form);
    }
  });
})();
