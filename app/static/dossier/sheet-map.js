// The data sheet's map: one marker on the main address, tiles from MAP_TILE_URL.
(function () {
  var el = document.getElementById("sheet-map");
  if (!el || typeof L === "undefined") { return; }
  var lat = parseFloat(el.dataset.lat), lon = parseFloat(el.dataset.lon);
  if (isNaN(lat) || isNaN(lon)) { el.remove(); return; }
  L.Icon.Default.imagePath = el.ownerDocument.querySelector('script[src*="leaflet.js"]').src.replace(/leaflet\.js.*$/, "images/");
  var map = L.map(el).setView([lat, lon], 15);
  L.tileLayer(el.dataset.tiles, {maxZoom: 19, attribution: "&copy; OpenStreetMap"}).addTo(map);
  var label = document.createElement("span");
  label.textContent = el.dataset.label;
  L.marker([lat, lon]).addTo(map).bindPopup(label);
})();
