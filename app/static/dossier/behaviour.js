// Behaviour that our pages ask for with data attributes: the Content-Security-Policy allows
// no inline event handlers. data-confirm asks before a click goes on, data-autosubmit sends
// its form when it changes, data-select-all selects its text when clicked.
(function () {
  document.addEventListener("click", function (event) {
    var asking = event.target.closest("[data-confirm]");
    if (asking && !window.confirm(asking.dataset.confirm)) {
      event.preventDefault();
    }
    var selecting = event.target.closest("[data-select-all]");
    if (selecting) {
      selecting.select();
    }
  });
  document.addEventListener("change", function (event) {
    var field = event.target.closest("[data-autosubmit]");
    if (field && field.form) {
      field.form.submit();
    }
  });
})();
