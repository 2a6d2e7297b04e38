// Relation fields as search-as-you-type boxes: select2 asks /pick/<kind>/?q= as the user types
// and shows each match with what tells two of the same name apart.
(function ($) {
  function withDetail(choice) {
    var detail = choice.detail || (choice.element && choice.element.dataset.detail);
    if (!choice.id || !detail) { return choice.text; }
    var line = $("<span></span>").text(choice.text + " ");
    $("<small class=\"text-muted\"></small>").text(detail).appendTo(line);
    return line;
  }

  function bind(select) {
    if (select.dataset.bound) { return; }
    select.dataset.bound = "1";
    var texts = select.dataset;
    $(select).select2({
      theme: "bootstrap",
      width: "100%",
      allowClear: true,
      placeholder: texts.placeholder,
      language: {
        noResults: function () { return texts.noMatches; },
        searching: function () { return texts.searching; },
        errorLoading: function () { return texts.error; }
      },
      ajax: {
        url: texts.pickUrl,
        dataType: "json",
        delay: 200,
        data: function (params) { return {q: params.term || ""}; },
        processResults: function (rows) { return {results: rows}; }
      },
      templateResult: withDetail,
      templateSelection: withDetail
    });
  }

  $(function () {
    document.querySelectorAll("select.dossier-picker").forEach(bind);
    // A list's search form adds its filters' fields when the user adds a filter.
    new MutationObserver(function (changes) {
      changes.forEach(function (change) {
        change.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1) { return; }
          if (node.matches("select.dossier-picker")) { bind(node); }
          node.querySelectorAll("select.dossier-picker").forEach(bind);
        });
      });
    }).observe(document.body, {childList: true, subtree: true});
  });
})(jQuery);
