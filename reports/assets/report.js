// Inlined into report.html by reports/html.py: click a column header of a table.sortable to sort it.
(function () {
  document.querySelectorAll('table.sortable').forEach(function (table) {
    var headers = table.querySelectorAll('thead th');
    headers.forEach(function (th, column) {
      th.addEventListener('click', function () {
        var numeric = th.getAttribute('data-type') === 'num';
        var descending = th.getAttribute('data-order') !== 'desc';
        headers.forEach(function (h) { h.removeAttribute('data-order'); });
        th.setAttribute('data-order', descending ? 'desc' : 'asc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[column].getAttribute('data-sort') || '';
          var y = b.cells[column].getAttribute('data-sort') || '';
          var c = numeric ? (parseFloat(x || '-1') - parseFloat(y || '-1')) : x.localeCompare(y);
          return descending ? -c : c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
})();
