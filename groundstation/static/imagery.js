/* Imagery on the Leaflet maps: orthomosaics as overlay layers in a layer control, and a finding's
   photo (warped north-up on the server) as a toggleable image overlay under its box. */
"use strict";
window.GridPatrolImagery = (function () {
  function getJSON(url) {
    return fetch(url, {credentials: "same-origin"}).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.error || r.statusText); }
        return data;
      });
    });
  }

  /* The pane image overlays live in: above a (missing) basemap, below grids, markers and boxes. */
  function imageryPane(map) {
    if (!map.getPane("imagery")) { map.createPane("imagery").style.zIndex = 350; }
    return "imagery";
  }

  /* A layer control on `map` listing every orthomosaic (unchecked) and the `extra` overlays
     ({name: layer}); returns the control so a page can add more layers to it. */
  function layerControl(map, extra, opts) {
    opts = opts || {};
    var control = L.control.layers(null, extra || {}, {collapsed: false}).addTo(map);
    control.getContainer().id = opts.id || "layers-" + map.getContainer().id;
    getJSON("/api/v1/orthomosaics").then(function (items) {
      items.slice().reverse().forEach(function (o) {
        var layer = L.imageOverlay(o.preview_url, o.bounds, {opacity: 0.9, className: "ortho-overlay", pane: imageryPane(map)});
        layer.setZIndex(1);
        control.addOverlay(layer, (opts.orthoLabel || "") + o.name);
      });
    }).catch(function () { /* no orthomosaic layers: the map still works */ });
    return control;
  }

  /* A photo overlay layer that follows the selected finding: call `.show(findingId)`. The layer
     sits in `control` as `name` (toggleable); the finding's polygon is drawn on top. A photo
     the server cannot place resolves to null, with no layer and no error. */
  function findingPhoto(map, control, name) {
    var group = L.layerGroup().addTo(map);
    control.addOverlay(group, name);
    var token = 0;
    function show(findingId) {
      var mine = ++token;
      group.clearLayers();
      if (findingId === null || findingId === undefined) { return Promise.resolve(null); }
      return getJSON("/api/v1/findings/" + findingId + "/overlay").then(function (o) {
        // o.url null: the photo cannot be placed (no geotag or height), o.reason says why
        if (mine !== token || !o.url) { return null; }
        var image = L.imageOverlay(o.url, o.bounds, {opacity: 0.95, className: "photo-overlay", pane: imageryPane(map)});
        image.setZIndex(2);
        group.addLayer(image);
        if (o.polygon) {
          group.addLayer(L.geoJSON(o.polygon, {style: {color: "#ff0", weight: 2, fill: false}}));
        }
        return o;
      }).catch(function () { return null; /* the map works on without the photo */ });
    }
    return {layer: group, show: show};
  }

  return {layerControl: layerControl, findingPhoto: findingPhoto};
})();
