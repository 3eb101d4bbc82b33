// The page's fixed parts: header, toolbar, viewport area, side panel, help dialog; and what they
// show: the AI panel, the save state, the notice of what was just saved, the cue of an arm change.
// In training mode the header says TRAINING and the side panel has the feedback and the
// qualification (feedback.js draws them).

import { ORIENTATION_LEGEND } from './orientation.js';

export const SHORTCUTS = [
  ['Mouse wheel, ↑ ↓ ← →, Page Up/Down', 'Scroll through the images of a stack'],
  ['Left drag', 'Current tool (window/level by default)'],
  ['Middle drag / right drag', 'Pan / zoom'],
  ['W  Z  P  L', 'Tool: window/level, zoom, pan, length'],
  ['M', 'Mark tool: click the image to place a lesion mark'],
  ['Shift+1 … Shift+4', 'Window presets (default, high contrast, low contrast, full range)'],
  ['I  F  R', 'Invert, fit to window, reset'],
  ['+  −', 'Zoom in / out'],
  ['1 … 9', 'Ordinal rating; on a 0–100 scale: 10 … 90 (0 = 0)'],
  ['[  ]  /  {  }', 'Rating −1 / +1  /  −10 / +10'],
  ['Y  N', 'Decision positive / negative'],
  ['Delete', 'Remove the selected (or last) mark'],
  ['C', 'Comment'],
  ['Enter', 'Submit and go to the next case, from anywhere, the comment included'],
  ['Shift+Enter', 'New line in the comment'],
  ['U', 'Undo the score just saved: reopens that case to change it (a few seconds, where the study allows changes)'],
  ['B', 'Back to the previous case to change its score (where the study allows it)'],
  ['?', 'This list'],
];

const UNDO_KEY = 'U';

// Truthing mode has no rating, undo or going back; its mark tool draws the kinds the study allows.
const TRUTHING_KEYS = {
  M: 'Mark tool: drag a box, click a point, or click a polygon vertex by vertex (its first vertex again closes it)',
  'Y  N': 'Label: diseased / not diseased',
  Delete: 'Remove the selected (or last) mark, or the polygon being drawn',
  C: 'Comment (the adjudicator: the note)',
};
const NOT_IN_TRUTHING = new Set(['1 … 9', '[  ]  /  {  }', 'U', 'B']);
export const TRUTHING_SHORTCUTS = SHORTCUTS.filter(([key]) => !NOT_IN_TRUTHING.has(key)).map(([key, what]) => [key, TRUTHING_KEYS[key] ?? what]);

/** An element with attributes (false or null ones left out) and children (null ones left out). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

function toolButton(tool, label, key, icon) {
  return h('button', { type: 'button', 'data-tool': tool, 'aria-pressed': 'false', 'aria-keyshortcuts': key, title: `${label} (${key})` }, h('span', { class: 'icon', 'aria-hidden': 'true' }, icon), h('span', { class: 'txt' }, label));
}

function actionButton(action, label, key, icon) {
  return h('button', { type: 'button', 'data-action': action, 'aria-keyshortcuts': key, title: `${label} (${key})` }, h('span', { class: 'icon', 'aria-hidden': 'true' }, icon), h('span', { class: 'txt' }, label));
}

export function buildShell(root, { worklistUrl, training = false, truthing = false }) {
  const presets = h(
    'select',
    { id: 'rw-presets', 'aria-label': 'Window presets (Shift+1 … Shift+4)', title: 'Window presets (Shift+1 … Shift+4)' },
    h('option', { value: '' }, 'W/L'),
    ['Default', 'High contrast', 'Low contrast', 'Full range'].map((name, i) => h('option', { value: i }, `${i + 1}. ${name}`)),
  );
  const toolbar = h(
    'nav',
    { class: 'rw-toolbar', 'aria-label': 'Image tools' },
    toolButton('wl', 'Window', 'W', '◐'),
    toolButton('zoom', 'Zoom', 'Z', '⌕'),
    toolButton('pan', 'Pan', 'P', '✥'),
    toolButton('length', 'Length', 'L', '⟷'),
    toolButton('mark', 'Mark', 'M', '⊕'),
    h('hr'),
    presets,
    actionButton('invert', 'Invert', 'I', '◑'),
    actionButton('fit', 'Fit', 'F', '⤢'),
    actionButton('reset', 'Reset', 'R', '↺'),
    h('hr'),
    actionButton('help', 'Keys', '?', '⌨'),
    h(
      'dl',
      { class: 'rw-legend', 'aria-label': 'Orientation letters at the image edges' },
      ORIENTATION_LEGEND.flatMap(([letter, words]) => [h('dt', {}, letter), h('dd', {}, words)]),
    ),
  );
  const header = h(
    'header',
    { class: 'rw-header' },
    h('a', { href: worklistUrl, class: 'rw-back' }, '← Worklist'),
    training ? h('span', { id: 'rw-mode', class: 'rw-badge rw-training', title: 'Training cases: scores here are practice with feedback, never part of the study' }, 'TRAINING') : null,
    truthing ? h('span', { id: 'rw-mode', class: 'rw-badge rw-truthing', title: 'Truthing: your labels establish the reference standard' }, 'TRUTHING') : null,
    h('div', { class: 'rw-title', id: 'rw-title' }),
    h('div', { id: 'rw-case', 'aria-live': 'polite' }),
    h('button', { type: 'button', id: 'rw-previous', class: 'rw-link', hidden: true, 'aria-keyshortcuts': 'B', title: 'Back to the previous case to change its score (B)' }, '◀ Previous case'),
    h('span', { id: 'rw-arm', class: 'rw-badge' }),
    h('div', { class: 'rw-progress' }, h('progress', { id: 'rw-progress', 'aria-label': training ? 'Training progress' : truthing ? 'Truthing progress' : 'Session progress', max: 1, value: 0 }), h('span', { id: 'rw-progress-text' })),
    h('div', { id: 'rw-save', role: 'status', 'aria-live': 'polite', class: 'rw-save' }),
  );
  const viewports = h('main', { id: 'rw-viewports', class: 'rw-viewports', 'aria-label': 'Images' });
  const status = h('div', { id: 'rw-status', class: 'rw-status', role: 'status', 'aria-live': 'polite', hidden: true });
  const armCue = h('div', { id: 'rw-arm-cue', class: 'rw-arm-cue', role: 'alert', hidden: true });
  const notice = h('section', { id: 'rw-notice', class: 'rw-notice', 'aria-live': 'polite', 'aria-label': 'Last saved score', hidden: true });
  const ai = h('section', { id: 'rw-ai', class: 'rw-panel rw-ai', 'aria-label': 'AI result', hidden: true });
  const scoring = h('section', { id: 'rw-scoring', class: 'rw-panel', 'aria-label': 'Scoring' });
  const feedback = training ? h('section', { id: 'rw-feedback', class: 'rw-panel rw-feedback', 'aria-label': 'Feedback', 'aria-live': 'polite', hidden: true }) : null;
  const others = truthing ? h('section', { id: 'rw-others', class: 'rw-panel rw-others', 'aria-label': 'Other experts', hidden: true }) : null;
  const qualification = training ? h('section', { id: 'rw-qualification', class: 'rw-panel rw-qualification', 'aria-label': 'Qualification', hidden: true }) : null;
  const help = h(
    'dialog',
    { id: 'rw-help', 'aria-labelledby': 'rw-help-title' },
    h('h2', { id: 'rw-help-title' }, 'Keyboard and mouse'),
    h('table', {}, h('tbody')),
    h('form', { method: 'dialog' }, h('button', { class: 'primary' }, 'Close')),
  );
  const side = h('aside', { class: 'rw-side', 'aria-label': 'Case panel' }, notice, feedback, ai, others, scoring, qualification);
  const shell = h('div', { class: `rw-shell${training ? ' training' : ''}${truthing ? ' truthing' : ''}` }, header, toolbar, h('div', { class: 'rw-stage' }, viewports, status, armCue), side, help);
  root.replaceChildren(shell);
  return {
    toolbar,
    presets,
    viewports,
    status,
    armCue,
    notice,
    ai,
    scoring,
    feedback,
    qualification,
    others,
    help,
    save: header.querySelector('#rw-save'),
    title: header.querySelector('#rw-title'),
    caseLabel: header.querySelector('#rw-case'),
    previous: header.querySelector('#rw-previous'),
    arm: header.querySelector('#rw-arm'),
    progress: header.querySelector('#rw-progress'),
    progressText: header.querySelector('#rw-progress-text'),
  };
}

/** The shortcut list (``truthing``: truthing mode's); the AI line only where the case shows AI (nothing about AI otherwise). */
export function showHelp(dialog, { ai = false, truthing = false } = {}) {
  const orientation = ['R L A P H F at the image edges', ORIENTATION_LEGEND.map(([k, v]) => `${k} ${v}`).join(', ')];
  const rows = [...(truthing ? TRUTHING_SHORTCUTS : SHORTCUTS), ...(ai ? [['A', 'Show / hide the AI findings']] : []), orientation];
  dialog.querySelector('tbody').replaceChildren(
    ...rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))),
  );
  if (!dialog.open) dialog.showModal();
}

function fmtScore(v) {
  return typeof v === 'number' ? (v <= 1 ? v.toFixed(2) : v.toFixed(1)) : '–';
}

/** The AI panel: only built when there is AI output to show; otherwise emptied and hidden. */
export function renderAiPanel(section, outputs, { onToggle }) {
  section.replaceChildren();
  section.hidden = !outputs;
  if (!outputs) return;
  const n = outputs.reduce((sum, o) => sum + (o.findings?.length || 0), 0);
  const toggle = h('button', { type: 'button', id: 'rw-ai-toggle', 'aria-pressed': 'true', 'aria-keyshortcuts': 'A' }, 'AI findings shown ', h('kbd', {}, 'A'));
  toggle.addEventListener('click', () => {
    const on = toggle.getAttribute('aria-pressed') !== 'true';
    toggle.setAttribute('aria-pressed', String(on));
    toggle.firstChild.textContent = on ? 'AI findings shown ' : 'AI findings hidden ';
    onToggle(on);
  });
  section.append(
    h('h2', {}, 'AI result'),
    ...outputs.map((o) => {
      const above = typeof o.operating_point === 'number' ? o.score >= o.operating_point : null;
      return h(
        'div',
        { class: 'rw-ai-output' },
        h('p', { class: 'rw-ai-score' }, h('span', { class: 'lbl' }, 'AI case score'), h('span', { class: 'big' }, fmtScore(o.score)), above === null ? null : h('span', { class: `rw-flag ${above ? 'pos' : 'neg'}` }, above ? 'above operating point' : 'below operating point')),
        typeof o.operating_point === 'number' ? h('p', { class: 'muted' }, `Operating point ${fmtScore(o.operating_point)}`) : null,
        h('p', { class: 'muted' }, `${o.model_name} ${o.model_version}`),
      );
    }),
    h('p', {}, n ? `${n} AI finding${n === 1 ? '' : 's'} drawn on the images, each labelled with its own confidence (not the case score)` : 'No AI findings on the images'),
    toggle,
  );
}

/** A read's values in words, as the notice of a saved score shows them: "rating 72 · positive · 1 mark". */
export function describeValues({ rating, decision, marks = [], comment = '' }, scale = null) {
  const category = scale?.type === 'ordinal' ? scale.labels?.[rating - scale.min] : null;
  return [
    category ? `rating ${rating} (${category})` : `rating ${rating}`,
    decision === true ? 'positive' : decision === false ? 'negative' : null,
    marks.length ? `${marks.length} mark${marks.length > 1 ? 's' : ''}` : null,
    comment ? 'comment' : null,
  ].filter(Boolean).join(' · ');
}

const NOTICE_TEXT = {
  saving: (what) => `Saving ${what}…`,
  saved: (what) => `✓ Saved ${what}`,
  rejected: (what) => `Not saved, refused by the server: ${what}`,
};

/**
 * The notice of the score just submitted: its values, whether the server has it, and an undo
 * button while ``onUndo`` is given (the study keeps audited changes and the undo window is open).
 * @param {{state: 'saving'|'saved'|'rejected', position: number, change: boolean, values: object, onUndo?: Function}} saved
 */
export function renderNotice(section, saved) {
  section.replaceChildren();
  section.hidden = !saved;
  if (!saved) return;
  const what = `${saved.change ? 'change to ' : ''}case ${saved.position}: ${describeValues(saved.values, saved.scale)}`;
  section.dataset.state = saved.state;
  section.append(h('p', { id: 'rw-notice-text' }, NOTICE_TEXT[saved.state](what)));
  if (saved.onUndo) {
    const undo = h('button', { type: 'button', id: 'rw-undo', 'aria-keyshortcuts': UNDO_KEY }, 'Undo ', h('kbd', {}, UNDO_KEY));
    undo.addEventListener('click', saved.onUndo);
    section.append(undo);
  }
}

/** The cue that this case is read in another arm than the one before (arms interleaved in blocks), for 6 s;
 * ``cue`` null: none, and one still showing for the case before goes. */
export function showArmCue(banner, badge, cue) {
  clearTimeout(banner.timer);
  const hide = () => {
    banner.hidden = true;
    badge.classList.remove('changed');
  };
  if (!cue) {
    hide(); // a banner about the case before must not stay over this one
    return;
  }
  banner.textContent = `Arm changed: ${cue.label}. ${cue.showsAi ? 'This case is read with the AI result.' : 'This case is read without the AI.'}`;
  banner.hidden = false;
  badge.classList.add('changed');
  banner.timer = setTimeout(hide, 6000);
}

/** The header's save state of the outbox; ``noun``: what it holds (scores; labels in truthing). */
export function renderSaveState(element, status, noun = 'score') {
  let text;
  let kind;
  if (status.rejected.length) {
    text = `${status.rejected.length} ${noun}${status.rejected.length > 1 ? 's' : ''} refused by the server: ${status.rejected[0].error}`;
    kind = 'error';
  } else if (status.pending && status.sending) {
    text = `Saving ${status.pending} ${noun}${status.pending > 1 ? 's' : ''}…`;
    kind = 'saving';
  } else if (status.pending) {
    const wait = status.nextRetryAt ? Math.max(0, Math.round((status.nextRetryAt - Date.now()) / 1000)) : 0;
    text = `${status.pending} ${noun}${status.pending > 1 ? 's' : ''} kept in this browser, not yet saved (${status.lastError || 'waiting'}); retrying${wait ? ` in ${wait} s` : ''}`;
    kind = 'offline';
  } else {
    text = `All ${noun}s saved`;
    kind = 'saved';
  }
  element.textContent = text;
  element.dataset.state = kind;
}
