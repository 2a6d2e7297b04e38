// Date inputs in the user's locale order (data-locale-date): FAB's vendored
// bootstrap-datepicker, told the order and the month and day names by the server through data
// attributes. The server reads what is typed; without this script typing works the same.
(function () {
  if (window.dossierDateInputs) {
    return;
  }
  window.dossierDateInputs = true;
  var TIME = /\s*\d{1,2}:\d{2}(:\d{2})?\s*$/;

  function setUp() {
    var $ = window.jQuery;
    if (!$ || !$.fn.datepicker) {
      return;
    }
    document.querySelectorAll("input[data-locale-date]").forEach(function (input) {
      var language = input.dataset.pickerLanguage;
      if (!$.fn.datepicker.dates[language]) {
        $.fn.datepicker.dates[language] = JSON.parse(input.dataset.pickerDates);
      }
      var withTime = input.hasAttribute("data-with-time");
      var time = "";
      $(input)
        .datepicker({
          format: input.dataset.pickerFormat,
          language: language,
          weekStart: 1,
          autoclose: true,
          forceParse: false,
          todayHighlight: true,
        })
        .on("show", function () {
          var found = input.value.match(TIME);
          time = found ? found[0].trim() : time;
        })
        .on("changeDate", function () {
          if (withTime) {
            // The picker writes the date only: keep the time that was typed.
            input.value = input.value.replace(TIME, "") + " " + (time || "09:00");
          }
        });
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
