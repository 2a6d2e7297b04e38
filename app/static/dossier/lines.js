// The lines editor (templates/widgets/lines_editor.html, app/views/lines.py): choosing a product
// fills the line, a change is posted as JSON as soon as it is made, and the totals follow as the
// user types. The sums are exact decimals (BigInt) rounded half to even at the cent, as Python's
// Decimal.quantize rounds the server's (PricedLine.net/vat, InvoiceLine.net/vat); the server's
// answer after each save then shows what it stored.
(function ($) {
  "use strict";

  // --- exact decimals: {n: BigInt, s: scale} stands for n / 10^s ------------------------------

  function pow10(k) { return 10n ** BigInt(k); }

  function dec(text) {
    var negative = text.charAt(0) === "-";
    var body = text.replace(/^[+-]/, "");
    var parts = body.split(".");
    var frac = parts[1] || "";
    var n = BigInt((parts[0] || "0") + frac);
    return {n: negative ? -n : n, s: frac.length};
  }

  function scaled(a, s) { return a.s >= s ? a : {n: a.n * pow10(s - a.s), s: s}; }
  function mul(a, b) { return {n: a.n * b.n, s: a.s + b.s}; }
  function add(a, b) { var s = Math.max(a.s, b.s); return {n: scaled(a, s).n + scaled(b, s).n, s: s}; }
  function sub(a, b) { return add(a, {n: -b.n, s: b.s}); }
  function percent(a) { return {n: a.n, s: a.s + 2}; } // a / 100, exactly
  function compare(a, b) { var d = sub(a, b).n; return d < 0n ? -1 : d > 0n ? 1 : 0; }
  var ZERO = {n: 0n, s: 2};
  var HUNDRED = {n: 100n, s: 0};

  // Half to even, as Decimal.quantize in Python's default context.
  function quantize(a, s) {
    if (a.s <= s) { return scaled(a, s); }
    var d = pow10(a.s - s);
    var q = a.n / d, r = a.n % d;
    var twice = (r < 0n ? -r : r) * 2n;
    if (twice > d || (twice === d && q % 2n !== 0n)) { q += a.n < 0n ? -1n : 1n; }
    return {n: q, s: s};
  }

  function plain(a) { // "12.5", "-3", "27"
    var negative = a.n < 0n, digits = (negative ? -a.n : a.n).toString();
    if (a.s > 0) {
      digits = digits.padStart(a.s + 1, "0");
      digits = digits.slice(0, -a.s) + "." + digits.slice(-a.s);
      digits = digits.replace(/\.?0+$/, "");
    }
    return (negative && digits !== "0" ? "-" : "") + digits;
  }

  // --- numbers as the user types them (the rule of app/formatting.py parse_number) ---------------

  function escape(mark) { return mark.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

  function parseNumber(text, group) {
    var t = String(text || "").replace(/[\s\u00a0\u202f']/g, "");
    if (!t) { return null; }
    var mark = ".";
    if (t.indexOf(",") >= 0 && t.indexOf(".") >= 0) {
      mark = t.lastIndexOf(",") > t.lastIndexOf(".") ? "," : ".";
      t = t.split(mark === "," ? "." : ",").join("");
    } else if (t.indexOf(",") >= 0 || t.indexOf(".") >= 0) {
      mark = t.indexOf(",") >= 0 ? "," : ".";
      var count = t.split(mark).length - 1;
      var grouped = new RegExp("^[+-]?\\d{1,3}(" + escape(mark) + "\\d{3})+$").test(t);
      if (count > 1 && !grouped) { throw new Error("not a number"); }
      if (count > 1 || (mark === group && grouped)) { t = t.split(mark).join(""); }
    }
    t = t.split(mark).join(".");
    if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(t)) { throw new Error("not a number"); }
    return dec(t.replace(/\.$/, ""));
  }

  function wholeDigits(a) { // of 1234.5: 4; of 0.5: 0
    var whole = (a.n < 0n ? -a.n : a.n) / pow10(a.s);
    return whole === 0n ? 0 : whole.toString().length;
  }

  // The model's ranges: a quantity above zero, a discount and a VAT rate of 0–100 %.
  function outOfRange(name, a) {
    if (name === "quantity") { return a.n <= 0n; }
    return a.n < 0n || compare(a, HUNDRED) > 0;
  }

  function inputNumber(a, decimal) { return plain(a).replace(".", decimal); }

  // --- a line's sums ------------------------------------------------------------------------

  function lineNet(quantity, price, discount) {
    var gross = mul(quantity, price);
    if (discount === undefined) { return quantize(gross, 2); }
    return quantize(percent(mul(gross, sub(HUNDRED, discount))), 2);
  }

  function lineVat(net, rate) { return quantize(percent(mul(net, rate)), 2); }

  // --- money as app/formatting.py money_text writes it ---------------------------------------

  function money(a, format) {
    var v = quantize(a, format.digits);
    var negative = a.n < 0n;
    var digits = (v.n < 0n ? -v.n : v.n).toString().padStart(format.digits + 1, "0");
    var whole = format.digits ? digits.slice(0, -format.digits) : digits;
    var frac = format.digits ? digits.slice(-format.digits) : "";
    var grouped = "";
    while (whole.length > format.grouping) {
      grouped = format.group + whole.slice(-format.grouping) + grouped;
      whole = whole.slice(0, -format.grouping);
    }
    var side = negative ? 1 : 0;
    return format.prefix[side] + whole + grouped + (frac ? format.decimal + frac : "") +
      format.suffix[side];
  }

  // --- the editor on the page -----------------------------------------------------------------

  var NUMBERS = ["quantity", "unit_price", "discount", "vat_rate"];
  var FIELDS = ["product", "description", "quantity", "unit", "unit_price", "discount", "vat_rate"];

  function Editor(root) {
    this.root = root;
    this.config = JSON.parse(root.dataset.config);
    this.texts = this.config.texts;
    this.body = root.querySelector(".lines-body");
    this.counter = 0;
    root.classList.add("lines-live");
    this.bind();
    this.refresh();
  }

  Editor.prototype.field = function (row, name) {
    return row.querySelector("[data-field='" + name + "'] [name='" + name + "']");
  };

  Editor.prototype.values = function (row) {
    var values = {};
    var self = this;
    FIELDS.forEach(function (name) {
      var input = self.field(row, name);
      if (input) { values[name] = input.value; }
    });
    return values;
  };

  Editor.prototype.isBlank = function (row) {
    var v = this.values(row);
    return !row.dataset.lineId && !v.product && !String(v.description || "").trim();
  };

  // `local`: the script's own check, cleared as soon as the value is right; the server's
  // refusal stays until the next save.
  Editor.prototype.showError = function (row, name, message, local) {
    var cell = row.querySelector("[data-field='" + name + "']");
    if (!cell) { return false; }
    if (local && !message && cell.dataset.local !== "1") { return true; }
    cell.classList.toggle("has-error", Boolean(message));
    cell.querySelector(".line-error").textContent = message || "";
    cell.dataset.local = local && message ? "1" : "";
    return true;
  };

  Editor.prototype.status = function (row, text, failed) {
    var status = row.querySelector(".line-status");
    status.textContent = text || "";
    status.classList.toggle("text-danger", Boolean(failed));
  };

  // The row's numbers, checked as the server checks them: {quantity, …} or errors by field.
  Editor.prototype.read = function (row) {
    var found = {}, errors = {}, self = this;
    NUMBERS.forEach(function (name) {
      var input = self.field(row, name);
      if (!input) { return; }
      try {
        var value = parseNumber(input.value, self.config.group);
        if (value === null && name === "quantity") {
          errors[name] = self.texts.required;
        } else if (value !== null && value.s > self.config.decimals[name]) {
          errors[name] = self.texts.tooManyDecimals.replace("%(digits)s", self.config.decimals[name]);
        } else if (value !== null && wholeDigits(value) > self.config.wholeDigits[name]) {
          errors[name] = self.texts.tooLarge;
        } else if (value !== null && self.texts.ranges[name] && outOfRange(name, value)) {
          errors[name] = self.texts.ranges[name];
        } else {
          found[name] = value;
        }
      } catch (e) {
        errors[name] = self.texts.notANumber;
      }
    });
    return {values: found, errors: errors};
  };

  // The live net of each row, the VAT summary and the totals, from what is typed now.
  Editor.prototype.refresh = function () {
    var self = this, rates = {}, net = ZERO, vat = ZERO, format = this.config.money;
    this.body.querySelectorAll(".line-row").forEach(function (row) {
      var read = self.read(row);
      NUMBERS.forEach(function (name) { self.showError(row, name, read.errors[name], true); });
      var cell = row.querySelector(".line-net");
      if (self.isBlank(row) || Object.keys(read.errors).length) {
        cell.textContent = "";
        return;
      }
      var v = read.values;
      var lineNetValue = lineNet(v.quantity, v.unit_price || ZERO,
        self.config.discount ? (v.discount || ZERO) : undefined);
      var rate = v.vat_rate || ZERO;
      var lineVatValue = lineVat(lineNetValue, rate);
      cell.textContent = money(lineNetValue, format);
      var key = plain(rate);
      var entry = rates[key] || (rates[key] = {rate: rate, net: ZERO, vat: ZERO});
      entry.net = add(entry.net, lineNetValue);
      entry.vat = add(entry.vat, lineVatValue);
      net = add(net, lineNetValue);
      vat = add(vat, lineVatValue);
    });
    var summary = Object.keys(rates).map(function (k) { return rates[k]; });
    summary.sort(function (a, b) { return compare(a.rate, b.rate); });
    this.showTotals({
      net: money(net, format),
      vat: money(vat, format),
      gross: money(add(net, vat), format),
      summary: summary.map(function (r) {
        return {rate: inputNumber(r.rate, self.config.decimal), net: money(r.net, format),
                vat: money(r.vat, format)};
      })
    }, false);
  };

  Editor.prototype.showTotals = function (totals, confirmed) {
    var root = this.root;
    root.querySelector(".lines-net-total").textContent = totals.net;
    root.querySelector(".lines-vat-total").textContent = totals.vat;
    root.querySelector(".lines-gross-total").innerHTML = "";
    var strong = document.createElement("strong");
    strong.textContent = totals.gross;
    root.querySelector(".lines-gross-total").appendChild(strong);
    var body = root.querySelector(".lines-summary-body");
    body.innerHTML = "";
    totals.summary.forEach(function (r) {
      var tr = document.createElement("tr");
      [r.rate, r.net, r.vat].forEach(function (text, i) {
        var td = document.createElement("td");
        if (i) { td.className = "text-right"; }
        td.textContent = text;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    root.dataset.confirmed = confirmed ? "1" : "";
  };

  Editor.prototype.busy = function () {
    return this.body.querySelector(".line-row[data-saving='1'], .line-row[data-dirty='1']");
  };

  Editor.prototype.csrf = function () {
    return this.root.querySelector(".lines-csrf").value;
  };

  Editor.prototype.post = function (url, payload) {
    var self = this;
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json",
                "X-CSRFToken": this.csrf()},
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().then(
        function (body) { return {ok: response.ok, body: body}; },
        function () { return {ok: false, body: {message: self.texts.failed}}; }
      );
    }, function () { return {ok: false, body: {message: self.texts.failed}}; });
  };

  Editor.prototype.save = function (row) {
    var self = this;
    if (row.dataset.saving === "1") { row.dataset.again = "1"; return; }
    // A blank row waits for its first field; a row with a bad number stays unsaved (and keeps
    // the totals unconfirmed) until it is corrected.
    if (this.isBlank(row)) { delete row.dataset.dirty; return; }
    if (Object.keys(this.read(row).errors).length) { return; }
    delete row.dataset.dirty;
    var sent = this.values(row);
    var id = row.dataset.lineId;
    var url = id ? this.config.lineUrl.replace("{id}", id) : this.config.addUrl;
    row.dataset.saving = "1";
    this.status(row, this.texts.saving);
    this.post(url, sent).then(function (answer) {
      delete row.dataset.saving;
      if (answer.ok) {
        self.saved(row, answer.body.line, sent);
        self.confirm(answer.body);
      } else {
        self.refused(row, answer.body);
      }
      if (row.dataset.again) {
        delete row.dataset.again;
        self.save(row);
      }
    });
  };

  // The line as stored: its id, and what the server made of each field the user has not
  // changed again since (a product's text where the line left it empty, 12,50 → 12,5).
  Editor.prototype.saved = function (row, line, sent) {
    var self = this;
    row.dataset.lineId = line.id;
    row.classList.remove("line-new");
    FIELDS.forEach(function (name) {
      self.showError(row, name, "");
      var input = self.field(row, name);
      if (!input || name === "product" || input.value !== sent[name]) { return; }
      var value = line[name] === null || line[name] === undefined ? "" : String(line[name]);
      if (input.tagName === "SELECT" && !input.querySelector("option[value='" + CSS.escape(value) + "']")) {
        input.add(new Option(value, value));
      }
      input.value = value;
    });
    row.querySelector(".line-net").textContent = line.net;
    var form = row.querySelector(".line-form");
    form.action = this.config.lineUrl.replace("{id}", line.id);
    this.status(row, this.texts.saved);
  };

  Editor.prototype.refused = function (row, body) {
    var self = this, shown = false;
    Object.keys(body.errors || {}).forEach(function (name) {
      shown = self.showError(row, name, body.errors[name]) || shown;
    });
    this.status(row, shown ? "" : body.message, !shown);
  };

  // The server's lines and totals: once nothing is being typed or saved, its totals stand.
  Editor.prototype.confirm = function (body) {
    if (this.busy()) { this.refresh(); return; }
    this.refresh();
    this.showTotals(body.totals, true);
  };

  Editor.prototype.remove = function (row) {
    var self = this, id = row.dataset.lineId;
    if (!id) {
      row.remove();
      this.refresh();
      return;
    }
    this.status(row, this.texts.saving);
    this.post(this.config.removeUrl.replace("{id}", id), {}).then(function (answer) {
      if (!answer.ok) { self.status(row, answer.body.message, true); return; }
      row.remove();
      self.confirm(answer.body);
    });
  };

  Editor.prototype.addRow = function () {
    var template = this.root.querySelector("template.lines-new-row");
    var row = template.content.querySelector(".line-row").cloneNode(true);
    var formId = "line-form-" + this.config.kind + "-new-" + (++this.counter);
    row.querySelector(".line-form").id = formId;
    row.querySelectorAll("[form]").forEach(function (el) { el.setAttribute("form", formId); });
    this.body.appendChild(row);
    return row;
  };

  Editor.prototype.fill = function (row, product) {
    var self = this;
    // A price of the catalogue in another currency is filled as it is, with a word beside it.
    var other = product.currency && product.currency !== this.config.currency;
    row.querySelector(".line-hint").textContent =
      other ? this.texts.otherCurrency.replace("%(currency)s", product.currency) : "";
    ["description", "unit", "unit_price", "vat_rate"].forEach(function (name) {
      var input = self.field(row, name), value = product[name];
      if (!input || value === undefined || value === null) { return; }
      if (input.tagName === "SELECT" && !input.querySelector("option[value='" + CSS.escape(value) + "']")) {
        input.add(new Option(value, value));
      }
      input.value = value;
    });
  };

  Editor.prototype.bind = function () {
    var self = this, root = this.root;
    root.addEventListener("input", function (event) {
      var row = event.target.closest(".line-row");
      if (!row) { return; }
      row.dataset.dirty = "1";
      self.refresh();
    });
    root.addEventListener("change", function (event) {
      var row = event.target.closest(".line-row");
      if (!row || event.target.name === "product") { return; }
      self.refresh();
      self.save(row);
    });
    root.addEventListener("submit", function (event) {
      var row = event.target.closest(".line-row");
      if (!row) { return; }
      event.preventDefault();
      if (event.target.classList.contains("line-remove-form")) { self.remove(row); } else { self.save(row); }
    });
    // The save of a field typed into and left with Enter: the row's form would post the page.
    root.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.target.tagName !== "INPUT") { return; }
      event.preventDefault();
      event.target.dispatchEvent(new Event("change", {bubbles: true}));
    });
    root.addEventListener("click", function (event) {
      if (event.target.closest(".lines-add")) {
        var row = self.addRow();
        var picker = row.querySelector("select[name='product']");
        setTimeout(function () { if ($(picker).data("select2")) { $(picker).select2("open"); } }, 0);
      } else if (event.target.closest(".line-discard")) {
        self.remove(event.target.closest(".line-row"));
      }
    });
    $(root).on("select2:select", "select[name='product']", function (event) {
      var row = this.closest(".line-row");
      self.fill(row, event.params.data);
      self.refresh();
      self.save(row);
      var quantity = self.field(row, "quantity"); // what one types next
      quantity.focus();
      quantity.select();
    });
    $(root).on("select2:unselect", "select[name='product']", function () {
      var row = this.closest(".line-row");
      setTimeout(function () { self.save(row); }, 0);
    });
  };

  window.DossierLines = {
    parseNumber: function (text, group) { var v = parseNumber(text, group); return v && plain(v); },
    net: function (quantity, price, discount) {
      return plain(lineNet(dec(quantity), dec(price), discount === null ? undefined : dec(discount)));
    },
    vat: function (net, rate) { return plain(lineVat(dec(net), dec(rate))); },
    money: function (amount, format) { return money(dec(amount), format); }
  };

  $(function () {
    document.querySelectorAll(".lines-editor.lines-editable").forEach(function (root) {
      root.linesEditor = new Editor(root);
    });
  });
})(jQuery);
