// The navbar's search box: "/" focuses it from anywhere on the page except while typing in
// a field (the Content-Security-Policy allows no inline handlers, so it lives here).
(function () {
  function typing(element) {
    if (!element) {
      return false;
    }
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (typing(event.target)) {
      return;
    }
    var box = document.querySelector("[data-search-box]");
    if (box) {
      event.preventDefault();
      box.focus();
      box.select();
    }
  });
})();
