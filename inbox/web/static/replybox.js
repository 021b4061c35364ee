/* The reply box knows its channel (docs/desk.md, "The reply box"): a live count of the
   reply as the channel counts it, from the limit its connector declares (data-limit,
   data-limit-unit: chars | utf16 | graphemes, data-limit-splits: yes | no).

   It counts and cuts exactly as channels/base.py does (TextLimit.count and .parts), so
   "sent as 2 messages" is what the channel will send, and over a limit that does not
   split the Send button is off (the server refuses such a reply too). Graphemes come
   from Intl.Segmenter: a Thai vowel mark or a decomposed Vietnamese accent is no
   character of its own. No inline script: the CSP forbids it. */
(function () {
  "use strict";

  var segmenter = (typeof Intl !== "undefined" && Intl.Segmenter)
    ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;

  function count(text, unit) {
    if (unit === "utf16") return text.length;  // JavaScript strings are UTF-16
    if (unit === "graphemes") {
      if (!segmenter) return Array.from(text).length;  // an old browser: code points
      var n = 0;
      for (var s of segmenter.segment(text)) n += 1;  // eslint-disable-line no-unused-vars
      return n;
    }
    return Array.from(text).length;  // code points
  }

  // Each grapheme of `text` in turn, read lazily: a long reply is cut near its start.
  function eachCluster(text, visit) {
    if (!segmenter) {
      var points = Array.from(text);
      for (var p = 0; p < points.length; p++) if (visit(points[p]) === false) return;
      return;
    }
    for (var s of segmenter.segment(text)) if (visit(s.segment) === false) return;
  }

  // Whether `text` is longer than `max` units (stops counting once it is).
  function exceeds(text, max, unit) {
    if (unit !== "graphemes") return count(text, unit) > max;
    var n = 0;
    eachCluster(text, function () { n += 1; return n <= max; });
    return n > max;
  }

  // How many code points of `points` fit in `max` units, never cutting a grapheme.
  function fitting(points, max, unit) {
    var used = 0, at = 0;
    eachCluster(points.join(""), function (cluster) {
      used += unit === "graphemes" ? 1 : count(cluster, unit);
      if (used > max) return false;
      at += Array.from(cluster).length;
      return true;
    });
    return at;
  }

  // Python's str.rfind over code points: the last start of `sep` in `points`, or -1.
  function rfind(points, sep) {
    for (var i = points.length - sep.length; i >= 0; i--) {
      var j = 0;
      while (j < sep.length && points[i + j] === sep[j]) j++;
      if (j === sep.length) return i;
    }
    return -1;
  }

  var SEPARATORS = [["\n", "\n"], ["\n"], [" "]];

  // How many messages `text` goes out as (TextLimit.parts, counted, not built).
  function parts(text, max, unit) {
    var rest = Array.from(text.trim()), n = 0;
    while (exceeds(rest.join(""), max, unit)) {
      var fits = Math.max(fitting(rest, max, unit), 1);
      var window = rest.slice(0, fits), cut = fits;
      for (var k = 0; k < SEPARATORS.length; k++) {
        var at = rfind(window, SEPARATORS[k]);
        if (at > Math.floor(fits / 2)) { cut = at; break; }
      }
      n += 1;
      rest = Array.from(rest.slice(cut).join("").replace(/^\s+/, ""));
    }
    return rest.length ? n + 1 : n;
  }

  function update(box) {
    var form = box.form, out = document.getElementById("reply-count");
    if (!out) return;
    var max = parseInt(box.getAttribute("data-limit"), 10);
    var unit = box.getAttribute("data-limit-unit") || "chars";
    var splits = box.getAttribute("data-limit-splits") === "yes";
    var text = box.value.trim(), used = count(text, unit);
    var over = used > max;
    var words = used + " / " + max;
    if (over && splits) {
      words += " · sent as " + parts(text, max, unit) + " messages";
    } else if (over) {
      words += " · too long for one message";
    }
    out.textContent = words;
    out.classList.toggle("over", over && !splits);
    box.setAttribute("aria-invalid", over && !splits ? "true" : "false");
    var send = form && form.querySelector('button[type="submit"]');
    if (send) send.disabled = over && !splits;
  }

  function boxes() {
    return document.querySelectorAll("textarea[data-limit]");
  }

  document.addEventListener("input", function (event) {
    if (event.target instanceof HTMLTextAreaElement && event.target.hasAttribute("data-limit")) {
      update(event.target);
    }
  });
  // desk.js empties the form after a send (form.reset fires no input event), and a
  // restored draft is set without one: count again then.
  document.addEventListener("reset", function () {
    window.setTimeout(function () { boxes().forEach(update); }, 0);
  }, true);
  document.addEventListener("DOMContentLoaded", function () { boxes().forEach(update); });
  document.addEventListener("htmx:afterSettle", function () { boxes().forEach(update); });
})();
