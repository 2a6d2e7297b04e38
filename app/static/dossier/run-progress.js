// The run page follows its run: progress, counts and print files, until it stops.
(function () {
  var box = document.querySelector('.run-progress');
  if (!box || box.dataset.status === 'done' || box.dataset.status === 'failed') { return; }
  function poll() {
    fetch(box.dataset.url, {credentials: 'same-origin'}).then(function (r) { return r.json(); })
      .then(function (run) {
        if (run.status !== box.dataset.status && (run.status === 'done' || run.status === 'failed')) {
          window.location.reload();
          return;
        }
        var bar = box.querySelector('.progress-bar');
        bar.style.width = run.percent + '%';
        bar.textContent = run.percent + '%';
        box.querySelector('.run-status').textContent = run.status_label;
        box.querySelector('.run-counts').textContent = run.counts;
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 5000); });
  }
  setTimeout(poll, 1000);
})();
