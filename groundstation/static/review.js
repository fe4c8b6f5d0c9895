/* The review queue: list, photo with box, map, keyboard shortcuts and bulk actions. */
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var names = JSON.parse(document.getElementById("label-names").textContent);
  var text = JSON.parse(document.getElementById("ui-text").textContent);
  var form = document.getElementById("filters");
  var table = document.getElementById("queue"), tbody = table.querySelector("tbody");
  var items = [], current = -1, selected = new Set();
  var inFlight = new Set();  // ids of findings with a review request under way
  var loads = 0;  // the latest load(); an older one's answer is dropped
  var applied = null;  // the filters of the list shown (URLSearchParams)
  var wanted = table.dataset.finding ? Number(table.dataset.finding) : null;  // ?finding=
  var defaults = {status: "pending", primary: "1"};  // filters the URL leaves out
  var emptyNote = document.getElementById("queue-empty"), nothing = emptyNote.textContent;
  var map = GridPatrolMap.gridsMap("map");
  var markers = L.layerGroup().addTo(map);
  var layers = {};
  layers[text.findings_layer] = markers;
  var control = GridPatrolImagery.layerControl(map, layers, {orthoLabel: text.ortho_prefix});
  var photoOverlay = GridPatrolImagery.findingPhoto(map, control, text.photo_layer);
  var keys = {"1": "illegal_construction", "2": "straw_burning", "3": "illegal_fishing",
              "0": "background"};

  /* The form's filters: every non-empty field. */
  function filters() {
    var params = new URLSearchParams(new FormData(form));
    Array.from(params.keys()).forEach(function (k) { if (!params.get(k)) { params.delete(k); } });
    return params;
  }

  /* Keep the address bar on what the page shows (the applied filters but the defaults, and the
     selected finding), so a reload, the back button or a shared link opens the same queue. */
  function syncUrl() {
    if (!applied) { return; }
    var params = new URLSearchParams(applied);
    Object.keys(defaults).forEach(function (k) { if (params.get(k) === defaults[k]) { params.delete(k); } });
    if (current >= 0) { params.set("finding", items[current].id); }
    var url = location.pathname + (params.toString() ? "?" + params : "");
    if (url === location.pathname + location.search) { return; }
    history.replaceState(history.state, "", url);
    document.querySelectorAll("#lang-zh, #lang-en").forEach(function (a) {
      var link = new URL(a.href);
      link.searchParams.set("next", url);
      a.href = link.pathname + link.search;
    });
  }

  /* A score range no finding can be in (≥ 0.9 and ≤ 0.1), or null. */
  function emptyRange(params) {
    var lo = parseFloat(params.get("min_score")), hi = parseFloat(params.get("max_score"));
    return lo > hi ? text.empty_range.replace("{min}", lo).replace("{max}", hi) : null;
  }

  function load() {
    var mine = ++loads, params = filters();
    applied = params;
    var empty = emptyRange(params);
    if (empty) {  // say so where the list would be, rather than "nothing to review"
      items = []; selected.clear(); render(); select(-1); show("", false);
      emptyNote.textContent = empty; emptyNote.className = "flash error";
      return;
    }
    getJSON("/api/v1/findings?page_size=200&" + params)
      .then(function (data) {
        if (mine !== loads) { return; }
        items = data.items || []; selected.clear(); render();
        var at = wanted === null ? -1 : items.findIndex(function (f) { return f.id === wanted; });
        select(at >= 0 ? at : (items.length ? 0 : -1));
        if (wanted !== null && at < 0) { notListed(wanted); } else { show("", false); }
        wanted = null;
      })
      .catch(function (e) { if (mine === loads) { fail(e, text.error + ": "); } });
  }

  /* Say that the finding a link asked for is not in the list, with a link to its flight's. */
  function notListed(id) {
    var url = table.dataset.findingUrl;
    var same = url && new URL(url, location.href).search === location.search;
    show(text.not_listed.replace("{id}", id), false,
         url && !same ? {id: "finding-elsewhere", href: url, text: text.show_flight} : null);
  }

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  /* The review status, and the case filed from the finding (if any). */
  function statusText(f) {
    var status = '<span class="review-status">' + esc(text[f.review_status] || f.review_status) + "</span>";
    if (!f.ticket_id) { return status; }
    return status + ' · <a class="ticket-link" id="ticket-link-' + f.id + '" href="/tickets/' +
      f.ticket_id + '">' + esc(text.ticket) + " #" + f.ticket_id + "</a>";
  }

  function render() {
    tbody.innerHTML = "";
    markers.clearLayers();
    emptyNote.hidden = items.length > 0;
    emptyNote.textContent = nothing; emptyNote.className = "";
    items.forEach(function (f, i) {
      var tr = document.createElement("tr");
      tr.id = "finding-" + f.id;
      tr.dataset.index = i;
      tr.innerHTML = '<td><input type="checkbox" class="pick"' + (selected.has(f.id) ? " checked" : "") +
        '></td><td>' + (f.crop_url ? '<img class="thumb" src="' + esc(f.crop_url) + '" alt="">' : "") +
        '</td><td class="label">' + esc(names[f.reviewed_label || f.label] || f.label) +
        (f.sightings ? ' <span class="sightings" title="' + esc(text.more_photos.replace("{n}", f.sightings)) +
          '">+' + f.sightings + "</span>" : "") +
        '</td><td>' + f.score.toFixed(2) + '</td><td class="grid">' + esc(f.grid || "") +
        '</td><td class="status">' + statusText(f) + "</td>";
      tr.addEventListener("click", function (ev) {
        if (ev.target.classList.contains("pick")) { toggle(f.id); } else { select(i); }
      });
      tbody.appendChild(tr);
      if (f.lat !== null && f.lon !== null) {
        L.circleMarker([f.lat, f.lon], {radius: 6, color: "#c30", className: "finding-marker marker-" + f.id})
          .addTo(markers)
          .on("click", function () { select(i); });
      }
    });
  }

  function select(i) {
    current = i;
    Array.from(tbody.children).forEach(function (tr, j) { tr.classList.toggle("current", j === i); });
    var box = document.getElementById("box"), photo = document.getElementById("photo");
    var nameLine = document.getElementById("photo-name-line"), name = document.getElementById("photo-name");
    nameLine.hidden = i < 0;
    if (i < 0) { photo.removeAttribute("src"); box.hidden = true; photoOverlay.show(null); syncUrl(); return; }
    var f = items[i];
    name.textContent = f.photo_name || "";  // the name it was sent under (航拍_001.jpg)
    name.href = f.photo_url;
    photoOverlay.show(f.lat !== null && f.lon !== null ? f.id : null);
    tbody.children[i].scrollIntoView({block: "nearest"});
    photo.onload = function () {
      var s = photo.clientWidth / photo.naturalWidth, b = f.box_px;
      box.style.left = b[0] * s + "px"; box.style.top = b[1] * s + "px";
      box.style.width = (b[2] - b[0]) * s + "px"; box.style.height = (b[3] - b[1]) * s + "px";
      box.hidden = false;
    };
    photo.src = f.photo_url;
    focus(f);
    syncUrl();
  }

  /* Fit the map to the finding's ground box (or 30 m around its point) in the middle half of the
     map, at most at zoom 19: a 10 m shed shows with its surroundings. */
  function focus(f) {
    if (f.lat === null || f.lon === null) { return; }
    var bounds = f.polygon ? L.geoJSON(f.polygon).getBounds() : null;
    if (!bounds || !bounds.isValid()) { bounds = L.latLng(f.lat, f.lon).toBounds(30); }
    var size = map.getSize();
    map.fitBounds(bounds, {padding: [size.x / 4, size.y / 4], maxZoom: 19, animate: false});
  }

  /* gridsMap fits the map to the grids when they arrive, which may be after the first finding was
     selected: focus that finding again once the grids' fit has ended. */
  map.eachLayer(function (layer) {
    if (!(layer instanceof L.GeoJSON)) { return; }
    layer.once("layeradd", function () {
      map.once("moveend", function () {
        setTimeout(function () { if (current >= 0) { focus(items[current]); } }, 0);
      });
    });
  });

  function toggle(id) {
    if (selected.has(id)) { selected.delete(id); } else { selected.add(id); }
    render(); select(current);
  }

  /* The JSON answer of `fetch(url, options)`; an error answer throws an Error with its message
     and HTTP status. */
  function getJSON(url, options) {
    return fetch(url, Object.assign({credentials: "same-origin"}, options)).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var e = new Error(data.error || r.statusText);
          e.status = r.status;
          throw e;
        }
        return data;
      });
    });
  }

  function post(url, body) {
    return getJSON(url, {method: "POST",
                         headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
                         body: JSON.stringify(body)});
  }

  /* `message` in the status line (an error in red), then `link` ({id, href, text}) if given. */
  function show(message, isError, link) {
    var line = document.getElementById("status-line");
    line.textContent = message;
    if (message && link) {
      var a = document.createElement("a");
      a.id = link.id; a.href = link.href; a.textContent = link.text;
      line.append(" ", a);
    }
    line.className = !message ? "" : (isError ? "flash error" : "flash info");
  }

  /* A failed request: signed out (in another tab, or the session expired) offers to sign in and
     come back to this very queue; anything else shows the server's message. */
  function fail(e, prefix) {
    if (e.status === 401) {
      var login = document.getElementById("status-line").dataset.loginUrl;
      show(text.sign_in_first, true, {id: "sign-in-link", text: text.sign_in,
                                      href: login + "?next=" + encodeURIComponent(location.pathname + location.search)});
    } else {
      show((prefix || "") + e.message, true);
    }
  }

  /* A review refused with 409 changed nothing: another reviewer decided first (or the case has
     moved on). Show the findings' current state in the list, selection kept, and say so. */
  function conflict(ids, e) {
    return Promise.all(ids.map(function (id) { return getJSON("/api/v1/findings/" + id); }))
      .then(function (fresh) {
        fresh.forEach(function (f) {
          var i = items.findIndex(function (g) { return g.id === f.id; });
          if (i >= 0) { items[i] = f; }
          if (f.review_status !== "pending") { selected.delete(f.id); }
        });
        var keep = current;
        render(); select(keep);
        var decided = fresh.filter(function (f) { return f.review_status !== "pending"; });
        if (ids.length === 1 && decided.length === 1) {
          var f = decided[0];
          show(text.conflict_one.replace("{id}", f.id).replace("{who}", f.reviewed_by || "?")
               .replace("{status}", text[f.review_status] || f.review_status), true);
        } else if (decided.length) {
          show(text.conflict_many.replace("{ids}", decided.map(function (f) { return "#" + f.id; }).join(", ")), true);
        } else {
          show(e.message + " " + text.refreshed, true);
        }
      })
      .catch(function () { fail(e); });
  }

  function reviewed(results) {
    results.forEach(function (r) {
      var i = items.findIndex(function (f) { return f.id === r.id; });
      if (i >= 0) { items[i] = r; }
    });
    var keep = current;
    render();
    select(Math.min(keep + (results.length === 1 ? 1 : 0), items.length - 1));
  }

  /* Review the current finding; a second key press while its request is under way is ignored
     (it would only be told the finding was already reviewed). */
  function review(decision, label) {
    if (current < 0) { return; }
    var f = items[current];
    if (inFlight.has(f.id)) { return; }
    if (f.review_status !== "pending") { current = Math.min(current + 1, items.length - 1); select(current); return; }
    inFlight.add(f.id);
    post("/api/v1/findings/" + f.id + "/review", {decision: decision, label: label})
      .then(function (r) { reviewed([r]); show("#" + f.id + ": " + (text[r.review_status] || r.review_status)); })
      .catch(function (e) { return e.status === 409 ? conflict([f.id], e) : fail(e); })
      .finally(function () { inFlight.delete(f.id); });
  }

  function bulk(decision) {
    var ids = Array.from(selected).filter(function (id) { return !inFlight.has(id); });
    if (!ids.length) { return; }
    ids.forEach(function (id) { inFlight.add(id); });
    post("/api/v1/findings/review", {ids: ids, decision: decision})
      .then(function (r) {
        ids.forEach(function (id) { selected.delete(id); });
        reviewed(r.items); show(text.reviewed.replace("{n}", r.items.length));
      })
      .catch(function (e) { return e.status === 409 ? conflict(ids, e) : fail(e); })
      .finally(function () { ids.forEach(function (id) { inFlight.delete(id); }); });
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.target.closest("input, select, textarea") || ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var k = ev.key;
    if (k === "j" || k === "ArrowDown") { select(Math.min(current + 1, items.length - 1)); }
    else if (k === "k" || k === "ArrowUp") { select(Math.max(current - 1, 0)); }
    else if (k === "c") { review("confirm"); }
    else if (k === "r") { review("reject"); }
    else if (k === "C") { bulk("confirm"); }
    else if (k === "R") { bulk("reject"); }
    else if (k === "x" && current >= 0) { toggle(items[current].id); }
    else if (k === "a") { items.forEach(function (f) { if (f.review_status === "pending") { selected.add(f.id); } }); render(); select(current); }
    else if (keys[k]) { review("reclassify", keys[k]); }
    else { return; }
    ev.preventDefault();
  });
  function click(id, action) {
    document.getElementById(id).addEventListener("click", function (ev) { ev.target.blur(); action(); });
  }
  click("btn-confirm", function () { review("confirm"); });
  click("btn-reject", function () { review("reject"); });
  click("btn-bulk-confirm", function () { bulk("confirm"); });
  click("btn-bulk-reject", function () { bulk("reject"); });
  document.getElementById("reclassify").addEventListener("change", function (ev) {
    var label = ev.target.value;
    ev.target.value = ""; ev.target.blur();
    if (label) { review("reclassify", label); }
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  load();
})();
