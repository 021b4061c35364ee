// Canned answers in the reply box (docs/desk.md "Canned answers"): "/" at the start of
// the text or of a line opens a list of the answers the server finds for what follows
// it (GET /c/ID/canned?q=, already filled for this customer); arrow keys move, Enter,
// Tab or a click puts the chosen text in place of "/query", Escape closes the list.
// Focus stays in the box (aria-activedescendant), so desk.js's keys never fire. A file,
// not inline script (the CSP); texts are set with textContent, never as HTML.
"use strict";

(function () {
  var WAIT = 120;  // ms after the last keystroke before asking the server
  var SLASH = /(^|\n)\/([^\s\/]{0,100})$/;  // "/query" ending at the caret

  var box, area, list, status, url;
  var found = [], active = -1, asked = 0, timer = null, enterWaiting = false;

  function typed() {
    // The "/query" just before the caret: {start, query}, or null.
    if (area.selectionStart !== area.selectionEnd) return null;
    var before = area.value.slice(0, area.selectionStart);
    var m = SLASH.exec(before);
    return m ? {start: before.length - m[2].length - 1, query: m[2]} : null;
  }

  function isOpen() { return !box.hidden; }

  function close() {
    window.clearTimeout(timer);
    asked += 1;  // an answer on its way is not wanted any more
    enterWaiting = false;
    found = [];
    active = -1;
    box.hidden = true;
    list.textContent = "";
    area.removeAttribute("aria-activedescendant");
  }

  function option(item, i) {
    var li = document.createElement("li");
    li.id = "canned-option-" + i;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", "false");
    li.dataset.index = String(i);
    var name = document.createElement("span");
    name.className = "canned-name";
    name.setAttribute("dir", "auto");
    name.textContent = "/" + item.name;
    li.appendChild(name);
    var lang = document.createElement("span");
    lang.className = "canned-lang";
    lang.textContent = [item.team, item.language].filter(Boolean).join(" · ");
    li.appendChild(lang);
    var text = document.createElement("span");
    text.className = "canned-text";
    text.setAttribute("dir", "auto");
    if (item.problem) {
      li.setAttribute("aria-disabled", "true");
      text.textContent = item.problem;
    } else {
      text.textContent = item.text.split("\n")[0].slice(0, 120);
    }
    li.appendChild(text);
    return li;
  }

  function choose(i) {
    var items = list.querySelectorAll("[role=option]");
    active = items.length ? Math.max(0, Math.min(items.length - 1, i)) : -1;
    items.forEach(function (li, n) { li.setAttribute("aria-selected", String(n === active)); });
    if (active < 0) {
      area.removeAttribute("aria-activedescendant");
      return;
    }
    area.setAttribute("aria-activedescendant", items[active].id);
    items[active].scrollIntoView({block: "nearest"});
  }

  function show(items) {
    found = items;
    list.textContent = "";
    items.forEach(function (item, i) { list.appendChild(option(item, i)); });
    status.textContent = items.length ? items.length + " canned answers" : "";
    if (!items.length) { close(); return; }
    box.hidden = false;
    choose(0);
    if (enterWaiting) { enterWaiting = false; insert(0); }
  }

  function ask() {
    var at = typed();
    if (!at) { close(); return; }
    var mine = ++asked;
    fetch(url + "?q=" + encodeURIComponent(at.query), {credentials: "same-origin",
                                                       headers: {"Accept": "application/json"}})
      .then(function (answer) { return answer.ok ? answer.json() : []; })
      .then(function (items) { if (mine === asked) show(items); })
      .catch(function () { if (mine === asked) close(); });
  }

  function insert(i) {
    var item = found[i], at = typed();
    if (!item || item.problem || !at) return;
    var end = area.selectionStart;
    area.setRangeText(item.text, at.start, end, "end");
    close();
    // collab.js keeps the draft and tells others that this agent types.
    area.dispatchEvent(new Event("input", {bubbles: true}));
    area.focus();
  }

  function keydown(event) {
    var pending = !isOpen() && typed() !== null;
    if (!isOpen() && !(pending && event.key === "Enter")) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      choose(active + (event.key === "ArrowDown" ? 1 : -1));
    } else if (event.key === "Enter" || event.key === "Tab") {
      if (event.shiftKey || event.key === "Tab" && !isOpen()) return;
      if (isOpen()) insert(active); else enterWaiting = true;  // the list is on its way
    } else if (event.key === "Escape") {
      close();
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }

  function typing() {
    window.clearTimeout(timer);
    enterWaiting = false;
    if (typed()) timer = window.setTimeout(ask, WAIT); else close();
  }

  function wire() {
    box = document.querySelector("[data-canned-url]");
    if (!box) return;
    area = document.getElementById(box.dataset.cannedFor);
    list = box.querySelector("[role=listbox]");
    status = document.getElementById("canned-status");
    url = box.dataset.cannedUrl;
    area.setAttribute("aria-autocomplete", "list");
    area.setAttribute("aria-controls", list.id);
    area.addEventListener("input", typing);
    area.addEventListener("keydown", keydown);
    area.addEventListener("blur", function () { if (isOpen()) close(); });
    // A click chooses without taking the focus from the box (which would close it).
    list.addEventListener("mousedown", function (event) {
      var li = event.target.closest("[role=option]");
      event.preventDefault();
      if (li) insert(Number(li.dataset.index));
    });
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;  // the reply sent: nothing to offer any more
    if (box && form instanceof HTMLFormElement && form.contains(area)) close();
  });
  document.addEventListener("DOMContentLoaded", wire);
})();
