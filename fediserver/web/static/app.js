// fediserver web UI, progressive enhancement only: every page works without this file.
// Live generation progress: the job page subscribes to the generation API's Server-Sent Events.
// Writing help on compose: a button asks the assist API for a draft and streams it into its field,
// where the person reads and edits it before publishing (nothing is posted from here).
// Notifications: every signed-in page follows the server's notification stream (Server-Sent Events from
// the streaming broker, /notifications/stream) and updates the nav badge; the notifications page also
// puts each new row at the top of its list. Batch of four: each tile follows its own job's events.
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

  function assistButton(button, status) {
    var kind = button.getAttribute("data-assist");
    var target = document.getElementById(button.getAttribute("data-target"));
    var form = button.form;
    var csrf = form ? form.querySelector("input[name=csrf]") : null;
    if (!target || !csrf || !window.fetch || !window.EventSource) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var body;
      var headers = { "X-CSRF-Token": csrf.value };
      if (kind === "alt-text" && button.getAttribute("data-generation")) {
        // A generated image: the server reads it, and its prompt is only a hint for the describer.
        headers["Content-Type"] = "application/json";
        body = JSON.stringify({ generation: button.getAttribute("data-generation") });
      } else if (kind === "alt-text") {
        var input = document.getElementById(button.getAttribute("data-image"));
        if (!input || !input.files || input.files.length === 0) {
          input.focus();
          return;
        }
        body = new FormData();
        body.append("file", input.files[0]);
      } else {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(kind === "prompt" ? { idea: target.value } : { text: target.value });
      }
      button.disabled = true;
      status.textContent = status.getAttribute("data-working");
      fetch("/api/v1/assist/" + kind, { method: "POST", body: body, headers: headers, credentials: "same-origin" })
        .then(function (response) {
          return response.json().then(function (data) {
            if (!response.ok) {
              throw new Error(data.error || response.status);
            }
            return data;
          });
        })
        .then(function (job) {
          var draft = "";
          var source = new EventSource(job.events_url);
          source.addEventListener("token", function (event) {
            draft += JSON.parse(event.data).text;
            target.value = draft;
          });
          source.addEventListener("done", function (event) {
            source.close();
            button.disabled = false;
            var data = JSON.parse(event.data);
            if (data.state !== "done") {
              status.textContent = status.getAttribute("data-failed") + " " + (data.error || data.state);
              return;
            }
            target.value = data.text;
            if (kind === "rewrite") {
              document.getElementById("f-assisted").value = "1";
            }
            status.textContent = status.getAttribute("data-done") + (data.notice ? " (" + data.notice + ")" : "");
            target.focus();
          });
          source.onerror = function () {
            source.close();
            button.disabled = false;
          };
        })
        .catch(function (error) {
          button.disabled = false;
          status.textContent = status.getAttribute("data-failed") + " " + error.message;
        });
    });
  }

  function showUnread(count) {
    var badge = document.getElementById("unread-count");
    if (!badge) {
      return;
    }
    badge.querySelector(".n").textContent = String(count);
    badge.hidden = !(count > 0);
  }

  function addNotification(list, data) {
    if (document.getElementById("notification-" + data.id)) {
      return;
    }
    var ul = list.querySelector("ul.notifications");
    if (!ul) {
      // The first one: the "no notifications yet" line gives way to a list.
      list.innerHTML = '<ul class="notifications"></ul>';
      ul = list.querySelector("ul.notifications");
    }
    // The row is rendered by the server from the same template as the page (escaped there).
    ul.insertAdjacentHTML("afterbegin", data.html);
    var form = document.getElementById("notifications-read");
    if (form) {
      var upTo = form.querySelector("input[name=up_to]");
      if (!(parseInt(upTo.value, 10) >= data.id)) {
        upTo.value = String(data.id);
      }
      form.hidden = false;
    }
  }

  function reloadList(list) {
    // Events sent while the stream was down are not replayed: read the page again once, for the badge
    // and, on the notifications page, the list.
    if (!window.fetch || !window.DOMParser) {
      return;
    }
    fetch(window.location.pathname, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (!html) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var freshList = fresh.getElementById("notifications");
        if (list && freshList) {
          list.innerHTML = freshList.innerHTML;
        }
        var freshCount = fresh.querySelector("#unread-count .n");
        if (freshCount) {
          showUnread(parseInt(freshCount.textContent, 10));
        }
      })
      .catch(function () {});
  }

  function liveNotifications(link) {
    var url = link.getAttribute("data-stream");
    if (!url || !window.EventSource) {
      return;
    }
    var list = document.getElementById("notifications");
    var dropped = false;
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      document.body.setAttribute("data-live", "on");
      if (dropped) {
        reloadList(list);
      }
      dropped = false;
    });
    source.addEventListener("error", function () {
      document.body.setAttribute("data-live", "off");
      dropped = true;
    });
    source.addEventListener("notification", function (event) {
      var data = JSON.parse(event.data);
      showUnread(data.unread);
      if (list) {
        addNotification(list, data);
      }
    });
  }

  function liveTile(tile) {
    var url = tile.getAttribute("data-events");
    var state = tile.getAttribute("data-state");
    if (!url || !window.EventSource || (state !== "queued" && state !== "running")) {
      return;
    }
    var bar = tile.querySelector("progress");
    var percent = tile.querySelector(".tile-percent");
    var source = new EventSource(url);
    source.addEventListener("progress", function (event) {
      var data = JSON.parse(event.data);
      if (data.total > 0) {
        bar.max = data.total;
        bar.value = data.step;
        percent.textContent = Math.floor((100 * data.step) / data.total) + "%";
      }
    });
    source.addEventListener("done", function () {
      source.close();
      tile.setAttribute("data-state", "done");
      var pending = document.querySelectorAll(".tile[data-state=queued], .tile[data-state=running]");
      if (pending.length === 0) {
        // Every image is ready: the server renders the tiles with their pictures.
        window.location.reload();
      }
    });
    source.onerror = function () {
      source.close();
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.getElementById("job");
    if (section) {
      liveJob(section);
    }
    var link = document.getElementById("nav-notifications");
    if (link) {
      liveNotifications(link);
    }
    var tiles = document.querySelectorAll(".tile[data-events]");
    for (var t = 0; t < tiles.length; t++) {
      liveTile(tiles[t]);
    }
    var status = document.getElementById("assist-status");
    if (status) {
      var buttons = document.querySelectorAll("button[data-assist]");
      for (var i = 0; i < buttons.length; i++) {
        assistButton(buttons[i], status);
      }
    }
  });
})();
