// Behaviour the Content-Security-Policy forbids inline: forms with data-confirm ask before submitting.
document.addEventListener("submit", (event) => {
  const message = event.target.dataset && event.target.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// A 5xx or a lost connection on an htmx request: say so instead of doing nothing (4xx answers carry
// their own message and are swapped in place; see base.html's htmx-config).
function showProblem(text) {
  let banner = document.getElementById("request-problem");
  if (!banner) {
    banner = document.createElement("p");
    banner.id = "request-problem";
    banner.className = "error";
    banner.setAttribute("role", "alert");
    document.getElementById("main").prepend(banner);
  }
  banner.textContent = text;
}
document.addEventListener("htmx:responseError", () => showProblem("Something went wrong on our side; nothing was changed. Try again."));
document.addEventListener("htmx:sendError", () => showProblem("Vigilo could not be reached; check your connection and try again."));
