// Training mode (issue 17): the study's training cases read in the workstation, each in each
// training arm, with the same viewer, scoring panel and shortcuts as a session. A score goes
// through the outbox (its own, offline.js) like a read; once the server has it, the case's
// feedback is fetched and shown (truth and its lesions on the image, the call and whether it is
// right, the AI in arms that show it) until the reader presses Next. The qualification panel says
// where the reader stands after each score. The page says TRAINING throughout.

import { InteractionRecorder } from './interactions.js';
import { trainingReadBody } from './score_state.js';
import { Outbox, newIdempotencyKey } from './offline.js';
import { TrainingStore, caseKey } from './training_store.js';
import * as tools from './tools.js';
import { renderSaveState, showArmCue } from './ui.js';
import { describeFeedback, describeQualification, renderFeedback, renderQualification } from './feedback.js';
import { RETRY_MS, Workstation, clock } from './workstation.js';


let ws;
let api;
let ui;
let probe;
let outbox;
let scoring;
let store;
const armsMet = new Set(); // arms this page has shown a case in: the arm-change banner comes once per arm

const setStatus = (text, kind) => ws.setStatus(text, kind);

/** The training page of study ``config.trainingStudyId``. */
export async function runTraining(config) {
  store = new TrainingStore(config.trainingStudyId);
  ws = new Workstation(config, store, { training: true });
  ({ api, ui, probe } = ws);
  outbox = new Outbox(config.user, (body) => {
    const controller = new AbortController(); // a hung request must not block the outbox
    const timer = setTimeout(() => controller.abort(), 15000);
    return api.submitTrainingRead(body, controller.signal).finally(() => clearTimeout(timer));
  }, { name: 'training', caseOf: caseKey });
  outbox.onChange((status) => renderSaveState(ui.save, status));
  outbox.flush();
  setStatus('Loading…');
  await ws.start({ onSubmit: submitOrNext });
  store.setTraining(await api.training(store.studyId));
  ui.title.textContent = `${store.training.study.title} · training cases`;
  scoring = ws.useScale(store.training.scale, submitOrNext);
  showQualification();
  if (!store.training.is_open) {
    setStatus(`Training is not open: ${store.training.reason_closed}`, 'error');
    scoring.lock();
    return;
  }
  // A score kept in this browser from before a reload: its feedback first, once the server has it.
  const waiting = store.waiting(outbox.pendingCases());
  if (waiting) await openItem(waiting, { key: outboxKeyOf(waiting) });
  else await openNext();
}

function outboxKeyOf(item) {
  return outbox.items().find((i) => caseKey(i.body) === store.keyOf(item))?.body.idempotency_key;
}

function showQualification() {
  const progress = store.progress(outbox.pendingCases());
  ui.progress.max = progress.total;
  ui.progress.value = progress.done;
  ui.progressText.textContent = `${progress.done} / ${progress.total} training reads`;
  renderQualification(ui.qualification, describeQualification(store.training, progress), { worklistUrl: ws.config.worklistUrl });
}

async function openNext() {
  const next = store.next(outbox.pendingCases());
  if (next) await openItem(next);
  else showTrainingDone();
}

/**
 * Show a training item to read; ``key``: the outbox key of its score when it was scored before a
 * reload, whose feedback is then awaited.
 */
async function openItem(item, { key = null } = {}) {
  const t0 = performance.now();
  probe.caseReady = false;
  probe.feedbackShown = false;
  store.current = null;
  setStatus('Loading case…');
  const details = await ws.untilLoaded(() => api.trainingCase(store.studyId, item.case, item.arm.name), 'the case');
  if (details.read && !key) {
    store.markRead(item); // read in another tab
    return openNext();
  }
  if (!details.is_open || !details.study_instance_uid) {
    setStatus(`This training case cannot be read now: ${details.reason_closed}`, 'error');
    return;
  }
  const current = store.startCase(item, details, { openedAt: new Date(), recorder: key ? null : new InteractionRecorder() });
  showCase(current);
  if (key) scoring.lock(); // its score waits in the outbox
  if ((await showImages(current, t0)) && key) await awaitFeedback(current, key);
}

/** The case's images, retried while the reader is still on it; whether they are on screen. */
async function showImages(current, t0) {
  const { item, details } = current;
  for (;;) {
    try {
      return Boolean(await ws.showImages(current, details.study_instance_uid, t0, { case: item.case, arm: item.arm.name }));
    } catch (error) {
      if (!store.isShowing(current)) return false;
      // Server restarting or network gone: try again while the reader is still on this case.
      setStatus(`Could not load the images (${error.message || error}). Retrying…`, 'error');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}

/** The case's header, an empty scoring panel, the AI in arms that show it; no feedback yet. */
function showCase({ item, details }) {
  ui.caseLabel.textContent = `Training case ${store.position(item)} of ${store.items.length}`;
  ui.arm.textContent = item.arm.label;
  ui.arm.dataset.ai = String(Boolean(item.arm.shows_ai));
  // Training alternates arms case by case: a banner each time would be noise; the arm badge stays.
  const firstInArm = armsMet.size > 0 && !armsMet.has(item.arm.label);
  showArmCue(ui.armCue, ui.arm, firstInArm ? { label: item.arm.label, showsAi: item.arm.shows_ai } : null);
  armsMet.add(item.arm.label);
  renderFeedback(ui.feedback, null);
  ws.overlays.setTruth([]);
  ui.scoring.hidden = false;
  scoring.reset();
  tools.clearMeasurements();
  ws.showAi(item.arm.shows_ai && details.ai?.length ? details.ai : null);
}

/** Enter and the panel's button: submit the score, or once its feedback is shown go to the next case. */
function submitOrNext() {
  if (store.current?.feedback) return next();
  return submit();
}

async function submit() {
  const { current } = store;
  if (!current || store.submitting || scoring.state.locked) return;
  if (!scoring.state.complete) {
    scoring.refuse();
    return;
  }
  store.submitting = true;
  probe.submittedAt = performance.now();
  scoring.lock();
  const key = outbox.enqueue(trainingReadBody({
    studyId: store.studyId,
    caseId: current.item.case,
    arm: current.item.arm.name,
    idempotencyKey: newIdempotencyKey(),
    values: scoring.state.values(),
    openedAt: current.openedAt,
    submittedAt: new Date(),
    interactions: current.recorder?.record(clock()),
  })); // kept in the browser before anything goes over the network
  outbox.flush();
  showQualification();
  try {
    await awaitFeedback(current, key);
  } finally {
    store.submitting = false;
  }
}

/** Once the server has the score kept under ``key``: the feedback, and the qualification after it. */
async function awaitFeedback(current, key) {
  scoring.lock();
  setStatus('Saving your score: the feedback shows once the server has it…');
  if ((await outbox.settled(key)) === 'rejected') {
    if (!store.isShowing(current)) return;
    const refused = outbox.status().rejected[0]?.error || 'refused';
    setStatus(`The server refused this score (${refused}); correct it and submit again.`, 'error');
    scoring.lock(false);
    return;
  }
  if (!store.isShowing(current)) return;
  store.markRead(current.item);
  const stillHere = () => store.isShowing(current);
  const [details, training] = await Promise.all([
    ws.untilLoaded(() => api.trainingCase(store.studyId, current.item.case, current.item.arm.name), 'the feedback', stillHere),
    ws.untilLoaded(() => api.training(store.studyId), 'the qualification', stillHere),
  ]);
  if (!stillHere()) return;
  store.setTraining(training);
  showQualification();
  showFeedback(current, details);
}

function showFeedback(current, { feedback, read }) {
  current.feedback = feedback;
  setStatus('');
  ui.scoring.hidden = true;
  ws.overlays.setTruth(feedback.lesions);
  // The AI's findings on the image with its score in the panel, in arms that show the AI.
  if (feedback.ai) ws.showAi(feedback.ai.length ? feedback.ai : null);
  ws.overlays.setMarks(read.marks, -1);
  const last = !store.next(outbox.pendingCases());
  renderFeedback(ui.feedback, describeFeedback(feedback, read, store.training.scale), { last, onNext: next });
  probe.feedbackShown = true;
}

async function next() {
  if (!store.current?.feedback) return;
  await openNext();
}

function showTrainingDone() {
  ws.clearCase();
  renderFeedback(ui.feedback, null);
  ui.scoring.hidden = true;
  ui.caseLabel.textContent = '';
  showQualification();
  const { training } = store;
  const standing = training.qualified_at
    ? 'You are qualified: your reading sessions are open.'
    : training.required ? 'Every training case is read, without qualifying yet: your study coordinator can add training cases.' : '';
  ws.finish(`Every training case is read. ${standing}`.trim());
  probe.trainingDone = true;
}
