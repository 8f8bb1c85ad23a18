// The playground page (microgradx.playground): a view and a remote control of a run that trains in
// Python on the local server. No libraries, no network beyond the server that sent this file.
// Every text from the server (messages, names) is set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var FRAME_MS = 100;  // at most ten frames a second while playing
  var IDLE_MS = 400;   // and fewer while nothing changes
  var NEG = [245, 147, 34], ZERO = [232, 234, 235], POS = [8, 119, 189];
  var CLASS_COLORS = [NEG, POS, [46, 160, 67], [200, 50, 120], [120, 90, 200], [140, 140, 40], [30, 170, 170],
    [210, 90, 60], [90, 90, 90], [170, 120, 30]];
  var LUT = [];  // signed byte -> colour, from orange (-1) through grey (0) to blue (+1)
  for (var b = -127; b <= 127; b++) { LUT.push(mix(ZERO, b < 0 ? NEG : POS, Math.abs(b) / 127)); }

  var run = null, options = null, settings = {}, describe = null;
  var generation = -1, version = -1, since = 0, state = "paused";
  var curves = {train_loss: [], test_loss: [], train_accuracy: [], test_accuracy: []};
  var weights = null, boundaryData = null;
  var example = {split: "train", index: 1};
  var opened = null;  // {layer, neuron, weight}: what the explorer shows
  var actionMessage = null, runMessage = null, stopped = false;
  var edges = [];

  function $(id) { return document.getElementById(id); }

  function mix(a, c, t) { return [a[0] + (c[0] - a[0]) * t, a[1] + (c[1] - a[1]) * t, a[2] + (c[2] - a[2]) * t]; }

  function rgb(c) { return "rgb(" + Math.round(c[0]) + "," + Math.round(c[1]) + "," + Math.round(c[2]) + ")"; }

  function bytes(text, signed) {
    var raw = atob(text), out = signed ? new Int8Array(raw.length) : new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = raw.charCodeAt(i); }
    return out;
  }

  function api(method, path, body, type) {
    var init = {method: method, headers: {}};
    if (body !== undefined) {
      init.headers["Content-Type"] = type || "application/json";
      init.body = type ? body : JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      return r.json().catch(function () { return {error: r.statusText}; }).then(function (data) {
        if (!r.ok) { var e = new Error(data.error || r.statusText); e.data = data; e.status = r.status; throw e; }
        return data;
      });
    });
  }

  function showMessage() {
    var m = $("message"), text = actionMessage || runMessage;
    m.hidden = !text;
    m.textContent = text || "";
    m.className = actionMessage || state === "diverged" || state === "failed" ? "error" : "";
  }

  // -- settings <-> controls <-> URL ------------------------------------------------------------

  var FIELDS = ["dataset", "noise", "test", "samples", "seed", "loss", "optimizer", "lr", "batch", "l2", "speed"];

  function fillSelect(select, values, labels) {
    select.textContent = "";
    values.forEach(function (v, i) {
      var o = document.createElement("option");
      o.value = v;
      o.textContent = labels ? labels[i] : v;
      select.appendChild(o);
    });
  }

  function fillControls(s, force) {  // (a control being edited keeps its text, unless a refusal puts it back)
    FIELDS.forEach(function (key) {
      var el = $(key);
      if (!el || (!force && el === document.activeElement) || s[key] === undefined) { return; }
      if (el.tagName === "SELECT" && !Array.prototype.some.call(el.options, function (o) { return o.value === s[key]; })) {
        element("option", {value: s[key], text: key === "speed" ? s[key] + " epochs/s" : s[key]}, el);
      }
      el.value = s[key];
    });
    ["noise", "samples"].forEach(function (key) { $(key).disabled = s.dataset === "csv"; });  // a file's own points
    var sizes = layerSizes(s), acts = (s.acts || "").split(",");
    sizes.forEach(function (n, i) {
      var box = document.querySelector('[data-testid="layer-' + (i + 1) + '-neurons"]');
      var act = document.querySelector('[data-testid="layer-' + (i + 1) + '-activation"]');
      if (box && (force || box !== document.activeElement)) { box.value = String(n); }
      if (act) { act.value = acts[i]; }
    });
  }

  function layerSizes(s) { return s.layers ? s.layers.split(",").map(Number) : []; }

  function setUrl(s) {
    var query = "?" + new URLSearchParams(s).toString();
    if (location.search !== query) { window.history.replaceState(null, "", query); }
  }

  function apply(values) {
    return api("POST", "/api/runs/" + run + "/settings", {settings: values}).then(function (f) {
      actionMessage = null;
      take(f);
    }, refused);
  }

  function refused(e) {
    actionMessage = e.message;
    if (e.data && e.data.settings) { fillControls(e.data.settings, true); }
    showMessage();
  }

  function control(action) {
    return api("POST", "/api/runs/" + run + "/control", {action: action}).then(function (f) {
      actionMessage = null;
      take(f);
    }, refused);
  }

  // -- a frame ---------------------------------------------------------------------------------

  function take(f) {
    if (f.version < version) { return; }  // an older answer overtaken by a newer one (versions only grow)
    if (f.describe) {
      describe = f.describe;
      showClasses();
      if (opened && !neuronExists(opened)) { closeExplorer(); }
      if (example.index > (example.split === "train" ? describe.n_train : describe.points.length - describe.n_train)) {
        example = {split: "train", index: 1};
      }
    }
    var fresh = f.generation !== generation || f.start === 0;
    generation = f.generation;
    Object.keys(curves).forEach(function (k) {
      curves[k] = fresh ? f.history[k].slice() : curves[k].concat(f.history[k]);
    });
    since = f.start + f.history.train_loss.length;
    version = f.version;
    state = f.state;
    runMessage = f.message;
    var layout = f.describe || JSON.stringify(layerSizes(f.settings)) !== JSON.stringify(layerSizes(settings)) ||
      f.settings.acts !== settings.acts;
    settings = f.settings;
    if (layout) { buildNetwork(); }
    fillControls(settings);
    setUrl(settings);
    $("epoch").textContent = String(f.epoch);
    $("rate").textContent = String(f.rate);
    $("state").textContent = state;
    $("state").className = "state " + state;
    if (f.weights) {
      weights = f.weights;
      boundaryData = f.boundary || null;
      if (f.heat) { paintNeurons(f.heat); }
      paintEdges();
      runMessage = runMessage || f.heat_error || null;
    }
    showMetrics();
    drawCurve();
    drawBoundary();
    showExample();
    showMessage();
  }

  function number(x, digits) { return x === null || x === undefined ? "-" : x.toFixed(digits); }

  function showMetrics() {
    var last = function (k) { var s = curves[k]; return s.length ? s[s.length - 1] : null; };
    $("test-loss").textContent = number(last("test_loss"), 3);
    $("train-loss").textContent = number(last("train_loss"), 3);
    var classify = describe && describe.task !== "regression";
    $("test-accuracy").textContent = classify ? number(100 * last("test_accuracy"), 1) : "-";
    $("train-accuracy").textContent = classify ? number(100 * last("train_accuracy"), 1) : "-";
  }

  // -- the network -------------------------------------------------------------------------------

  function neuronExists(o) {
    var sizes = describe.sizes;
    return o.layer < sizes.length && o.neuron <= sizes[o.layer] && (!o.weight || o.weight <= sizes[o.layer - 1]);
  }

  function element(tag, attrs, parent) {
    var el = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { el.textContent = attrs[k]; } else { el.setAttribute(k, attrs[k]); }
    });
    if (parent) { parent.appendChild(el); }
    return el;
  }

  function layerHead(head, li, size, act) {
    element("div", {text: "layer " + li}, head);
    var row = element("div", {}, head);
    var minus = element("button", {type: "button", title: "one neuron less", text: "\u2212"}, row);
    var box = element("input", {type: "text", inputmode: "numeric", "data-testid": "layer-" + li + "-neurons",
      "aria-label": "neurons of layer " + li, value: String(size)}, row);
    var plus = element("button", {type: "button", title: "one neuron more", text: "+"}, row);
    var select = element("select", {"data-testid": "layer-" + li + "-activation",
      "aria-label": "activation of layer " + li}, head);
    fillSelect(select, options.activations);
    select.value = act;
    var resize = function (text) {
      var sizes = layerSizes(settings).map(String);
      sizes[li - 1] = text;
      apply({layers: sizes.join(",")});
    };
    minus.addEventListener("click", function () { resize(String(size - 1)); });
    plus.addEventListener("click", function () { resize(String(size + 1)); });
    box.addEventListener("change", function () { resize(box.value.trim()); });
    select.addEventListener("change", function () {
      var acts = settings.acts.split(",");
      acts[li - 1] = select.value;
      apply({acts: acts.join(",")});
    });
  }

  function buildNetwork() {
    if (!describe) { return; }
    var columns = $("columns");
    columns.textContent = "";
    var sizes = describe.sizes, acts = describe.activations, last = sizes.length - 1;
    $("layer-count").textContent = (last - 1) + " hidden layer" + (last - 1 === 1 ? "" : "s");
    for (var l = 0; l <= last; l++) {
      var column = element("div", {"class": "column"}, columns);
      var head = element("div", {"class": "head"}, column);
      if (l === 0) { element("div", {text: "inputs"}, head); }
      else if (l === last) { element("div", {text: "output (" + (acts[l - 1] || "linear") + ")"}, head); }
      else { layerHead(head, l, sizes[l], acts[l - 1]); }
      for (var i = 1; i <= sizes[l]; i++) {
        var canvas = element("canvas", {"class": "neuron" + (l === 0 ? " input" : ""), width: describe.grid,
          height: describe.grid}, column);
        if (l === 0) {
          canvas.setAttribute("data-testid", "input-" + i);
          canvas.title = describe.features[i - 1];
          paint(canvas, bytes(describe.input_heat[i - 1], true), describe.grid);
          element("div", {"class": "name", text: describe.features[i - 1]}, column);
        } else {
          canvas.setAttribute("data-testid", "neuron-" + l + "-" + i);
          canvas.addEventListener("click", openNeuron.bind(null, l, i));
        }
      }
    }
    drawEdgePaths();
  }

  function centre(el, side, box) {
    var r = el.getBoundingClientRect();
    return [side === "right" ? r.right - box.left : r.left - box.left, r.top + r.height / 2 - box.top];
  }

  function drawEdgePaths() {
    var svg = $("edges"), net = $("network"), box = net.getBoundingClientRect();
    svg.textContent = "";
    svg.setAttribute("width", String(net.scrollWidth));
    svg.setAttribute("height", String(net.scrollHeight));
    edges = [];
    var sizes = describe.sizes, ns = "http://www.w3.org/2000/svg";
    for (var l = 1; l < sizes.length; l++) {
      for (var i = 1; i <= sizes[l]; i++) {
        var to = document.querySelector('[data-testid="neuron-' + l + "-" + i + '"]');
        for (var j = 1; j <= sizes[l - 1]; j++) {
          var from = document.querySelector('[data-testid="' + (l === 1 ? "input-" + j : "neuron-" + (l - 1) + "-" + j) + '"]');
          var a = centre(from, "right", box), c = centre(to, "left", box), mid = (a[0] + c[0]) / 2;
          var path = document.createElementNS(ns, "path");
          path.setAttribute("d", "M" + a[0] + "," + a[1] + " C" + mid + "," + a[1] + " " + mid + "," + c[1] + " " +
            c[0] + "," + c[1]);
          path.setAttribute("data-testid", "weight-" + l + "-" + i + "-" + j);
          path.setAttribute("stroke-opacity", "0.75");
          var title = document.createElementNS(ns, "title");
          path.appendChild(title);
          path.addEventListener("click", openWeight.bind(null, l, i, j));
          svg.appendChild(path);
          edges.push({path: path, title: title, l: l, i: i, j: j});
        }
      }
    }
    paintEdges();
  }

  function paintEdges() {
    if (!weights) { return; }
    edges.forEach(function (e) {
      var row = weights[e.l - 1] && weights[e.l - 1][e.i - 1];
      if (!row) { return; }
      var w = row[e.j - 1];
      e.path.setAttribute("stroke", rgb(w === null ? [200, 0, 0] : w < 0 ? NEG : POS));
      e.path.setAttribute("stroke-width", String(w === null ? 1 : Math.min(8, 0.6 + 2 * Math.abs(w))));
      e.title.textContent = "w" + e.l + "-" + e.i + "-" + e.j + " = " + w + " (click: open its graph)";
      e.path.classList.toggle("open", !!opened && opened.weight === e.j && opened.layer === e.l && opened.neuron === e.i);
    });
  }

  function paint(canvas, values, n, kind, classes, k) {
    var ctx = canvas.getContext("2d"), img = ctx.createImageData(n, n), d = img.data;
    for (var p = 0; p < n * n; p++) {
      var c;
      if (kind === "classes") {
        var share = Math.max(0, (values[p] / 127 - 1 / k) / (1 - 1 / k));
        c = mix([255, 255, 255], CLASS_COLORS[classes[p] % CLASS_COLORS.length], 0.25 + 0.6 * share);
      } else {
        c = LUT[values[p] + 127];
      }
      d[4 * p] = c[0]; d[4 * p + 1] = c[1]; d[4 * p + 2] = c[2]; d[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
  }

  function paintNeurons(heat) {
    heat.forEach(function (layer, l) {
      layer.forEach(function (h, i) {
        var canvas = document.querySelector('[data-testid="neuron-' + (l + 1) + "-" + (i + 1) + '"]');
        if (!canvas) { return; }
        paint(canvas, bytes(h.data, true), describe.grid);
        var bias = weights[l][i][weights[l][i].length - 1];
        canvas.title = "neuron " + (l + 1) + "-" + (i + 1) + ": output over the plane (colours up to \u00b1" +
          h.scale.toPrecision(3) + "), bias " + bias + ". Click: open its graph";
      });
    });
  }

  // -- the curves and the plane -------------------------------------------------------------------

  function drawCurve() {
    var canvas = $("curve"), ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    var top = 0;
    ["train_loss", "test_loss"].forEach(function (k) {
      curves[k].forEach(function (v) { if (v !== null && isFinite(v)) { top = Math.max(top, v); } });
    });
    if (!top) { return; }
    var n = Math.max(2, curves.train_loss.length), every = Math.max(1, Math.floor(n / w));  // a point a pixel
    [["train_loss", "#999"], ["test_loss", "#000"]].forEach(function (pair) {
      var series = curves[pair[0]];
      ctx.strokeStyle = pair[1];
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      for (var i = 0; i < series.length; i += (i + every < series.length ? every : Math.max(1, series.length - 1 - i))) {
        var v = series[i], x = i / (n - 1) * (w - 4) + 2, y = h - 2 - (v === null ? 1 : Math.min(v / top, 1)) * (h - 6);
        if (i === 0) { ctx.moveTo(x, y); } else { ctx.lineTo(x, y); }
      }
      ctx.stroke();
    });
  }

  function toCanvas(point, w, h) {
    var e = describe.extent;
    return [(point[0] - e[0]) / (e[1] - e[0]) * w, (e[3] - point[1]) / (e[3] - e[2]) * h];
  }

  function pointColour(label) {
    if (describe.task === "regression") { return LUT[Math.round(Math.max(-1, Math.min(1, label)) * 127) + 127]; }
    return describe.classes.length <= 2 ? (label ? POS : NEG) : CLASS_COLORS[label % CLASS_COLORS.length];
  }

  function drawBoundary() {
    if (!describe) { return; }
    var canvas = $("boundary"), ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height, n = describe.grid;
    ctx.clearRect(0, 0, w, h);
    if (boundaryData) {
      var small = document.createElement("canvas");
      small.width = small.height = n;
      var kind = boundaryData.kind;
      paint(small, bytes(boundaryData.data, true), n, kind,
        kind === "classes" ? bytes(boundaryData.classes, false) : null, describe.classes.length);
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(small, 0, 0, w, h);
    }
    var chosen = example.index - 1 + (example.split === "test" ? describe.n_train : 0);
    describe.points.forEach(function (p, k) {
      var xy = toCanvas(p, w, h);
      ctx.beginPath();
      ctx.arc(xy[0], xy[1], 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = rgb(pointColour(describe.labels[k]));
      ctx.fill();
      ctx.lineWidth = 1;
      ctx.strokeStyle = k < describe.n_train ? "#fff" : "#000";
      ctx.stroke();
      if (k === chosen) {
        ctx.beginPath();
        ctx.arc(xy[0], xy[1], 7.5, 0, 2 * Math.PI);
        ctx.lineWidth = 2;
        ctx.strokeStyle = "#000";
        ctx.stroke();
      }
    });
  }

  function showClasses() {
    var box = $("classes");
    box.textContent = "";
    if (describe.task === "regression") {
      box.textContent = "colour: the target (points) and the prediction (plane), orange low, blue high";
      return;
    }
    describe.classes.forEach(function (name, k) {
      var item = element("span", {}, box);
      element("span", {"class": "swatch"}, item).style.background = rgb(pointColour(k));
      item.appendChild(document.createTextNode(name));
    });
    element("span", {text: "(white rim: training point; black rim: test point)"}, box);
  }

  function showExample() {
    if (!describe) { return; }
    var k = example.index - 1 + (example.split === "test" ? describe.n_train : 0);
    var p = describe.points[k], label = describe.labels[k];
    var target = describe.task === "regression" ? "target " + label : "label " + describe.classes[label];
    $("example").textContent = "Example for the graphs: " + example.split + " point " + example.index + " (" +
      describe.features[0] + " = " + p[0] + ", " + describe.features[1] + " = " + p[1] + "; " + target +
      "). Click another point to choose it.";
  }

  function pickExample(ev) {
    if (!describe) { return; }
    var canvas = $("boundary"), r = canvas.getBoundingClientRect();
    var x = (ev.clientX - r.left) * canvas.width / r.width, y = (ev.clientY - r.top) * canvas.height / r.height;
    var best = -1, bestD = 144;  // within 12 pixels
    describe.points.forEach(function (p, k) {
      var xy = toCanvas(p, canvas.width, canvas.height), d = (xy[0] - x) * (xy[0] - x) + (xy[1] - y) * (xy[1] - y);
      if (d < bestD) { best = k; bestD = d; }
    });
    if (best < 0) { return; }
    example = best < describe.n_train ? {split: "train", index: best + 1} : {split: "test", index: best - describe.n_train + 1};
    drawBoundary();
    showExample();
    if (opened) { loadExplorer(); }
  }

  // -- the explorer --------------------------------------------------------------------------------

  function openNeuron(layer, neuron) { opened = {layer: layer, neuron: neuron, weight: null}; loadExplorer(); }

  function openWeight(layer, neuron, weight) {
    opened = {layer: layer, neuron: neuron, weight: weight};
    loadExplorer();
  }

  function loadExplorer() {
    var o = opened, root = o.weight ? "loss" : $("explore-root").value;
    var q = new URLSearchParams({layer: o.layer, neuron: o.neuron, example: example.index, split: example.split,
      root: root});
    if (o.weight) { q.set("weight", o.weight); }
    $("explore-root").disabled = !!o.weight;
    $("explorer-title").textContent = (o.weight ? "weight w" + o.layer + "-" + o.neuron + "-" + o.weight
      : "neuron " + o.layer + "-" + o.neuron) + ", " + example.split + " example " + example.index + ", epoch " +
      $("epoch").textContent;
    $("explorer").src = "/api/runs/" + run + "/explore?" + q.toString();
    $("explorer-panel").hidden = false;
    document.querySelectorAll(".neuron.open").forEach(function (c) { c.classList.remove("open"); });
    var canvas = document.querySelector('[data-testid="neuron-' + o.layer + "-" + o.neuron + '"]');
    if (canvas) { canvas.classList.add("open"); }
    paintEdges();
  }

  function closeExplorer() {
    opened = null;
    $("explorer-panel").hidden = true;
    $("explorer").removeAttribute("src");
    document.querySelectorAll(".neuron.open").forEach(function (c) { c.classList.remove("open"); });
  }

  // -- polling and wiring --------------------------------------------------------------------------

  function poll() {
    if (stopped) { return; }
    var started = performance.now();
    api("GET", "/api/runs/" + run + "/frame?since=" + since + "&generation=" + generation + "&version=" + version)
      .then(take, function (e) {
        actionMessage = e.message;
        showMessage();
        if (e.status === 404) { stopped = true; }
      })
      .then(function () {
        var wait = state === "playing" ? FRAME_MS : IDLE_MS;
        setTimeout(poll, Math.max(0, wait - (performance.now() - started)));
      });
  }

  function wire() {
    ["play", "pause", "step", "reset"].forEach(function (action) {
      $(action).addEventListener("click", function () { control(action); });
    });
    FIELDS.forEach(function (key) {
      $(key).addEventListener("change", function () {
        var values = {};
        values[key] = $(key).value.trim();
        if (key === "dataset") { values.loss = "auto"; }  // the new task's own loss
        apply(values);
      });
    });
    $("add-layer").addEventListener("click", function () {
      var sizes = layerSizes(settings);
      sizes.push(sizes.length ? sizes[sizes.length - 1] : 4);
      apply({layers: sizes.join(",")});
    });
    $("remove-layer").addEventListener("click", function () {
      apply({layers: layerSizes(settings).slice(0, -1).join(",")});
    });
    $("csv-file").addEventListener("change", function () {
      var file = $("csv-file").files[0];
      if (!file) { return; }
      api("POST", "/api/runs/" + run + "/upload?name=" + encodeURIComponent(file.name), file, "text/csv")
        .then(function (f) { actionMessage = null; take(f); }, refused)
        .then(function () { $("csv-file").value = ""; });
    });
    $("boundary").addEventListener("click", pickExample);
    $("explore-root").addEventListener("change", function () { if (opened) { loadExplorer(); } });
    $("explorer-refresh").addEventListener("click", function () { if (opened) { loadExplorer(); } });
    $("explorer-close").addEventListener("click", closeExplorer);
    window.addEventListener("resize", function () { if (describe) { drawEdgePaths(); } });
    window.addEventListener("pagehide", function () {
      if (run) {
        fetch("/api/runs/" + run + "/close", {method: "POST", keepalive: true,
          headers: {"Content-Type": "application/json"}, body: "{}"});
      }
    });
    window.addEventListener("pageshow", function (ev) { if (ev.persisted) { location.reload(); } });
  }

  function start() {
    wire();
    api("GET", "/api/options").then(function (o) {
      options = o;
      fillSelect($("dataset"), o.datasets);
      fillSelect($("loss"), ["auto"].concat(o.losses.map(function (l) { return l.name; })),
        ["auto (the task's)"].concat(o.losses.map(function (l) { return l.name + (l.task ? " (" + l.task + ")" : ""); })));
      fillSelect($("optimizer"), o.optimizers);
      var wanted = {};
      new URLSearchParams(location.search).forEach(function (v, k) { wanted[k] = v; });
      return api("POST", "/api/runs", {settings: wanted});
    }).then(function (created) {
      run = created.run;
      document.body.setAttribute("data-run", run);
      if (created.message) { actionMessage = "Some settings of the address were not used: " + created.message; }
      take(created.frame);
      document.body.setAttribute("data-ready", "true");
      poll();
    }, function (e) {
      actionMessage = "The playground could not start: " + e.message;
      showMessage();
    });
  }

  start();
})();
