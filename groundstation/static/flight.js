/* A live flight: one Server-Sent Events stream per page (the browser resumes it with
   Last-Event-ID), the trail and vehicle on the map, gauges, checks, progress and commands.
   The stream starts from the session's first event, so a reloaded page (or one of a finished
   session the server still holds) rebuilds its messages and trail from the history. */
"use strict";
(function () {
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var info = JSON.parse(document.getElementById("flight-data").textContent);
  var map = L.map("flight-map", {attributionControl: false}).setView([32.45, 119.9], 14);
  var fitted = false;
  if (info.layers) {
    var plan = L.geoJSON(info.layers, {
      style: function (f) {
        var k = f.properties.kind;
        if (k === "strip") { return {color: "#1f4e79", weight: 2, opacity: 0.6}; }
        if (k === "route") { return {color: "#888", weight: 1, dashArray: "4 4"}; }
        if (k === "no_fly") { return {color: "#c0392b", weight: 2, fillOpacity: 0.2}; }
        return {color: "#8e44ad", weight: 1, fillOpacity: 0.04};
      },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, {radius: 5, color: "#000"}); }
    }).addTo(map);
    if (plan.getBounds().isValid()) { map.fitBounds(plan.getBounds()); fitted = true; }
  }
  var trail = L.polyline([], {color: "#e74c3c", weight: 3, className: "trail"}).addTo(map);
  var photos = L.layerGroup().addTo(map);
  var arrow = L.divIcon({className: "", iconSize: [22, 22], iconAnchor: [11, 11],
    html: '<svg class="heading-arrow" viewBox="0 0 22 22"><polygon points="11,1 19,20 11,15 3,20" fill="#e74c3c" stroke="#000"/></svg>'});
  var vehicle = null;
  var FINAL = ["landed", "done", "failed", "cancelled"];
  var FLYING = ["airborne", "mission", "paused", "returning", "landing"];
  var ended = !info.live;
  /* What the page knows of the vehicle (the session's state events and the telemetry it
     follows): each command's button is enabled only while that command can work; the server
     checks every command again. */
  var known = {state: document.getElementById("flight-state").dataset.state, armed: false,
    onGround: true, linkLost: false, missionStarted: false};
  var sending = {};  // commands sent and not answered yet
  function armed() { return FLYING.indexOf(known.state) >= 0 || known.armed; }
  var AVAILABLE = {
    arm: function () { return known.state === "ready" && !armed() && !known.linkLost; },
    start: function () { return armed() && known.state !== "mission" && !known.linkLost; },
    pause: function () { return armed() && known.state !== "paused" && !known.onGround; },
    resume: function () {
      return known.state === "paused" && known.missionStarted && !known.linkLost;
    },
    rtl: function () { return armed() && known.state !== "returning"; },
    land: function () { return armed() && known.state !== "landing"; },
    cancel: function () { return !armed(); }  // an armed vehicle is landed or returned instead
  };
  function syncCommands() {
    Array.from(document.querySelectorAll("#commands button")).forEach(function (b) {
      var verb = b.dataset.command;
      b.disabled = ended || !!sending[verb] || !(AVAILABLE[verb] && AVAILABLE[verb]());
    });
  }

  function set(id, value) { document.getElementById(id).textContent = value === null || value === undefined ? "–" : value; }

  function stale(on, age) {
    document.getElementById("gauges").classList.toggle("stale", !!on);
    var banner = document.getElementById("link-status");
    banner.hidden = !on || ended;
    banner.dataset.status = on ? "lost" : "ok";
    document.getElementById("link-age").textContent =
      on && age !== null && age !== undefined ? "(" + Math.round(age) + " s)" : "";
    known.linkLost = !!on && !ended;
    syncCommands();
  }

  function telemetry(t) {
    // marked as the vehicle's and, when known, translated (texts: as the vehicle sent them)
    (t.vehicle_texts || t.texts || []).forEach(function (text) { message(text, "vehicle", t.at); });
    known.armed = !!t.armed;
    known.onGround = t.on_ground !== false;  // not known: as on the ground
    stale(t.stale, t.link_age_s);
    set("t-mode", t.mode); set("t-armed", t.armed ? "✔" : "✘"); set("t-alt", t.alt_m);
    set("t-speed", t.speed_mps); set("t-heading", t.heading_deg); set("t-battery", t.battery_pct);
    set("t-gps", t.gps_fix === null ? null : t.gps_fix + "D / " + t.satellites);
    // taken, by the vehicle's image numbers: also those it took while the link was down
    set("t-photos", t.photos_taken === undefined ? t.photos : t.photos_taken);
    set("t-seq", t.current_seq);
    set("t-photos-unreported", t.photos_unreported || 0);
    document.getElementById("g-photos-unreported").hidden = !t.photos_unreported;
    var progress = document.getElementById("progress");
    progress.value = t.progress;
    var pt = document.getElementById("progress-text");
    pt.textContent = t.reached + " / " + t.waypoints;
    pt.dataset.reached = t.reached; pt.dataset.waypoints = t.waypoints;
    if (t.lat === null) { return; }
    var pos = document.getElementById("t-position");
    pos.textContent = t.lat.toFixed(6) + ", " + t.lon.toFixed(6);
    pos.dataset.lat = t.lat; pos.dataset.lon = t.lon;
    var ll = [t.lat, t.lon];
    var last = trail.getLatLngs();
    if (!last.length || last[last.length - 1].distanceTo(ll) > 0.5) { trail.addLatLng(ll); }
    document.getElementById("flight-map").dataset.trail = trail.getLatLngs().length;
    if (!vehicle) {
      vehicle = L.marker(ll, {icon: arrow, interactive: false}).addTo(map);
      if (!fitted) { map.setView(ll, 16); fitted = true; }
    } else { vehicle.setLatLng(ll); }
    var svg = vehicle.getElement() && vehicle.getElement().querySelector("svg");
    if (svg) { svg.style.transform = "rotate(" + (t.heading_deg || 0) + "deg)"; }
  }

  function summary(r) {  // a finished flight: what it did
    set("s-waypoints", r.reached + " / " + r.waypoints);
    set("s-photos-taken", r.photos_taken === undefined ? r.photos : r.photos_taken);
    set("s-photos-unreported", r.photos_unreported || 0);
    document.getElementById("flight-summary").hidden = false;
  }

  function checks(list) {
    var ul = document.getElementById("checks");
    ul.innerHTML = "";
    list.forEach(function (c) {
      var li = document.createElement("li");
      li.className = c.ok ? "ok" : "bad"; li.dataset.name = c.name;
      li.textContent = (c.label || c.name) + ": " + c.detail; ul.appendChild(li);
    });
  }

  function message(text, level, at) {
    var li = document.createElement("li");
    var when = at ? new Date(at * 1000) : new Date();
    // in the office's time zone, as every table of the station shows times
    li.textContent = when.toLocaleTimeString(document.documentElement.lang || undefined,
      {timeZone: info.timezone, hour12: false}) + " " + text;
    if (level) { li.className = level; }
    var ul = document.getElementById("messages");
    ul.insertBefore(li, ul.firstChild);
  }

  function state(s) {
    var el = document.getElementById("flight-state");
    el.textContent = s.label || info.states[s.state] || s.state; el.dataset.state = s.state;
    if (s.outcome) { el.dataset.outcome = s.outcome; } else { delete el.dataset.outcome; }
    if (s.connection) { document.getElementById("connection").textContent = s.connection; }
    if (s.error) { message(s.error, "error", s.at); }
    if (s.summary) { summary(s.summary); }
    [["flight_time", "s-flight-time"], ["mission_time", "s-mission-time"],
      ["before_mission_time", "s-before-mission"]].forEach(function (f) {
      if (!s[f[0]]) { return; }  // flown vs planned, in the reader's language
      set(f[1], s[f[0]]);
      document.getElementById(f[1]).hidden = false;
      document.getElementById(f[1] + "-label").hidden = false;
    });
    known.state = s.state;
    if (s.state === "mission") { known.missionStarted = true; }  // resume continues it
    if (FINAL.indexOf(s.state) >= 0) { ended = true; stale(false); }
    syncCommands();
    if (s.state === "done") {
      if (s.flight_id) {
        var link = document.getElementById("findings-link");
        link.href = link.dataset.reviewer  // pilots may not open the review queue: the flight's row
          ? "/review?flight=" + s.flight_id + "&status=all"
          : "/flights?flight=" + s.flight_id + "#flight-" + s.flight_id;
        document.getElementById("after-landing").hidden = false;
      }
      if (s.log_dir) { showLogFiles(); }  // the files are written now: offer them
    }
  }

  function showLogFiles() {  // the session's log files, as downloads (the page renders the same)
    fetch("/api/v1/flight-sessions/" + info.id, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d || !d.log_files || !d.log_files.length) { return; }
        var span = document.getElementById("log-files");
        span.textContent = "";
        d.log_files.forEach(function (f, i) {
          if (i) { span.appendChild(document.createTextNode(", ")); }
          var a = document.createElement("a");
          a.href = f.url; a.textContent = f.name; a.setAttribute("download", "");
          span.appendChild(a);
        });
        document.getElementById("flight-log").hidden = false;
      }, function () {});
  }

  if (info.telemetry) { telemetry(Object.assign({}, info.telemetry, {texts: [], vehicle_texts: []})); }
  syncCommands();
  // A finished session is replayed too while this server still holds it (404 otherwise).
  var source = new EventSource("/api/v1/flight-sessions/" + info.id + "/events");
  source.onerror = function () {
    if (source.readyState === EventSource.CLOSED || ended) { source.close(); }
  };
  source.addEventListener("telemetry", function (e) { telemetry(JSON.parse(e.data)); });
  source.addEventListener("state", function (e) { state(JSON.parse(e.data)); });
  source.addEventListener("checks", function (e) { checks(JSON.parse(e.data).checks); });
  source.addEventListener("message", function (e) { var m = JSON.parse(e.data); message(m.text, m.level, m.at); });
  source.addEventListener("link", function (e) {
    var l = JSON.parse(e.data); stale(l.status !== "ok");
  });
  source.addEventListener("transfer", function (e) {
    var m = JSON.parse(e.data); set("t-seq", m.what + " " + m.done + "/" + m.total);
  });
  source.addEventListener("photo", function (e) {
    var p = JSON.parse(e.data);
    L.circleMarker([p.lat, p.lon], {radius: 3, color: "#f39c12"}).addTo(photos);
  });
  source.addEventListener("end", function () { source.close(); });

  Array.from(document.querySelectorAll("#commands button")).forEach(function (button) {
    button.addEventListener("click", function () {
      if (!window.confirm(button.dataset.confirm)) { return; }
      var verb = button.dataset.command;
      sending[verb] = true; syncCommands();
      function answered() { sending[verb] = false; syncCommands(); }
      fetch("/api/v1/flight-sessions/" + info.id + "/commands", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
        body: JSON.stringify({command: button.dataset.command})
      }).then(function (r) { return r.json().then(function (d) { return {ok: r.ok, data: d}; }); })
        .then(function (res) {
          answered();
          // a refusal the session published comes over the stream: show it once
          if (!res.ok && !res.data.published) { message(res.data.error, "error"); }
        })
        .catch(function () {  // no answer, or not JSON: the button must not stay disabled
          answered();
          message(info.text.no_answer, "error");
        });
    });
  });
})();
