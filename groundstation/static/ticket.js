/* The ticket page's map: the case's position, its grid's outline and, for a drone ticket, the
   finding's photo (warped north-up on the server) with the finding's box, as toggleable layers. */
"use strict";
(function () {
  var el = document.getElementById("ticket-map");
  if (!el || !window.L) { return; }
  var text = JSON.parse(document.getElementById("ticket-map-text").textContent);
  var gridData = document.getElementById("ticket-grid");
  var map = L.map(el, {attributionControl: false});
  var layers = {};
  var shapes = [];
  var bounds = L.latLngBounds([]);

  if (gridData) {
    var grid = JSON.parse(gridData.textContent);
    var outline = L.geoJSON(grid.geometry, {
      style: {color: "#d33", weight: 2, fillOpacity: 0.06}
    }).bindTooltip(GridPatrolMap.escape(grid.code));
    layers[text.grid] = outline;
    shapes.push(outline);
    bounds.extend(outline.getBounds());
  }
  var position = null;
  if (el.dataset.lat && el.dataset.lon) {
    position = L.latLng(parseFloat(el.dataset.lat), parseFloat(el.dataset.lon));
    // a ring, not a dot: the object it marks stays visible in the photo underneath
    shapes.push(L.circleMarker(position, {radius: 12, color: "#c30", weight: 3, fill: false})
      .bindTooltip(GridPatrolMap.escape(text.ticket)));
    bounds.extend(position);
  }
  // the view first: Leaflet draws vector layers only on a map that has one
  if (gridData || !position) {
    map.fitBounds(bounds, {padding: [20, 20], maxZoom: 18});
  } else {
    map.setView(position, 18);
  }
  shapes.forEach(function (layer) { layer.addTo(map); });

  var control = GridPatrolImagery.layerControl(map, layers, {orthoLabel: text.ortho_prefix});
  if (el.dataset.finding) {
    GridPatrolImagery.findingPhoto(map, control, text.photo_layer).show(el.dataset.finding)
      .then(function (overlay) {
        // the photo shows the surroundings a worker finds the place by: zoom to it (a large
        // grid would leave it a speck; its outline stays drawn)
        if (overlay) {
          var detail = L.latLngBounds(overlay.bounds);
          if (position) { detail.extend(position); }
          map.fitBounds(detail, {padding: [10, 10], maxZoom: 19});
        }
      });
  }
})();
