// The explorer page (microgradx.draw.explore): steps the forward and backward pass over the SVG
// drawn by microgradx's built-in layout. Inlined into each page; no network, no libraries.
// Every text from the graph (labels, numbers) is set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("mgx-steps").textContent);
  var entries = data.entries;
  var last = entries.length - 1;
  var svg = document.querySelector("#mgx-graph svg");
  var nodes = {};
  svg.querySelectorAll("g.node, g.port").forEach(function (g) {  // a port: one output row of a layer
    nodes[g.getAttribute("data-node")] = g;
  });
  var edges = Array.prototype.slice.call(svg.querySelectorAll("path.edge"));
  var current = -1;

  function byId(id) { return document.getElementById(id); }

  function setField(key, field, text) {
    var g = nodes[key];
    var el = g && g.querySelector(".field-" + field);
    if (el) { el.textContent = text; }
  }

  function mark(key, cls) {
    if (key && nodes[key]) { nodes[key].classList.add(cls); }
  }

  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
  }

  function panel(entry) {
    byId("mgx-title").textContent = entry.title;
    byId("mgx-text").textContent = entry.text || "";
    var table = byId("mgx-terms");
    table.textContent = "";
    if (!entry.terms || !entry.terms.length) { table.hidden = true; return; }
    table.hidden = false;
    var head = document.createElement("tr");
    ["input", "local derivative", "upstream \u00d7 local", "= added to its grad", "its grad: before \u2192 after"]
      .forEach(function (h) { var th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
    table.appendChild(head);
    entry.terms.forEach(function (t) {
      var row = document.createElement("tr");
      row.className = "term";
      cell(row, t.name);
      cell(row, t.local_text, "num");
      cell(row, t.product_text || (t.upstream + " \u00d7 " + t.local), "num");
      cell(row, t.product, "num add");
      cell(row, t.before + " \u2192 " + t.after, "num");
      table.appendChild(row);
    });
  }

  function show(k) {
    k = Math.max(0, Math.min(last, k));
    current = k;
    var key;
    for (key in data.initial) {
      setField(key, "data", data.initial[key][0]);
      setField(key, "grad", data.initial[key][1]);
    }
    for (var i = 1; i <= k; i++) {
      entries[i].set.forEach(function (s) { setField(s[0], s[1], s[2]); });
    }
    svg.querySelectorAll(".visited, .input, .changed, .pending, .active").forEach(function (el) {
      el.classList.remove("visited", "input", "changed", "pending", "active");
    });
    for (key in data.computed_at) {
      if (k < data.computed_at[key]) { mark(key, "pending"); }
    }
    var entry = entries[k];
    (entry.visit || []).forEach(function (key) { mark(key, "visited"); });
    (entry.inputs || []).forEach(function (key) { mark(key, "input"); });
    entry.set.forEach(function (s) { mark(s[0], "changed"); });
    var into = entry.visit && entry.visit.length ? entry.visit[0] : null;
    edges.forEach(function (e) {
      var src = e.getAttribute("data-src"), dst = e.getAttribute("data-dst");
      if (into && (entry.visit.indexOf(dst) >= 0) && (entry.inputs.indexOf(src) >= 0 || entry.visit.indexOf(src) >= 0)) {
        e.classList.add("active");
      }
    });
    panel(entry);
    byId("mgx-counter").textContent = "step " + k + " of " + last + " \u00b7 " + entry.phase;
    byId("mgx-slider").value = String(k);
    document.body.setAttribute("data-step", String(k));
    document.body.setAttribute("data-phase", entry.phase);
  }

  // -- zoom and pan: the graph starts fitted to the window; the scroll bars or a drag pan it --
  var graph = byId("mgx-graph");
  var natural = { w: svg.viewBox.baseVal.width, h: svg.viewBox.baseVal.height };
  var zoom = 1, fitting = true, drag = null;

  function setZoom(z, fit) {
    fitting = Boolean(fit);
    zoom = Math.max(0.05, Math.min(8, z));
    svg.setAttribute("width", (natural.w * zoom).toFixed(1));
    svg.setAttribute("height", (natural.h * zoom).toFixed(1));
    byId("mgx-zoom").textContent = Math.round(zoom * 100) + "%";
    document.body.setAttribute("data-zoom", zoom.toFixed(3));
  }

  function fit() {  // as large as fits the graph's area, at most actual size
    var style = getComputedStyle(graph);
    var w = graph.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    var h = graph.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    setZoom(Math.min(1, w / natural.w, h / natural.h), true);
  }

  byId("mgx-fit").addEventListener("click", fit);
  byId("mgx-zoom-in").addEventListener("click", function () { setZoom(zoom * 1.25); });
  byId("mgx-zoom-out").addEventListener("click", function () { setZoom(zoom / 1.25); });
  window.addEventListener("resize", function () { if (fitting) { fit(); } });
  graph.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) { return; }
    drag = { x: ev.clientX, y: ev.clientY, left: graph.scrollLeft, top: graph.scrollTop };
    graph.classList.add("panning");
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) { return; }
    graph.scrollLeft = drag.left - (ev.clientX - drag.x);
    graph.scrollTop = drag.top - (ev.clientY - drag.y);
  });
  window.addEventListener("pointerup", function () { drag = null; graph.classList.remove("panning"); });

  byId("mgx-slider").max = String(last);
  byId("mgx-slider").addEventListener("input", function (ev) { show(parseInt(ev.target.value, 10)); });
  byId("mgx-first").addEventListener("click", function () { show(0); });
  byId("mgx-prev").addEventListener("click", function () { show(current - 1); });
  byId("mgx-next").addEventListener("click", function () { show(current + 1); });
  byId("mgx-backward").addEventListener("click", function () { show(data.seed); });
  byId("mgx-last").addEventListener("click", function () { show(last); });
  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey || (ev.target && ev.target.id === "mgx-slider")) { return; }
    var moves = {
      ArrowRight: 1, ArrowDown: 1, n: 1, j: 1, " ": 1,
      ArrowLeft: -1, ArrowUp: -1, p: -1, k: -1
    };
    if (ev.key in moves) { show(current + moves[ev.key]); }
    else if (ev.key === "Home") { show(0); }
    else if (ev.key === "End") { show(last); }
    else if (ev.key === "b") { show(data.seed); }
    else if (ev.key === "f") { fit(); }
    else if (ev.key === "+" || ev.key === "=") { setZoom(zoom * 1.25); }
    else if (ev.key === "-") { setZoom(zoom / 1.25); }
    else if (ev.key === "0") { setZoom(1); }
    else { return; }
    ev.preventDefault();
  });
  show(data.start);
  fit();
})();
