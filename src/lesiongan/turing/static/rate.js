// Minimal: one submission per click (the server ignores repeats anyway) and keyboard shortcuts.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  if (!form) return;
  var button = document.getElementById("submit");
  form.addEventListener("submit", function (event) {
    if (form.dataset.sent === "1") { event.preventDefault(); return; }
    form.dataset.sent = "1";
    button.disabled = true;
    button.textContent = "Saving…";
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.tagName === "SELECT" || event.ctrlKey || event.metaKey || event.altKey) return;
    var key = event.key.toLowerCase();
    var pick = function (sel) { var el = form.querySelector(sel); if (el) el.checked = true; };
    if (key === "r") pick('input[name="answer"][value="real"]');
    else if (key === "s") pick('input[name="answer"][value="synthetic"]');
    else if ("12345".indexOf(key) >= 0 && key.length === 1) pick('input[name="confidence"][value="' + key + '"]');
  });
})();
