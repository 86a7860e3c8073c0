/* The volunteer console's keyboard and canned responses; htmx does the requests. */
(function () {
  "use strict";

  // One key, one text: Enter sends the first text shown. A held key repeats keydown;
  // repeats are dropped, so holding Enter never sends a second text.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    if (event.repeat) {
      if (document.querySelector("[data-send-form]")) event.preventDefault();
      return;
    }
    var target = event.target;
    var tag = target && target.tagName;
    // Enter on a button, link or field does what it always does.
    if (tag === "BUTTON" || tag === "A" || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" ||
        tag === "SUMMARY") {
      return;
    }
    var send = document.querySelector("[data-send]");
    if (send && !send.disabled) {
      event.preventDefault();
      send.click();
    }
  });

  // The next member's Send button takes the focus, so the keyboard stays on it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var send = event.target && event.target.querySelector && event.target.querySelector("[data-send]");
    if (send) send.focus();
  });

  // Canned responses fill the Message box; the search box narrows the list.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-canned]");
    if (!button) return;
    var thread = button.closest(".thread");
    var box = thread && thread.querySelector("[data-message]");
    if (box) {
      box.value = button.getAttribute("data-canned");
      box.focus();
    }
  });
  document.addEventListener("input", function (event) {
    var search = event.target;
    if (!search.matches || !search.matches("[data-canned-search]")) return;
    var words = search.value.toLowerCase();
    var list = search.parentElement.querySelector("[data-canned-list]");
    list.querySelectorAll("li").forEach(function (item) {
      item.hidden = words !== "" && item.textContent.toLowerCase().indexOf(words) === -1;
    });
  });

  // Every htmx request carries the page's CSRF token, as every form does.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector("input[name=csrf_token]");
    if (token) event.detail.headers["X-CSRFToken"] = token.value;
  });

  window.addEventListener("DOMContentLoaded", function () {
    var send = document.querySelector("[data-send]");
    if (send) send.focus();
  });
})();
