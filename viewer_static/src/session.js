// A reading session in the workstation: loads the session, opens cases, submits reads through the
// outbox with what the reader did (interactions.js), says what was saved and offers to undo it,
// prefetches the next case. The state lives in store.js; what the training mode shares with it, in
// workstation.js.

import { InteractionRecorder } from './interactions.js';
import { readBody } from './score_state.js';
import { Outbox, newIdempotencyKey } from './offline.js';
import { ViewerStore } from './store.js';
import * as tools from './tools.js';
import { renderNotice, renderSaveState, showArmCue } from './ui.js';
import { Workstation, clock } from './workstation.js';

const UNDO_MS = 10_000; // how long after a submission its undo is offered
const NOTICE_MS = 15_000; // how long the notice of a saved score stays

let ws;
let api;
let ui;
let probe;
let outbox;
let scoring;
const store = new ViewerStore();
let lastSaved = null; // the notice of the last submission (noteSaved)
let lastArm = null; // the arm of the case shown before this one
let askedAhead = null; // {id, details: Promise}: the case the address asks for, fetched while the page starts

const setStatus = (text, kind) => ws.setStatus(text, kind);

/** The reading page of session ``config.sessionId`` (the Vite dev page, index.html, takes ?session=). */
export async function runSession(config) {
  ws = new Workstation(config, store);
  ({ api, ui, probe } = ws);
  outbox = new Outbox(config.user, (body) => {
    // A request that hangs (server killed mid-response) must not block the outbox forever.
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 15000);
    const sent = body.read ? api.reviseRead(body.read, body, controller.signal) : api.submitRead(body, controller.signal);
    return sent.finally(() => clearTimeout(timer));
  });
  outbox.onChange((status) => renderSaveState(ui.save, status));
  outbox.flush();
  setStatus('Loading…');
  // The session, and the case the address asks for, are fetched while the imaging library starts: their
  // round trips are off the way to the first image.
  const sessionLoaded = api.session(config.sessionId ?? Number(ws.params.get('session')));
  sessionLoaded.catch(() => {}); // handled where awaited below, after the start
  const asked = Number(ws.params.get('assignment'));
  if (asked) {
    askedAhead = { id: asked, details: api.assignment(asked) };
    askedAhead.details.catch(() => {}); // fetched again when the case opens
  }
  await ws.start({ onSubmit: submit, onPrevious: openPrevious, onUndo: undoLast });

  store.setSession(await sessionLoaded);
  const { session } = store;
  ui.title.textContent = `${session.study.title} · session ${session.number}`;
  scoring = ws.useScale(session.scale, submit);
  if (session.scale.revisions_allowed) {
    ui.previous.hidden = false;
    ui.previous.addEventListener('click', () => openPrevious());
  }
  if (!session.is_open) {
    setStatus(`This session is not open: ${session.reason_closed}`, 'error');
    scoring.lock();
    return;
  }
  // Resume where the reader left off; a case whose score waits in the outbox is not shown again.
  const start = asked && !outbox.pendingCases().has(asked) ? asked : nextUnread()?.id;
  if (start) await openAssignment(start);
  else showSessionDone();
}

function nextUnread(after = null) {
  return store.nextUnread(outbox.pendingCases(), after);
}

function updateProgress() {
  const { done, total } = store.progress(outbox.pendingCases());
  ui.progress.max = total;
  ui.progress.value = done;
  ui.progressText.textContent = `${done} / ${total} read`;
}

/**
 * Show a case. ``revise``: a case whose read the reader goes back to change (``details`` are its
 * assignment, fetched to check that the change is allowed; ``reason``, the change's reason where
 * the viewer gives it); otherwise a read case is skipped. ``recorder``: the record of a case the
 * reader left unscored and comes back to.
 */
async function openAssignment(id, { openedAt = new Date(), revise = false, details = null, reason = '', recorder = null } = {}) {
  const t0 = performance.now();
  probe.caseReady = false;
  store.current = null;
  setStatus('Loading case…');
  // Its images, where the session lists the study, come while the case's details do.
  const listed = store.assignments.find((a) => a.id === id)?.study_instance_uid;
  const prefetched = Boolean(listed) && ws.images.studies.has(listed); // while the case before was read
  if (listed) ws.images.show(listed).catch(() => {}); // a failure shows when the images are asked for
  const fetchedAhead = store.takePrefetched(id) || (await takeAskedAhead(id));
  let assignment = details || fetchedAhead;
  try {
    assignment = assignment || (await api.assignment(id));
  } catch (error) {
    setStatus(`Could not load the case (${error.message}). Retrying…`, 'error');
    setTimeout(() => openAssignment(id, { openedAt, revise, reason, recorder }), 3000);
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
  const revising = assignment.read?.id ?? null;
  const current = store.startCase(assignment, { openedAt, revising, recorder: revising ? null : recorder ?? new InteractionRecorder() });
  showCase(current, { reason });
  try {
    const timing = await ws.showImages(current, assignment.study_instance_uid, t0, { assignment: id, prefetched });
    if (!timing) return;
    probe.prefetchDone = false;
    prefetchNext(id).finally(() => {
      probe.prefetchDone = true;
    });
  } catch (error) {
    // Server restarting or network gone: try again while the reader is still on this case.
    setStatus(`Could not load the images (${error.message || error}). Retrying…`, 'error');
    setTimeout(() => {
      if (store.isShowing(current)) openAssignment(id, { openedAt, revise: Boolean(current.revising), reason, recorder: current.recorder });
    }, 3000);
  }
}

/** The details of the case the address asked for, fetched while the page started; null for another case or
 * when that fetch failed (the caller fetches them). Taken once: a case opened again is fetched afresh. */
async function takeAskedAhead(id) {
  const ahead = askedAhead;
  askedAhead = null;
  if (ahead?.id !== id) return null;
  return ahead.details.catch(() => null);
}

/** The case's header, scoring panel and AI panel, before its images arrive. */
function showCase({ assignment, revising }, { reason = '' } = {}) {
  ui.caseLabel.textContent = `Case ${store.position(assignment.id)} of ${store.assignments.length}${revising ? ' · changing its score' : ''}`;
  ui.arm.textContent = assignment.arm.label;
  ui.arm.dataset.ai = String(Boolean(assignment.arm.shows_ai));
  // Where arms are interleaved in blocks, a reader must not miss that the next case is read otherwise.
  const changed = lastArm !== null && lastArm !== assignment.arm.label;
  showArmCue(ui.armCue, ui.arm, changed ? { label: assignment.arm.label, showsAi: assignment.arm.shows_ai } : null);
  lastArm = assignment.arm.label;
  updateProgress();
  ws.replaceQuery(`assignment=${assignment.id}`);

  scoring.reset();
  if (revising) scoring.startRevision(assignment.read, reason);
  tools.clearMeasurements();
  // The AI panel exists only for an arm that shows AI and only once the API returns it
  // (sequential design: after the unaided score is in).
  ws.showAi(assignment.arm.shows_ai && assignment.ai?.length ? assignment.ai : null);
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
  if (studyUid) await ws.images.prefetch(studyUid).catch(() => {});
}

async function submit() {
  const current = store.current;
  if (!current || store.submitting || scoring.state.locked) return;
  if (!scoring.state.complete) {
    scoring.refuse();
    return;
  }
  store.submitting = true;
  probe.submittedAt = performance.now();
  scoring.lock();
  const values = scoring.state.values();
  const key = outbox.enqueue(readBody({
    assignmentId: current.assignment.id,
    idempotencyKey: newIdempotencyKey(),
    values,
    openedAt: current.openedAt,
    firstImageAt: current.firstImageAt,
    submittedAt: new Date(),
    revising: current.revising,
    reason: scoring.state.revision?.reason,
    interactions: current.recorder?.record(clock()),
  })); // kept in the browser before anything goes over the network
  outbox.flush();
  noteSaved({ assignment: current.assignment, key, values, change: Boolean(current.revising) });
  updateProgress();
  try {
    const next = current.revising ? nextUnread() : nextUnread(current.assignment.id);
    // Back from a change: the case left unscored keeps the reading time from its first opening.
    const { openedAt, recorder } = current.revising ? store.takeResume(next, new Date()) : { openedAt: new Date(), recorder: null };
    if (!current.revising) {
      if (next && store.sequential && !current.assignment.arm.shows_ai) {
        // The aided read of the same case shows the AI only once the unaided score is stored.
        setStatus('Saving the score before the AI result is shown…');
        await outbox.whenDone(current.assignment.id);
      }
      store.markRead(current.assignment.id);
    }
    if (next) await openAssignment(next.id, { openedAt, recorder });
    else showSessionDone();
  } finally {
    store.submitting = false;
  }
}

/**
 * The notice of what was just submitted, as sent (so as stored): saving, then saved or refused;
 * with an undo for a few seconds where the study keeps audited changes and this score may still
 * change (not an unaided score in the sequential design, final once the AI shows).
 */
function noteSaved({ assignment, key, values, change }) {
  const saved = {
    id: assignment.id, key, values, change, position: store.position(assignment.id), at: Date.now(), state: 'saving',
    scale: store.session.scale,
    undoable: store.session.scale.revisions_allowed && !(store.sequential && !assignment.arm.shows_ai),
  };
  lastSaved = saved;
  const draw = () => {
    if (lastSaved !== saved) return;
    const undo = saved.undoable && saved.state !== 'rejected' && Date.now() - saved.at < UNDO_MS;
    renderNotice(ui.notice, { ...saved, onUndo: undo ? undoLast : undefined });
  };
  draw();
  outbox.settled(key).then((state) => {
    saved.state = state;
    draw();
  });
  setTimeout(draw, UNDO_MS); // the undo goes
  setTimeout(() => lastSaved === saved && saved.state === 'saved' && renderNotice(ui.notice, null), NOTICE_MS);
}

/**
 * Undo the score just submitted: reopen that case with its stored values to change them, through
 * the audited change like any other, its reason saying that the reader undid it and how soon.
 */
async function undoLast() {
  const saved = lastSaved;
  const elapsed = saved ? Date.now() - saved.at : Infinity;
  if (!saved?.undoable || elapsed > UNDO_MS || store.submitting) return;
  lastSaved = null;
  renderNotice(ui.notice, null);
  setStatus(`Reopening case ${saved.position}…`);
  if ((await outbox.settled(saved.key)) === 'rejected') {
    setStatus(`The score of case ${saved.position} was refused by the server: there is nothing to undo.`, 'error');
    return;
  }
  await reviseCase(saved.id, { reason: `Undone by the reader ${Math.max(1, Math.ceil(elapsed / 1000))} s after submitting` });
}

/** Go back to the scored case before this one to change its score, where the study allows it. */
async function openPrevious() {
  if (!store.session?.scale.revisions_allowed || store.submitting) return;
  const previous = store.previousScored(outbox.pendingCases());
  if (!previous) {
    setStatus('There is no earlier scored case to go back to.');
    return;
  }
  await reviseCase(previous.id);
}

/** Open a scored case to change its score, where the server says it still may change. */
async function reviseCase(id, { reason = '' } = {}) {
  const position = store.position(id);
  let details;
  try {
    details = await api.assignment(id);
  } catch (error) {
    setStatus(`Could not load case ${position} (${error.message}).`, 'error');
    return;
  }
  if (!details.read) setStatus(`The score of case ${position} is still being saved; try again in a moment.`);
  else if (details.final_because) setStatus(`The score of case ${position} can no longer change: ${details.final_because}.`);
  else {
    store.current?.recorder?.visibility(false, clock()); // its images are out of sight until the reader comes back
    store.leaveForRevision();
    await openAssignment(id, { revise: true, details, reason });
  }
}

function showSessionDone() {
  ws.clearCase();
  updateProgress();
  ws.finish('All cases of this session are read. Scores still waiting to be sent stay in this browser until the server confirms them.');
  probe.sessionDone = true;
}
