// Live refresh of a page's #live region while its jobs run.
// The server renders data-refresh="N" (seconds) on #live while a job of the page is in
// progress, and "0" once none is. This script fetches the same page every N seconds and
// swaps the region in place, until the server says 0. Without JavaScript, a
// <meta http-equiv="refresh"> in <noscript> reloads the whole page instead.
(function () {
  "use strict";

  function seconds(region) {
    var value = parseInt(region.getAttribute("data-refresh") || "0", 10);
    return isNaN(value) ? 0 : value;
  }

  function schedule(region) {
    var delay = seconds(region);
    if (delay > 0) {
      window.setTimeout(function () { refresh(region); }, delay * 1000);
    }
  }

  function refresh(region) {
    // Leave the region alone while a control inside it has the focus.
    if (region.contains(document.activeElement) && document.activeElement !== document.body) {
      schedule(region);
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok || response.redirected) { throw new Error("refresh failed"); }
        return response.text();
      })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var fresh = page.getElementById("live");
        if (!fresh) { return; }
        region.innerHTML = fresh.innerHTML;
        region.setAttribute("data-refresh", fresh.getAttribute("data-refresh") || "0");
        schedule(region);
      })
      .catch(function () {
        // A failed refresh (server restarting, session ended) stops; a reload starts over.
        region.setAttribute("data-refresh", "0");
      });
  }

  var live = document.getElementById("live");
  if (live) {
    schedule(live);
  }
})();
