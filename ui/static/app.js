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

  // The experiments page: a form with data-autosubmit (which metric and
  // param the charts draw) is sent when one of its choices changes, so its
  // Draw button is not needed; the compare form says how many runs are
  // ticked, and its button waits for two.
  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (el && el.form && el.form.hasAttribute("data-autosubmit")) {
      el.form.submit();
    }
    if (el && el.classList && el.classList.contains("pick")) {
      comparePicks();
    }
  });

  function comparePicks() {
    var form = document.getElementById("compare-form");
    if (!form) {
      return;
    }
    var n = form.querySelectorAll("input.pick:checked").length;
    var button = document.getElementById("compare-runs");
    var count = document.getElementById("compare-count");
    if (button) {
      button.disabled = n < 2;
    }
    if (count) {
      count.textContent = n === 0 ? "tick two runs (or more)" : n === 1 ? "1 run ticked: tick another" : n + " runs ticked";
    }
  }

  function experiments() {
    var hide = document.querySelectorAll("form[data-autosubmit] .js-hide");
    for (var i = 0; i < hide.length; i++) {
      hide[i].hidden = true;
    }
    comparePicks();
  }

  document.addEventListener("DOMContentLoaded", function () { start(document); experiments(); });
  document.addEventListener("htmx:afterSwap", function (ev) { start(ev.target); });
})();
