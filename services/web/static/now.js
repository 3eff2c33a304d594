// The Now page: feedback without a reload (the new list comes back in the answer), and live
// updates from /now/events (server-sent events; EventSource reconnects by itself).
(function () {
  const box = document.getElementById("recs-box");
  if (!box) return;
  const swap = (html) => { box.innerHTML = html; };
  box.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!form.classList.contains("feedback")) return;
    event.preventDefault();
    const data = new FormData(form);
    if (event.submitter) data.set(event.submitter.name, event.submitter.value);
    const card = form.closest(".card");
    // dislike and hide take the card away at once; the answer brings the list without it
    if (event.submitter && event.submitter.value !== "like") card.hidden = true;
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const answer = await fetch("/feedback", {
      method: "POST", body: data, headers: { "X-Requested-With": "fetch" }, credentials: "same-origin",
    });
    if (answer.ok) swap(await answer.text());
    else document.open(), document.write(await answer.text()), document.close();
  });
  if (!window.EventSource) return;
  const source = new EventSource("/now/events");
  source.addEventListener("open", () => { document.getElementById("live").hidden = false; });
  source.addEventListener("set", (event) => {
    const update = JSON.parse(event.data);
    const meta = document.getElementById("set-meta");
    if (!meta || meta.dataset.setId !== update.set_id) swap(update.html);
  });
  source.addEventListener("signed-out", () => { source.close(); window.location = "/signin"; });
})();
