// The mapping editor's helpers: expressions checked as one types, XDM paths of the
// chosen dataset, rows added and filled in place. The form works without this script.
(function () {
  "use strict";

  var form = document.getElementById("editor");
  if (!form) { return; }
  var checkUrl = form.getAttribute("data-check-url");
  var mapping = form.getAttribute("data-mapping") || "";
  var rows = document.getElementById("rows");
  var datalist = document.getElementById("xdm-paths");
  var lastPath = null;
  var timers = new WeakMap();
  var serial = 0;

  function value(name) {
    var field = form.elements.namedItem(name);
    return field ? field.value.trim() : "";
  }

  function rowOf(element) { return element.closest("tr.row"); }

  function show(row, state, text) {
    var output = row.querySelector("output.check");
    var input = row.querySelector("input.expr");
    output.textContent = text;
    output.className = "check check-" + state;
    if (state === "bad") {
      input.setAttribute("aria-invalid", "true");
    } else {
      input.removeAttribute("aria-invalid");
    }
  }

  function check(row) {
    var expression = row.querySelector("input.expr").value;
    if (!expression.trim()) { show(row, "none", ""); return; }
    var ticket = ++serial;
    row.setAttribute("data-ticket", String(ticket));
    var query = new URLSearchParams({
      expression: expression,
      targetingDimension: value("targetingDimension"),
      dataset: value("dataset"),
      xdm: row.querySelector("input.path").value.trim(),
      mapping: mapping
    });
    show(row, "wait", "Checking…");
    fetch(checkUrl + "?" + query.toString(), { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (row.getAttribute("data-ticket") !== String(ticket)) { return; }
        if (answer.ok) {
          show(row, "ok", "OK" + (answer.type ? " · " + answer.type : ""));
        } else if (answer.line) {
          show(row, "bad", "Line " + answer.line + ", column " + answer.column + ": " + answer.message);
        } else if (answer.message) {
          show(row, "bad", answer.message);
        } else {
          show(row, "bad", "Cannot check: sign in again");
        }
      })
      .catch(function () { show(row, "none", ""); });
  }

  function later(row) {
    window.clearTimeout(timers.get(row));
    timers.set(row, window.setTimeout(function () { check(row); }, 300));
  }

  rows.addEventListener("input", function (event) {
    var row = rowOf(event.target);
    if (row) { later(row); }
  });
  rows.addEventListener("focusin", function (event) {
    if (event.target.matches("input.path")) { lastPath = event.target; }
  });

  function renumber() {
    Array.prototype.forEach.call(rows.querySelectorAll("tr.row"), function (row, index) {
      var n = index + 1;
      row.querySelector("td.num").textContent = String(n);
      row.querySelector("input.expr").setAttribute("aria-label", "Source field expression, row " + n);
      row.querySelector("input.path").setAttribute("aria-label", "XDM field path, row " + n);
      row.querySelector("output.check").id = "check-" + n;
      row.querySelector("input.expr").setAttribute("aria-describedby", "check-" + n);
    });
  }

  var addRows = document.getElementById("add-rows");
  addRows.addEventListener("click", function (event) {
    event.preventDefault();
    var template = rows.querySelector("tr.row");
    var fresh = template.cloneNode(true);
    fresh.querySelectorAll("input").forEach(function (input) { input.value = ""; input.removeAttribute("aria-invalid"); });
    fresh.querySelector("output.check").textContent = "";
    rows.appendChild(fresh);
    renumber();
    fresh.querySelector("input.expr").focus();
  });

  // Clicking a field of the schema tree fills the XDM path last focused (or the first empty).
  function pickers() {
    document.querySelectorAll("code.pick").forEach(function (code) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "pick";
      button.textContent = code.textContent;
      button.setAttribute("data-path", code.getAttribute("data-path"));
      button.setAttribute("aria-label", "Use " + code.getAttribute("data-path"));
      code.replaceWith(button);
    });
  }
  pickers();
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.pick");
    if (!button) { return; }
    var target = lastPath;
    if (!target) {
      target = Array.prototype.find.call(rows.querySelectorAll("input.path"), function (input) { return !input.value; });
    }
    if (!target) { return; }
    target.value = button.getAttribute("data-path");
    target.focus();
    later(rowOf(target));
  });

  // A new dataset: its XDM paths and tree replace the picker's, without reloading the page.
  var dataset = form.elements.namedItem("dataset");
  dataset.addEventListener("change", function () {
    fetch("/ui/datasets/" + encodeURIComponent(dataset.value) + "/paths", { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (!answer.paths) { return; }
        datalist.textContent = "";
        answer.paths.forEach(function (item) {
          var option = document.createElement("option");
          option.value = item.path;
          option.label = item.type;
          datalist.appendChild(option);
        });
        var tree = document.getElementById("xdm-tree");
        if (tree) {
          // The server's own rendering of the schema tree, escaped by its templates.
          tree.innerHTML = answer.tree;
          document.getElementById("tree-dataset").textContent = answer.dataset;
          document.getElementById("tree-count").textContent = String(answer.paths.length);
          pickers();
        }
        rows.querySelectorAll("tr.row").forEach(function (row) {
          if (row.querySelector("input.expr").value.trim()) { later(row); }
        });
      });
  });
  // Check the rows there are, once, when the page opens.
  rows.querySelectorAll("tr.row").forEach(function (row) {
    if (row.querySelector("input.expr").value.trim()) { check(row); }
  });
})();
