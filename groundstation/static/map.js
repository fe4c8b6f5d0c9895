/* Leaflet maps without an online basemap: grids and findings as vector layers. */
"use strict";
window.GridPatrolMap = (function () {
  /* Text for Leaflet tooltips and popups, which render strings as HTML. */
  function escape(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
    });
  }

  function gridsMap(id) {
    var el = document.getElementById(id);
    if (!el || !window.L) { return null; }
    var map = L.map(el, {attributionControl: false}).setView([32.45, 119.9], 11);
    var focus = el.dataset.focus;
    var layer = L.geoJSON(null, {
      style: function (f) {
        return {color: f.id === focus ? "#d33" : "#2a6", weight: 2, fillOpacity: 0.08};
      },
      onEachFeature: function (f, l) { l.bindTooltip(escape(f.properties.code)); }
    }).addTo(map);
    fetch(el.dataset.gridsUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); })
      .then(function (fc) {
        layer.addData(fc);
        var bounds = layer.getBounds();
        if (focus) {
          layer.eachLayer(function (l) { if (l.feature.id === focus) { bounds = l.getBounds(); } });
        }
        if (bounds.isValid()) { map.fitBounds(bounds); }
      });
    return map;
  }
  return {gridsMap: gridsMap, escape: escape};
})();
