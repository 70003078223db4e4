// Keysmith's own behaviour on top of htmx: open dialogs that htmx loads, copy secrets, ask
// before a secret nobody copied is closed, and show errors of htmx requests. Everything here
// is an enhancement: every action also works as a plain form or link without JavaScript.
(function () {
  "use strict";

  function slot() { return document.getElementById("dialog-slot"); }

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
  }

  function copyFrom(id) {
    var field = document.getElementById(id);
    if (!field) { return Promise.reject(new Error("nothing to copy")); }
    var text = field.value;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    field.select();
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function secretCopied(dialog) { return dialog.dataset.copied === "true"; }

  function askBeforeClosing(dialog) {
    var confirmBox = dialog.querySelector("[data-testid=confirm-close]");
    confirmBox.hidden = false;
    var anyway = confirmBox.querySelector("[data-close-anyway]");
    if (anyway) { anyway.focus(); }
  }

  // Controls that only work with this script (the copy buttons of the secret page) are
  // rendered hidden, so a browser without JavaScript never shows a button that does nothing.
  document.querySelectorAll("[data-needs-script][hidden]").forEach(function (element) {
    element.hidden = false;
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    openDialogs(event.detail.elt.id === "dialog-slot" ? event.detail.elt : slot());
  });

  document.addEventListener("click", function (event) {
    var target = event.target.closest("button, a");
    if (!target) { return; }
    var dialog = target.closest("dialog");
    if (target.hasAttribute("data-copy")) {
      event.preventDefault();
      var status = dialog ? dialog.querySelector("[data-testid=copy-status]") : null;
      copyFrom(target.getAttribute("data-copy")).then(function () {
        if (dialog) { dialog.dataset.copied = "true"; }
        if (status) { status.textContent = "Copied"; }
        if (target.hasAttribute("data-close-after-copy") && dialog) { closeDialog(dialog); }
      }, function () {
        if (status) { status.textContent = "Copy failed: select the text and copy it yourself."; }
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
      dialog.remove();
    }
  }, true);

  // Server-side messages for failed htmx requests (404 of a deleted key, 403, 500) go into
  // the flash region instead of failing silently.
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
