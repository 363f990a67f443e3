// The console's few behaviours: copy buttons, confirmations, the phone-width menu, language
// tabs with live previews, and knowledge rows. Without JavaScript every page still works.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    field.select();
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        document.execCommand("copy");
        done();
      });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.querySelector(".menu-toggle");
    var sidebar = document.getElementById("sidebar");
    if (!toggle || !sidebar) return;
    toggle.addEventListener("click", function () {
      var open = sidebar.classList.toggle("open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });

  // Language tabs (WAI-ARIA tabs pattern): without JavaScript every panel shows, one under
  // another; with it one shows at a time, chosen with a click or the arrow, Home and End keys.
  function setUpTabs(box) {
    var tabs = Array.prototype.slice.call(box.querySelectorAll('[role="tab"]'));
    if (!tabs.length) return;
    box.classList.add("js");
    box.querySelector('[role="tablist"]').hidden = false;
    function select(tab, focus) {
      tabs.forEach(function (other) {
        var chosen = other === tab;
        other.setAttribute("aria-selected", chosen ? "true" : "false");
        other.tabIndex = chosen ? 0 : -1;
        document.getElementById(other.getAttribute("aria-controls")).hidden = !chosen;
      });
      if (focus) tab.focus();
    }
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function () { select(tab, false); });
      tab.addEventListener("keydown", function (event) {
        var next = null;
        if (event.key === "ArrowRight") next = tabs[(index + 1) % tabs.length];
        else if (event.key === "ArrowLeft") next = tabs[(index - 1 + tabs.length) % tabs.length];
        else if (event.key === "Home") next = tabs[0];
        else if (event.key === "End") next = tabs[tabs.length - 1];
        if (next) { event.preventDefault(); select(next, true); }
      });
    });
    select(box.querySelector("[data-error]") || box.querySelector("[data-filled]") || tabs[0], false);
  }

  // A body's preview and variables follow its text as it is typed.
  var VARIABLE = /\{\{(.*?)\}\}/g;
  function updatePreview(panel) {
    var text = panel.querySelector("textarea").value;
    var preview = panel.querySelector("[data-preview]");
    var list = panel.querySelector("[data-variables]");
    var names = [];
    preview.textContent = "";
    var last = 0;
    text.replace(VARIABLE, function (match, name, offset) {
      preview.appendChild(document.createTextNode(text.slice(last, offset)));
      var mark = document.createElement("mark");
      mark.textContent = match;
      preview.appendChild(mark);
      last = offset + match.length;
      if (names.indexOf(name) < 0) names.push(name);
      return match;
    });
    preview.appendChild(document.createTextNode(text.slice(last)));
    list.textContent = "";
    if (!names.length) list.textContent = "none";
    names.forEach(function (name, index) {
      if (index) list.appendChild(document.createTextNode(", "));
      var code = document.createElement("code");
      code.textContent = name;
      list.appendChild(code);
    });
  }

  // Knowledge rows: add a blank row (a copy of the last, renumbered) or remove one.
  function setUpKnowledge(box) {
    var rows = box.querySelector("[data-rows]");
    var add = box.querySelector("[data-add-row]");
    add.hidden = false;
    box.querySelectorAll("[data-remove-row]").forEach(function (b) { b.hidden = false; });
    add.addEventListener("click", function () {
      var all = rows.querySelectorAll("[data-row]");
      var index = 0;
      rows.querySelectorAll("[name^=knowledge-]").forEach(function (field) {
        index = Math.max(index, parseInt(field.name.split("-")[1], 10) + 1);
      });
      var row = all[all.length - 1].cloneNode(true);
      var number = all.length + 1;
      row.querySelectorAll("input, textarea").forEach(function (field) {
        var part = field.name.split("-")[2];
        field.name = "knowledge-" + index + "-" + part;
        field.id = "id_" + field.name;
        field.value = "";
        field.previousElementSibling.setAttribute("for", field.id);
        field.previousElementSibling.textContent = (part === "question" ? "Question " : "Answer ") + number;
      });
      row.querySelectorAll(".error").forEach(function (e) { e.remove(); });
      row.querySelectorAll(".has-error").forEach(function (e) { e.classList.remove("has-error"); });
      row.querySelector("[data-remove-row]").textContent = "Remove entry " + number;
      rows.appendChild(row);
      row.querySelector("input").focus();
    });
    rows.addEventListener("click", function (event) {
      var button = event.target.closest("[data-remove-row]");
      if (!button) return;
      var row = button.closest("[data-row]");
      if (rows.querySelectorAll("[data-row]").length > 1) {
        row.remove();
        add.focus();
      } else {
        row.querySelectorAll("input, textarea").forEach(function (field) { field.value = ""; });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tabs]").forEach(setUpTabs);
    document.querySelectorAll("[data-language]").forEach(function (panel) {
      var area = panel.querySelector("textarea");
      if (area) area.addEventListener("input", function () { updatePreview(panel); });
    });
    document.querySelectorAll("[data-knowledge]").forEach(setUpKnowledge);
  });
})();
