// Cairn's page script. Loaded as a file (the pages' Content-Security-Policy
// allows no inline script). It follows the log of a running attempt by
// Server-Sent Events: a <pre data-follow="URL"> gets each new line appended
// as text (never as HTML), and the page reloads once the attempt has ended
// so that its final state and error show.
(function () {
  "use strict";

  function follow(pre) {
    if (pre.dataset.following) {
      return;
    }
    pre.dataset.following = "1";
    var status = document.getElementById("log-status");
    var source = new EventSource(pre.dataset.follow);
    source.addEventListener("log", function (ev) {
      var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.appendChild(document.createTextNode(ev.data + "\n"));
      if (atBottom) {
        pre.scrollTop = pre.scrollHeight;
      }
    });
    source.addEventListener("end", function (ev) {
      source.close();
      if (status) {
        status.textContent = "attempt ended: " + ev.data;
      }
      window.setTimeout(function () { window.location.reload(); }, 300);
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED && status) {
        status.textContent = "stopped following (reload the page to try again)";
      }
    });
  }

  // A form with data-confirm (Cancel: it stops running tasks) asks first.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form && form.getAttribute && form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
    }
  }, true);

  function start(root) {
    var pres = (root || document).querySelectorAll("pre[data-follow]");
    for (var i = 0; i < pres.length; i++) {
      follow(pres[i]);
    }
  }

  // Requests htmx makes carry the page's CSRF token (the server asks for it
  // on every request that may change something).
  document.addEventListener("htmx:configRequest", function (ev) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) {
      ev.detail.headers["X-CSRF-Token"] = meta.content;
    }
  });

  document.addEventListener("DOMContentLoaded", function () { start(document); });
  document.addEventListener("htmx:afterSwap", function (ev) { start(ev.target); });
})();
