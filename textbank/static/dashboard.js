// Draws the dashboard's replies-and-outcomes chart from the JSON the page carries.
// A separate file (no inline script) so the page can run under a strict CSP.
(function () {
  "use strict";
  var source = document.getElementById("timeline-data");
  var canvas = document.getElementById("timeline-chart");
  if (!source || !canvas || typeof Chart !== "function") {
    return; // no chart library: the numbers table below the chart still has everything
  }
  var days = JSON.parse(source.textContent);
  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  function series(label, key, color) {
    return {
      label: label,
      data: days.map(function (d) { return d[key]; }),
      backgroundColor: color,
      borderColor: color,
      borderWidth: 1,
    };
  }
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: days.map(function (d) { return d.day.slice(5); }), // MM-DD fits a phone
      datasets: [
        series("Replies", "replies", "#2f6fb3"),
        series("Actions", "actions", "#d9822b"),
        series("Volunteers", "volunteers", "#2e8540"),
      ],
    },
    options: {
      animation: reduceMotion ? false : { duration: 300 },
      maintainAspectRatio: false,
      responsive: true,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: { stacked: false, ticks: { maxRotation: 0, autoSkipPadding: 8 } },
        y: { beginAtZero: true, grace: "5%", ticks: { precision: 0 } },
      },
    },
  });
})();
