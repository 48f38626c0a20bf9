// staxkeys app.js: small progressive enhancements, loaded with <script defer>
// after htmx. No framework, no eval, no inline handlers (CSP-safe). Pages must
// work without it. Behaviours, driven by markup:
//   form[data-confirm="…"]          ask before submitting (with or without htmx)
//   button[data-copy-target="#id"]  copy the target's text to the clipboard;
//                                   render it with `hidden`, this script shows it
//   time[data-relative][datetime]   "3 min ago" text, exact local time in title;
//                                   refreshed every 30 s and after htmx swaps
//   <meta name="csrf-token">        sent as X-CSRF-Token on every htmx request
//   <html class="js">               set at once, so CSS can hide no-JS-only controls
//   input[form=bulk][name=id]       a dashboard row's bulk box: its tick survives the row's
//                                   live re-render; input[data-bulk-page] (shown by this
//                                   script) ticks the page; [data-bulk-count] counts
// It also turns off htmx features that a strict CSP blocks anyway (inline
// indicator <style>, eval for hx-on / js: values); app.css has the styles.
(function () {
  "use strict";

  // Lets the CSS drop controls that only a page without JavaScript needs.
  document.documentElement.classList.add("js");

  if (window.htmx) {
    // Runs before htmx's DOMContentLoaded init; a <meta name="htmx-config">
    // is merged afterwards and can still override these.
    window.htmx.config.includeIndicatorStyles = false;
    window.htmx.config.allowEval = false;
  }

  // ---- Confirmation before submit ------------------------------------------
  // Capture phase on document runs before htmx's listener on the form, so
  // stopping the event here also stops hx-post/hx-boost requests.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-confirm")) {
      return;
    }
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      evt.preventDefault();
      evt.stopPropagation();
    }
  }, true);

  // ---- Copy to clipboard ---------------------------------------------------
  var status = document.createElement("span");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  document.body.appendChild(status);

  function flashLabel(button, text) {
    if (!button.hasAttribute("data-copy-label")) {
      button.setAttribute("data-copy-label", button.textContent);
    }
    button.textContent = text;
    if (!status.isConnected) {
      document.body.appendChild(status); // a boosted swap replaced <body>'s content
    }
    status.textContent = text;
    clearTimeout(button._copyTimer);
    button._copyTimer = setTimeout(function () {
      button.textContent = button.getAttribute("data-copy-label");
      status.textContent = "";
    }, 1500);
  }

  function selectText(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  document.addEventListener("click", function (evt) {
    var button = evt.target instanceof Element && evt.target.closest("button[data-copy-target]");
    if (!button) {
      return;
    }
    evt.preventDefault();
    var target;
    try {
      target = document.querySelector(button.getAttribute("data-copy-target"));
    } catch (e) {
      target = null; // invalid selector
    }
    if (!target) {
      return;
    }
    var text = target.textContent.trim();
    // navigator.clipboard exists only in secure contexts (HTTPS or localhost).
    // Otherwise select the text so the user can copy it by hand.
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () {
        flashLabel(button, "Copied");
      }, function () {
        selectText(target);
        flashLabel(button, "Selected");
      });
    } else {
      selectText(target);
      flashLabel(button, "Selected");
    }
  });

  function showCopyButtons(root) {
    var buttons = root.querySelectorAll("button[data-copy-target][hidden]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
    }
  }

  // ---- Relative times --------------------------------------------------------
  function relative(date, now) {
    var diff = (date.getTime() - now) / 1000; // seconds; negative = past
    var s = Math.abs(diff);
    var text;
    if (s < 45) {
      return "just now";
    } else if (Math.round(s / 60) < 60) {
      text = Math.round(s / 60) + " min";
    } else if (Math.round(s / 3600) < 24) {
      text = Math.round(s / 3600) + " h";
    } else {
      text = Math.round(s / 86400) + " d";
    }
    return diff < 0 ? text + " ago" : "in " + text;
  }

  function updateTimes(root) {
    var now = Date.now();
    var els = root.querySelectorAll("time[data-relative][datetime]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        continue; // keep the server-rendered text
      }
      var text = relative(date, now);
      if (el.textContent !== text) {
        el.textContent = text;
      }
      var title = utcText(date);
      if (el.title !== title) {
        el.title = title;
      }
    }
  }

  // ---- Times in the browser's time zone --------------------------------------
  // The server writes exact times in UTC ("2025-03-01 12:00:00 UTC"); they are shown in the
  // reader's own zone, with the UTC time kept in the title for hovering.
  function pad(n) { return n < 10 ? "0" + n : "" + n; }

  function utcText(d) {
    return d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) + " " +
      pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }

  function localText(d) {
    var zone = "";
    try {
      var parts = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" }).formatToParts(d);
      for (var i = 0; i < parts.length; i++) {
        if (parts[i].type === "timeZoneName") { zone = " " + parts[i].value; }
      }
    } catch (e) { /* no Intl: the zone name is left out */ }
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) + zone;
  }

  function localTimes(root) {
    var els = root.querySelectorAll("time[datetime]:not([data-relative])");
    for (var i = 0; i < els.length; i++) {
      var el = els[i];
      if (!/ UTC$/.test(el.textContent.trim())) {
        continue; // a date alone, such as "2 Jan 2025", stays as written
      }
      var date = new Date(el.getAttribute("datetime"));
      if (isNaN(date.getTime())) {
        continue;
      }
      el.textContent = localText(date);
      el.title = utcText(date);
    }
  }

  // ---- Live rows keep the table's order ---------------------------------------
  // A row replaced by a live update may belong elsewhere under "Problems first" (the default
  // order): the rows of the page are put back in the server's order, which is standing rank
  // (a key expected dead yet still accepted first, a retired one among the working keys),
  // then a failed last check first, then label, then id (store/keys.go statusOrder).
  var rank = { still_accepted: 0, revoked: 1, denied: 2, pending: 3, awaiting: 3 };

  function statusKey(tr) {
    var standing = tr.dataset.standing || tr.dataset.verdict;
    return [standing in rank ? rank[standing] : 4,
      tr.dataset.outcome === "error" ? 0 : 1, tr.dataset.label || "", Number(tr.dataset.id) || 0];
  }

  function compareKeys(a, b) {
    for (var i = 0; i < a.length; i++) {
      if (a[i] < b[i]) { return -1; }
      if (a[i] > b[i]) { return 1; }
    }
    return 0;
  }

  function resortRows() {
    var tbody = document.querySelector('[data-testid="pairs-table"] tbody');
    if (!tbody) {
      return;
    }
    var sort = new URLSearchParams(window.location.search).get("sort") || "status";
    if (sort !== "status" && sort !== "-status") {
      return;
    }
    var rows = Array.prototype.slice.call(tbody.querySelectorAll('tr[data-testid="pair-row"]'));
    var sorted = rows.slice().sort(function (a, b) {
      var c = compareKeys(statusKey(a), statusKey(b));
      return sort === "-status" ? -c : c;
    });
    for (var i = 0; i < sorted.length; i++) {
      if (sorted[i] !== rows[i]) {
        for (var j = 0; j < sorted.length; j++) { tbody.appendChild(sorted[j]); }
        return;
      }
    }
  }

  function enhance() {
    showCopyButtons(document);
    updateTimes(document);
    localTimes(document);
  }

  enhance();

  // ---- Focus after a failed submit ------------------------------------------
  // A form sent back with errors puts the focus on its first marked field, so a keyboard or
  // screen reader user lands on what to fix instead of at the top of the page.
  var invalid = document.querySelector('main [aria-invalid="true"]');
  if (invalid && (document.activeElement === document.body || document.activeElement === null)) {
    invalid.focus();
  }

  setInterval(function () { updateTimes(document); }, 30000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      updateTimes(document);
    }
  });
  // htmx events bubble from the swapped element through document.body.
  document.addEventListener("htmx:afterSwap", enhance);
  document.addEventListener("htmx:sseMessage", enhance);
  // After the swap has settled: the new row is in the table by then.
  document.addEventListener("htmx:afterSettle", resortRows);

  // ---- Bulk selection on the dashboard --------------------------------------
  // Ticks are remembered by key id, so a live update that replaces a row (and its box) keeps
  // it ticked; ids no longer on the page (another filter, a deleted key) are forgotten.
  var bulkTicked = new Set();
  function bulkBoxes() {
    return document.querySelectorAll('input[type="checkbox"][name="id"][form="bulk"]');
  }
  function bulkSync() {
    var form = document.getElementById("bulk");
    if (!form) {
      bulkTicked.clear();
      return;
    }
    var boxes = bulkBoxes(), shown = new Set(), n = 0;
    boxes.forEach(function (b) {
      shown.add(b.value);
      b.checked = bulkTicked.has(b.value);
      if (b.checked) n++;
    });
    bulkTicked.forEach(function (id) { if (!shown.has(id)) bulkTicked.delete(id); });
    var page = document.querySelector("input[data-bulk-page]");
    if (page) {
      page.hidden = false;
      page.checked = n > 0 && n === boxes.length;
      page.indeterminate = n > 0 && n < boxes.length;
    }
    var all = form.querySelector('input[name="all"]');
    var count = form.querySelector("[data-bulk-count]");
    if (count) {
      var text = "";
      if (all && all.checked) {
        text = "All matching keys selected";
      } else if (n > 0) {
        text = n + (n === 1 ? " key selected" : " keys selected");
      }
      if (count.textContent !== text) count.textContent = text;
    }
  }
  document.addEventListener("change", function (evt) {
    var el = evt.target;
    if (!(el instanceof HTMLInputElement)) return;
    if (el.hasAttribute("data-bulk-page")) {
      bulkBoxes().forEach(function (b) {
        if (el.checked) bulkTicked.add(b.value); else bulkTicked.delete(b.value);
      });
    } else if (el.name === "id" && el.getAttribute("form") === "bulk") {
      if (el.checked) bulkTicked.add(el.value); else bulkTicked.delete(el.value);
    } else if (!(el.name === "all" && el.form && el.form.id === "bulk")) {
      return;
    }
    bulkSync();
  });
  bulkBoxes().forEach(function (b) { if (b.checked) bulkTicked.add(b.value); }); // restored by the browser
  bulkSync();
  ["htmx:afterSwap", "htmx:afterSettle", "htmx:sseMessage", "htmx:load"].forEach(function (name) {
    document.addEventListener(name, bulkSync);
  });

  // ---- CSRF token on htmx requests -----------------------------------------
  document.addEventListener("htmx:configRequest", function (evt) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (!meta || !meta.content) {
      return;
    }
    // Never leak the token to another origin.
    var url = new URL(evt.detail.path, window.location.href);
    if (url.origin !== window.location.origin) {
      return;
    }
    evt.detail.headers["X-CSRF-Token"] = meta.content;
  });
})();

// ---- Passkeys (WebAuthn) -----------------------------------------------------
//   form[data-passkey-register]   posts its fields for options, creates a passkey,
//                                 posts it back; errors go to [data-passkey-error]
//   [data-passkey-signin] button  signs in (or confirms it is you) with a passkey,
//                                 through its data-begin and data-finish endpoints;
//                                 shown only where the browser has WebAuthn
// The server speaks the JSON forms of WebAuthn options and credentials, which
// PublicKeyCredential parses and serialises itself.
(function () {
  "use strict";
  var PKC = window.PublicKeyCredential;
  var usable = PKC && typeof PKC.parseCreationOptionsFromJSON === "function";

  function csrf() {
    var m = document.querySelector('meta[name="csrf-token"]');
    return m ? m.content : "";
  }

  function post(url, body, json) {
    var headers = { "X-CSRF-Token": csrf(), "Accept": "application/json" };
    if (json) headers["Content-Type"] = "application/json";
    return fetch(url, { method: "POST", headers: headers, body: body, credentials: "same-origin" })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) {
          if (!r.ok) throw new Error(j.error || j.message || "that did not work; try again");
          return j;
        });
      });
  }

  function showError(root, err) {
    var el = root.querySelector("[data-passkey-error]");
    var msg = err && err.name === "NotAllowedError" ? "The passkey prompt was closed or timed out." : (err && err.message) || String(err);
    if (el) el.textContent = msg;
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-passkey-signin]").forEach(function (box) {
      if (!usable) return;
      box.hidden = false;
      box.querySelector("button").addEventListener("click", function () {
        post(box.dataset.begin || "/login/passkey/begin", null, false)
          .then(function (opts) {
            return navigator.credentials.get({ publicKey: PKC.parseRequestOptionsFromJSON(opts.publicKey) });
          })
          .then(function (cred) { return post(box.dataset.finish || "/login/passkey/finish", JSON.stringify(cred.toJSON()), true); })
          .then(function (j) { window.location.assign(j.redirect || "/"); })
          .catch(function (err) { showError(box, err); });
      });
    });
    document.querySelectorAll("form[data-passkey-register]").forEach(function (form) {
      if (!usable) {
        showError(form, new Error("This browser cannot create passkeys."));
        return;
      }
      form.addEventListener("submit", function (evt) {
        evt.preventDefault();
        post(form.action, new URLSearchParams(new FormData(form)), false)
          .then(function (opts) {
            return navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(opts.publicKey) });
          })
          .then(function (cred) { return post("/account/passkeys/finish", JSON.stringify(cred.toJSON()), true); })
          .then(function (j) { window.location.assign(j.redirect || "/account"); })
          .catch(function (err) { showError(form, err); });
      });
    });
  });
})();
