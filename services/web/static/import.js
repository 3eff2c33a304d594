// The Import pages: drag and drop onto the upload form, and the progress of an import from
// /import/ID/events (server-sent events fed by the gateway's WatchImport).
(function () {
  const drop = document.getElementById("drop");
  const input = document.getElementById("export");
  if (drop && input) {
    const show = () => {
      const names = Array.from(input.files).map((f) => f.name);
      document.getElementById("chosen").textContent = names.length ? names.join(", ") : "";
    };
    input.addEventListener("change", show);
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      if (e.dataTransfer.files.length) { input.files = e.dataTransfer.files; show(); }
    });
  }
  const box = document.getElementById("import");
  if (!box || box.dataset.finished === "true" || !window.EventSource) return;
  const source = new EventSource(`/import/${encodeURIComponent(box.dataset.importId)}/events`);
  const set = (id, text) => { document.getElementById(id).textContent = text; };
  source.addEventListener("progress", (event) => {
    const p = JSON.parse(event.data);
    document.getElementById("import-progress").value = p.percent;
    set("import-percent", p.percent);
    set("import-stage", p.stage);
    set("import-stored", p.plays_stored);
    set("import-read", p.plays_read);
    if (p.finished) {
      document.getElementById("import-result").innerHTML = p.report;
      box.dataset.finished = "true";
      source.close();
    }
  });
  source.addEventListener("failed", (event) => {
    const p = document.createElement("p");
    p.className = "failed";
    p.id = "import-message";
    p.textContent = JSON.parse(event.data).message;
    document.getElementById("import-result").replaceChildren(p);
    source.close();
  });
  source.addEventListener("end", () => source.close());
})();
