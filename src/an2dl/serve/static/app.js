/* an2dl run browser: sorting and filtering of the run list, line charts drawn as SVG from each run's numbers,
   the comparison of several runs, and the live stream of a running run (server-sent events).
   No dependencies: the page works offline and from files. */
(function () {
  "use strict";

  var SVGNS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#7f7f7f", "#bcbd22"];
  var body = document.body;
  var prefix = body.getAttribute("data-prefix") || "";

  // ------------------------------------------------------------------ helpers
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function html(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function encodePath(id) { return id.split("/").map(encodeURIComponent).join("/"); }

  function fmt(v) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "–";
    if (typeof v !== "number") return String(v);
    var a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
    return String(+v.toPrecision(4));
  }

  function isNum(v) { return typeof v === "number" && isFinite(v); }

  // ticks at 1, 2 or 5 times a power of ten, about n of them, covering [lo, hi]
  function niceScale(lo, hi, n) {
    if (!(hi > lo)) { var d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
    var raw = (hi - lo) / n, step = Math.pow(10, Math.floor(Math.log(raw) / Math.LN10)), err = raw / step;
    if (err >= 7.07) step *= 10; else if (err >= 3.16) step *= 5; else if (err >= 1.41) step *= 2;
    var a = Math.floor(lo / step) * step, b = Math.ceil(hi / step) * step, ticks = [];
    for (var i = 0; a + i * step <= b + step * 1e-9; i++) ticks.push(+(a + i * step).toPrecision(12));
    return { lo: a, hi: b, ticks: ticks };
  }

  function download(container, label, name, type, text) {
    var a = html("a", { href: URL.createObjectURL(new Blob([text], { type: type })), download: name }, label);
    if (container.childNodes.length) container.appendChild(document.createTextNode(", "));
    else container.appendChild(document.createTextNode("Numbers: "));
    container.appendChild(a);
  }

  function csvCell(v) {
    var s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function toCsv(rows) { return rows.map(function (r) { return r.map(csvCell).join(","); }).join("\n") + "\n"; }

  // ------------------------------------------------------------------ the line chart
  /* series: [{name, points: [[x, y], ...]}]; opts: {xLabel, yLabel, alt}.  Draws an SVG with role=img and the
     alt text as its accessible name; data-points counts the points drawn (the tests read it). */
  function lineChart(host, series, opts) {
    // the legend lies below the axes, one line per series, so that long run ids are shown whole
    var W = 760, m = { l: 72, r: 24, t: 20, b: 60 + 18 * series.length }, H = 320 + m.b;
    var xs = [], ys = [], total = 0;
    series.forEach(function (s) {
      s.points.forEach(function (p) { if (isNum(p[0]) && isNum(p[1])) { xs.push(p[0]); ys.push(p[1]); total++; } });
    });
    host.textContent = "";
    if (!total) {
      host.appendChild(html("p", { "class": "empty" }, "No numbers to draw (yet) for " + opts.yLabel + "."));
      return;
    }
    var sx = niceScale(Math.min.apply(null, xs), Math.max.apply(null, xs), 8);
    var sy = niceScale(Math.min.apply(null, ys), Math.max.apply(null, ys), 6);
    var pw = W - m.l - m.r, ph = H - m.t - m.b;
    function X(v) { return m.l + (v - sx.lo) / (sx.hi - sx.lo) * pw; }
    function Y(v) { return m.t + ph - (v - sy.lo) / (sy.hi - sy.lo) * ph; }
    var root = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-label": opts.alt, "class": "chart-svg",
                            "data-points": String(total), "data-series": String(series.length) });
    root.appendChild(svg("title", {}, opts.alt));
    root.appendChild(svg("rect", { x: m.l, y: m.t, width: pw, height: ph, "class": "plot-area" }));
    sx.ticks.forEach(function (t) {
      root.appendChild(svg("line", { x1: X(t), x2: X(t), y1: m.t, y2: m.t + ph, "class": "grid" }));
      root.appendChild(svg("text", { x: X(t), y: m.t + ph + 18, "class": "tick", "text-anchor": "middle" }, fmt(t)));
    });
    sy.ticks.forEach(function (t) {
      root.appendChild(svg("line", { x1: m.l, x2: m.l + pw, y1: Y(t), y2: Y(t), "class": "grid" }));
      root.appendChild(svg("text", { x: m.l - 8, y: Y(t) + 4, "class": "tick", "text-anchor": "end" }, fmt(t)));
    });
    root.appendChild(svg("line", { x1: m.l, x2: m.l + pw, y1: m.t + ph, y2: m.t + ph, "class": "axis" }));
    root.appendChild(svg("line", { x1: m.l, x2: m.l, y1: m.t, y2: m.t + ph, "class": "axis" }));
    root.appendChild(svg("text", { x: m.l + pw / 2, y: m.t + ph + 40, "class": "axis-label x-label",
                                   "text-anchor": "middle" }, opts.xLabel));
    root.appendChild(svg("text", { x: 16, y: m.t + ph / 2, "class": "axis-label y-label", "text-anchor": "middle",
                                   transform: "rotate(-90 16 " + (m.t + ph / 2) + ")" }, opts.yLabel));
    series.forEach(function (s, i) {
      var colour = PALETTE[i % PALETTE.length], d = "", pen = "M", shown = 0;
      s.points.forEach(function (p) {
        if (isNum(p[0]) && isNum(p[1])) { d += pen + X(p[0]).toFixed(1) + " " + Y(p[1]).toFixed(1) + " "; pen = "L"; shown++; }
        else pen = "M";  // a gap (NaN or a missing value) breaks the line
      });
      if (d) root.appendChild(svg("path", { d: d, stroke: colour, "class": "series", "data-name": s.name }));
      if (shown <= 60) {
        s.points.forEach(function (p) {
          if (isNum(p[0]) && isNum(p[1])) {
            root.appendChild(svg("circle", { cx: X(p[0]).toFixed(1), cy: Y(p[1]).toFixed(1), r: 2.5, fill: colour }));
          }
        });
      }
      var ly = m.t + ph + 66 + i * 18;
      root.appendChild(svg("line", { x1: m.l, x2: m.l + 24, y1: ly - 4, y2: ly - 4, stroke: colour, "class": "series" }));
      var label = s.name.length > 90 ? s.name.slice(0, 89) + "…" : s.name;
      root.appendChild(svg("text", { x: m.l + 32, y: ly, "class": "legend" }, label));
    });
    host.appendChild(root);
  }

  function metricKeys(rows) {
    var keys = [];
    rows.forEach(function (r) {
      Object.keys(r).forEach(function (k) {
        if (k !== "epoch" && k !== "step" && k.indexOf("time/") !== 0 && keys.indexOf(k) < 0) keys.push(k);
      });
    });
    return keys.sort();
  }

  function xOf(row, axis, i) {
    if (isNum(row[axis])) return row[axis];
    if (isNum(row.step)) return row.step;
    return i + 1;
  }

  function fillSelect(select, values, labels, preferred) {
    var current = select.value;
    select.textContent = "";
    values.forEach(function (v, i) { select.appendChild(html("option", { value: v }, labels ? labels[i] : v)); });
    var pick = values.indexOf(current) >= 0 ? current : null;
    for (var j = 0; !pick && j < preferred.length; j++) if (values.indexOf(preferred[j]) >= 0) pick = preferred[j];
    select.value = pick || values[0] || "";
  }

  // ------------------------------------------------------------------ the run list
  function initIndex() {
    var table = document.getElementById("runs");
    if (!table) return;
    var tbody = table.tBodies[0], filter = document.getElementById("filter"),
        status = document.getElementById("status-filter"), button = document.getElementById("compare-button");
    var headers = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, col) {
      if (!th.classList.contains("sortable")) return;
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (h) { if (h.classList.contains("sortable")) h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(tbody.rows);
        rows.sort(function (a, b) {
          var va = a.cells[col].getAttribute("data-value") || "", vb = b.cells[col].getAttribute("data-value") || "";
          var na = parseFloat(va), nb = parseFloat(vb), r;
          if (va === "" || vb === "") r = (va === "") - (vb === "");  // empty cells last
          else if (isFinite(na) && isFinite(nb) && String(na) === va.trim() && String(nb) === vb.trim()) r = na - nb;
          else r = va.localeCompare(vb);
          return asc || va === "" || vb === "" ? r : -r;
        });
        rows.forEach(function (r) { tbody.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
    function apply() {
      var needle = filter.value.trim().toLowerCase(), want = status.value, shown = 0;
      Array.prototype.forEach.call(tbody.rows, function (r) {
        var ok = (!want || r.getAttribute("data-status") === want) &&
                 (!needle || r.textContent.toLowerCase().indexOf(needle) >= 0);
        r.hidden = !ok;
        if (ok) shown++;
      });
      table.setAttribute("data-shown", String(shown));
    }
    filter.addEventListener("input", apply);
    status.addEventListener("change", apply);
    function checked() { return tbody.querySelectorAll("input[name=run]:checked").length; }
    function updateButton() { button.disabled = checked() < 1; }
    tbody.addEventListener("change", updateButton);
    updateButton();
    apply();
    if (body.getAttribute("data-live") === "1" && window.fetch) followList(tbody, apply);
  }

  function wallText(s) {
    if (!isNum(s)) return "–";
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return (s / 60).toFixed(1) + " min";
    return (s / 3600).toFixed(2) + " h";
  }

  // the server's list: every 3 s, statuses, wall times and key metrics are brought up to date in place
  // (the filter, the sort order and the ticked boxes stay); runs that appeared are announced
  function followList(tbody, apply) {
    var known = {};
    Array.prototype.forEach.call(tbody.rows, function (r) { known[r.querySelector("input[name=run]").value] = r; });
    var note = html("span", { id: "new-runs", role: "status" });
    document.getElementById("run-count").appendChild(note);
    setInterval(function () {
      if (document.hidden) return;
      fetch(prefix + "runs.json", { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (list) {
        var fresh = 0;
        list.forEach(function (s) {
          var row = known[s.id];
          if (!row) { fresh++; return; }
          row.setAttribute("data-status", s.status);
          var badge = row.querySelector(".status");
          badge.textContent = s.status;
          badge.className = "status status-" + s.status;
          row.cells[5].setAttribute("data-value", s.status);
          row.cells[6].textContent = wallText(s.wall_s);
          row.cells[6].setAttribute("data-value", isNum(s.wall_s) ? String(s.wall_s) : "");
          var cell = row.cells[7];
          cell.textContent = "";
          s.key_metrics.forEach(function (kv) {
            var span = html("span", { "class": "km" }, kv[0] + " ");
            span.appendChild(html("b", {}, fmt(kv[1])));
            cell.appendChild(span);
            cell.appendChild(document.createTextNode(" "));
          });
          cell.setAttribute("data-value", s.key_metrics.length ? String(s.key_metrics[0][1]) : "");
        });
        note.textContent = fresh ? " " + fresh + " new run" + (fresh > 1 ? "s" : "") + ": reload the page to list them." : "";
        apply();
      }).catch(function () { /* the server stopped or restarts: try again at the next tick */ });
    }, 3000);
  }

  // ------------------------------------------------------------------ one run
  function groupKeys(keys) {
    var groups = {}, order = [];
    keys.forEach(function (k) {
      var name = k.indexOf("/") >= 0 ? k.slice(k.lastIndexOf("/") + 1) : k;
      if (!groups[name]) { groups[name] = []; order.push(name); }
      groups[name].push(k);
    });
    return { groups: groups, order: order };
  }

  function initRun() {
    var id = body.getAttribute("data-run"), data = (window.AN2DL_RUNS || {})[id];
    var host = document.getElementById("curve-chart"), select = document.getElementById("curve-metric");
    var banner = document.getElementById("live-banner");
    var copy = document.getElementById("copy-resume");
    if (copy) {
      copy.addEventListener("click", function () {
        var text = document.getElementById("resume-command").textContent;
        function selectIt() {
          var range = document.createRange();
          range.selectNodeContents(document.getElementById("resume-command"));
          window.getSelection().removeAllRanges();
          window.getSelection().addRange(range);
          copy.textContent = "Selected: press Ctrl+C";
        }
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(function () { copy.textContent = "Copied"; }, selectIt);
        } else selectIt();
      });
    }
    if (!data) {
      host.appendChild(html("p", { "class": "empty" }, "The numbers of this run could not be loaded (deleted?)."));
      return;
    }
    var rows = data.rows.slice();
    function say(text) { banner.hidden = false; banner.textContent = text; }

    function draw() {
      var g = groupKeys(metricKeys(rows));
      fillSelect(select, g.order, g.order.map(function (n) { return n + " (" + g.groups[n].join(", ") + ")"; }),
                 ["loss", "accuracy"]);
      var name = select.value;
      if (!name) {
        host.textContent = "";
        host.appendChild(html("p", { "class": "empty" }, rows.length ? "The metric log has no numbers." :
                              "No metric log (yet): this run wrote no metrics.jsonl or metrics.csv."));
        return;
      }
      var axis = rows.some(function (r) { return isNum(r.step); }) ? "step" : "epoch";
      var series = g.groups[name].map(function (k) {
        return { name: k, points: rows.map(function (r, i) { return [xOf(r, axis, i), r[k] === undefined ? null : r[k]]; }) };
      });
      var last = series.map(function (s) {
        var p = s.points.filter(function (q) { return isNum(q[1]); }).pop();
        return s.name + " " + (p ? fmt(p[1]) + " at " + axis + " " + fmt(p[0]) : "none");
      });
      lineChart(host, series, { xLabel: axis, yLabel: name,
        alt: "Line chart of " + name + " against " + axis + " for run " + id + ", " + rows.length +
             " log rows; last values: " + last.join("; ") + "." });
    }
    select.addEventListener("change", draw);
    draw();

    if (body.getAttribute("data-live") === "1" && window.EventSource) {
      var es = new EventSource(prefix + "api/stream/" + encodePath(id) + "?from=" + rows.length);
      var badge = document.querySelector("h1 .status");
      say("Live: following the metric log of this running run.");
      es.addEventListener("rows", function (e) {
        var d = JSON.parse(e.data);
        rows = rows.slice(0, d.from).concat(d.rows);
        var lastRow = rows[rows.length - 1];
        say("Live: " + rows.length + " log rows" + (lastRow && isNum(lastRow.step) ? ", last at step " + lastRow.step : "") + ".");
        draw();
      });
      es.addEventListener("reset", function (e) { rows = JSON.parse(e.data).rows; draw(); });
      es.addEventListener("status", function (e) {
        var st = JSON.parse(e.data).status;
        if (badge) { badge.textContent = st; badge.className = "status status-" + st; }
        body.setAttribute("data-status", st);
        if (st !== "running") say("The run is now " + st + "; reload the page for its final results and figures.");
      });
      es.addEventListener("gone", function () { say("This run directory was deleted."); es.close(); });
      es.addEventListener("end", function () { es.close(); });
      es.onerror = function () { say("Connection to the server lost; retrying…"); };
    }
  }

  // ------------------------------------------------------------------ comparison
  function initCompare() {
    var ids = new URLSearchParams(window.location.search).getAll("run");
    var statusLine = document.getElementById("compare-status");
    if (!ids.length) return;
    var pending = ids.length, missingIds = [];
    statusLine.textContent = "Loading " + ids.length + " runs…";
    ids.forEach(function (id) {
      var s = document.createElement("script");
      s.src = prefix + "data/" + encodePath(id) + ".js";
      s.onload = done;
      s.onerror = function () { missingIds.push(id); done(); };
      document.head.appendChild(s);
    });
    function done() {
      if (--pending > 0) return;
      var all = window.AN2DL_RUNS || {};
      var runs = ids.filter(function (id) { return all[id]; }).map(function (id) { return all[id]; });
      missingIds = ids.filter(function (id) { return !all[id]; });
      statusLine.textContent = "Comparing " + runs.length + " run" + (runs.length === 1 ? "" : "s") + ": " +
        runs.map(function (r) { return r.summary.id + " (" + r.summary.status + ")"; }).join(", ") + "." +
        (missingIds.length ? " Not found (deleted?): " + missingIds.join(", ") + "." : "");
      if (!runs.length) return;
      drawCompare(runs);
      finalTable(runs);
      configDiff(runs);
    }
  }

  function drawCompare(runs) {
    var select = document.getElementById("compare-metric"), xsel = document.getElementById("compare-x");
    var host = document.getElementById("compare-chart"), links = document.getElementById("curve-downloads");
    var keys = [];
    runs.forEach(function (r) { metricKeys(r.rows).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    keys.sort();
    fillSelect(select, keys, null, ["val/loss", "val/accuracy", "train/loss"]);
    function draw() {
      var key = select.value, axis = xsel.value;
      var series = runs.map(function (r) {
        return { name: r.summary.id, points: r.rows.map(function (row, i) {
          return [xOf(row, axis, i), row[key] === undefined ? null : row[key]]; }) };
      });
      var last = series.map(function (s) {
        var p = s.points.filter(function (q) { return isNum(q[1]); }).pop();
        return s.name + " " + (p ? fmt(p[1]) : "none");
      });
      lineChart(host, series, { xLabel: axis, yLabel: key || "(no metric)",
        alt: "Line chart comparing " + key + " against " + axis + " for " + runs.length + " runs; last values: " +
             last.join("; ") + "." });
      links.textContent = "";
      var xsAll = [];
      series.forEach(function (s) { s.points.forEach(function (p) { if (xsAll.indexOf(p[0]) < 0) xsAll.push(p[0]); }); });
      xsAll.sort(function (a, b) { return a - b; });
      var table = [[axis].concat(series.map(function (s) { return s.name; }))];
      xsAll.forEach(function (x) {
        table.push([x].concat(series.map(function (s) {
          var p = s.points.filter(function (q) { return q[0] === x; })[0];
          return p ? p[1] : "";
        })));
      });
      var safe = (key || "metric").replace(/[^A-Za-z0-9_.-]+/g, "_");
      download(links, "curves (CSV)", "compare_" + safe + ".csv", "text/csv", toCsv(table));
      download(links, "curves (JSON)", "compare_" + safe + ".json", "application/json",
               JSON.stringify({ metric: key, x: axis, runs: series }, null, 1));
    }
    select.addEventListener("change", draw);
    xsel.addEventListener("change", draw);
    draw();
  }

  function gridTable(host, head, rows) {
    var t = html("table", { "class": "grid-table" }), tr = html("tr");
    head.forEach(function (h) { tr.appendChild(html("th", { scope: "col" }, h)); });
    t.appendChild(tr);
    rows.forEach(function (r) {
      var line = html("tr");
      r.forEach(function (c, i) { line.appendChild(html(i ? "td" : "th", i ? {} : { scope: "row" }, i ? fmt(c) : c)); });
      t.appendChild(line);
    });
    host.textContent = "";
    host.appendChild(t);
  }

  function finalTable(runs) {
    var keys = [];
    runs.forEach(function (r) { Object.keys(r.summary.metrics).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    keys.sort();
    var head = ["metric"].concat(runs.map(function (r) { return r.summary.id; }));
    var rows = keys.map(function (k) {
      return [k].concat(runs.map(function (r) { return k in r.summary.metrics ? r.summary.metrics[k] : null; }));
    });
    var host = document.getElementById("final-metrics");
    if (!rows.length) { host.textContent = "No final metrics in these runs."; return; }
    gridTable(host, head, rows);
    var links = document.getElementById("final-downloads");
    download(links, "final metrics (CSV)", "final_metrics.csv", "text/csv", toCsv([head].concat(rows)));
  }

  function configDiff(runs) {
    var maps = runs.map(function (r) { var o = {}; r.config.forEach(function (kv) { o[kv[0]] = kv[1]; }); return o; });
    var keys = [];
    maps.forEach(function (m) { Object.keys(m).forEach(function (k) { if (keys.indexOf(k) < 0) keys.push(k); }); });
    var differ = keys.filter(function (k) {
      return maps.some(function (m) { return m[k] !== maps[0][k]; });
    });
    var host = document.getElementById("config-diff");
    if (runs.length < 2) { host.textContent = "Choose two or more runs to see their differences."; return; }
    if (!differ.length) { host.textContent = "The " + runs.length + " configurations are identical (" + keys.length + " settings)."; return; }
    var head = ["setting"].concat(runs.map(function (r) { return r.summary.id; }));
    var rows = differ.map(function (k) { return [k].concat(maps.map(function (m) { return k in m ? m[k] : "(absent)"; })); });
    gridTable(host, head, rows);
    host.appendChild(html("p", { "class": "hint" }, differ.length + " of " + keys.length + " settings differ."));
    download(document.getElementById("config-downloads"), "configuration differences (CSV)", "config_differences.csv",
             "text/csv", toCsv([head].concat(rows)));
  }

  var page = body.getAttribute("data-page");
  if (page === "index") initIndex();
  else if (page === "run") initRun();
  else if (page === "compare") initCompare();
})();
