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

  // After a swap the focus goes where the volunteer works next, never to <body>: a refusal
  // or notice the answer carries (read out, and scrolled to on a phone), else the next
  // member's Send button, so the keyboard stays on it.
  document.addEventListener("htmx:afterSwap", function (event) {
    var swapped = event.target;
    if (!swapped || !swapped.querySelector) return;
    var next = swapped.querySelector("[data-focus-after-swap]") || swapped.querySelector("[data-send]");
    if (next) next.focus();
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

  // Refusals are shown, never dropped: htmx 2 swaps no 4xx answer by itself. An answer
  // marked as a fragment (the thread with its error beside the form) replaces its target;
  // any other refusal (an expired form, a page gone) is said beside the control pressed.
  document.addEventListener("htmx:beforeRequest", function (event) {
    // What the last press was refused for is old news once the next one is made.
    var elt = event.detail.elt;
    var scope = (elt && elt.closest && elt.closest(".thread, .first-text")) || null;
    if (scope) scope.querySelectorAll("[data-refusal]").forEach(function (old) { old.remove(); });
    clearRequestError(elt);
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (!xhr || xhr.status < 400) return;
    if (xhr.status < 500 && xhr.getResponseHeader("X-Textbank-Fragment")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      return;
    }
    event.detail.shouldSwap = false;
    showRequestError(event.detail.elt, refusalText(xhr));
  });
  document.addEventListener("htmx:sendError", function (event) {
    showRequestError(event.detail.elt, "textbank could not be reached: nothing was done. " +
                     "Check your connection and press the button again.");
  });

  function refusalText(xhr) {
    var text = xhr.responseText || "";
    if ((xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") === 0) {
      var doc = new DOMParser().parseFromString(text, "text/html");
      var said = doc.querySelector("main [role=alert], main .error, main h1");
      var more = doc.querySelector("main h1 + p");
      text = (said ? said.textContent : "") + (more ? ". " + more.textContent : "");
    }
    text = text.replace(/\s+/g, " ").trim();
    if (xhr.status >= 500) return "Something went wrong and nothing was done. Try again in a minute.";
    return text ? "Not done: " + text : "Not done (error " + xhr.status + "). Reload the page.";
  }

  function anchorOf(elt) {
    var form = elt && elt.closest ? elt.closest("form") || elt : null;
    return form && form.isConnected ? form : null;
  }

  function clearRequestError(elt) {
    var anchor = anchorOf(elt);
    var old = anchor && anchor.previousElementSibling;
    if (old && old.hasAttribute("data-request-error")) old.remove();
  }

  function showRequestError(elt, text) {
    var anchor = anchorOf(elt);
    if (!anchor) return;
    clearRequestError(elt);
    var alert = document.createElement("p");
    alert.className = "error";
    alert.setAttribute("role", "alert");
    alert.setAttribute("data-request-error", "");
    alert.tabIndex = -1;
    alert.textContent = text;
    anchor.parentNode.insertBefore(alert, anchor);
    alert.focus();
  }

  // The live feed's state on its element (data-live): "connected" once the stream is open.
  document.addEventListener("htmx:sseOpen", function (event) {
    event.target.setAttribute("data-live", "connected");
  });
  document.addEventListener("htmx:sseError", function (event) {
    event.target.setAttribute("data-live", "reconnecting");
  });

  // Every htmx request carries the page's CSRF token, as every form does.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector("input[name=csrf_token]");
    if (token) event.detail.headers["X-CSRFToken"] = token.value;
  });

  // The live inbox: a reply's list entry arrives on its own ("entry" events, rendered once
  // by the worker for everyone allowed to see it). It replaces the conversation's old entry
  // and goes where it belongs for this console: mine (held by me, waiting first), the pool
  // (nobody's, oldest first), or neither (another volunteer took it).
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var lists = event.target;
    if (!lists || lists.id !== "lists" || !event.detail || event.detail.type !== "entry") return;
    event.preventDefault();
    var parsed = document.createElement("template");
    parsed.innerHTML = String(event.detail.data).trim();
    var entry = parsed.content.firstElementChild;
    if (!entry) return;
    var id = entry.getAttribute("data-conversation-id");
    lists.querySelectorAll("li[data-conversation-id]").forEach(function (old) {
      if (old.getAttribute("data-conversation-id") === id) old.remove();
    });
    var inbox = lists.closest("[data-me]");
    var holder = entry.getAttribute("data-holder");
    if (holder === "") {
      lists.querySelector('[data-list="pool"]').appendChild(entry);
    } else if (inbox && holder === inbox.getAttribute("data-me")) {
      var mine = lists.querySelector('[data-list="mine"]');
      mine.insertBefore(entry, mine.firstChild);
    } else {
      entry = null;
    }
    if (entry) htmx.process(entry);
    lists.querySelectorAll("ul[data-list]").forEach(function (list) {
      var empty = list.parentElement.querySelector(".empty");
      if (empty) empty.hidden = list.children.length > 0;
    });
    restoreFocus();
  });

  // Focus is never lost to <body> when what had it is swapped away (a live list entry
  // replaced, the lists refreshed after a press): it goes back to the same control, found
  // by its id or by its conversation's link.
  var lastFocus = null;
  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (!el || el === document.body) return;
    var entry = el.closest && el.closest("li[data-conversation-id]");
    lastFocus = {id: el.id || null, conversation: entry && entry.getAttribute("data-conversation-id")};
  });
  function restoreFocus() {
    var active = document.activeElement;
    if (!lastFocus || (active && active !== document.body && active.isConnected)) return;
    var again = lastFocus.id && document.getElementById(lastFocus.id);
    if (!again && lastFocus.conversation) {
      again = document.querySelector('#lists li[data-conversation-id="' + lastFocus.conversation + '"] a');
    }
    if (again) again.focus({preventScroll: true});
  }
  document.addEventListener("htmx:afterSettle", restoreFocus);
  document.addEventListener("htmx:sseMessage", restoreFocus);

  // A new text in the open thread is said once, in the page's one live region, rather than
  // the whole thread being read out again.
  document.addEventListener("htmx:sseMessage", function (event) {
    var lines = event.target;
    if (!lines || lines.id !== "lines") return;
    var all = lines.querySelectorAll(".line.in");
    var last = all.length ? all[all.length - 1] : null;
    var say = document.querySelector("[data-announce]");
    if (!last || !say) return;
    var text = "New text from " + last.querySelector(".who").textContent + ": " +
               last.querySelector(".body").textContent;
    if (say.textContent !== text) say.textContent = text;
  });

  window.addEventListener("DOMContentLoaded", function () {
    var send = document.querySelector("[data-send]");
    if (send) send.focus();
  });
})();
