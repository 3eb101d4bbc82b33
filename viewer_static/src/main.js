// The reading page: wires the API, the viewports, the tools, the scoring panel and the outbox.
import './styles.css';

import { DicomWeb, ReadingApi } from './api.js';
import { CaseImages, Hanging, csUtils, initImaging, parseImageId } from './viewport.js';
import * as tools from './tools.js';
import { Overlays } from './overlay.js';
import { ScoringPanel } from './scoring.js';
import { Outbox, newIdempotencyKey } from './offline.js';
import { buildShell, renderAiPanel, renderSaveState, showHelp, SHORTCUTS } from './ui.js';

const config = JSON.parse(document.getElementById('rw-config').textContent);
const params = new URLSearchParams(location.search);
const api = new ReadingApi(config.apiRoot);
const dicomweb = new DicomWeb(config.dicomwebRoot);
const images = new CaseImages(dicomweb);
const outbox = new Outbox(config.user, (body) => {
  // A request that hangs (server killed mid-response) must not block the outbox forever.
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15000);
  const sent = body.read ? api.reviseRead(body.read, body, controller.signal) : api.submitRead(body, controller.signal);
  return sent.finally(() => clearTimeout(timer));
});

// Test and benchmark hook: timings and the viewports; nothing about truth or other readers.
const probe = (window.__rw = { ready: false, caseReady: false, timings: [], errors: [] });

const ui = buildShell(document.getElementById('rw-app'), { worklistUrl: config.worklistUrl });
const state = {
  session: null,
  assignments: [],
  current: null, // {assignment, openedAt, firstImageAt, studyUid, revising: read id or null}
  activeViewport: 0,
  submitting: false,
  resume: null, // {id, openedAt}: the case left unscored to change an earlier score
};

let hanging;
let overlays;
let scoring;

function activeViewport() {
  return hanging?.viewports[state.activeViewport] || hanging?.viewports[0];
}

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
  probe.rendering = (await initImaging({ cpu: forced })).useCPURendering ? 'cpu' : 'gpu';
  tools.initTools();
  hanging = new Hanging(ui.viewports, {
    onViewportsChanged: (ids, engineId) => {
      tools.attachViewports(ids, engineId);
      wireViewportEvents();
      overlays?.redraw();
    },
  });
  overlays = new Overlays(hanging);
  wireToolbar();
  document.addEventListener('keydown', onKey);
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
  state.session = await api.session(config.sessionId ?? Number(params.get('session')));
  state.assignments = [...state.session.assignments].sort((a, b) => a.order - b.order);
  ui.title.textContent = `${state.session.study.title} · session ${state.session.number}`;
  scoring = new ScoringPanel(ui.scoring, state.session.scale, {
    onSubmit: submit,
    onMarksChanged: (marks, selected) => overlays.setMarks(marks, selected),
  });
  if (state.session.scale.revisions_allowed) {
    ui.previous.hidden = false;
    ui.previous.addEventListener('click', () => openPrevious());
  }
  probe.ready = true;
  probe.hanging = hanging;
  // For the e2e tests: where an image pixel is on the canvas, and the window in use.
  probe.imageToCanvas = (index, x, y) => {
    const viewport = hanging.viewports[index];
    return viewport.worldToCanvas(csUtils.imageToWorldCoords(viewport.getCurrentImageId(), [x, y]));
  };
  probe.view = (index) => {
    const viewport = hanging.viewports[index];
    return {
      voi: viewport.getProperties().voiRange,
      invert: Boolean(viewport.getProperties().invert),
      imageIndex: viewport.getCurrentImageIdIndex(),
      images: viewport.getImageIds().length,
      flipHorizontal: Boolean(viewport.getCamera().flipHorizontal),
      flipVertical: Boolean(viewport.getCamera().flipVertical),
      ...parseImageId(viewport.getCurrentImageId()),
    };
  };
  if (!state.session.is_open) {
    setStatus(`This session is not open: ${state.session.reason_closed}`, 'error');
    scoring.locked = true;
    scoring.update();
    return;
  }
  // Resume where the reader left off; a case whose score waits in the outbox is not shown again.
  const asked = Number(params.get('assignment'));
  const start = asked && !outbox.pendingAssignments().has(asked) ? asked : nextUnread()?.id;
  if (start) await openAssignment(start);
  else showSessionDone();
}

function nextUnread(after = null) {
  const queued = outbox.pendingAssignments();
  const fromOrder = after ? state.assignments.find((a) => a.id === after)?.order ?? 0 : 0;
  return state.assignments.find((a) => a.order > fromOrder && !a.read && !queued.has(a.id))
    || state.assignments.find((a) => !a.read && !queued.has(a.id) && a.id !== after);
}

function updateProgress() {
  const queued = outbox.pendingAssignments();
  const done = state.assignments.filter((a) => a.read || queued.has(a.id)).length;
  ui.progress.max = state.assignments.length;
  ui.progress.value = done;
  ui.progressText.textContent = `${done} / ${state.assignments.length} read`;
}

/**
 * Show a case. ``revise``: a case whose read the reader goes back to change (``details`` are its
 * assignment, fetched to check that the change is allowed); otherwise a read case is skipped.
 */
async function openAssignment(id, { openedAt = new Date(), revise = false, details = null } = {}) {
  const t0 = performance.now();
  probe.caseReady = false;
  state.current = null;
  setStatus('Loading case…');
  let assignment = details || prefetchedAssignments.get(id);
  prefetchedAssignments.clear();
  try {
    assignment = assignment || (await api.assignment(id));
  } catch (error) {
    setStatus(`Could not load the case (${error.message}). Retrying…`, 'error');
    setTimeout(() => openAssignment(id, { openedAt, revise }), 3000);
    return;
  }
  if (assignment.read && !(revise && !assignment.final_because)) {
    markRead(id);
    const next = nextUnread(id);
    return next ? openAssignment(next.id) : showSessionDone();
  }
  if (!assignment.is_open || !assignment.study_instance_uid) {
    setStatus(`This case cannot be read now: ${assignment.reason_closed || 'session closed'}`, 'error');
    return;
  }
  const revising = assignment.read ? assignment.read.id : null;
  const current = { assignment, openedAt, firstImageAt: null, studyUid: assignment.study_instance_uid, revising };
  state.current = current;
  const position = state.assignments.findIndex((a) => a.id === id) + 1;
  ui.caseLabel.textContent = `Case ${position} of ${state.assignments.length}${revising ? ' · changing its score' : ''}`;
  ui.arm.textContent = assignment.arm.label;
  ui.arm.dataset.ai = String(Boolean(assignment.arm.shows_ai));
  updateProgress();
  const keep = ['cpu', 'gpu'].filter((k) => params.get(k) === '1').map((k) => `&${k}=1`).join('');
  history.replaceState(null, '', `?assignment=${id}${keep}`);

  scoring.reset();
  if (revising) scoring.startRevision(assignment.read);
  tools.clearMeasurements();
  // The AI panel exists only for an arm that shows AI and only once the API returns it
  // (sequential design: after the unaided score is in).
  const ai = assignment.arm.shows_ai && assignment.ai?.length ? assignment.ai : null;
  renderAiPanel(ui.ai, ai, { onToggle: (on) => overlays.toggleFindings(on) });
  overlays.setFindings(ai ? ai.flatMap((output) => output.findings || []) : []);
  overlays.toggleFindings(Boolean(ai));

  const prefetched = images.studies.has(current.studyUid);
  try {
    const sets = await images.load(current.studyUid);
    if (!sets.length) throw new Error('the study has no images');
    const renderedAt = await hanging.show(sets);
    if (state.current !== current) return;
    current.firstImageAt = new Date(performance.timeOrigin + renderedAt);
    if (current.firstImageAt < openedAt) current.firstImageAt = new Date(openedAt.getTime());
    state.activeViewport = 0;
    overlays.redraw();
    setStatus('');
    probe.timings.push({
      assignment: id,
      openToFirstImageMs: renderedAt - t0,
      sinceNavigationMs: renderedAt,
      submitToNextMs: probe.submittedAt ? renderedAt - probe.submittedAt : null,
      prefetched,
    });
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
      if (state.current === current) openAssignment(id, { openedAt, revise: Boolean(revising) });
    }, 3000);
  }
}

// Details of the next case fetched during prefetch; only ever filled for a next case of the same
// arm outside the sequential design, so they carry no AI the reader may not see yet.
const prefetchedAssignments = new Map();

/** While the reader scores this case, fetch and decode the next one's images. */
async function prefetchNext(currentId) {
  const next = nextUnread(currentId);
  if (!next || !state.current) return;
  const current = state.current.assignment;
  let studyUid = next.study_instance_uid;
  if (!studyUid) {
    // The next assignment's details carry its AI output when its arm shows AI; fetch them only
    // if that cannot reveal AI during an unaided read.
    if (!(current.arm.shows_ai || next.arm === current.arm.label)) return;
    try {
      const details = await api.assignment(next.id);
      studyUid = details.study_instance_uid;
      if (state.session.study.design !== 'sequential' && state.current?.assignment === current) {
        prefetchedAssignments.set(next.id, details);
      }
    } catch {
      return;
    }
  }
  if (studyUid) await images.prefetch(studyUid).catch(() => {});
}

function markRead(id) {
  const entry = state.assignments.find((a) => a.id === id);
  if (entry) entry.read = true;
}

async function submit() {
  const current = state.current;
  if (!current || state.submitting || !scoring.complete || scoring.locked) return;
  state.submitting = true;
  probe.submittedAt = performance.now();
  scoring.locked = true;
  scoring.update();
  const values = scoring.values();
  const submittedAt = new Date();
  const body = {
    assignment: current.assignment.id,
    idempotency_key: newIdempotencyKey(),
    ...values,
    opened_at: current.openedAt.toISOString(),
    // The performance clock and the wall clock can drift apart by a few ms; keep the order.
    first_image_at: current.firstImageAt
      ? new Date(Math.min(current.firstImageAt.getTime(), submittedAt.getTime())).toISOString()
      : null,
    submitted_at: submittedAt.toISOString(),
  };
  if (!body.marks.length) delete body.marks;
  if (body.decision === null) delete body.decision;
  if (current.revising) Object.assign(body, { read: current.revising, reason: scoring.revision.reason.trim() });
  outbox.enqueue(body); // kept in the browser before anything goes over the network
  outbox.flush();
  updateProgress();
  try {
    let next;
    let openedAt = new Date();
    if (current.revising) {
      // Back to where the reader was: the first case not read yet, its reading time still
      // counted from when it was first opened.
      next = nextUnread();
      if (next && state.resume?.id === next.id) openedAt = state.resume.openedAt;
      state.resume = null;
    } else {
      next = nextUnread(current.assignment.id);
      if (next && state.session.study.design === 'sequential' && !current.assignment.arm.shows_ai) {
        // The aided read of the same case shows the AI only once the unaided score is stored.
        setStatus('Saving the score before the AI result is shown…');
        await outbox.whenDone(current.assignment.id);
      }
      markRead(current.assignment.id);
    }
    if (next) await openAssignment(next.id, { openedAt });
    else showSessionDone();
  } finally {
    state.submitting = false;
  }
}

/** Go back to the scored case before this one to change its score, where the study allows it. */
async function openPrevious() {
  if (!state.session?.scale.revisions_allowed || state.submitting) return;
  const pending = outbox.pendingAssignments();
  const before = state.current ? state.current.assignment.order : Infinity;
  const previous = [...state.assignments].reverse().find((a) => a.order < before && a.read && !pending.has(a.id));
  if (!previous) {
    setStatus('There is no earlier scored case to go back to.');
    return;
  }
  const position = state.assignments.indexOf(previous) + 1;
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
    if (state.current && !state.current.revising) state.resume = { id: state.current.assignment.id, openedAt: state.current.openedAt };
    await openAssignment(previous.id, { revise: true, details });
  }
}

function showSessionDone() {
  state.current = null;
  updateProgress();
  hanging.show([]).catch(() => {});
  ui.viewports.replaceChildren();
  renderAiPanel(ui.ai, null, {});
  setStatus('All cases of this session are read. Scores still waiting to be sent stay in this browser until the server confirms them.', 'done');
  ui.status.append(' ', Object.assign(document.createElement('a'), { href: config.worklistUrl, textContent: 'Back to the worklist' }));
  probe.sessionDone = true;
}

function wireViewportEvents() {
  hanging.viewportIds.forEach((_, index) => {
    const element = hanging.element(index);
    element.addEventListener('pointerenter', () => (state.activeViewport = index));
    element.addEventListener('focus', () => (state.activeViewport = index));
    let down = null;
    element.addEventListener(
      'pointerdown',
      (e) => {
        state.activeViewport = index;
        down = e.button === 0 && tools.primaryTool() === 'mark' ? [e.clientX, e.clientY] : null;
      },
      true,
    );
    element.addEventListener('pointerup', (e) => {
      if (!down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 5) return;
      const rect = element.getBoundingClientRect();
      const point = overlays.imagePointAt(index, [e.clientX - rect.left, e.clientY - rect.top]);
      const image = hanging.viewports[index].getImageData?.();
      const [cols, rows] = image?.dimensions || [Infinity, Infinity];
      if (point.x < 0 || point.y < 0 || point.x > cols || point.y > rows) return;
      scoring.addMark({ x: point.x, y: point.y, instance_uid: point.instanceUid, frame: point.frame });
    });
  });
}

function selectTool(name) {
  tools.setPrimaryTool(name);
  ui.toolbar.querySelectorAll('[data-tool]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.tool === name)));
  ui.viewports.dataset.tool = name;
}

function applyPreset(index) {
  const viewport = activeViewport();
  if (!viewport) return;
  const set = hanging.sets[state.activeViewport] || hanging.sets[0];
  const presets = tools.presetsFor(set?.modality);
  const preset = presets[index];
  if (!preset) return;
  const base = hanging.defaultVoi.get(viewport.id) || viewport.getProperties().voiRange;
  tools.applyVoi(viewport, preset[1](viewport, base));
}

function wireToolbar() {
  ui.toolbar.addEventListener('click', (e) => {
    const button = e.target.closest('button');
    if (!button) return;
    if (button.dataset.tool) selectTool(button.dataset.tool);
    const action = button.dataset.action;
    if (action) runAction(action);
  });
  ui.presets.addEventListener('change', () => {
    applyPreset(Number(ui.presets.value));
    ui.presets.value = '';
  });
  selectTool('wl');
}

function runAction(action) {
  const viewport = activeViewport();
  const all = hanging?.viewports || [];
  switch (action) {
    case 'invert': return viewport && tools.toggleInvert(viewport);
    case 'fit': all.forEach(tools.fit); return hanging.alignAll();
    case 'reset': tools.clearMeasurements(); all.forEach(tools.reset); return hanging.alignAll();
    case 'zoom-in': return viewport && tools.zoomBy(viewport, 1.25);
    case 'zoom-out': return viewport && tools.zoomBy(viewport, 0.8);
    case 'help': return showHelp(ui.help, { ai: !ui.ai.hidden });
    default: return undefined;
  }
}

function onKey(e) {
  const target = e.target;
  if (target.closest?.('input, textarea, select') && e.key !== 'Escape') return;
  if (ui.help.open) return;
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const viewport = activeViewport();
  const digit = /^Digit(\d)$/.exec(e.code)?.[1] ?? /^Numpad(\d)$/.exec(e.code)?.[1];
  let handled = true;
  if (digit !== undefined && e.shiftKey) applyPreset(Number(digit) - 1);
  else if (digit !== undefined) {
    const d = Number(digit);
    if (scoring.ordinal) scoring.setRating(d);
    else scoring.setRating(state.session.scale.min + (d / 10) * (state.session.scale.max - state.session.scale.min));
  } else {
    switch (e.key) {
      case 'ArrowUp': case 'ArrowLeft': case 'PageUp': viewport && tools.scrollBy(viewport, -1); break;
      case 'ArrowDown': case 'ArrowRight': case 'PageDown': viewport && tools.scrollBy(viewport, 1); break;
      case 'Home': viewport && tools.scrollBy(viewport, -1e6); break;
      case 'End': viewport && tools.scrollBy(viewport, 1e6); break;
      case ']': scoring.nudgeRating(1); break;
      case '[': scoring.nudgeRating(-1); break;
      case '}': scoring.nudgeRating(10); break;
      case '{': scoring.nudgeRating(-10); break;
      case 'w': case 'W': selectTool('wl'); break;
      case 'z': case 'Z': selectTool('zoom'); break;
      case 'p': case 'P': selectTool('pan'); break;
      case 'l': case 'L': selectTool('length'); break;
      case 'm': case 'M': selectTool(tools.primaryTool() === 'mark' ? 'wl' : 'mark'); break;
      case 'i': case 'I': runAction('invert'); break;
      case 'f': case 'F': runAction('fit'); break;
      case 'r': case 'R': runAction('reset'); break;
      case '+': case '=': runAction('zoom-in'); break;
      case '-': runAction('zoom-out'); break;
      case 'y': case 'Y': scoring.setDecision(true); break;
      case 'n': case 'N': scoring.setDecision(false); break;
      case 'a': case 'A': {
        const toggle = ui.ai.querySelector('#rw-ai-toggle');
        if (toggle) toggle.click();
        break;
      }
      case 'c': case 'C': ui.scoring.querySelector('#rw-comment')?.focus(); break;
      case 'Delete': case 'Backspace': scoring.removeMark(); break;
      case 'Enter': submit(); break;
      case 'b': case 'B': openPrevious(); break;
      case '?': runAction('help'); break;
      case 'Escape': selectTool('wl'); target.blur?.(); break;
      default: handled = false;
    }
  }
  if (handled) e.preventDefault();
}

export { SHORTCUTS };

main().catch((error) => {
  probe.errors.push(String(error));
  setStatus(`The reading workstation could not start: ${error.message || error}`, 'error');
});
