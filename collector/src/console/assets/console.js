// Evident console: the only script. Shows each <time datetime="RFC 3339">
// also in the viewer's local time zone. Pages work without it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) { return; }
    var local = document.createElement("span");
    local.className = "local-time";
    local.textContent = " (" + d.toLocaleString() + " local)";
    el.title = el.getAttribute("datetime");
    el.after(local);
  });
});
