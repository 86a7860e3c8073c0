// The campaign form: show the settings that apply to the mode chosen. Without this script
// every setting shows, each saying which mode it is for; the server ignores the others.
(function () {
  "use strict";
  var form = document.querySelector("form.campaign-form");
  if (!form) return;
  function apply() {
    var chosen = form.querySelector('input[name="mode"]:checked');
    var p2p = chosen && chosen.value === "p2p";
    form.querySelectorAll("[data-p2p-only]").forEach(function (el) { el.hidden = !p2p; });
    form.querySelectorAll("[data-blast-only]").forEach(function (el) { el.hidden = p2p; });
  }
  form.querySelectorAll('input[name="mode"]').forEach(function (radio) {
    radio.addEventListener("change", apply);
  });
  apply();

  // Once the form is sent, no preview starts: the page is being left, and a request begun
  // now would only be cut off by the next page.
  var leaving = false;
  form.addEventListener("submit", function () { leaving = true; });
  form.addEventListener("htmx:beforeRequest", function (event) {
    if (leaving) event.preventDefault();
  });
  window.addEventListener("pageshow", function () { leaving = false; });
})();
