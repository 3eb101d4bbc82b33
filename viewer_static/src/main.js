// The reading page: loads the session, opens cases, submits reads through the outbox, prefetches
// the next case. The state lives in store.js, the controls in controls.js.
import './styles.css';

import { DicomWeb, ReadingApi } from './api.js';
import { CaseImages, Hanging, initImaging, viewportProbe } from './viewport.js';
import { FrameLoader } from './frame_loader.js';
import { TransferPolicy, parseForcedForm } from './transfer.js';
import * as tools from './tools.js';
import { Overlays } from './overlay.js';
import { ScoringPanel } from './scoring.js';
import { readBody } from './score_state.js';
import { Outbox, newIdempotencyKey } from './offline.js';
import { ViewerStore } from './store.js';
import { Controls } from './controls.js';
import { buildShell, renderAiPanel, renderSaveState } from './ui.js';

const config = JSON.parse(document.getElementById('rw-config').textContent);
const params = new URLSearchParams(location.search);
const api = new ReadingApi(config.apiRoot);
const images = new CaseImages(new DicomWeb(config.dicomwebRoot));
// ?transfer=<syntax UID>|uncompressed|stored forces the form of every frame, for benchmarks.
const frames = new FrameLoader(new TransferPolicy({ forced: parseForcedForm(params.get('transfer')) }));
const outbox = new Outbox(config.user, (body) => {
  // A request that hangs (server killed mid-response) must not block the outbox forever.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15000);
  const sent = body.read ? api.reviseRead(body.read, body, controller.signal) : api.submitRead(body, controller.signal);
  return sent.finally(() => clearTimeout(timer));
});
const store = new ViewerStore();

// Test and benchmark hook: timings and the viewports; nothing about truth or other readers.
const probe = (window.__rw = { ready: false, caseReady: false, timings: [], errors: [] });

const ui = buildShell(document.getElementById('rw-app'), { worklistUrl: config.worklistUrl });
let hanging;
let overlays;
let controls;
let scoring;

function setStatus(text, kind = 'info') {
  ui.status.textContent = text;
  ui.status.dataset.kind = kind;
  ui.status.hidden = !text;
}

async function main() {
  outbox.onChange((status) => renderSaveState(ui.save, status));
  outbox.flush();
  setStatus('Loading…');
  const forced = params.get('cpu') === '1' ? true : params.get('gpu') === '1' ? false : undefined;
  probe.rendering = (await initImaging({ cpu: forced, frames })).useCPURendering ? 'cpu' : 'gpu';
  tools.initTools();
  hanging = new Hanging(ui.viewports, {
    onViewportsChanged: (ids, engineId) => {
      tools.attachViewports(ids, engineId);
      controls.wireViewports();
      overlays.redraw();
    },
  });
  overlays = new Overlays(hanging);
  controls = new Controls({ ui, store, hanging, overlays, onSubmit: submit, onPrevious: openPrevious });
  let resizeTimer;
  new ResizeObserver(() => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      hanging.resize();
      hanging.alignAll();
      overlays.redraw();
    }, 50);
  }).observe(ui.viewports);

  // Django's page names the session; the Vite dev page (index.html) takes ?session=.
  store.setSession(await api.session(config.sessionId ?? Number(params.get('session'))));
  const { session } = store;
  ui.title.textContent = `${session.study.title} · session ${session.number}`;
  scoring = controls.scoring = new ScoringPanel(ui.scoring, session.scale, {
    onSubmit: submit,
    onMarksChanged: (marks, selected) => overlays.setMarks(marks, selected),
  });
  if (session.scale.revisions_allowed) {
    ui.previous.hidden = false;
    ui.previous.addEventListener('click', () => openPrevious());
  }
  Object.assign(probe, { ready: true, hanging }, viewportProbe(hanging, frames));
  if (!session.is_open) {
    setStatus(`This session is not open: ${session.reason_closed}`, 'error');
    scoring.lock();
    return;
  }
  // Resume where the reader left off; a case whose score waits in the outbox is not shown again.
  const asked = Number(params.get('assignment'));
  const start = asked && !outbox.pendingAssignments().has(asked) ? asked : nextUnread()?.id;
  if (start) await openAssignment(start);
  else showSessionDone();
}

function nextUnread(after = null) {
  return store.nextUnread(outbox.pendingAssignments(), after);
}

function updateProgress() {
  const { done, total } = store.progress(outbox.pendingAssignments());
  ui.progress.max = total;
  ui.progress.value = done;
  ui.progressText.textContent = `${done} / ${total} read`;
}

/**
 * Show a case. ``revise``: a case whose read the reader goes back to change (``details`` are its
 * assignment, fetched to check that the change is allowed); otherwise a read case is skipped.
 */
async function openAssignment(id, { openedAt = new Date(), revise = false, details = null } = {}) {
  const t0 = performance.now();
  probe.caseReady = false;
  store.current = null;
  setStatus('Loading case…');
  const fetchedAhead = store.takePrefetched(id);
  let assignment = details || fetchedAhead;
  try {
    assignment = assignment || (await api.assignment(id));
  } catch (error) {
    setStatus(`Could not load the case (${error.message}). Retrying…`, 'error');
    setTimeout(() => openAssignment(id, { openedAt, revise }), 3000);
    return;
  }
  if (assignment.read && !(revise && !assignment.final_because)) {
    store.markRead(id);
    const next = nextUnread(id);
    return next ? openAssignment(next.id) : showSessionDone();
  }
  if (!assignment.is_open || !assignment.study_instance_uid) {
    setStatus(`This case cannot be read now: ${assignment.reason_closed || 'session closed'}`, 'error');
    return;
  }
  const current = store.startCase(assignment, { openedAt, revising: assignment.read?.id ?? null });
  showCase(current);
  const studyUid = assignment.study_instance_uid;
  const prefetched = images.studies.has(studyUid);
  try {
    const sets = await images.load(studyUid);
    if (!sets.length) throw new Error('the study has no images');
    const renderedAt = await hanging.show(sets);
    if (!store.isShowing(current)) return;
    current.firstImageAt = new Date(performance.timeOrigin + renderedAt);
    store.activeViewport = 0;
    overlays.redraw();
    setStatus('');
    const timing = {
      assignment: id,
      openToFirstImageMs: renderedAt - t0,
      sinceNavigationMs: renderedAt,
      submitToNextMs: probe.submittedAt ? renderedAt - probe.submittedAt : null,
      prefetched,
    };
    probe.timings.push(timing);
    recordFullQuality(timing, t0);
    probe.submittedAt = null;
    probe.caseReady = true;
    probe.prefetchDone = false;
    prefetchNext(id).finally(() => {
      probe.prefetchDone = true;
    });
  } catch (error) {
    // Server restarting or network gone: try again while the reader is still on this case.
    setStatus(`Could not load the images (${error.message || error}). Retrying…`, 'error');
    setTimeout(() => {
      if (store.isShowing(current)) openAssignment(id, { openedAt, revise: Boolean(current.revising) });
    }, 3000);
  }
}

/**
 * Once every viewport shows its whole image: when (``fullQualityMs`` from the case opening) and
 * how each displayed frame came (``images``: transfer syntax, bytes, fetch and decode times).
 */
function recordFullQuality(timing, t0) {
  hanging.fullQuality.then((at) => {
    timing.images = hanging.viewportIds.map((_, i) => probe.image(i));
    timing.fullQualityMs = at - t0;
  });
}

/** The case's header, scoring panel and AI panel, before its images arrive. */
function showCase({ assignment, revising }) {
  ui.caseLabel.textContent = `Case ${store.position(assignment.id)} of ${store.assignments.length}${revising ? ' · changing its score' : ''}`;
  ui.arm.textContent = assignment.arm.label;
  ui.arm.dataset.ai = String(Boolean(assignment.arm.shows_ai));
  updateProgress();
  const keep = ['cpu', 'gpu'].filter((k) => params.get(k) === '1').map((k) => `&${k}=1`).join('')
    + (params.has('transfer') ? `&transfer=${encodeURIComponent(params.get('transfer'))}` : '');
  history.replaceState(null, '', `?assignment=${assignment.id}${keep}`);

  scoring.reset();
  if (revising) scoring.startRevision(assignment.read);
  tools.clearMeasurements();
  // The AI panel exists only for an arm that shows AI and only once the API returns it
  // (sequential design: after the unaided score is in).
  const ai = assignment.arm.shows_ai && assignment.ai?.length ? assignment.ai : null;
  renderAiPanel(ui.ai, ai, { onToggle: (on) => overlays.toggleFindings(on) });
  overlays.setFindings(ai ? ai.flatMap((output) => output.findings) : []);
  overlays.toggleFindings(Boolean(ai));
}

/** While the reader scores this case, fetch and decode the next one's images. */
async function prefetchNext(currentId) {
  const next = nextUnread(currentId);
  if (!next || !store.current) return;
  const current = store.current.assignment;
  let studyUid = next.study_instance_uid;
  if (!studyUid) {
    // The next assignment's details carry its AI output when its arm shows AI; fetch them only
    // if that cannot reveal AI during an unaided read.
    if (!(current.arm.shows_ai || next.arm === current.arm.label)) return;
    try {
      const details = await api.assignment(next.id);
      studyUid = details.study_instance_uid;
      if (store.current?.assignment === current) store.keepPrefetched(next.id, details);
    } catch {
      return;
    }
  }
  if (studyUid) await images.prefetch(studyUid).catch(() => {});
}

async function submit() {
  const current = store.current;
  if (!current || store.submitting || !scoring.state.complete || scoring.state.locked) return;
  store.submitting = true;
  probe.submittedAt = performance.now();
  scoring.lock();
  outbox.enqueue(readBody({
    assignmentId: current.assignment.id,
    idempotencyKey: newIdempotencyKey(),
    values: scoring.state.values(),
    openedAt: current.openedAt,
    firstImageAt: current.firstImageAt,
    submittedAt: new Date(),
    revising: current.revising,
    reason: scoring.state.revision?.reason,
  })); // kept in the browser before anything goes over the network
  outbox.flush();
  updateProgress();
  try {
    const next = current.revising ? nextUnread() : nextUnread(current.assignment.id);
    // Back from a change: the case left unscored keeps the reading time from its first opening.
    const openedAt = current.revising ? store.takeResume(next, new Date()) : new Date();
    if (!current.revising) {
      if (next && store.sequential && !current.assignment.arm.shows_ai) {
        // The aided read of the same case shows the AI only once the unaided score is stored.
        setStatus('Saving the score before the AI result is shown…');
        await outbox.whenDone(current.assignment.id);
      }
      store.markRead(current.assignment.id);
    }
    if (next) await openAssignment(next.id, { openedAt });
    else showSessionDone();
  } finally {
    store.submitting = false;
  }
}

/** Go back to the scored case before this one to change its score, where the study allows it. */
async function openPrevious() {
  if (!store.session?.scale.revisions_allowed || store.submitting) return;
  const previous = store.previousScored(outbox.pendingAssignments());
  if (!previous) {
    setStatus('There is no earlier scored case to go back to.');
    return;
  }
  const position = store.position(previous.id);
  let details;
  try {
    details = await api.assignment(previous.id);
  } catch (error) {
    setStatus(`Could not load case ${position} (${error.message}).`, 'error');
    return;
  }
  if (!details.read) setStatus(`The score of case ${position} is still being saved; try again in a moment.`);
  else if (details.final_because) setStatus(`The score of case ${position} can no longer change: ${details.final_because}.`);
  else {
    store.leaveForRevision();
    await openAssignment(previous.id, { revise: true, details });
  }
}

function showSessionDone() {
  store.current = null;
  updateProgress();
  hanging.show([]).catch(() => {});
  ui.viewports.replaceChildren();
  renderAiPanel(ui.ai, null, {});
  setStatus('All cases of this session are read. Scores still waiting to be sent stay in this browser until the server confirms them.', 'done');
  ui.status.append(' ', Object.assign(document.createElement('a'), { href: config.worklistUrl, textContent: 'Back to the worklist' }));
  probe.sessionDone = true;
}

main().catch((error) => {
  probe.errors.push(String(error));
  setStatus(`The reading workstation could not start: ${error.message || error}`, 'error');
});
