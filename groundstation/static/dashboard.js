/* The dashboard's map of open tickets (red when overdue) over the district's grids. */
"use strict";
/* The period form sends only the days its period reads: date for a day, week or month, start
   and end for custom (the server refuses days a period would ignore). */
(function () {
  var form = document.getElementById("dash-form");
  if (!form) { return; }
  var days = ["date", "start", "end"];
  form.addEventListener("submit", function () {
    var custom = form.elements.period.value === "custom";
    days.forEach(function (name) { form.elements[name].disabled = (name === "date") === custom; });
  });
  window.addEventListener("pageshow", function () {  /* back to the page: all editable again */
    days.forEach(function (name) { form.elements[name].disabled = false; });
  });
})();
(function () {
  var map = GridPatrolMap.gridsMap("dash-map");
  if (!map) { return; }
  var tickets = JSON.parse(document.getElementById("open-tickets").textContent);
  var names = JSON.parse(document.getElementById("ticket-names").textContent);
  function named(table, code) { return GridPatrolMap.escape(table[code] || code || ""); }
  var layer = L.featureGroup().addTo(map);
  tickets.forEach(function (t) {
    if (t.lat === null || t.lon === null) { return; }
    L.circleMarker([t.lat, t.lon], {radius: 6, color: t.overdue ? "#c0392b" : "#e67e22",
                                    className: "open-ticket"})
      .bindTooltip("#" + t.id + " " + named(names.labels, t.label) + " · " +
                   named(names.states, t.state))
      .on("click", function () { window.location = "/tickets/" + t.id; })
      .addTo(layer);
  });
  document.getElementById("dash-map").dataset.markers = layer.getLayers().length;
  if (layer.getLayers().length) { map.fitBounds(layer.getBounds().pad(0.3)); }
})();
