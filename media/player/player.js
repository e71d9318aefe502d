// The clusterf player: plays /media/player?path=/videos/a.mkv in a
// <video> element, the file itself when the browser plays it directly,
// else the node's HLS stream (hls.js over Media Source Extensions, or the
// browser's own HLS, Safari). Options: &mode=hls forces the stream,
// &rendition=720p picks a rendition, &autoplay=1 starts muted.
// window.clusterfPlayer exposes the state for tests and the dashboard.
(function () {
  "use strict";
  var q = new URLSearchParams(location.search);
  var path = (q.get("path") || "").replace(/^\/+/, "");
  var video = document.getElementById("video");
  var state = { path: "/" + path, mode: "", error: "", info: null, hls: null };
  window.clusterfPlayer = state;

  function enc(p) { return p.split("/").map(encodeURIComponent).join("/"); }
  function fail(msg) {
    state.error = msg;
    document.getElementById("error").textContent = msg;
  }
  function show(info) {
    var parts = [info.kind, info.container, info.duration_seconds.toFixed(1) + " s"];
    (info.streams || []).forEach(function (s) {
      if (s.type === "video" && !s.attached_pic) parts.push(s.codec + " " + s.width + "×" + s.height);
      if (s.type === "audio") parts.push(s.codec + " " + (s.channels || "") + "ch");
    });
    parts.push(state.mode);
    document.getElementById("info").textContent = parts.join(" · ");
  }

  document.getElementById("title").textContent = state.path;
  if (!path) { fail("no file: add ?path=/dir/file to the address"); return; }
  if (q.get("autoplay") === "1") { video.muted = true; video.autoplay = true; }
  video.poster = "../api/thumbnail/" + enc(path) + "?size=1024";
  video.addEventListener("error", function () {
    if (video.error) fail("playback error " + video.error.code + ": " + (video.error.message || ""));
  });

  fetch("../api/media/" + enc(path), { credentials: "same-origin" })
    .then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error((b && b.error) || r.statusText);
        return b;
      });
    })
    .then(function (info) {
      state.info = info;
      var master = "../api/stream/" + enc(path) + "/master.m3u8";
      if (q.get("rendition")) master += "?rendition=" + encodeURIComponent(q.get("rendition"));
      if (info.direct_play && q.get("mode") !== "hls") {
        state.mode = "direct";
        video.src = "../api/files/" + enc(path);
      } else if (window.Hls && window.Hls.isSupported()) {
        state.mode = "hls.js";
        var hls = new window.Hls({ maxBufferLength: 30, backBufferLength: 60 });
        state.hls = hls;
        hls.on(window.Hls.Events.ERROR, function (_, d) {
          if (d.fatal) fail("stream error: " + d.type + " " + d.details + (d.response ? " (HTTP " + d.response.code + ")" : ""));
        });
        hls.loadSource(master);
        hls.attachMedia(video);
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        state.mode = "native-hls";
        video.src = master;
      } else {
        fail("this browser plays neither HLS nor Media Source Extensions");
        return;
      }
      show(info);
    })
    .catch(function (e) { fail(String(e.message || e)); });
})();
