// The dashboard's charts: each .chart[data-src] fetches its JSON and is drawn as SVG.
// No library and no inline style: colours come from classes in portal.css.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";

  function el(name, attrs, parent, text) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text !== undefined) { node.textContent = text; }
    if (parent) { parent.appendChild(node); }
    return node;
  }

  function svg(box, width, height) {
    return el("svg", {viewBox: "0 0 " + width + " " + height, "class": "chart-svg", preserveAspectRatio: "xMinYMin meet"}, box);
  }

  function tip(node, text) { el("title", {}, node, text); }

  function column(data, key) { return data.columns.indexOf(key); }

  function legend(box, series) {
    var list = document.createElement("ul");
    list.className = "chart-legend";
    series.forEach(function (item, index) {
      var entry = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch series-" + (index % 9);
      entry.appendChild(swatch);
      entry.appendChild(document.createTextNode(item.label));
      list.appendChild(entry);
    });
    box.appendChild(list);
  }

  function empty(box, data) {
    var p = document.createElement("p");
    p.className = "text-muted small";
    p.textContent = data.note || box.getAttribute("data-empty");
    box.appendChild(p);
  }

  // Months along x, one stacked bar per month, a segment per series.
  function stacked(box, data) {
    var keys = data.series.map(function (s) { return s.key; });
    var totals = data.rows.map(function (row) { return row[column(data, "total")]; });
    var top = Math.max.apply(null, totals.concat([1]));
    var width = 720, height = 240, left = 30, bottom = 40, plot = height - bottom - 10;
    var step = (width - left) / Math.max(data.rows.length, 1);
    var chart = svg(box, width, height);
    [0, 0.5, 1].forEach(function (f) {
      var y = 10 + plot - plot * f;
      el("line", {x1: left, x2: width, y1: y, y2: y, "class": "chart-axis"}, chart);
      el("text", {x: left - 4, y: y + 4, "class": "chart-tick", "text-anchor": "end"}, chart, String(Math.round(top * f)));
    });
    data.rows.forEach(function (row, i) {
      var x = left + i * step + step * 0.15, base = 10 + plot;
      keys.forEach(function (key, k) {
        var value = row[column(data, key)];
        if (!value) { return; }
        var h = plot * value / top;
        base -= h;
        tip(el("rect", {x: x, y: base, width: step * 0.7, height: h, "class": "series-" + (k % 9)}, chart),
            row[0] + " · " + data.series[k].label + ": " + value);
      });
      var every = Math.ceil(34 / step);  // months are labelled as often as they fit
      if (i % every === 0) {
        var label = el("text", {x: x + step * 0.35, y: height - bottom + 16, "class": "chart-tick", "text-anchor": "middle"}, chart, row[0].slice(2));
        tip(label, row[0] + ": " + row[column(data, "total")]);
      }
    });
    legend(box, data.series);
  }

  // One horizontal bar per row; several series overlap (the later ones are subsets).
  function bars(box, data) {
    var nameAt = column(data, "name");
    var keys = data.series.map(function (s) { return s.key; });
    var rows = data.rows.filter(function (row) { return keys.some(function (k) { return row[column(data, k)] > 0; }); });
    if (!rows.length) { return empty(box, data); }
    var top = Math.max.apply(null, rows.map(function (row) { return row[column(data, keys[0])]; }).concat([1]));
    var line = 22, left = 250, width = 760;
    var chart = svg(box, width, rows.length * line + 8);
    rows.forEach(function (row, i) {
      var y = 4 + i * line;
      el("text", {x: left - 6, y: y + 14, "class": "chart-label", "text-anchor": "end"}, chart, row[nameAt]);
      keys.forEach(function (key, k) {
        var value = row[column(data, key)];
        var w = (width - left - 50) * value / top;
        tip(el("rect", {x: left, y: y + k * 4, width: Math.max(w, value ? 2 : 0), height: line - 6 - k * 8, "class": "series-" + (k % 9)}, chart),
            row[nameAt] + " · " + data.series[k].label + ": " + value);
      });
      el("text", {x: left + (width - left - 50) * row[column(data, keys[0])] / top + 6, y: y + 14, "class": "chart-value"}, chart,
         keys.map(function (k) { return row[column(data, k)]; }).join(" / "));
    });
    if (keys.length > 1) { legend(box, data.series); }
  }

  // The 34 provinces and cities placed roughly as on the map, coloured by activity level.
  function grid(box, data) {
    var size = 44, gap = 4;
    var rowAt = column(data, "row"), colAt = column(data, "col");
    var rows = Math.max.apply(null, data.rows.map(function (r) { return r[rowAt]; })) + 1;
    var cols = Math.max.apply(null, data.rows.map(function (r) { return r[colAt]; })) + 1;
    var chart = svg(box, cols * (size + gap), rows * (size + gap));
    chart.setAttribute("class", "chart-svg chart-grid");
    data.rows.forEach(function (row) {
      var x = row[colAt] * (size + gap), y = row[rowAt] * (size + gap);
      var group = el("g", {"class": "grid-cell", "data-province": row[0]}, chart);
      el("rect", {x: x, y: y, width: size, height: size, rx: 4, "class": "level-" + row[column(data, "level")]}, group);
      var short = row[column(data, "short")];
      el("text", {x: x + size / 2, y: y + size / 2 + 4, "text-anchor": "middle", "class": "grid-text"}, group, short);
      tip(group, row[1] + " — " + data.series.map(function (s) { return s.label + ": " + row[column(data, s.key)]; }).join(", "));
    });
    // The legend gives each colour's range of activity (level n: up to n quarters of the most active).
    var most = Math.max.apply(null, data.rows.map(function (r) { return r[column(data, "activity")]; }).concat([0]));
    var scale = document.createElement("ul");
    scale.className = "chart-legend";
    [0, 1, 2, 3, 4].forEach(function (level) {
      if (level && !most) { return; }
      var low = level <= 1 ? level : Math.floor(most * (level - 1) / 4) + 1;
      var high = level === 4 ? most : Math.floor(most * level / 4);
      if (level && low > high) { return; }
      var entry = document.createElement("li");
      var swatch = document.createElement("span");
      swatch.className = "swatch level-" + level;
      entry.appendChild(swatch);
      entry.appendChild(document.createTextNode(level === 0 ? "0" : (low >= high ? String(high) : low + "–" + high)));
      scale.appendChild(entry);
    });
    box.appendChild(scale);
  }

  // The review funnel: one bar per step, with the count and the median days spent there.
  function funnel(box, data) {
    var reached = column(data, "reached"), median = column(data, "median_days"), name = column(data, "name");
    var top = Math.max.apply(null, data.rows.map(function (r) { return r[reached]; }).concat([1]));
    var line = 30, width = 720, chart = svg(box, width, data.rows.length * line + 6);
    var days = box.getAttribute("data-days");
    data.rows.forEach(function (row, i) {
      var w = (width - 260) * row[reached] / top, y = 3 + i * line;
      tip(el("rect", {x: (width - 260 - w) / 2, y: y, width: Math.max(w, 2), height: line - 6, "class": "series-" + i}, chart),
          row[name] + ": " + row[reached]);
      var label = row[name] + " " + row[reached] + (row[median] === null ? "" : " · " + row[median] + " " + days);
      el("text", {x: width - 250, y: y + 17, "class": "chart-label"}, chart, label);
    });
    if (data.note) {
      var p = document.createElement("p");
      p.className = "text-muted small mb-0";
      p.textContent = data.note;
      box.appendChild(p);
    }
  }

  // Reviewer load: one row per expert, a short bar per series.
  function grouped(box, data) {
    if (!data.rows.length) { return empty(box, data); }
    var keys = data.series.map(function (s) { return s.key; });
    var rows = data.rows.slice(0, 25), name = column(data, "name");
    var top = Math.max.apply(null, rows.map(function (r) { return r[column(data, "assigned")]; }).concat([1]));
    var line = 8 * keys.length + 8, left = 250, width = 760;
    var chart = svg(box, width, rows.length * line + 4);
    rows.forEach(function (row, i) {
      var y = 2 + i * line;
      el("text", {x: left - 6, y: y + line / 2 + 3, "class": "chart-label", "text-anchor": "end"}, chart, row[name]);
      keys.forEach(function (key, k) {
        var value = row[column(data, key)];
        tip(el("rect", {x: left, y: y + k * 8, width: Math.max((width - left - 40) * value / top, value ? 2 : 0), height: 7, "class": "series-" + k}, chart),
            row[name] + " · " + data.series[k].label + ": " + value);
      });
    });
    legend(box, data.series);
  }

  // Score distributions: for each criterion, a small histogram over the scale.
  function histograms(box, data) {
    if (!data.rows.length) { return empty(box, data); }
    var keys = data.series.map(function (s) { return s.key; });
    var cell = 180, height = 120, perRow = 4, nameAt = column(data, "name");
    var chart = svg(box, perRow * cell, Math.ceil(data.rows.length / perRow) * (height + 10));
    data.rows.forEach(function (row, i) {
      var x0 = (i % perRow) * cell, y0 = Math.floor(i / perRow) * (height + 10);
      var counts = keys.map(function (k) { return row[column(data, k)]; });
      var top = Math.max.apply(null, counts.concat([1])), step = (cell - 20) / keys.length;
      counts.forEach(function (n, k) {
        var h = (height - 40) * n / top;
        tip(el("rect", {x: x0 + 10 + k * step, y: y0 + height - 25 - h, width: step - 3, height: h, "class": "series-0"}, chart),
            row[nameAt] + " · " + keys[k] + ": " + n);
        el("text", {x: x0 + 10 + k * step + step / 2, y: y0 + height - 12, "class": "chart-tick", "text-anchor": "middle"}, chart, keys[k]);
      });
      el("text", {x: x0 + 10, y: y0 + 12, "class": "chart-label"}, chart, row[nameAt] + " (" + row[column(data, "mean")] + ")");
    });
  }

  var DRAW = {stacked: stacked, bars: bars, grid: grid, funnel: funnel, grouped: grouped, histograms: histograms};

  function draw(box) {
    fetch(box.getAttribute("data-src"), {credentials: "same-origin", headers: {Accept: "application/json"}})
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (data) {
        box.textContent = "";
        if (!data.rows.length && data.kind !== "grid") { return empty(box, data); }
        (DRAW[data.kind] || bars)(box, data);
      })
      .catch(function () { box.classList.add("chart-failed"); });
  }

  document.querySelectorAll(".chart[data-src]").forEach(draw);
})();
