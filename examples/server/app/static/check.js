// check.js: the "Check your mail" page waits for the link to be approved on
// another device. Every 2 s it asks GET /auth/pending (the HttpOnly pending
// cookie goes along by itself); once approved, the answer has set the
// session cookie and the page goes to the link's destination. It stops when
// the request expires or ends. Without JavaScript the page still works:
// the code form and the link do not need this. Its messages come in the
// page's language, as data attributes of the box.
(function () {
  "use strict";
  var box = document.getElementById("pending");
  if (!box) {
    return;
  }
  var url = box.getAttribute("data-url");
  var deadline = Date.now() + 1000 * Number(box.getAttribute("data-expires-in"));
  var status = document.getElementById("pending-status");

  function stop(message) {
    status.textContent = message;
    box.setAttribute("data-state", "ended");
  }

  function poll() {
    if (Date.now() >= deadline) {
      stop(box.getAttribute("data-expired"));
      return;
    }
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
      })
      .then(function (res) {
        var body = res.body || {};
        box.setAttribute("data-status", res.ok ? body.status : "gone");
        if (res.ok && body.status === "waiting") {
          setTimeout(poll, 2000);
          return;
        }
        if (res.ok && body.status === "approved") {
          status.textContent = box.getAttribute("data-approved");
          box.setAttribute("data-state", "approved");
          var next = new URL(body.next || "/", location.href);
          location.assign(next.origin === location.origin ? next.href : "/");
          return;
        }
        stop(box.getAttribute("data-ended"));
      })
      .catch(function () {
        setTimeout(poll, 2000); // a network hiccup: try again until expiry
      });
  }

  setTimeout(poll, 2000);
})();
