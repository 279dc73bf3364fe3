// The console's only script: keep a page's data fresh while it is open, and Cancel goes back.
// A page whose <main> has data-refresh="S" is fetched again every S seconds and its <main>
// swapped in, unless the operator is typing in one of its forms (then it waits).
(function () {
  "use strict";
  var main = document.getElementById("live");
  var stamp = document.getElementById("refreshed");
  var editing = false;

  document.addEventListener("input", function () { editing = true; });
  document.querySelectorAll("[data-back]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      if (window.history.length > 1) { event.preventDefault(); window.history.back(); }
    });
  });
  if (!main || !main.dataset.refresh) { return; }
  var seconds = Math.max(2, parseInt(main.dataset.refresh, 10) || 5);

  function busy() {
    var focused = document.activeElement;
    return editing || (focused && main.contains(focused) && /^(INPUT|SELECT|TEXTAREA)$/.test(focused.tagName));
  }

  function refresh() {
    if (busy() || document.hidden) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Console-Refresh": "1" } })
      .then(function (response) {
        if (response.redirected || !response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (busy()) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var freshMain = fresh.getElementById("live");
        var freshStamp = fresh.getElementById("refreshed");
        if (freshMain) { main.innerHTML = freshMain.innerHTML; }
        if (freshStamp && stamp) { stamp.textContent = freshStamp.textContent; stamp.classList.remove("stale"); }
      })
      .catch(function () {
        if (stamp) { stamp.classList.add("stale"); }  // Logged out or the clearing is down: say so, keep trying.
      });
  }
  window.setInterval(refresh, seconds * 1000);
})();
