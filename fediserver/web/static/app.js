// fediserver web UI, progressive enhancement only: every page works without this file.
// Live generation progress: the job page subscribes to the generation API's Server-Sent Events.
"use strict";

(function () {
  function liveJob(section) {
    var url = section.getAttribute("data-events");
    var state = section.getAttribute("data-state");
    if (!url || !window.EventSource || (state !== "queued" && state !== "running")) {
      return;
    }
    var bar = document.getElementById("job-progress");
    var percent = document.getElementById("job-percent");
    var refresh = document.getElementById("job-refresh");
    if (refresh) {
      refresh.hidden = true;
    }
    var source = new EventSource(url);
    source.addEventListener("progress", function (event) {
      var data = JSON.parse(event.data);
      if (data.total > 0) {
        bar.max = data.total;
        bar.value = data.step;
        percent.textContent = Math.floor((100 * data.step) / data.total) + "%";
      }
    });
    source.addEventListener("done", function (event) {
      source.close();
      var data = JSON.parse(event.data);
      if (data.state === "done") {
        bar.value = bar.max;
        percent.textContent = "100%";
      }
      // The server renders the finished page: the image, and the form to publish it.
      window.location.reload();
    });
    source.onerror = function () {
      source.close();
      if (refresh) {
        refresh.hidden = false;
      }
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("job");
    if (section) {
      liveJob(section);
    }
  });
})();
