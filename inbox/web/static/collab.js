// Working together on a conversation (docs/desk.md "Working together"): tell the
// server this page is open and whether its agent types (others see "Kim is typing a
// reply…"); keep what is typed as a draft; ask before sending a reply after someone
// else's. A file, not inline script (the CSP); every POST carries the CSRF token, as a
// header for fetch() and as a form field for sendBeacon (which cannot set headers).
"use strict";

(function () {
  var EVERY = 10000;       // "still here", well inside the server's 30 s
  var TYPING_AGAIN = 3000; // "still typing", inside the server's 6 s
  var SAVE_AFTER = 1000;   // a draft is saved this long after the last keystroke
  var RETRY = 5000;        // a draft that could not be saved (connection gone)

  var root, cid, csrf;
  var typed = {box: "", at: 0, said: 0};
  var saved = {}, timers = {};
  var pending = Promise.resolve();

  function path(what) { return "/c/" + cid + "/" + what; }

  function post(what, fields) {
    return fetch(path(what), {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf},
      body: new URLSearchParams(fields)
    }).then(function (answer) {
      if (!answer.ok && answer.status !== 404) throw new Error(answer.status);
      return answer;
    });
  }

  // ------------------------------------------------------------------ presence
  function typing() { return Date.now() - typed.at < TYPING_AGAIN * 2 ? typed.box : ""; }

  function announce() {
    post("presence", {typing: typing()}).catch(function () {});  // next time, then
  }

  function keystroke(box) {
    var now = Date.now(), other = box !== typed.box;
    typed.box = box;
    typed.at = now;
    if (other || now - typed.said > TYPING_AGAIN) {
      typed.said = now;
      announce();
    }
  }

  function stopTyping() {
    typed.at = 0;
    typed.said = 0;
    announce();
  }

  // ------------------------------------------------------------------ drafts
  function boxes() { return Array.from(document.querySelectorAll("form[data-draft]")); }

  function text(form) { return form.querySelector("textarea").value; }

  function save(form) {
    var box = form.dataset.draft, now = text(form);
    window.clearTimeout(timers[box]);
    if (now === saved[box]) return pending;
    saved[box] = now;
    pending = pending.then(function () {
      return post("draft", {box: box, text: now});
    }).catch(function () {
      saved[box] = null;  // not kept: try again
      timers[box] = window.setTimeout(function () { save(form); }, RETRY);
    });
    return pending;
  }

  function later(form) {
    window.clearTimeout(timers[form.dataset.draft]);
    timers[form.dataset.draft] = window.setTimeout(function () { save(form); }, SAVE_AFTER);
  }

  function leaving() {
    boxes().forEach(function (form) {
      var box = form.dataset.draft;
      if (text(form) !== saved[box]) {
        window.clearTimeout(timers[box]);
        saved[box] = text(form);
        navigator.sendBeacon(path("draft"),
                             new URLSearchParams({box: box, text: text(form), csrf: csrf}));
      }
    });
    navigator.sendBeacon(path("presence"), new URLSearchParams({left: "1", csrf: csrf}));
  }

  // ------------------------------------------------------------------ collisions
  function newest() {
    var live = document.getElementById("conv-live");
    return live ? live.dataset.newest : null;
  }

  // What the reply is checked against: the newest message when the agent began it.
  // While the box holds text, a colleague's reply arriving on screen does not count
  // as seen; the server asks.
  function seen(force) {
    var form = document.querySelector("form[data-draft=reply]");
    var input = form && form.querySelector("[data-seen-up-to]");
    if (input && newest() && (force || !text(form).trim())) input.value = newest();
  }

  function confirmNext(form, yes) {
    var input = form.querySelector("[data-confirm]");
    if (input) input.value = yes ? "1" : "0";
  }

  function question(event) {
    var form = document.querySelector("form[data-draft=reply]");
    var area = document.getElementById("collision");
    if (!form || !area) return;
    if (event.target.closest("[data-send-anyway]")) {
      confirmNext(form, true);
      form.requestSubmit();
    } else if (event.target.closest("[data-keep-editing]")) {
      seen(true);  // told of it now: the next send goes
      area.textContent = "";
      form.querySelector("textarea").focus();
    }
  }

  // ------------------------------------------------------------------ wiring
  function wire() {
    root = document.getElementById("collab");
    if (!root) return;
    cid = root.dataset.conversation;
    var meta = document.querySelector('meta[name="csrf-token"]');
    csrf = meta ? meta.content : "";
    boxes().forEach(function (form) {
      var area = form.querySelector("textarea");
      // The draft came as the box's initial text: make it the value, so that the
      // form's reset after sending empties the box instead of restoring the draft.
      area.value = area.defaultValue;
      area.defaultValue = "";
      saved[form.dataset.draft] = area.value;
      area.addEventListener("input", function () {
        keystroke(form.dataset.draft);
        later(form);
      });
    });
    root.addEventListener("click", question);
    announce();
    window.setInterval(announce, EVERY);
    window.addEventListener("focus", announce);
    window.addEventListener("pagehide", leaving);
    window.addEventListener("pageshow", function (e) { if (e.persisted) announce(); });
  }

  document.addEventListener("htmx:confirm", function (event) {
    // Send only after the last draft save has landed, so that it cannot bring back
    // the draft the send removes.
    var form = event.detail.elt;
    if (!root || !(form instanceof HTMLFormElement) || !form.dataset.draft) return;
    event.preventDefault();
    save(form).then(function () { event.detail.issueRequest(true); });
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (!root || !(form instanceof HTMLFormElement) || !form.dataset.draft) return;
    confirmNext(form, false);
    if (!event.detail.successful || event.detail.xhr.status >= 300) return;
    window.clearTimeout(timers[form.dataset.draft]);
    saved[form.dataset.draft] = "";  // sent: the server dropped the draft
    var area = document.getElementById("collision");
    if (area) area.textContent = "";
    stopTyping();
  });

  document.addEventListener("htmx:afterSettle", function () { if (root) seen(false); });
  document.addEventListener("DOMContentLoaded", wire);
})();
