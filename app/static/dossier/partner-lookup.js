// Suggestions for partner fields: customer numbers with names, fetched as the user types.
(function () {
  document.querySelectorAll("input[data-partner-lookup]").forEach(function (input) {
    if (input.dataset.bound) { return; }
    input.dataset.bound = "1";
    var list = document.getElementById(input.getAttribute("list"));
    var timer;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch(input.dataset.partnerLookup + "?q=" + encodeURIComponent(input.value), {credentials: "same-origin"})
          .then(function (r) { return r.ok ? r.json() : []; })
          .then(function (rows) {
            list.replaceChildren();
            rows.forEach(function (row) {
              var option = document.createElement("option");
              option.value = row.value;
              option.textContent = row.label;
              list.appendChild(option);
            });
          });
      }, 200);
    });
  });
})();
