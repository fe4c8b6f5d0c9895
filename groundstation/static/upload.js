/* The flights page's photo upload: an SD card's photos (chosen as files or as a folder) go to
   the staged upload API (/api/v1/photo-uploads) one photo per request, a few requests at a time.
   A photo whose request fails on the network or the server is sent again (twice at most); a
   photo the server refuses (not an image, too large) is listed and the others go on. When every
   photo has arrived the upload is finished: the server registers the photo flight and queues
   its classification, and the page links to the flight's row and its findings. Unfinished
   uploads are listed when the page loads, so a reloaded page continues where it stopped (the
   photos already on the server are skipped). Counts read "N of M photos": N those that arrived
   (before or now), the ones not added counted out beside it. */
"use strict";
(function () {
  var root = document.getElementById("photo-upload");
  if (!root) { return; }
  var api = root.dataset.api;
  var maxBytes = Number(root.dataset.maxImageBytes) || Infinity;
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var text = JSON.parse(document.getElementById("upload-text").textContent);
  var PARALLEL = 3;
  var RETRIES = 2;
  var PHOTO = /\.(jpe?g|png|tiff?)$/i;
  var CAMERA_FIELDS = ["sensor_width_mm", "sensor_height_mm", "focal_length_mm",
    "image_width_px", "image_height_px"];

  function el(id) { return document.getElementById(id); }
  var form = el("upload-form");
  var startButton = el("upload-start");
  var finishButton = el("upload-finish");
  var discardButton = el("upload-discard");
  var camera = el("upload-camera");
  var nameField = el("upload-name");
  var current = null;  // the upload photos go to: {id, name, urls, arrived, originals}
  var leftOut = [];  // names of the chosen files that are not photos (the last Upload's)
  var busy = false;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : m;
    });
  }
  function mb(bytes) { return (bytes / 1048576).toFixed(1); }
  // a message that counts: its form for n (text.plural's "one" and "other"), {n} filled in
  function count(key, n, values) {
    var forms = text.plural[key];
    return fill(n === 1 ? forms.one : forms.other, Object.assign({n: n}, values || {}));
  }

  function setBusy(on) {
    busy = on;
    root.dataset.busy = on ? "1" : "";
    [startButton, finishButton, discardButton, el("upload-files"), el("upload-folder")]
      .forEach(function (b) { b.disabled = on; });
    root.querySelectorAll("#upload-resume button").forEach(function (b) { b.disabled = on; });
  }
  function status(message) {
    var line = el("upload-status");
    line.textContent = message || "";
    line.hidden = !message;
  }
  function addError(name, message) {
    var list = el("upload-errors");
    var item = document.createElement("li");
    var strong = document.createElement("strong");
    strong.textContent = name;
    item.appendChild(strong);
    item.appendChild(document.createTextNode(": " + message));
    list.appendChild(item);
    list.hidden = false;
  }
  function clearErrors() {
    var list = el("upload-errors");
    list.textContent = "";
    list.hidden = true;
  }
  function syncCamera() {
    el("upload-custom").hidden = camera.value !== "custom";
  }
  function lockSettings(on) {
    nameField.disabled = on;
    camera.disabled = on;
    el("upload-custom").querySelectorAll("input").forEach(function (i) { i.disabled = on; });
    finishButton.hidden = !on;
    discardButton.hidden = !on;
  }

  // {status, data}; status 0: no answer
  function call(method, url, body) {
    var options = {method: method, credentials: "same-origin", headers: {"X-CSRFToken": csrf}};
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (r) {
      return r.json().then(function (data) { return {status: r.status, data: data}; },
        function () { return {status: r.status, data: {error: r.status + " " + r.statusText}}; });
    }, function () { return {status: 0, data: {error: text.network}}; });
  }
  function expect(res, ok) {
    if (res.status !== ok) { throw new Error(res.data.error || String(res.status)); }
    return res.data;
  }

  // one photo as multipart "photos"; XMLHttpRequest reports how much of it has been sent
  function send(job, onProgress) {
    return new Promise(function (resolve) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", current.urls.photos);
      xhr.setRequestHeader("X-CSRFToken", csrf);
      xhr.upload.onprogress = function (e) { onProgress(Math.min(e.loaded, job.file.size)); };
      xhr.onload = function () {
        var data;
        try { data = JSON.parse(xhr.responseText); } catch (e) {
          data = {error: xhr.status + " " + xhr.statusText};
        }
        resolve({status: xhr.status, data: data});
      };
      xhr.onerror = xhr.onabort = xhr.ontimeout = function () {
        resolve({status: 0, data: {error: text.network}});
      };
      var body = new FormData();
      body.append("photos", job.file, job.name);
      xhr.send(body);
    });
  }

  function sendWithRetries(job, render) {
    var attempt = 0;
    function go() {
      return send(job, function (loaded) { job.loaded = loaded; render(); }).then(function (res) {
        var transient = res.status === 0 || (res.status >= 500 && res.status !== 507);
        if (transient && attempt < RETRIES) {
          attempt += 1;
          job.loaded = 0;
          return new Promise(function (wait) { setTimeout(wait, 1000 * attempt); }).then(go);
        }
        return res;
      });
    }
    return go();
  }

  // the names photos are sent under: their own, or (when two in the folder share one) with
  // their sub-folders, so that DCIM/100MEDIA/DJI_0001.JPG and DCIM/101MEDIA/DJI_0001.JPG differ
  function sendNames(files) {
    var counts = {};
    files.forEach(function (f) { counts[f.name] = (counts[f.name] || 0) + 1; });
    return files.map(function (f) {
      if (counts[f.name] > 1 && f.webkitRelativePath) {
        return f.webkitRelativePath.split("/").slice(1).join("_") || f.name;
      }
      return f.name;
    });
  }

  function adopt(upload) {
    current = {id: upload.id, name: upload.name, urls: upload.urls,
      arrived: new Set(), originals: new Set()};
    (upload.files || []).forEach(function (f) {
      current.arrived.add(f.name);
      current.originals.add(f.original);
    });
    root.dataset.upload = upload.id;
    lockSettings(true);
  }

  function refresh() {
    return call("GET", current.urls.self).then(function (res) { adopt(expect(res, 200)); });
  }

  function create() {
    var value = camera.value;
    if (value === "custom") {
      value = {name: "custom"};
      CAMERA_FIELDS.forEach(function (k) { value[k] = el("cam-" + k).value; });
    }
    return call("POST", api, {name: nameField.value, camera: value}).then(function (res) {
      adopt(expect(res, 201));
    });
  }

  function run(jobs) {
    var next = 0;
    var tally = {done: 0, failed: 0};  // done: settled, arrived or not
    var totalBytes = jobs.reduce(function (s, j) { return s + j.file.size; }, 0);
    el("upload-progress-line").hidden = false;
    function render() {
      var sent = jobs.reduce(function (s, j) { return s + j.loaded; }, 0);
      var bar = el("upload-progress");
      bar.max = Math.max(totalBytes, 1);
      bar.value = sent;
      el("upload-count").textContent = count("progress", jobs.length,
        {done: tally.done - tally.failed, mb: mb(sent), total_mb: mb(totalBytes)}) +
        (tally.failed ? " " + fill(text.refused, {n: tally.failed}) : "");
      root.dataset.done = String(tally.done);
    }
    function settle(job, error) {
      job.loaded = job.file.size;
      tally.done += 1;
      if (error) {
        tally.failed += 1;
        addError(job.name, error);
      }
      render();
    }
    jobs.forEach(function (job) {
      if (current.originals.has(job.name)) { job.skip = true; settle(job); }  // arrived before
      else if (job.file.size > maxBytes) {
        job.skip = true;
        settle(job, fill(text.too_large, {limit: Math.floor(maxBytes / 1048576)}));
      }
    });
    var pending = jobs.filter(function (j) { return !j.skip; });
    function worker() {
      if (next >= pending.length) { return Promise.resolve(); }
      var job = pending[next];
      next += 1;
      return sendWithRetries(job, render).then(function (res) {
        if (res.status === 200 || res.status === 201) {
          res.data.stored.forEach(function (s) {
            current.arrived.add(s.name);
            current.originals.add(s.original);
          });
          settle(job);
        } else {
          settle(job, res.data.error || String(res.status));
        }
      }).then(worker);
    }
    render();
    var workers = [];
    for (var i = 0; i < Math.min(PARALLEL, pending.length); i += 1) { workers.push(worker()); }
    return Promise.all(workers).then(function () { return tally; });
  }

  // finish the upload; photos with no GPS position at all are registered only when the user
  // confirms it (the server refuses them with confirm "allow_unplaced" first); the dialog says
  // in words what will happen, not the API's field
  // photos already stored as a flight (the same files) likewise: the server says which
  function finish(allowUnplaced, force) {
    status(text.finishing);
    var body = {photos: current.arrived.size};
    if (allowUnplaced) { body.allow_unplaced = true; }
    if (force) { body.force = true; }
    return call("POST", current.urls.finish, body).then(function (res) {
      if (res.status === 409 && res.data.confirm === "force" && !force) {
        if (window.confirm(res.data.error + "\n\n" + text.confirm_duplicate)) {
          return finish(allowUnplaced, true);
        }
        status(text.kept_unplaced);
        finishButton.hidden = false;
        return;
      }
      if (res.status === 422 && res.data.confirm === "allow_unplaced" && !allowUnplaced) {
        if (window.confirm(text.unplaced + "\n\n" + text.confirm_unplaced)) {
          return finish(true, force);
        }
        status(text.kept_unplaced);
        finishButton.hidden = false;
        return;
      }
      // 200: finished before (a retry whose first answer was lost), with that answer
      var data = res.status === 200 ? res.data : expect(res, 202);
      el("upload-done-text").textContent = count("finished", data.photos, {id: data.flight_id}) +
        skippedNote();
      showWarnings(data.warnings || []);
      var link = el("upload-flight-link");
      link.href = data.flight_url;
      link.dataset.flight = String(data.flight_id);
      var findings = el("upload-findings-link");
      findings.hidden = !data.findings_url;
      if (data.findings_url) { findings.href = data.findings_url; }
      el("upload-done").hidden = false;
      status("");
      reset();
      return refreshFlights(data.flight_url);
    });
  }

  // what to know about the flight just registered, one warning per line
  // the result names the files left out too: the status line saying so is gone by then
  function skippedNote() {
    if (!leftOut.length) { return ""; }
    var shown = leftOut.slice(0, 5).join(", ") + (leftOut.length > 5 ? ", …" : "");
    return " " + count("skipped_done", leftOut.length, {names: shown});
  }

  function showWarnings(warnings) {
    var list = el("upload-done-warnings");
    list.textContent = "";
    warnings.forEach(function (w) {
      var item = document.createElement("li");
      item.textContent = w;
      list.appendChild(item);
    });
    list.hidden = !warnings.length;
  }

  // the photo flights list as the server renders it at the new flight's page (highlighted)
  function refreshFlights(url) {
    return fetch(url, {credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("photo-flights-list");
        var shown = el("photo-flights-list");
        if (fresh && shown) { shown.replaceWith(document.adoptNode(fresh)); }
      })
      .catch(function () { /* the list refreshes on the next visit; the link shows the flight */ });
  }

  function reset() {
    current = null;
    leftOut = [];
    delete root.dataset.upload;
    form.reset();
    lockSettings(false);
    syncCamera();
    loadResumable();
  }

  function guarded(work) {
    if (busy) { return; }
    setBusy(true);
    Promise.resolve().then(work).catch(function (e) { status(e.message); })
      .then(function () { setBusy(false); });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var chosen = Array.prototype.slice.call(el("upload-files").files)
      .concat(Array.prototype.slice.call(el("upload-folder").files));
    var photos = chosen.filter(function (f) { return PHOTO.test(f.name); });
    if (!photos.length) { status(text.none); return; }
    guarded(function () {
      clearErrors();
      el("upload-done").hidden = true;
      status(text.starting);
      var names = sendNames(photos);
      leftOut = chosen.filter(function (f) { return !PHOTO.test(f.name); })
        .map(function (f) { return f.name; });
      var left = leftOut.length;
      var note = left ? " " + count("skipped", left) : "";
      return (current ? refresh() : create()).then(function () {
        status(text.uploading + note);
        return run(photos.map(function (f, i) { return {file: f, name: names[i], loaded: 0}; }));
      }).then(function (tally) {
        if (!tally.failed) { return finish(false); }
        status(count("failed", tally.failed) + " " + count("retry_failed", tally.failed) + note);
        finishButton.hidden = current.arrived.size === 0;
      });
    });
  });

  finishButton.addEventListener("click", function () {
    if (current) { guarded(function () { clearErrors(); return refresh().then(function () { return finish(false); }); }); }
  });

  function discard(upload) {
    return call("DELETE", upload.urls.self).then(function (res) {
      expect(res, 200);
      if (current && current.id === upload.id) { reset(); } else { loadResumable(); }
      status(text.discarded);
    });
  }
  discardButton.addEventListener("click", function () {
    if (current) { var upload = current; guarded(function () { return discard(upload); }); }
  });

  // an upload's camera (fixed when it was made) in the form: its preset, else its fields
  function showCamera(cam) {
    if (!cam) { return; }
    var preset = Array.prototype.some.call(camera.options, function (o) {
      return o.value === cam.name && o.value !== "custom";
    });
    camera.value = preset ? cam.name : "custom";
    if (!preset) { CAMERA_FIELDS.forEach(function (k) { el("cam-" + k).value = cam[k]; }); }
  }

  function loadResumable() {
    call("GET", api).then(function (res) {
      if (res.status !== 200) { return; }
      var list = el("upload-resume-list");
      list.textContent = "";
      var open = res.data.filter(function (u) { return !current || u.id !== current.id; });
      open.forEach(function (u) {
        var item = document.createElement("li");
        item.id = "resume-" + u.id;
        item.appendChild(document.createTextNode(count("resume", u.photos,
          {name: u.name || text.unnamed, mb: mb(u.bytes)}) + " "));
        var go = document.createElement("button");
        go.type = "button";
        go.className = "resume";
        go.textContent = text["continue"];
        go.addEventListener("click", function () {
          guarded(function () {
            current = {urls: u.urls};
            return refresh().then(function () {
              nameField.value = u.name || "";
              showCamera(u.camera);
              syncCamera();
              item.remove();
              el("upload-resume").hidden = !el("upload-resume-list").children.length;
              status(fill(text.continuing, {name: u.name || text.unnamed}));
            }, function (e) { current = null; throw e; });
          });
        });
        var drop = document.createElement("button");
        drop.type = "button";
        drop.className = "discard";
        drop.textContent = text.discard;
        drop.addEventListener("click", function () { guarded(function () { return discard(u); }); });
        item.appendChild(go);
        item.appendChild(document.createTextNode(" "));
        item.appendChild(drop);
        list.appendChild(item);
      });
      el("upload-resume").hidden = !open.length;
    });
  }

  camera.addEventListener("change", syncCamera);
  syncCamera();
  loadResumable();
})();
