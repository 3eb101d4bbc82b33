// The console's Images page: DICOM files, folders and zip archives sent in chunks over the upload protocol
// of studies/services/uploads.py. A file goes on where the server's offset says: after a lost connection
// or a server restart (retried with backoff), and after a reload once the same file is chosen again (the
// server finds its unfinished upload by the file's fingerprint). Each file's import report is shown.
// window.__uploads exposes the queue and counters to the browser tests and the benchmark.

const config = JSON.parse(document.getElementById("upload-config").textContent);
const CHUNK_MEDIA_TYPE = "application/offset+octet-stream";
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 8000;
const RATE_WINDOW_MS = 5000;
const POLL_MS = 1000;
const STALL_MS = 60000;  // a request with no sign of life this long is given up and tried again
const UNFINISHED = new Set(["receiving", "complete"]);

const stats = { bytesSent: 0, chunks: 0, retries: 0, resumes: 0, outages: [], startedAt: null, finishedAt: null };
const queue = [];
let running = 0;

// ------------------------------------------------------------------------------------------ requests

class Unreachable extends Error {  // no answer, or one that says "later": the step is tried again
  constructor(message, retryAfterMs = 0) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

class Refused extends Error {}  // an answer that will not change: shown on the file

function send(method, url, { json, body, headers = {}, onProgress, stallMs = STALL_MS } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.setRequestHeader("X-CSRFToken", config.csrfToken);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    let lastSign = performance.now();
    const watchdog = stallMs && setInterval(() => {
      if (performance.now() - lastSign > stallMs) xhr.abort();
    }, 1000);
    xhr.upload.onprogress = (event) => {
      lastSign = performance.now();
      onProgress?.(event.loaded);
    };
    xhr.onprogress = () => { lastSign = performance.now(); };
    xhr.onloadend = () => clearInterval(watchdog);
    xhr.onabort = () => reject(new Unreachable(`no answer for ${stallMs / 1000} s`));
    xhr.onload = () => {
      let data = null;
      try { data = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { /* not JSON: a proxy's page */ }
      const status = xhr.status;
      if (status === 408 || status === 423 || status === 429 || (status >= 500 && status !== 507)) {
        const retryAfter = Number(xhr.getResponseHeader("Retry-After")) || 0;
        reject(new Unreachable(`the server answered ${status}`, retryAfter * 1000));
      } else {
        resolve({ status, data });
      }
    };
    xhr.onerror = () => reject(new Unreachable("no answer from the server"));
    xhr.ontimeout = xhr.onerror;
    if (json !== undefined) {
      xhr.setRequestHeader("Content-Type", "application/json");
      xhr.send(JSON.stringify(json));
    } else {
      xhr.send(body ?? null);
    }
  });
}

function refusal({ status, data }) {
  const detail = (data && (data.detail || Object.entries(data).map(([k, v]) => `${k}: ${v}`).join("; "))) || "";
  if (status === 401 || status === 403) {
    return new Refused(`${detail || "not allowed"} (log in again, then choose the file again to resume)`);
  }
  return new Refused(detail || `the server answered ${status}`);
}

// Run ``step`` until it is done, waiting longer after each time the server could not be reached.
async function persist(item, step) {
  let delay = RETRY_FIRST_MS;
  for (let attempt = 0; ; attempt++) {
    const progressBefore = item.offset;
    try {
      return await step(attempt);
    } catch (error) {
      if (!(error instanceof Unreachable)) throw error;
      if (item.offset !== progressBefore) delay = RETRY_FIRST_MS;
      item.outageSince ??= performance.now();
      stats.retries++;
      const wait = Math.max(delay, error.retryAfterMs);
      item.show("waiting", `${error.message}: trying again in ${Math.round(wait / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, wait));
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }
}

// ------------------------------------------------------------------------------------------ one file

class RateMeter {
  constructor() { this.samples = []; }

  add(bytes) {
    const now = performance.now();
    this.samples.push([now, bytes]);
    while (this.samples.length > 2 && now - this.samples[0][0] > RATE_WINDOW_MS) this.samples.shift();
  }

  perSecond() {
    if (this.samples.length < 2) return 0;
    const [[t0, b0], [t1, b1]] = [this.samples[0], this.samples.at(-1)];
    return t1 > t0 ? ((b1 - b0) * 1000) / (t1 - t0) : 0;
  }
}

class FileUpload {
  constructor(file, path) {
    this.file = file;
    this.path = path;
    this.fingerprint = `${path}:${file.size}:${file.lastModified}`;
    this.offset = 0;  // confirmed by the server
    this.inflight = 0;  // bytes of the chunk on its way
    this.resumedAt = null;
    this.state = "queued";
    this.report = null;
    this.meter = new RateMeter();
    this.row = queueRow(this);
  }

  get url() { return `${config.uploads}${this.id}/`; }

  get done() { return this.offset + this.inflight; }

  show(state, text) {
    if (this.cancelled && state !== "cancelled") return;
    this.state = state;
    this.row.state.className = `state ${state}`;
    this.row.state.textContent = text;
    render();
  }

  async run() {
    this.show("sending", "starting");
    const created = await persist(this, () => send("POST", config.uploads, {
      json: { file_name: this.path, size: this.file.size, fingerprint: this.fingerprint } }));
    if (created.status !== 200 && created.status !== 201) throw refusal(created);
    this.take(created.data);
    if (this.cancelled) {  // cancelled while it was being created
      await this.cancel();
      return;
    }
    if (this.offset > 0) this.resumedAt = this.offset;
    if (UNFINISHED.has(created.data.status)) {
      await persist(this, async (attempt) => {
        if (attempt) this.take((await this.ask()).data);
        await this.sendChunks();
      });
      if (this.cancelled) return;
      this.show("importing", "importing");
      this.take((await persist(this, () => this.complete())).data);
    }
    await this.awaitImport();
  }

  take(upload) {
    document.querySelector(`#unfinished tr[data-upload="${upload.id}"]`)?.remove();  // resumed here now
    this.id = upload.id;
    this.offset = upload.offset;
    this.status = upload.status;
    this.job = upload.job;
    this.error = upload.error;
  }

  async ask() {
    const answer = await send("GET", this.url);
    if (answer.status !== 200) throw refusal(answer);
    return answer;
  }

  async sendChunks() {
    const size = this.file.size;
    while (this.offset < size && !this.cancelled) {
      const start = this.offset;
      const end = Math.min(start + config.chunkBytes, size);
      this.show("sending", "sending");
      const answer = await send("PATCH", this.url, {
        body: this.file.slice(start, end),
        headers: { "Content-Type": CHUNK_MEDIA_TYPE, "Upload-Offset": String(start) },
        onProgress: (loaded) => { this.inflight = Math.min(loaded, end - start); },
      }).finally(() => { this.inflight = 0; });
      if (answer.status === 409 && Number.isInteger(answer.data?.offset)) {
        this.offset = answer.data.offset;  // the server holds another offset: go on from there
      } else if (answer.status === 200) {
        this.take(answer.data);
        stats.bytesSent += end - start;
        stats.chunks++;
        this.resumed();
      } else {
        throw refusal(answer);
      }
    }
  }

  resumed() {
    if (this.outageSince == null) return;
    stats.resumes++;
    stats.outages.push(Math.round(performance.now() - this.outageSince));
    this.outageSince = null;
  }

  async complete() {
    // No stall limit: where tasks run in the web process, the answer comes once the import is done.
    const answer = await send("POST", `${this.url}complete/`, { stallMs: 0 });
    if (answer.status !== 202) throw refusal(answer);
    return answer;
  }

  async awaitImport() {
    while (this.status === "importing") {
      const job = this.job || {};
      this.show("importing", `importing${job.progress ? ` ${Math.round(job.progress * 100)}%` : ""}`
        + `${job.message ? `: ${job.message}` : ""}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      this.take((await persist(this, () => this.ask())).data);
    }
    this.resumed();
    if (this.status === "imported") {
      this.report = this.job.result;
      this.show("imported", summary(this.report));
      problemList(this.row.state, this.report);
    } else {
      throw new Refused(this.error || `the upload is ${this.status}`);
    }
  }

  async cancel() {
    this.cancelled = true;
    this.show("cancelled", "cancelled");
    if (!this.id) return;  // not created yet: run() cancels it once it is, or never starts it
    const answer = await send("DELETE", this.url);
    if (answer.status !== 204) throw refusal(answer);
  }
}

function summary(report) {
  const parts = [`${report.stored} stored`, `${report.duplicates} already stored`, `${report.rejected_count} refused`];
  if (report.conflict_count) parts.push(`${report.conflict_count} in conflict`);
  return parts.join(" · ");
}

function problemList(container, report) {
  const problems = [...report.rejected, ...report.conflicts];
  if (!problems.length) return;
  const list = document.createElement("ul");
  list.className = "problems";
  for (const problem of problems) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.className = "problem";
    name.textContent = problem.file;
    item.append(name, ` (${problem.kind}): ${problem.reason}`);
    list.append(item);
  }
  container.append(list);
}

// ------------------------------------------------------------------------------------------ the queue

function queueRow(item) {
  const table = document.getElementById("queue");
  table.hidden = false;
  const row = table.tBodies[0].insertRow();
  const [name, bar, state, actions] = [0, 1, 2, 3].map((i) => row.insertCell(i));
  name.className = "name";
  name.textContent = item.path;
  bar.className = "bar";
  const progress = document.createElement("progress");
  progress.max = Math.max(item.file.size, 1);
  const figures = document.createElement("div");
  figures.className = "figures";
  bar.append(progress, figures);
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "secondary";
  cancel.textContent = "Cancel";
  cancel.addEventListener("click", () => item.cancel().catch((error) => item.show("failed", error.message)));
  actions.append(cancel);
  return { row, progress, figures, state, cancel };
}

function enqueue(entries) {
  for (const { file, path } of entries) queue.push(new FileUpload(file, path));
  stats.startedAt ??= performance.now();
  stats.finishedAt = null;
  document.getElementById("overall").hidden = false;
  pump();
}

function pump() {
  while (running < config.parallel) {
    const next = queue.find((item) => item.state === "queued");
    if (!next) break;
    running++;
    next.run()
      .catch((error) => { if (!next.cancelled) next.show("failed", error.message); })
      .finally(() => {
        running--;
        next.row.cancel.hidden = true;
        if (!queue.some((item) => item.state === "queued") && running === 0) stats.finishedAt = performance.now();
        pump();
      });
  }
}

const overallMeter = new RateMeter();

function render() {
  const counted = queue.filter((item) => item.state !== "failed" && item.state !== "cancelled");
  const total = counted.reduce((sum, item) => sum + item.file.size, 0);
  const done = counted.reduce((sum, item) => sum + Math.min(item.done, item.file.size), 0);
  for (const item of queue) {
    item.meter.add(item.done);
    item.row.progress.value = item.done;
    const rate = item.state === "sending" ? item.meter.perSecond() : 0;
    item.row.figures.textContent = figures(item.done, item.file.size, rate)
      + (item.resumedAt ? ` · resumed at ${megabytes(item.resumedAt)}` : "");
  }
  if (!queue.length) return;
  overallMeter.add(stats.bytesSent + queue.reduce((sum, item) => sum + item.inflight, 0));
  document.getElementById("overall-bar").value = total ? done / total : 1;
  const finished = queue.filter((item) => !["queued", "sending", "waiting", "importing"].includes(item.state)).length;
  document.getElementById("overall-text").textContent = `${finished} of ${queue.length} files done · `
    + figures(done, total, running ? overallMeter.perSecond() : 0);
}

function megabytes(bytes) { return `${(bytes / 1e6).toFixed(1)} MB`; }

function figures(done, total, rate) {
  let text = `${megabytes(done)} of ${megabytes(total)}`;
  if (rate > 0 && done < total) {
    const left = (total - done) / rate;
    text += ` · ${(rate / 1e6).toFixed(1)} MB/s · ${left < 90 ? `${Math.ceil(left)} s` : `${Math.ceil(left / 60)} min`} left`;
  }
  return text;
}

// ------------------------------------------------------------------------------------------ picking files

async function dropped(dataTransfer) {
  // Entries must be taken while the drop event is dispatched; the folders are read afterwards.
  const entries = [...dataTransfer.items].map((item) => item.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...dataTransfer.files].map((file) => ({ file, path: file.name }));
  const files = [];
  for (const entry of entries) await walk(entry, files);
  return files;
}

async function walk(entry, files) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    files.push({ file, path: entry.fullPath.replace(/^\//, "") });
    return;
  }
  const reader = entry.createReader();
  for (;;) {  // readEntries gives a folder's entries in batches, then an empty one
    const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
    if (!batch.length) return;
    for (const child of batch) await walk(child, files);
  }
}

function picked(input) {
  enqueue([...input.files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
  input.value = "";
}

const zone = document.getElementById("drop-zone");
zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("over");
  dropped(event.dataTransfer).then(enqueue);
});
for (const id of ["pick-files", "pick-folder"]) {
  const input = document.getElementById(id);
  input.addEventListener("change", () => picked(input));
}
for (const button of document.querySelectorAll("[data-cancel-upload]")) {
  button.addEventListener("click", async () => {
    const answer = await send("DELETE", `${config.uploads}${button.dataset.cancelUpload}/`).catch(() => null);
    if (answer?.status === 204) button.closest("tr").remove();
  });
}
window.addEventListener("beforeunload", (event) => {
  if (running) event.preventDefault();  // the browser asks before leaving while files are on their way
});
setInterval(render, 250);

window.__uploads = {
  stats,
  files: () => queue.map((item) => ({ path: item.path, size: item.file.size, state: item.state, offset: item.offset,
                                       id: item.id, resumedAt: item.resumedAt, report: item.report,
                                       text: item.row.state.textContent })),
};
