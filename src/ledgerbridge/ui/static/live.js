// Live progress of a connection's runs: server-sent events from /ui/connections/{id}/live
// update the runs table in place. Without JavaScript the page still shows every run as of
// its load (reload for news).
(function () {
  "use strict";
  var table = document.getElementById("runs");
  if (!table || !table.dataset.live || !window.EventSource) return;
  var note = document.getElementById("live-note");
  var body = table.tBodies[0];
  var FIELDS = ["pages", "records", "added", "updated", "deleted", "rate", "error"];

  function cell(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) el.className = cls;
    return el;
  }

  function newRow(run) {
    var row = document.createElement("tr");
    row.dataset.run = run.id;
    var head = cell("th", String(run.id)); head.scope = "row"; row.appendChild(head);
    row.appendChild(cell("td", run.kind + " (" + run.trigger + ")"));
    var status = cell("td", ""); status.dataset.field = "status"; row.appendChild(status);
    row.appendChild(cell("td", run.queued_at));
    FIELDS.forEach(function (name) {
      var td = cell("td", "", name === "error" ? "small" : "num");
      td.dataset.field = name; row.appendChild(td);
    });
    var empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    body.insertBefore(row, body.firstChild);
    return row;
  }

  function show(run) {
    var row = body.querySelector('tr[data-run="' + run.id + '"]') || newRow(run);
    var badge = cell("span", run.status, "badge " + run.status);
    var status = row.querySelector('[data-field="status"]');
    status.replaceChildren(badge);
    FIELDS.forEach(function (name) {
      var value = run[name];
      if (name === "records" && run.total) value = run.records + " / " + run.total;
      row.querySelector('[data-field="' + name + '"]').textContent = value == null ? "" : String(value);
    });
  }

  function health(snapshot) {
    var badge = document.getElementById("connection-status");
    if (badge) { badge.textContent = snapshot.status; badge.className = "badge " + snapshot.status; }
    var message = snapshot.last_error || snapshot.status_message;
    if (message) {
      document.getElementById("last-error").textContent = message;
      document.getElementById("last-error-at").textContent = snapshot.last_error_at || "";
      document.getElementById("health").classList.remove("hidden");
    }
  }

  var source = new EventSource(table.dataset.live);
  source.addEventListener("runs", function (event) {
    var snapshot = JSON.parse(event.data);
    snapshot.runs.slice().reverse().forEach(show);
    health(snapshot);
  });
  source.addEventListener("idle", function () {
    source.close();
    if (note) note.textContent = "No run in progress.";
  });
})();
