// The Import pages. Upload: the export chosen (the zip or its JSON files, or the unpacked
// folder) or dropped (the same, and a dropped folder is walked through its entries, as
// DataTransfer gives them), sent by the form with a bar of the bytes sent; without script the
// form posts itself. Then the import's progress from /import/ID/events (server-sent events fed
// by the gateway's WatchImport).
(function () {
  const form = document.getElementById("upload");
  if (form) uploads(form);
  const box = document.getElementById("import");
  if (box && box.dataset.finished !== "true" && window.EventSource) follow(box);

  function uploads(form) {
    const drop = document.getElementById("drop");
    let chosen = []; // {file, path}: path keeps a folder's layout inside the zip sent
    const choose = (picked) => {
      chosen = picked.filter(({ path }) => !path.split("/").some((part) => part.startsWith(".")));
      document.getElementById("chosen").textContent = chosen.map(({ path }) => path).join(", ");
    };
    for (const input of form.querySelectorAll('input[type="file"]')) {
      input.addEventListener("change", () =>
        choose(Array.from(input.files, (file) => ({ file, path: file.webkitRelativePath || file.name }))));
    }
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => {
      e.preventDefault();
      drop.classList.remove("over");
      dropped(e.dataTransfer).then(choose, (error) => failed(`The drop could not be read: ${error}`));
    });
    form.addEventListener("submit", (e) => {
      if (!chosen.length) return; // nothing picked here: the form posts what its inputs hold
      e.preventDefault();
      send(form, chosen);
    });
  }

  // The files of a drop. Entries are taken at once (a DataTransfer is emptied when the drop
  // event ends); a browser without entries gives the files alone.
  function dropped(transfer) {
    const items = Array.from(transfer.items || []).filter((item) => item.kind === "file");
    const entries = items.map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null));
    if (!entries.length || entries.some((entry) => !entry)) {
      return Promise.resolve(Array.from(transfer.files, (file) => ({ file, path: file.name })));
    }
    const found = [];
    return entries.reduce((done, entry) => done.then(() => walk(entry, found)), Promise.resolve())
      .then(() => found);
  }

  function walk(entry, found) {
    if (entry.isFile) {
      return new Promise((resolve, reject) => entry.file(resolve, reject))
        .then((file) => { found.push({ file, path: entry.fullPath.replace(/^\/+/, "") }); });
    }
    if (!entry.isDirectory) return Promise.resolve();
    const reader = entry.createReader();
    // readEntries answers in batches until an empty one
    const next = () => new Promise((resolve, reject) => reader.readEntries(resolve, reject))
      .then((batch) => batch.length
        ? batch.reduce((done, child) => done.then(() => walk(child, found)), Promise.resolve()).then(next)
        : undefined);
    return next();
  }

  function send(form, chosen) {
    const data = new FormData();
    data.append("csrf", form.elements.csrf.value);
    for (const { file, path } of chosen) data.append("export", file, path);
    const bar = document.getElementById("upload-progress");
    const status = document.getElementById("upload-status");
    const button = form.querySelector('button[type="submit"]');
    bar.hidden = false;
    button.disabled = true;
    const request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "fetch");
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((100 * e.loaded) / e.total);
      status.textContent = `${bar.value}% sent`;
    });
    request.addEventListener("load", () => {
      const next = request.getResponseHeader("Location");
      if (request.status === 201 && next) {
        status.textContent = "Sent; the import starts.";
        window.location.assign(next);
        return;
      }
      const page = new DOMParser().parseFromString(request.responseText, "text/html");
      const message = page.getElementById("error-message");
      failed(message ? message.textContent : `The upload was refused (HTTP ${request.status}).`);
      button.disabled = false;
    });
    request.addEventListener("error", () => {
      failed("The upload did not reach Full-Circle: check the connection and send it again.");
      button.disabled = false;
    });
    failed("");
    request.send(data);
  }

  function failed(message) {
    const line = document.getElementById("upload-error");
    line.textContent = message;
    line.hidden = !message;
  }

  function follow(box) {
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
  }
})();
