/* The ticket page's "report resolved" form: the server needs evidence, a note or a photo (either
   alone is enough), so the browser refuses to send the form with neither, in the server's words
   (the form's data-evidence-message). */
"use strict";
(function () {
  var form = document.getElementById("form-resolve");
  if (!form) { return; }
  var note = form.elements.namedItem("note");
  var photo = form.elements.namedItem("photo");
  var message = form.dataset.evidenceMessage;

  function check() {
    var missing = !note.value.trim() && !(photo.files && photo.files.length);
    note.setCustomValidity(missing ? message : "");
  }
  note.addEventListener("input", check);
  photo.addEventListener("change", check);
  check();
})();
