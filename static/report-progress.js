// /reports/: follow the runs still building; reload the page when one finishes.
// A file, not an inline script, so the Content-Security-Policy can forbid inline scripts.
(function poll() {
  const table = document.getElementById("runs");
  if (!table) { return; }
  const rows = table.querySelectorAll('tr[data-finished="0"]');
  if (!rows.length) { return; }
  Promise.all(Array.from(rows).map(function (row) {
    return fetch(table.dataset.statusBase + row.dataset.run + "/status/", {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        if (s.finished) { return true; }
        const bar = row.querySelector("progress"); if (bar) { bar.value = s.progress_percent; }
        const stage = row.querySelector(".stage"); if (stage) { stage.textContent = s.stage || s.state; }
        return false;
      });
  })).then(function (done) {
    if (done.some(Boolean)) { window.location.reload(); } else { setTimeout(poll, 2000); }
  }).catch(function () { setTimeout(poll, 5000); });
})();
