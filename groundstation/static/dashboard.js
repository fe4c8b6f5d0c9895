/* The dashboard's map of open tickets (red when overdue) over the district's grids. */
"use strict";
(function () {
  var map = GridPatrolMap.gridsMap("dash-map");
  if (!map) { return; }
  var tickets = JSON.parse(document.getElementById("open-tickets").textContent);
  var layer = L.featureGroup().addTo(map);
  tickets.forEach(function (t) {
    if (t.lat === null || t.lon === null) { return; }
    L.circleMarker([t.lat, t.lon], {radius: 6, color: t.overdue ? "#c0392b" : "#e67e22",
                                    className: "open-ticket"})
      .bindTooltip("#" + t.id + " " + t.label + " · " + t.state)
      .on("click", function () { window.location = "/tickets/" + t.id; })
      .addTo(layer);
  });
  document.getElementById("dash-map").dataset.markers = layer.getLayers().length;
  if (layer.getLayers().length) { map.fitBounds(layer.getBounds().pad(0.3)); }
})();
