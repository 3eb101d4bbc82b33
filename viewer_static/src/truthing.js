// Truthing mode: an expert of a study's truthing panel labels its cases in the workstation (same
// viewer, never the AI panel nor readers' scores): diseased or not (Y / N), lesion marks as boxes,
// points or polygons (the kinds the study's rule allows), a comment; Enter submits through the
// outbox (its own, offline.js), so nothing entered is lost. In round 2 the other experts' round-1
// labels and marks show in their colours. The adjudicator goes through the disputes instead, sees
// every expert's labels and marks, and records the final truth with a note. The page says TRUTHING
// and the round throughout.

import { Outbox, newIdempotencyKey } from './offline.js';
import { MARK_KINDS, PolygonDraft, boxMark, expertColour, pointMark } from './shapes.js';
import { TruthingStore, caseKey } from './truthing_store.js';
import { labelText, renderOthers, renderTruthingPanel } from './truthing_panel.js';
import * as tools from './tools.js';
import { renderSaveState } from './ui.js';
import { RETRY_MS, Workstation } from './workstation.js';

const CLOSE_RADIUS_PX = 8; // canvas pixels around a polygon's first vertex that close it
const WHY_NOTHING_OPEN = {
  waiting: 'Nothing to label now: round 2 opens once every expert has finished round 1, and disputes come once every expert has finished.',
  done: 'Everything here is done: thank you.',
};

let ws;
let api;
let ui;
let probe;
let outbox;
let store;
const view = { adjudicating: false, kind: 'box', drafting: false };
let draft = null; // the polygon being drawn
let preview = null; // the box being dragged
let others = []; // the other experts' labels shown on the case: [{member, label, lesions, round}]

const setStatus = (text, kind) => ws.setStatus(text, kind);

/** The truthing page of study ``config.truthingStudyId``. */
export async function runTruthing(config) {
  store = new TruthingStore(config.truthingStudyId, 'truther');
  ws = new Workstation(config, store, { truthing: true });
  ({ api, ui, probe } = ws);
  outbox = new Outbox(config.user, (body) => {
    const controller = new AbortController(); // a hung request must not block the outbox
    const timer = setTimeout(() => controller.abort(), 15000);
    return api.submitTruthing(body, controller.signal).finally(() => clearTimeout(timer));
  }, { name: 'truthing', caseOf: caseKey });
  outbox.onChange((status) => {
    renderSaveState(ui.save, status, 'label');
    if (store.items.length) showProgress();
  });
  outbox.flush();
  setStatus('Loading…');
  await ws.start({ onSubmit: submit });
  ws.controls.scoring = { // what the shortcuts and the Mark tool do in truthing
    setDecision: (diseased) => setLabel(diseased),
    removeMark: () => removeMark(),
    addMark: (_point, { viewport, point }) => clickAt(viewport, point),
    dragMark: (from, to, { phase }) => dragTo(from, to, phase),
    setRatingFromDigit: () => {},
    nudgeRating: () => {},
  };
  ui.scoring.setAttribute('aria-label', 'Truth');
  ws.markReady();
  const panel = (await ws.untilLoaded(() => api.truthingPanels(), 'your truthing panels')).find((p) => p.study === store.studyId);
  if (!panel) {
    setStatus('You are not on the truthing panel of this study.', 'error');
    return;
  }
  store.role = panel.role;
  view.adjudicating = store.adjudicating;
  ui.title.textContent = `${panel.title} · truthing`;
  ui.arm.textContent = store.adjudicating ? 'Adjudication' : panel.round ? `Round ${panel.round}` : 'No round open';
  ui.arm.id = 'rw-round';
  if (panel.state !== 'open') {
    ws.finish(panel.state === 'closed' ? `Truthing is closed: ${panel.reason_closed}.` : WHY_NOTHING_OPEN[panel.state]);
    return;
  }
  store.setItems(await ws.untilLoaded(() => (store.adjudicating ? api.truthingDisputes(store.studyId) : api.truthingCases(store.studyId)), 'the cases'));
  await openNext();
}

function showProgress() {
  const { done, total } = store.progress(outbox.pendingCases());
  ui.progress.max = total;
  ui.progress.value = done;
  ui.progressText.textContent = `${done} / ${total} ${store.adjudicating ? 'disputes settled' : 'cases labelled'}`;
}

async function openNext() {
  showProgress();
  const next = store.next(outbox.pendingCases());
  if (next) await openItem(next);
  else showDone();
}

/** Show a case to label (truther) or a dispute to settle (adjudicator). */
async function openItem(item) {
  const t0 = performance.now();
  probe.caseReady = false;
  store.current = null;
  setStatus('Loading case…');
  const details = await ws.untilLoaded(() => api.truthingCase(store.studyId, item.case), 'the case');
  if (details.own) {
    store.markDone(item); // labelled in another tab
    return openNext();
  }
  if (details.is_open === false || !details.study_instance_uid) {
    setStatus(`This case cannot be labelled now: ${details.reason_closed || 'it has no images'}`, 'error');
    return;
  }
  const allowed = details.marks_allowed ?? MARK_KINDS;
  const current = store.startCase(item, details, { openedAt: new Date(), allowed });
  others = store.adjudicating ? latestPerMember(details.others || []) : details.others || [];
  view.kind = allowed.includes(view.kind) ? view.kind : allowed[0];
  draft = null;
  preview = null;
  ui.caseLabel.textContent = `${store.adjudicating ? 'Dispute' : 'Case'} ${store.items.indexOf(item) + 1} of ${store.items.length} · ${details.label}`;
  tools.clearMeasurements();
  ws.showAi(null);
  draw();
  for (;;) {
    try {
      await ws.showImages(current, details.study_instance_uid, t0, { case: item.case });
      return;
    } catch (error) {
      if (!store.isShowing(current)) return;
      setStatus(`Could not load the images (${error.message || error}). Retrying…`, 'error');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
}

/** Each expert's last label of a disputed case (round 2 where given), for the adjudicator. */
function latestPerMember(labels) {
  const last = new Map();
  for (const label of labels) if (!last.has(label.member) || label.round > last.get(label.member).round) last.set(label.member, label);
  return [...last.values()];
}

/** The panel, the other experts and every mark on the images. */
function draw() {
  const { current } = store;
  view.drafting = Boolean(draft);
  renderTruthingPanel(ui.scoring, current, view, {
    onLabel: setLabel,
    onKind: (kind) => {
      view.kind = kind;
      draft = null;
      ws.controls.selectTool('mark');
      draw();
    },
    onSelect: (i) => store.select(i) && draw(),
    onRemove: (i) => removeMark(i),
    onComment: (text) => {
      if (store.current) store.current.comment = text;
      if (ui.status.dataset.kind === 'error') setStatus('');
    },
    onSubmit: submit,
  });
  const title = store.adjudicating ? `Disputed: ${current?.item.why ?? ''}` : 'Round-1 labels of the other experts';
  renderOthers(ui.others, others, { title, onAdopt: store.adjudicating ? adopt : null });
  const shapes = others.flatMap((other, i) => (other.lesions || []).map((mark) => ({ mark, cls: expertColour(i), label: other.member, labelAtEnd: true })));
  current?.marks.forEach((mark, i) => shapes.push({ mark, cls: `rw-own${i === current.selected ? ' selected' : ''}`, label: String(i + 1) }));
  if (draft) shapes.push({ mark: { type: 'polygon', ...draft.where, points: draft.points }, cls: 'rw-own', label: '', open: true });
  if (preview) shapes.push({ mark: preview, cls: 'rw-own', label: '' });
  ws.overlays.setShapes(shapes);
  probe.truthing = current && { label: current.label, marks: current.marks.length, others: others.map((o) => o.member) };
}

/** After an edit, a refusal shown for the case as it was no longer applies. */
function edited() {
  if (ui.status.dataset.kind === 'error') setStatus('');
  draw();
}

function setLabel(diseased) {
  if (store.setLabel(diseased)) edited();
}

function removeMark(index = null) {
  if (draft) {
    draft = null; // Delete while drawing a polygon drops it
    return draw();
  }
  if (store.removeMark(index)) edited();
}

function adopt(other) {
  if (store.adopt(other)) {
    setStatus(`Started from ${other.member}'s label (${labelText(other.label)}) and marks: change them as needed.`);
    draw();
  }
}

function addMark(mark) {
  const outcome = store.addMark(mark);
  if (outcome === 'refused') {
    setStatus(`This study does not take ${mark.type} marks.`, 'error');
    draw();
  } else edited();
}

/** A click with the Mark tool: a point, or the next vertex of a polygon. */
function clickAt(viewport, where) {
  if (!store.current || store.current.locked) return;
  if (view.kind === 'point') return addMark(pointMark(where));
  if (view.kind !== 'polygon') return setStatus('Drag to draw a box.');
  if (!draft) {
    draft = new PolygonDraft(where);
    return draw();
  }
  const overlays = ws.overlays;
  const [a, b] = [overlays.imagePointAt(viewport, [0, 0]), overlays.imagePointAt(viewport, [CLOSE_RADIUS_PX, 0])];
  const outcome = draft.add(where, Math.hypot(b.x - a.x, b.y - a.y));
  if (outcome === 'closed' || outcome === 'full') {
    const mark = draft.mark();
    draft = null;
    return addMark(mark);
  }
  if (outcome === 'other-image') setStatus('Finish the polygon on the image it was started on.', 'error');
  if (outcome === 'crossing') setStatus('This outline crosses itself: press Delete to drop it and draw it again.', 'error');
  return draw();
}

/** A drag with the Mark tool: a box (drawn while dragging), where boxes are the kind chosen. */
function dragTo(from, to, phase) {
  if (view.kind !== 'box' || !store.current || store.current.locked) return;
  const box = boxMark(from, to);
  preview = phase === 'preview' ? box : null;
  if (phase === 'done' && box) addMark(box);
  else draw();
}

function submit() {
  const { current } = store;
  if (!current || store.submitting || current.locked) return;
  const missing = store.missing();
  if (missing) {
    setStatus(missing, 'error');
    return;
  }
  if (draft) {
    setStatus('Close the polygon being drawn (click its first vertex) or press Delete to drop it.', 'error');
    return;
  }
  store.submitting = true;
  current.locked = true;
  probe.submittedAt = performance.now();
  try {
    outbox.enqueue(store.body({ idempotencyKey: newIdempotencyKey() })); // kept in the browser before anything goes over the network
    outbox.flush();
    store.markDone(current.item);
    setStatus('');
  } finally {
    store.submitting = false;
  }
  return openNext();
}

function showDone() {
  ws.clearCase();
  others = [];
  renderOthers(ui.others, [], {});
  ui.scoring.replaceChildren();
  ws.overlays.setShapes([]);
  ui.caseLabel.textContent = '';
  ws.finish(store.adjudicating
    ? 'Every dispute is settled. Labels still waiting to be sent stay in this browser until the server confirms them.'
    : 'Every case of this round is labelled. Labels still waiting to be sent stay in this browser until the server confirms them.');
  probe.truthingDone = true;
}
