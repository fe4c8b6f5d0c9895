/* The planning page: pick grids or draw an area, set the camera and flight, and the server-side
   planner draws route, cells and sorties and fills the summary (debounced, latest answer wins).
   A change of the picked grids brings them (and then their route) into view; a change of the
   other fields replans without moving the map, so it never fights the pilot's panning. */
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var text = JSON.parse(document.getElementById("plan-text").textContent);
  var form = document.getElementById("plan-form");
  var mapEl = document.getElementById("plan-map");
  var map = L.map(mapEl, {attributionControl: false}).setView([32.45, 119.9], 11);
  var selected = new Set();
  var gridLayers = {};
  var sequence = 0, timer = null, savedId = null, version = 0, pickingHome = false;
  var edits = 0;  // changes to the plan's settings: a save answers for the settings it was sent
  var fitRoute = false;  // the picked grids changed: show their route too once it is planned
  var colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];

  function gridStyle(code) {
    return selected.has(code) ? {color: "#d35400", weight: 3, fillOpacity: 0.15}
                              : {color: "#2a6", weight: 1.5, fillOpacity: 0.05};
  }
  var grids = L.geoJSON(null, {
    style: function (f) { return gridStyle(f.id); },
    onEachFeature: function (f, layer) {
      gridLayers[f.id] = layer;
      layer.bindTooltip(GridPatrolMap.escape(f.properties.code));
      layer.on("click", function () {
        if (tool.isDrawing() || pickingHome) { return; }
        var box = document.getElementById("grid-" + f.id);
        if (box) { box.checked = !box.checked; syncSelection(); }
      });
    }
  }).addTo(map);
  fetch(mapEl.dataset.gridsUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); })
    .then(function (fc) {
      grids.addData(fc);
      var b = grids.getBounds();
      if (b.isValid()) { map.fitBounds(b); }
    });
  var noFly = L.geoJSON(null, {style: {color: "#c0392b", weight: 2, fillOpacity: 0.25, dashArray: "3 3"}}).addTo(map);
  var result = L.featureGroup().addTo(map);
  hiddenWhileEmpty(GridPatrolImagery.layerControl(map, {}, {orthoLabel: text.ortho_prefix}));
  mapEl.dataset.zoom = map.getZoom();  // for the browser tests
  map.on("zoomend", function () { mapEl.dataset.zoom = map.getZoom(); });

  /* The layer control shows up once it has a layer (an orthomosaic), not as an empty box. */
  function hiddenWhileEmpty(control) {
    var box = control.getContainer(), addOverlay = control.addOverlay;
    box.style.display = "none";
    control.addOverlay = function () {
      box.style.display = "";
      return addOverlay.apply(control, arguments);
    };
  }

  function selectionBounds() {
    var bounds = L.latLngBounds([]);
    selected.forEach(function (code) {
      if (gridLayers[code]) { bounds.extend(gridLayers[code].getBounds()); }
    });
    return bounds;
  }

  /* Leaflet drops a view asked for during a zoom animation (the fit to all grids on load, or
     to the grid ticked just before): the latest such request waits for the animation's end. */
  var pendingFit = null;
  function fitTo(bounds) {
    if (!bounds.isValid()) { return; }
    if (map._animatingZoom) {
      if (!pendingFit) {
        map.once("zoomend", function () { var b = pendingFit; pendingFit = null; fitTo(b); });
      }
      pendingFit = bounds;
      return;
    }
    map.fitBounds(bounds, {padding: [30, 30], maxZoom: 17});
  }

  var tool = GridPatrolDraw.polygonTool(map, {onChange: function () { toggleDrawButtons(); schedule(); }});

  function toggleDrawButtons() {
    var drawing = tool.isDrawing(), has = tool.geojson() !== null;
    document.getElementById("draw-start").hidden = drawing;
    document.getElementById("draw-finish").hidden = !drawing;
    document.getElementById("draw-clear").hidden = !(drawing || has);
    document.getElementById("draw-help").hidden = !drawing;
  }
  document.getElementById("draw-start").addEventListener("click", function () { tool.start(); toggleDrawButtons(); });
  document.getElementById("draw-finish").addEventListener("click", function () { tool.finish(); toggleDrawButtons(); });
  document.getElementById("draw-clear").addEventListener("click", function () { tool.clear(); toggleDrawButtons(); schedule(); });

  /* The home point: typed as "lat, lon" or picked on the map; empty means the planner's default. */
  var homeMarker = L.circleMarker([0, 0], {radius: 8, color: "#000", fillColor: "#0af", fillOpacity: 1});
  var homeProblem = "";  // why the typed home is refused (undefined from homeValue)
  function homeValue() {
    var raw = document.getElementById("home").value.trim();
    homeProblem = "";
    if (!raw) { return null; }
    var texts = raw.split(/[\s,，]+/).filter(Boolean), parts = texts.map(Number);
    if (parts.length !== 2 || !parts.every(isFinite) || Math.abs(parts[0]) > 90 || Math.abs(parts[1]) > 180) {
      homeProblem = text.bad_home;
      if (parts.length === 2 && parts.every(isFinite) && Math.abs(parts[0]) <= 180 && Math.abs(parts[1]) <= 90) {
        /* longitude first: say which pair to give */
        homeProblem = text.swapped_home.replace("{given}", texts[0] + ", " + texts[1])
          .replace("{swapped}", texts[1] + ", " + texts[0]);
      }
      return undefined;
    }
    return [parts[1], parts[0]];
  }
  function showHome() {
    var home = homeValue();
    if (home) { homeMarker.setLatLng([home[1], home[0]]).addTo(map); } else { homeMarker.remove(); }
  }
  function pickHome(on) {
    pickingHome = on;
    map.getContainer().classList.toggle("drawing", on);
    document.getElementById("home-help").hidden = !on;
  }
  document.getElementById("home-pick").addEventListener("click", function () { pickHome(!pickingHome); });
  map.on("click", function (ev) {
    if (!pickingHome) { return; }
    pickHome(false);
    document.getElementById("home").value = ev.latlng.lat.toFixed(6) + ", " + ev.latlng.lng.toFixed(6);
    showHome(); schedule();
  });

  function syncSelection() {
    selected = new Set(Array.from(form.querySelectorAll('input[name="grids"]:checked')).map(function (b) { return b.value; }));
    Object.keys(gridLayers).forEach(function (code) { gridLayers[code].setStyle(gridStyle(code)); });
    if (selected.size) { fitTo(selectionBounds()); fitRoute = true; }
    schedule();
  }

  function num(id) {
    var v = document.getElementById(id).value;
    return v === "" ? null : Number(v);
  }

  function params() {
    var byGsd = document.getElementById("height-by").value === "gsd";
    var body = {
      grids: Array.from(selected),
      polygon: tool.geojson(),
      no_fly_layer: document.getElementById("no_fly_layer").value || null,
      camera: document.getElementById("camera").value,
      profile: document.getElementById("profile").value,
      front_overlap: num("front_overlap"),
      side_overlap: num("side_overlap"),
      speed_mps: num("speed_mps"),
      battery_minutes: num("battery_minutes"),
      lead_in_m: num("lead_in_m"),
      home: homeValue()
    };
    // only the height the plan goes by: sent empty, the server says so (not 100 m silently)
    if (byGsd) { body.gsd_cm = num("gsd_cm"); } else { body.altitude_m = num("altitude_m"); }
    return body;
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { return {ok: r.ok, status: r.status, data: data}; });
    });
  }

  function setStatus(state, message) {
    var el = document.getElementById("plan-status");
    el.dataset.state = state; el.textContent = message || "";
  }

  function showError(message) {
    var el = document.getElementById("plan-error");
    el.hidden = !message; el.textContent = message || "";
  }

  function schedule() {
    clearTimeout(timer);
    edits += 1;
    forgetSaved();
    markStale(true);
    timer = setTimeout(preview, 300);
  }

  /* The saved plan was made from other settings: it is no longer there to fly or upload. */
  function forgetSaved() {
    savedId = null;
    document.getElementById("saved").hidden = true;
  }

  /* The route and summary shown belong to earlier settings until the new plan arrives. */
  function markStale(on) {
    var box = document.getElementById("summary");
    box.classList.toggle("stale", on);
    if (on) { box.dataset.stale = "1"; } else { delete box.dataset.stale; }
    mapEl.classList.toggle("stale-plan", on);
  }

  function preview() {
    var p = params();
    if (!p.grids.length && !p.polygon) {
      clearPlan(); setStatus("idle", ""); showError(""); return;
    }
    var mine = ++sequence;
    if (p.home === undefined) { failed(homeProblem); return; }
    setStatus("planning", text.planning);
    post("/api/v1/plans/preview", p).then(function (res) {
      if (mine !== sequence) { return; }  // a newer request is on its way
      if (!res.ok) { failed(res.data.error); return; }
      showError("");
      markStale(false);
      draw(res.data.layers);
      summarise(res.data.summary);
      warnPlan(res.data.warnings || []);
      if (fitRoute) {  // home may lie outside the grids: bring the whole route into view
        fitRoute = false;
        var bounds = selectionBounds().extend(result.getBounds());
        if (bounds.isValid() && !map.getBounds().contains(bounds)) { fitTo(bounds); }
      }
      version += 1;
      setStatus("planned", text.planned);
      document.getElementById("summary").dataset.version = version;
    }).catch(function (err) { if (mine === sequence) { failed(String(err)); } });
  }

  /* No route, summary or warnings on show, and nothing saved to fly. */
  function clearPlan() {
    result.clearLayers();
    fitRoute = false;
    markStale(false);
    document.getElementById("summary").hidden = true;
    document.getElementById("nofly-warning").hidden = true;
    forgetSaved();
  }

  /* No plan for these settings: the route and summary of earlier settings must not stay shown. */
  function failed(message) {
    clearPlan();
    setStatus("error", text.failed); showError(message);
  }

  function draw(fc) {
    result.clearLayers();
    L.geoJSON(fc, {
      filter: function (f) { return f.properties.kind === "cell"; },
      style: {color: "#8e44ad", weight: 1, fillOpacity: 0.06, dashArray: "2 4"}
    }).addTo(result);
    L.geoJSON(fc, {
      filter: function (f) { return f.properties.kind === "route"; },
      style: function (f) { return {color: colours[(f.properties.sortie - 1) % colours.length], weight: 1.5, dashArray: "6 4", className: "route-line"}; },
      onEachFeature: function (f, layer) { layer.bindTooltip("s" + f.properties.sortie); }
    }).addTo(result);
    L.geoJSON(fc, {
      filter: function (f) { return f.properties.kind === "strip"; },
      style: {color: "#1f4e79", weight: 3, className: "strip-line"}
    }).addTo(result);
    L.geoJSON(fc, {
      filter: function (f) { return f.properties.kind === "home"; },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 7, color: "#000", fillColor: "#ff0", fillOpacity: 1}); }
    }).addTo(result);
  }

  function minutes(s) {
    var total = Math.round(s), m = Math.floor(total / 60), r = total % 60;
    return text.duration.replace("{m}", m).replace("{s}", (r < 10 ? "0" : "") + r);
  }

  function squareMetres(v) { return Math.round(v).toLocaleString("en-US") + " m²"; }

  /* A share in percent to one decimal; a sliver reads "<0.1", not a misleading "0.0". */
  function share(pct) { return pct > 0 && pct < 0.05 ? "<0.1" : pct.toFixed(1); }

  /* A grid as the page names it: its code, or the drawn area's translated name. */
  function gridName(id) { return id === "drawn" ? text.drawn_area : id; }

  /* Grids that no-fly zones (and their margin) cut: how much of each is left out of the route. */
  function warnNoFly(s) {
    var box = document.getElementById("nofly-warning");
    box.innerHTML = "";
    s.grids.forEach(function (g) {
      if (!(g.no_fly_excluded_m2 >= 1)) { return; }
      var p = document.createElement("p");
      p.dataset.grid = g.grid_id;
      p.textContent = text.nofly_warning.replace("{grid}", gridName(g.grid_id))
        .replace("{area}", Math.round(g.no_fly_excluded_m2).toLocaleString("en-US"))
        .replace("{pct}", share(g.no_fly_excluded_pct))
        .replace("{margin}", s.settings.nofly_margin_m);
      box.appendChild(p);
    });
    box.hidden = !box.childElementCount;
  }

  /* The server's warnings (altitude above the legal limit, low coverage), below the no-fly ones. */
  function warnPlan(warnings) {
    var box = document.getElementById("nofly-warning");
    warnings.forEach(function (w) {
      var p = document.createElement("p");
      p.className = "plan-warning";
      p.textContent = w;
      box.appendChild(p);
    });
    box.hidden = !box.childElementCount;
  }

  function summarise(s) {
    var t = s.totals, area = 0, covered = 0, outside = 0;
    s.grids.forEach(function (g) { area += g.area_m2; covered += g.area_m2 * g.coverage_once_pct; outside += g.outside_m; });
    var box = document.getElementById("summary");
    box.hidden = false;
    box.dataset.photos = t.photos; box.dataset.time = t.flight_time_s; box.dataset.sorties = t.sorties;
    box.dataset.excludedPct = t.no_fly_excluded_pct;
    document.getElementById("sum-time").textContent = minutes(t.flight_time_s);
    document.getElementById("sum-photos").textContent = t.photos;
    document.getElementById("sum-sorties").textContent = t.sorties;
    document.getElementById("sum-length").textContent = (t.route_length_m / 1000).toFixed(2) + " km";
    // a drawn area is no grid: the summary says "area" when the plan has one
    var drawn = s.grids.some(function (g) { return g.grid_id === "drawn"; });
    document.getElementById("sum-grid-area-label").textContent = drawn ? text.area_size : text.grid_area;
    document.getElementById("sum-grid-area").textContent = squareMetres(t.grid_area_m2);
    document.getElementById("sum-excluded").textContent = squareMetres(t.no_fly_excluded_m2) +
      " (" + share(t.no_fly_excluded_pct) + " %)";
    document.getElementById("sum-area").textContent = squareMetres(t.area_m2);
    document.getElementById("sum-coverage").textContent = area ? (covered / area).toFixed(1) + " %" : "–";
    warnNoFly(s);
    document.getElementById("sum-outside").textContent = outside.toFixed(0) + " m";
    var st = s.settings;
    document.getElementById("sum-camera").textContent = st.gsd_cm + " cm/px · " + st.line_spacing_m + " m · " +
      st.trigger_distance_m + " m (" + st.altitude_m + " m)";
    var tbody = document.querySelector("#sortie-table tbody");
    tbody.innerHTML = "";
    s.sorties.forEach(function (o) {
      var tr = document.createElement("tr");
      [o.sortie, o.grid_ids.map(gridName).join(", "), minutes(o.flight_time_s), o.photos, o.waypoints].forEach(function (v) {
        var td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      });
      tbody.appendChild(tr);
    });
  }

  form.addEventListener("input", function (ev) {
    if (ev.target.name === "grids") { syncSelection(); return; }
    // naming, downloading and uploading a saved plan do not change it
    if (ev.target.id === "plan-name" || ev.target.closest("#saved")) { return; }
    if (ev.target.id === "home") { showHome(); }
    schedule();
  });
  form.addEventListener("change", function (ev) {
    if (ev.target.id === "height-by") {
      var gsd = ev.target.value === "gsd";
      document.getElementById("altitude-field").hidden = gsd;
      document.getElementById("gsd-field").hidden = !gsd;
      schedule();
    }
    if (ev.target.id === "no_fly_layer") { loadNoFly(); }
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); });

  function loadNoFly() {
    noFly.clearLayers();
    var id = document.getElementById("no_fly_layer").value;
    if (!id) { return; }
    fetch("/api/v1/no-fly/" + id + ".geojson", {credentials: "same-origin"})
      .then(function (r) { return r.json(); }).then(function (fc) { noFly.addData(fc); });
  }

  var saveButton = document.getElementById("save-plan");
  saveButton.addEventListener("click", function () {
    var p = params();
    if (p.home === undefined) { failed(homeProblem); return; }
    p.name = document.getElementById("plan-name").value;
    setStatus("saving", "…");
    saveButton.disabled = true;  // one click, one plan
    var asked = edits;
    post("/api/v1/plans", p).then(function (res) {
      saveButton.disabled = false;
      if (asked !== edits) {  // the settings changed meanwhile: this plan is not theirs
        if (res.ok) { refreshSavedPlans(); }  // it is listed with the other saved plans
        return;
      }
      if (!res.ok) { failed(res.data.error); return; }
      showError("");
      savedId = res.data.id;
      setStatus("saved", text.saved);
      document.getElementById("saved").hidden = false;
      document.getElementById("saved-id").textContent = "#" + savedId;
      document.getElementById("fly-link").href = "/flights?plan=" + savedId;
      var sel = document.getElementById("download-sortie");
      sel.innerHTML = "";
      for (var k = 1; k <= res.data.sorties; k++) {
        var o = document.createElement("option"); o.value = k; o.textContent = "s" + k; sel.appendChild(o);
      }
      updateDownloads();
      refreshSavedPlans();
    }).catch(function (err) {
      saveButton.disabled = false;
      if (asked === edits) { failed(String(err)); }
    });
  });

  /* The saved plans list as the server renders it (downloads for every sortie and format). */
  function refreshSavedPlans() {
    return fetch(window.location.pathname, {credentials: "same-origin"})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("saved-plans");
        var shown = document.getElementById("saved-plans");
        if (fresh && shown) { shown.replaceWith(document.adoptNode(fresh)); }
      })
      .catch(function () { /* the list refreshes on the next visit */ });
  }

  function updateDownloads() {
    var k = document.getElementById("download-sortie").value || 1;
    Array.from(document.querySelectorAll("a.download")).forEach(function (a) {
      a.href = "/api/v1/plans/" + savedId + "/download/" + a.dataset.format + "?sortie=" + k;
    });
  }
  document.getElementById("download-sortie").addEventListener("change", updateDownloads);

  var uploadButton = document.getElementById("upload-plan");
  if (uploadButton) {
    uploadButton.addEventListener("click", function () {
      var out = document.getElementById("upload-result"), started = Date.now();
      /* one upload at a time; the seconds show it is still trying (a dead link takes a while) */
      uploadButton.disabled = true;
      out.dataset.state = "uploading"; out.textContent = text.uploading;
      var ticker = setInterval(function () {
        out.textContent = text.uploading_for.replace("{seconds}", Math.round((Date.now() - started) / 1000));
      }, 1000);
      function done(state, message) {
        clearInterval(ticker);
        uploadButton.disabled = false;
        out.dataset.state = state; out.textContent = message;
      }
      post("/api/v1/plans/" + savedId + "/upload", {
        connection: document.getElementById("upload-connection").value,
        sortie: Number(document.getElementById("download-sortie").value || 1)
      }).then(function (res) {
        if (!res.ok) { done("error", res.data.error); return; }
        var v = res.data.verified;
        done("verified", text.verified.replace("{mission}", v.mission).replace("{fence}", v.fence)
          .replace("{rally}", v.rally));
      }).catch(function (err) { done("error", String(err)); });
    });
  }

  var noflyForm = document.getElementById("nofly-form");
  if (noflyForm) {
    noflyForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var out = document.getElementById("nofly-result");
      fetch("/api/v1/no-fly", {method: "POST", credentials: "same-origin", headers: {"X-CSRFToken": csrf},
                               body: new FormData(noflyForm)})
        .then(function (r) { return r.json().then(function (d) { return {ok: r.ok, data: d}; }); })
        .then(function (res) {
          if (!res.ok) { out.textContent = res.data.error; return; }
          var imported = res.data.zones === 1 ? text.nofly_imported_one : text.nofly_imported_other;
          out.textContent = imported.replace("{name}", res.data.name).replace("{n}", res.data.zones);
          var sel = document.getElementById("no_fly_layer"), o = document.createElement("option");
          o.value = res.data.id; o.textContent = res.data.name; sel.appendChild(o);
          sel.value = res.data.id; loadNoFly(); schedule();
        });
    });
  }
})();
