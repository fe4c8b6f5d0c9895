/* A small polygon drawing tool over Leaflet (Leaflet.draw is not available offline).
   Click the map to add corners, drag corners to move them, right-click a corner to delete it,
   click the first corner (or call finish()) to close. onChange gets a GeoJSON Polygon or null. */
"use strict";
window.GridPatrolDraw = (function () {
  function polygonTool(map, options) {
    var onChange = (options && options.onChange) || function () {};
    var vertices = [], markers = [], shape = null, drawing = false, closed = false;
    var icon = L.divIcon({className: "draw-vertex", iconSize: [12, 12]});

    function redraw() {
      if (shape) { map.removeLayer(shape); shape = null; }
      if (!vertices.length) { return; }
      shape = closed ? L.polygon(vertices, {color: "#e67e22", weight: 2, fillOpacity: 0.1})
                     : L.polyline(vertices, {color: "#e67e22", weight: 2, dashArray: "4 4"});
      shape.addTo(map);
    }

    function geojson() {
      if (!closed || vertices.length < 3) { return null; }
      var ring = vertices.map(function (v) { return [v.lng, v.lat]; });
      ring.push(ring[0]);
      return {type: "Polygon", coordinates: [ring]};
    }

    function changed() { if (closed) { onChange(geojson()); } }

    function addMarker(latlng) {
      var marker = L.marker(latlng, {icon: icon, draggable: true, keyboard: false}).addTo(map);
      marker.on("drag", function () {
        vertices[markers.indexOf(marker)] = marker.getLatLng();
        redraw();
      });
      marker.on("dragend", changed);
      marker.on("click", function (ev) {
        L.DomEvent.stopPropagation(ev);
        if (drawing && markers.indexOf(marker) === 0 && vertices.length >= 3) { finish(); }
      });
      marker.on("contextmenu", function (ev) {
        L.DomEvent.stopPropagation(ev);
        if (vertices.length <= 3 && closed) { return; }
        var i = markers.indexOf(marker);
        map.removeLayer(marker);
        markers.splice(i, 1); vertices.splice(i, 1);
        redraw(); changed();
      });
      markers.push(marker);
    }

    function onMapClick(ev) {
      if (!drawing) { return; }
      vertices.push(ev.latlng);
      addMarker(ev.latlng);
      redraw();
    }

    function start() {
      clear(true);
      drawing = true; closed = false;
      map.doubleClickZoom.disable();
      map.getContainer().classList.add("drawing");
      map.on("click", onMapClick);
    }

    function finish() {
      if (vertices.length < 3) { return false; }
      drawing = false; closed = true;
      map.off("click", onMapClick);
      map.doubleClickZoom.enable();
      map.getContainer().classList.remove("drawing");
      redraw(); changed();
      return true;
    }

    function clear(silent) {
      markers.forEach(function (m) { map.removeLayer(m); });
      markers = []; vertices = [];
      if (shape) { map.removeLayer(shape); shape = null; }
      var had = closed;
      drawing = false; closed = false;
      map.off("click", onMapClick);
      map.doubleClickZoom.enable();
      map.getContainer().classList.remove("drawing");
      if (!silent && had) { onChange(null); }
    }

    function setPolygon(polygon) {
      clear(true);
      if (!polygon) { return; }
      polygon.coordinates[0].slice(0, -1).forEach(function (c) {
        var ll = L.latLng(c[1], c[0]); vertices.push(ll); addMarker(ll);
      });
      closed = true; redraw();
    }

    return {
      start: start, finish: finish, clear: clear, geojson: geojson, setPolygon: setPolygon,
      isDrawing: function () { return drawing; }, count: function () { return vertices.length; }
    };
  }
  return {polygonTool: polygonTool};
})();
