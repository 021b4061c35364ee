// The desk's own script: countdowns, the tab title, keys, and small htmx helpers.
// Loaded as a file (the CSP allows no inline script); everything it needs is in the
// page's data- attributes.
"use strict";

(function () {
  // ------------------------------------------------------------------ countdowns
  function duration(seconds) {
    var s = Math.abs(Math.trunc(seconds));
    var d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    var text = d ? d + "d " + h + "h" : h + "h " + String(m).padStart(2, "0") + "m";
    return seconds < 0 ? "overdue " + text : text;
  }

  var STATES = ["sla-ok", "sla-at-risk", "sla-breached"];

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (cell) {
      var due = Date.parse(cell.dataset.due);
      var warn = cell.dataset.warn ? Date.parse(cell.dataset.warn) : due;
      var state = now >= due ? "sla-breached" : now >= warn ? "sla-at-risk" : "sla-ok";
      cell.textContent = duration((due - now) / 1000);
      STATES.forEach(function (c) { cell.classList.toggle(c, c === state); });
    });
  }

  // ------------------------------------------------------------------ tab title
  function retitle() {
    var queue = document.querySelector(".queue[data-title]");
    var rows = document.getElementById("queue-rows");
    if (!queue || !rows) return;
    var n = Number(rows.dataset.waiting || 0);
    document.title = (n ? "(" + n + ") " : "") + queue.dataset.title;
  }

  // ------------------------------------------------------------------ keys
  var selected = null;  // the data-id of the chosen queue row, kept across refreshes

  function rows() { return Array.from(document.querySelectorAll("#queue-rows tr[data-id]")); }

  function choose(row) {
    rows().forEach(function (r) { r.classList.remove("chosen"); r.removeAttribute("aria-current"); });
    if (!row) return;
    row.classList.add("chosen");
    row.setAttribute("aria-current", "true");
    selected = row.dataset.id;
    var link = row.querySelector("a");
    if (link) link.focus();
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var at = all.findIndex(function (r) { return r.dataset.id === selected; });
    choose(all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))]);
  }

  function click(selector) {
    var el = document.querySelector(selector);
    if (el) el.click();
  }

  function focus(selector) {
    var el = document.querySelector(selector);
    if (el) el.focus();
    return el !== null;
  }

  var KEYS = {
    "j": function () { move(1); },
    "k": function () { move(-1); },
    "/": function () { focus("#f-q, .filters select, .filters input"); },
    "?": function () { var d = document.getElementById("keys"); if (d && !d.open) d.showModal(); },
    "r": function () { focus("#reply-text"); },
    "n": function () { focus("#note-text"); },
    "a": function () { if (!focus("#assign-to")) focus("#assign-me"); },
    "s": function () { focus("#snooze-until"); },
    "e": function () { click("#resolve"); },
    "u": function () { window.location.assign("/"); }
  };

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable], dialog[open]") !== null;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "Enter" && selected && !event.target.closest("a, button")) {
      var row = document.querySelector('#queue-rows tr[data-id="' + selected + '"]');
      if (row) window.location.assign(row.dataset.href);
      return;
    }
    var act = KEYS[event.key];
    if (!act) return;
    event.preventDefault();
    act();
  });

  // ------------------------------------------------------------------ live regions
  // The page's live region (#queue-rows, or #conv-box which holds #conv-live;
  // data-live, the URL that draws it) is drawn anew after each "changed" notice of the
  // page's stream (inbox.web.events). A notice asks for one fetch that *starts after
  // it*: a notice that comes while a fetch is under way asks for another when that one
  // ends, and an action whose answer (drawn before a notice) was swapped in after it is
  // fetched over. Before, htmx spent a notice on the region's fetch already under way,
  // or on a region a swap had just replaced, and the screen stayed behind (a reply
  // "queued" long after it was sent) until the next change. The conversation's box is
  // never replaced, only what it holds: an action's answer resolved its target when
  // sent, and a refusal's events (htmx:beforeSwap, below) must reach the document.
  var notices = 0, wanted = false, fetching = false;

  function pump() {
    var live = document.querySelector("[data-live]");
    if (!live || fetching || !wanted) return;
    wanted = false;
    fetching = true;
    // A failed fetch is not retried here: the stream reconnects with a notice of its own.
    htmx.ajax("GET", live.dataset.live,
              {target: live, swap: live.dataset.liveSwap || "outerHTML"})
      .catch(function () {})
      .then(function () { fetching = false; pump(); });
  }

  document.addEventListener("htmx:sseMessage", function (event) {
    if (event.detail.type !== "changed") return;
    notices += 1;
    wanted = true;
    pump();
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    event.detail.xhr.noticesBefore = notices;
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var before = event.detail.xhr.noticesBefore;
    if (typeof before === "number" && notices > before) {
      wanted = true;
      pump();
    }
  });

  // ------------------------------------------------------------------ remote images
  // Asked for per message ("Show remote images"), they stay shown while the page is
  // open: every refresh of the conversation (live, or after the agent's own action)
  // tells the server which messages they are, and it draws those frames with them.
  var imagesShown = new Set();

  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element && event.target.closest("[data-remote-images]");
    if (link) imagesShown.add(link.dataset.remoteImages);
  });

  document.addEventListener("htmx:configRequest", function (event) {
    if (imagesShown.size) {
      event.detail.headers["X-Remote-Images"] = Array.from(imagesShown).join(",");
    }
  });

  // ------------------------------------------------------------------ open sections
  // A refresh of the conversation draws it anew, folded; a section the agent opened
  // (data-keep-open: "Why did this happen?", a quoted part, a text version) opens again.
  // Which ones are open is kept from the agent's own toggles, not read off the page
  // before a swap: two swaps can follow each other before the first has settled (an
  // action's answer, then the refresh a notice asked for), and the second would read
  // the page the first drew, folded.
  // A section with data-load (the trail) reads its list when open and not yet read:
  // when the agent opens it, and again when a refresh has drawn it anew.
  var keptOpen = new Set();

  function load(details) {
    var list = details.querySelector("ol");
    if (!details.open || details.dataset.loaded || !list) return;
    details.dataset.loaded = "1";
    htmx.ajax("GET", details.dataset.load, {target: list, swap: "outerHTML"});
  }

  document.addEventListener("toggle", function (event) {  // toggle does not bubble
    var details = event.target;
    // (the section may have been drawn anew since the click: the agent's wish counts)
    if (!(details instanceof HTMLDetailsElement)) return;
    var key = details.dataset.keepOpen;
    if (key && details.open) keptOpen.add(key);
    if (key && !details.open) keptOpen.delete(key);
    if (key && !details.isConnected) {
      // toggle comes a moment after the click: a refresh may have drawn the section
      // anew in between, folded. The one on the page now takes the agent's wish (and
      // reads its list through its own toggle).
      var now = document.querySelector(
        '#conv-live details[data-keep-open="' + CSS.escape(key) + '"]');
      if (now && now.open !== details.open) now.open = details.open;
      return;
    }
    if (details.dataset.load) load(details);
  }, true);

  // The scripts are deferred: the page shows, and can be clicked, before this runs. A
  // section opened by then counts as opened by the agent, and reads its list now.
  document.querySelectorAll("details[data-keep-open]").forEach(function (d) {
    if (d.open) keptOpen.add(d.dataset.keepOpen);
    if (d.dataset.load) load(d);
  });

  function isConversation(event) {
    var target = event.detail.target || event.detail.elt;
    return target instanceof Element && target.id === "conv-box";
  }

  document.addEventListener("htmx:afterSettle", function (event) {
    if (!isConversation(event)) return;
    document.querySelectorAll("#conv-live details[data-keep-open]").forEach(function (d) {
      if (keptOpen.has(d.dataset.keepOpen)) d.open = true;
      if (d.dataset.load) load(d);
    });
  });

  // ------------------------------------------------------------------ htmx helpers
  document.addEventListener("htmx:beforeSwap", function (event) {
    // A refusal names its place (HX-Retarget: #problem): show it there as text.
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    // A refusal swapped into its place counts as "successful" to htmx: the status says.
    var form = event.detail.elt;
    if (!event.detail.successful || event.detail.xhr.status >= 300 ||
        !(form instanceof HTMLFormElement)) return;
    var problem = document.getElementById("problem");
    if (problem) problem.textContent = "";
    if (form.hasAttribute("data-clear")) form.reset();
  });

  document.addEventListener("htmx:afterSettle", function () {
    retitle();
    tick();
    if (selected) {
      var row = document.querySelector('#queue-rows tr[data-id="' + selected + '"]');
      if (row) row.classList.add("chosen");
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
    document.querySelectorAll("[data-timezone]").forEach(function (el) { el.value = zone; });
    retitle();
    tick();
    window.setInterval(tick, 1000);
  });
})();
