/* The review queue: list, photo with box, map, keyboard shortcuts and bulk actions. */
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var names = JSON.parse(document.getElementById("label-names").textContent);
  var text = JSON.parse(document.getElementById("ui-text").textContent);
  var tbody = document.querySelector("#queue tbody");
  var items = [], current = -1, selected = new Set();
  var map = GridPatrolMap.gridsMap("map");
  var markers = L.layerGroup().addTo(map);
  var layers = {};
  layers[text.findings_layer] = markers;
  var control = GridPatrolImagery.layerControl(map, layers, {orthoLabel: text.ortho_prefix});
  var photoOverlay = GridPatrolImagery.findingPhoto(map, control, text.photo_layer);
  var keys = {"1": "illegal_construction", "2": "straw_burning", "3": "illegal_fishing",
              "0": "background"};

  function query() {
    var params = new URLSearchParams(new FormData(document.getElementById("filters")));
    Array.from(params.keys()).forEach(function (k) { if (!params.get(k)) { params.delete(k); } });
    return params.toString();
  }

  function load() {
    fetch("/api/v1/findings?page_size=200&" + query(), {credentials: "same-origin"})
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) { throw new Error(data.error || r.statusText); }
          return data;
        });
      })
      .then(function (data) {
        items = data.items || []; selected.clear(); render(); select(items.length ? 0 : -1);
        show("", false);
      })
      .catch(function (e) { show(text.error + ": " + e.message, true); });
  }

  function esc(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function statusText(f) {
    if (f.ticket_id) {
      return '<a class="ticket-link" id="ticket-link-' + f.id + '" href="/tickets/' + f.ticket_id +
        '">' + text.ticket + " #" + f.ticket_id + "</a>";
    }
    return esc(text[f.review_status] || f.review_status);
  }

  function render() {
    tbody.innerHTML = "";
    markers.clearLayers();
    document.getElementById("queue-empty").hidden = items.length > 0;
    items.forEach(function (f, i) {
      var tr = document.createElement("tr");
      tr.id = "finding-" + f.id;
      tr.dataset.index = i;
      tr.innerHTML = '<td><input type="checkbox" class="pick"' + (selected.has(f.id) ? " checked" : "") +
        '></td><td>' + (f.crop_url ? '<img class="thumb" src="' + esc(f.crop_url) + '" alt="">' : "") +
        '</td><td class="label">' + esc(names[f.reviewed_label || f.label] || f.label) +
        (f.sightings ? ' <span class="sightings" title="' + esc(text.more_photos.replace("{n}", f.sightings)) +
          '">+' + f.sightings + "</span>" : "") +
        '</td><td>' + f.score.toFixed(2) + "</td><td>" + esc(f.grid || "") +
        '</td><td class="status">' + statusText(f) + "</td>";
      tr.addEventListener("click", function (ev) {
        if (ev.target.classList.contains("pick")) { toggle(f.id); } else { select(i); }
      });
      tbody.appendChild(tr);
      if (f.lat !== null && f.lon !== null) {
        L.circleMarker([f.lat, f.lon], {radius: 6, color: "#c30"}).addTo(markers)
          .on("click", function () { select(i); });
      }
    });
  }

  function select(i) {
    current = i;
    Array.from(tbody.children).forEach(function (tr, j) { tr.classList.toggle("current", j === i); });
    var box = document.getElementById("box"), photo = document.getElementById("photo");
    if (i < 0) { photo.removeAttribute("src"); box.hidden = true; photoOverlay.show(null); return; }
    var f = items[i];
    photoOverlay.show(f.lat !== null && f.lon !== null ? f.id : null);
    tbody.children[i].scrollIntoView({block: "nearest"});
    photo.onload = function () {
      var s = photo.clientWidth / photo.naturalWidth, b = f.box_px;
      box.style.left = b[0] * s + "px"; box.style.top = b[1] * s + "px";
      box.style.width = (b[2] - b[0]) * s + "px"; box.style.height = (b[3] - b[1]) * s + "px";
      box.hidden = false;
    };
    photo.src = f.photo_url;
    if (f.lat !== null && f.lon !== null) { map.setView([f.lat, f.lon], Math.max(map.getZoom(), 15)); }
  }

  function toggle(id) {
    if (selected.has(id)) { selected.delete(id); } else { selected.add(id); }
    render(); select(current);
  }

  function post(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
                       headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
                       body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) { throw new Error(data.error || r.statusText); }
          return data;
        });
      });
  }

  function show(message, isError) {
    var line = document.getElementById("status-line");
    line.textContent = message;
    line.className = !message ? "" : (isError ? "flash error" : "flash info");
  }

  function applied(results) {
    results.forEach(function (r) {
      var i = items.findIndex(function (f) { return f.id === r.id; });
      if (i >= 0) { items[i] = r; }
    });
    var keep = current;
    render();
    select(Math.min(keep + (results.length === 1 ? 1 : 0), items.length - 1));
  }

  function review(decision, label) {
    if (current < 0) { return; }
    var f = items[current];
    if (f.review_status !== "pending") { current = Math.min(current + 1, items.length - 1); select(current); return; }
    post("/api/v1/findings/" + f.id + "/review", {decision: decision, label: label})
      .then(function (r) { applied([r]); show("#" + f.id + ": " + (text[r.review_status] || r.review_status)); })
      .catch(function (e) { show(e.message, true); });
  }

  function bulk(decision) {
    if (!selected.size) { return; }
    post("/api/v1/findings/review", {ids: Array.from(selected), decision: decision})
      .then(function (r) {
        selected.clear(); applied(r.items); show(text.reviewed.replace("{n}", r.items.length));
      })
      .catch(function (e) { show(e.message, true); });
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
  document.getElementById("filters").addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  load();
})();
