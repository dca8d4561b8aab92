// Live updates: the page's <main data-refresh> fetches its own URL with the
// partial header every few milliseconds and swaps in the new content, so
// the page follows the fleet without a reload. Hidden tabs do not poll.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !live.dataset.refresh) return;
  var every = Number(live.dataset.refresh);
  var status = document.getElementById("live-status");
  var last = null;

  function say(text) { if (status) status.textContent = text; }

  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch(location.pathname + location.search, {
      headers: { "X-Dbfleet-Partial": "1" }, credentials: "same-origin", cache: "no-store"
    }).then(function (resp) {
      if (resp.status === 401) { location.reload(); return null; }
      if (!resp.ok) throw new Error("HTTP " + resp.status);
      return resp.text();
    }).then(function (html) {
      if (html === null) return;
      if (html !== last) {
        var focused = document.activeElement && document.activeElement.id;
        live.innerHTML = html;
        last = html;
        if (focused && live.contains(document.getElementById(focused))) document.getElementById(focused).focus();
      }
      say("Updated at " + new Date().toLocaleTimeString() + "; updates live.");
    }).catch(function (err) {
      say("Could not update (" + err.message + "); retrying.");
    }).then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
