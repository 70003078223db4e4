// Keysmith's own behaviour on top of htmx: open dialogs that htmx loads and give focus back to
// what opened them, copy secrets and say what was copied, ask before a secret nobody copied is
// closed, keep the forms' hints up to date, float the notices and let them go, and show errors
// of htmx requests. Everything here is an enhancement: every action also works as a plain form
// or link without JavaScript.
(function () {
  "use strict";

  document.documentElement.classList.add("scripted");

  var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function slot() { return document.getElementById("dialog-slot"); }

  // Controls that only work with this script are rendered hidden, so a browser without
  // JavaScript never shows a button that does nothing; the forms' hints start up to date.
  function enhance(root) {
    root.querySelectorAll("[data-needs-script][hidden]").forEach(function (element) {
      element.hidden = false;
    });
    root.querySelectorAll("[data-confirm-name]").forEach(checkConfirmName);
    root.querySelectorAll("[data-expiry-line]").forEach(function (line) {
      updateExpiryLine(line.closest("form"));
    });
  }

  // Focus goes back to what opened a dialog once it closes: the same control, or the one that
  // took its place in a refreshed row, or the list when the row is gone.
  var opener = null;

  function rememberOpener(element) {
    var row = element.closest("[data-key-id]");
    opener = { element: element, keyID: row ? row.dataset.keyId : "", testID: element.dataset.testid || "" };
  }

  function returnFocus() {
    if (!opener) { return; }
    var target = opener.element;
    if (!target.isConnected) {
      var selector = opener.testID ? '[data-testid="' + opener.testID + '"]' : "";
      if (selector && opener.keyID) { selector = '[data-key-id="' + CSS.escape(opener.keyID) + '"] ' + selector; }
      target = (selector && document.querySelector(selector)) || document.getElementById("api-key-list") || document.getElementById("main");
    }
    opener = null;
    target.focus();
  }

  function openDialogs(root) {
    root.querySelectorAll("dialog[data-keysmith-modal]").forEach(function (dialog) {
      if (dialog.open) { return; }
      dialog.showModal();
      var focus = dialog.querySelector("[autofocus]");
      if (focus) { focus.focus(); }
    });
  }

  function closeDialog(dialog) {
    dialog.dataset.closing = "true";
    dialog.close();
    dialog.remove();
    // The page of a key rotated from it shows the key as it was: it is read again.
    if (dialog.hasAttribute("data-reload-on-close")) { window.location.reload(); return; }
    if (dialog.dataset.done) { announce(dialog.dataset.done); }
    returnFocus();
  }

  // The secret: what was copied is named, whether by a button or by hand.
  function copyFrom(field) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(field.value);
    }
    field.select();
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function markCopied(box, what) {
    box.dataset.copied = "true";
    var status = box.querySelector("[data-testid=copy-status]");
    if (status) { status.textContent = "Copied " + what + "."; }
    var confirmBox = box.querySelector("[data-testid=confirm-close]");
    if (confirmBox) { confirmBox.hidden = true; }
  }

  function secretCopied(dialog) { return dialog.dataset.copied === "true"; }

  function askBeforeClosing(dialog) {
    var confirmBox = dialog.querySelector("[data-testid=confirm-close]");
    confirmBox.hidden = false;
    // Keep it open takes the focus, so that Enter, pressed out of habit, keeps the secret.
    var stay = confirmBox.querySelector("[data-stay]");
    if (stay) { stay.focus(); }
  }

  // The delete confirmation: Delete key is offered once the name is typed exactly.
  function checkConfirmName(input) {
    var submit = input.form && input.form.querySelector("[data-testid=confirm-delete]");
    if (submit) { submit.disabled = input.value.trim() !== input.dataset.confirmName; }
  }

  // The line under the expiry choice: the date the key will expire on, for a preset as the
  // server wrote it into the option, for a custom date as picked.
  function updateExpiryLine(form) {
    var line = form && form.querySelector("[data-expiry-line]");
    var select = form && form.querySelector("select[name=expires_in]");
    if (!line || !select) { return; }
    var option = select.options[select.selectedIndex];
    var text = option ? option.dataset.line || "" : "";
    var picked = form.querySelector("input[name=expires_at]");
    var date = select.value === "custom" && picked && /^(\d{4})-(\d{2})-(\d{2})$/.exec(picked.value);
    if (date) {
      var day = new Date(Date.UTC(Number(date[1]), Number(date[2]) - 1, Number(date[3])));
      text = "This key will expire on " + day.getUTCDate() + " " +
        months[day.getUTCMonth()] + " " + day.getUTCFullYear() + ".";
    }
    if (line.textContent !== text) { line.textContent = text; }
  }

  // Notices float over the page (app.css) and go by themselves a few seconds after they
  // settle, unless one warns or fails, or the pointer or focus is on them.
  var notices = document.querySelector("[data-testid=notices]");
  var noticeTimer = 0;
  var noticesHeld = false;

  function announce(message) {
    var flash = document.getElementById("flash");
    var notice = document.createElement("p");
    notice.className = "notice";
    notice.setAttribute("role", "status");
    notice.textContent = message;
    flash.replaceChildren(notice);
  }

  function dismissNotices() {
    clearTimeout(noticeTimer);
    document.getElementById("flash").replaceChildren();
    var proof = document.getElementById("revocation-proof");
    if (proof && proof.childElementCount > 0) {
      var empty = document.createElement("div");
      empty.id = "revocation-proof";
      proof.replaceWith(empty);
    }
  }

  function scheduleDismissal() {
    clearTimeout(noticeTimer);
    var settled = notices.querySelector(".notice") &&
      !notices.querySelector(".notice.error, .notice.warning, [data-state=waiting]");
    if (settled && !noticesHeld && !notices.contains(document.activeElement)) {
      noticeTimer = setTimeout(dismissNotices, 6000);
    }
  }

  if (notices) {
    new MutationObserver(scheduleDismissal).observe(notices, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-state"] });
    notices.addEventListener("mouseenter", function () { noticesHeld = true; scheduleDismissal(); });
    notices.addEventListener("mouseleave", function () { noticesHeld = false; scheduleDismissal(); });
    notices.addEventListener("focusin", scheduleDismissal);
    notices.addEventListener("focusout", function () { setTimeout(scheduleDismissal); });
    scheduleDismissal();
  }

  enhance(document);

  document.addEventListener("htmx:load", function (event) { enhance(event.detail.elt); });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialog-slot" && !event.detail.elt.closest("dialog")) {
      rememberOpener(event.detail.elt);
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    openDialogs(event.detail.elt.id === "dialog-slot" ? event.detail.elt : slot());
    // A dialog that an answer replaced with nothing (a delete done) is closed as well.
    if (!slot().querySelector("dialog")) { returnFocus(); }
  });

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches("[data-confirm-name]")) { checkConfirmName(target); }
    if (target.matches("select[name=expires_in], input[name=expires_at]")) { updateExpiryLine(target.form); }
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("select[name=expires_in], input[name=expires_at]")) { updateExpiryLine(event.target.form); }
  });

  // Copying by hand (Ctrl+C, the context menu) counts as copying the field it came from.
  document.addEventListener("copy", function (event) {
    var field = event.target.closest && event.target.closest("[data-copied]");
    var box = field && field.closest("[data-secret-dialog]");
    if (!box || field.selectionStart === field.selectionEnd) { return; }
    var whole = field.selectionEnd - field.selectionStart >= field.value.length;
    markCopied(box, (whole ? "" : "part of ") + field.dataset.copied);
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest("button, a");
    if (!target) { return; }
    if (target.hasAttribute("data-dismiss-notices")) {
      dismissNotices();
      document.getElementById("main").focus();
      return;
    }
    var dialog = target.closest("dialog");
    if (target.hasAttribute("data-copy")) {
      event.preventDefault();
      var box = target.closest("[data-secret-dialog]");
      var field = document.getElementById(target.getAttribute("data-copy"));
      copyFrom(field).then(function () {
        markCopied(box, field.dataset.copied);
      }, function () {
        box.querySelector("[data-testid=copy-status]").textContent = "Copy failed: select the text and copy it yourself.";
      });
      return;
    }
    if (!dialog) { return; }
    if (target.hasAttribute("data-close-dialog")) {
      event.preventDefault();
      closeDialog(dialog);
    } else if (target.hasAttribute("data-close-secret")) {
      event.preventDefault();
      if (secretCopied(dialog)) { closeDialog(dialog); } else { askBeforeClosing(dialog); }
    } else if (target.hasAttribute("data-close-anyway")) {
      closeDialog(dialog);
    } else if (target.hasAttribute("data-stay")) {
      dialog.querySelector("[data-testid=confirm-close]").hidden = true;
      dialog.querySelector("[data-copy]").focus();
    }
  });

  // Escape closes a dialog, but never a secret nobody copied without asking first.
  document.addEventListener("cancel", function (event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement)) { return; }
    event.preventDefault();
    if (dialog.hasAttribute("data-secret-dialog") && !secretCopied(dialog)) {
      askBeforeClosing(dialog);
    } else {
      closeDialog(dialog);
    }
  }, true);

  // The browser may close a dialog without a cancelable cancel event: Chrome does so for a
  // second Escape with no click in between. A secret nobody copied comes straight back with
  // the confirmation; any other dialog closed that way leaves the page.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement) || dialog.dataset.closing === "true") { return; }
    if (dialog.hasAttribute("data-secret-dialog") && !secretCopied(dialog)) {
      dialog.showModal();
      askBeforeClosing(dialog);
    } else {
      dialog.dataset.closing = "true";
      dialog.remove();
      if (dialog.dataset.done) { announce(dialog.dataset.done); }
      returnFocus();
    }
  }, true);

  // Server-side messages for failed htmx requests (404 of a deleted key, 403, 500) go into
  // the notices instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    var flash = document.getElementById("flash");
    var xhr = event.detail.xhr;
    if (!flash || !xhr) { return; }
    var type = xhr.getResponseHeader("Content-Type") || "";
    flash.innerHTML = type.indexOf("text/html") === 0 ? xhr.responseText :
      '<p class="notice error" role="alert">The request failed. Reload the page and try again.</p>';
    var open = slot().querySelector("dialog[open]");
    if (open) { closeDialog(open); }
  });

  document.addEventListener("htmx:sendError", function () {
    var flash = document.getElementById("flash");
    if (flash) {
      flash.innerHTML = '<p class="notice error" role="alert">Keysmith could not be reached. Check your connection and try again.</p>';
    }
  });
})();

/* Key ids: copy buttons (issue 20, point 6) */
// A key id's copy button (views/key_id.templ) copies the id and says so on the button for a
// moment. Without the clipboard API (a page served over plain HTTP to another machine) the id
// is copied from a field put beside the button, inside any open dialog, which the page behind
// a modal would not let the browser select.
(function () {
  "use strict";

  function copyText(button, text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var field = document.createElement("textarea");
    field.value = text;
    field.className = "visually-hidden";
    button.after(field);
    field.select();
    var copied = document.execCommand("copy");
    field.remove();
    button.focus();
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function say(button, words) {
    var label = button.querySelector("[data-copy-label]");
    label.textContent = words;
    clearTimeout(Number(button.dataset.copyTimer));
    button.dataset.copyTimer = String(setTimeout(function () { label.textContent = "Copy"; }, 2000));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy-text]");
    if (!button) { return; }
    event.preventDefault();
    copyText(button, button.dataset.copyText).then(function () { say(button, "Copied"); }, function () { say(button, "Copy failed"); });
  });
})();

/* Keyboard shortcuts: / and n (issue 20, point 10) */
// "/" puts the focus in the page's search box and "n" opens New API Key on the keys list, as
// on GitHub and GitLab. Neither acts while someone types in a field, with Ctrl, Alt or Meta
// held (the browser's and the system's shortcuts), or while a dialog is open. Shift is allowed
// for "/", which some keyboards (German, French) only type with it. Each control names its key
// to assistive technology, and in its title, which shows on hover where a mouse is.
(function () {
  "use strict";

  var shortcuts = {
    "/": { selector: 'form[role="search"] input[type="search"]', title: "press / from anywhere on the page", act: function (el) { el.focus(); el.select(); } },
    "n": { selector: '[data-testid="new-api-key"]', title: "press n", act: function (el) { el.click(); } }
  };
  // The key a shortcut took: its character must not then be typed into the field it focused.
  // Browsers drop it when the keydown is cancelled; an event sent key by key (by a test
  // driver, an accessibility tool) may still deliver it.
  var taken = null;

  function typing(target) {
    return target instanceof Element &&
      (target.matches("input, textarea, select") || target.isContentEditable);
  }

  function hint() {
    Object.keys(shortcuts).forEach(function (key) {
      var element = document.querySelector(shortcuts[key].selector);
      if (!element || element.hasAttribute("aria-keyshortcuts")) { return; }
      element.setAttribute("aria-keyshortcuts", key);
      var label = element.getAttribute("aria-label") || element.textContent.replace(/^\W+/, "").trim();
      element.title = label + " (" + shortcuts[key].title + ")";
    });
  }

  document.addEventListener("keydown", function (event) {
    taken = null;
    var shortcut = shortcuts[event.key];
    if (!shortcut || event.ctrlKey || event.altKey || event.metaKey || event.isComposing || event.defaultPrevented) { return; }
    if (typing(event.target) || document.querySelector("dialog[open]")) { return; }
    var element = document.querySelector(shortcut.selector);
    if (!element) { return; }
    event.preventDefault();
    taken = event.key;
    shortcut.act(element);
  });
  document.addEventListener("keypress", function (event) {
    if (taken !== null && event.key === taken) { event.preventDefault(); }
    taken = null;
  }, true);
  document.addEventListener("keyup", function () { taken = null; });

  hint();
  document.addEventListener("htmx:afterSettle", hint);
})();

/* Users: permission menu (issue 20, point 10) */
// Choosing a permission from a user's menu opens a dialog asking to confirm it. The menu goes
// back at once to the permission the user has, which stays true until the change is confirmed
// (the page then reloads); a cancelled change leaves nothing to undo.
(function () {
  "use strict";

  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("#dialog-slot dialog[data-reset-form]").forEach(function (dialog) {
      var form = document.getElementById(dialog.getAttribute("data-reset-form"));
      if (form) { form.reset(); }
    });
  });
})();
