// The truthing mode's side panel: the label (diseased / not diseased, keys Y and N), the kind of
// lesion mark the Mark tool draws (only those the study's rule allows) with the marks drawn so
// far (select, remove), the comment (the adjudicator's note) and Submit; and, in round 2 or for
// an adjudicator, the other experts' labels and marks, each in the colour of their marks.

import { h } from './ui.js';
import { countMarks, describeMark, expertColour } from './shapes.js';

const HINTS = {
  box: 'drag a box over the lesion',
  point: 'click the lesion',
  polygon: 'click its outline vertex by vertex; click the first vertex again to close it',
};
const LABELS = { 1: 'diseased', 0: 'not diseased' };

/** "diseased", "not diseased" or "no label". */
export function labelText(label) {
  return LABELS[label] ?? 'no label';
}

function button(attrs, ...children) {
  const { onclick, ...rest } = attrs;
  const node = h('button', { type: 'button', ...rest }, ...children);
  if (onclick) node.addEventListener('click', onclick);
  return node;
}

/**
 * Draw the panel for the case on screen (``current`` of truthing_store.js).
 * @param {{adjudicating: boolean, kind: string, drafting: boolean}} view
 * @param {{onLabel, onKind, onSelect, onRemove, onComment, onSubmit}} hooks
 */
export function renderTruthingPanel(section, current, view, hooks) {
  section.replaceChildren();
  if (!current) return;
  const { label, marks, selected, allowed, locked } = current;
  const labelButton = (value, text, key) =>
    button({ id: `rw-label-${value ? 'yes' : 'no'}`, 'aria-pressed': String(label === value), 'aria-keyshortcuts': key, disabled: locked, onclick: () => hooks.onLabel(Boolean(value)) }, `${text} `, h('kbd', {}, key));
  const kinds = allowed.length
    ? h('div', { class: 'rw-kinds', role: 'group', 'aria-label': 'Kind of mark' }, allowed.map((kind) =>
      button({ 'data-kind': kind, 'aria-pressed': String(view.kind === kind), disabled: locked, onclick: () => hooks.onKind(kind) }, kind[0].toUpperCase() + kind.slice(1))))
    : null;
  const list = marks.length
    ? h('ol', { class: 'rw-shape-list' }, marks.map((mark, i) => h('li', { 'data-selected': String(i === selected) },
      button({ class: 'rw-link', 'data-mark': i + 1, 'aria-pressed': String(i === selected), onclick: () => hooks.onSelect(i) }, `${i + 1}. ${describeMark(mark)}`),
      button({ class: 'rw-link', 'aria-label': `Remove mark ${i + 1}`, disabled: locked, onclick: () => hooks.onRemove(i) }, '✕'))))
    : h('p', { class: 'muted' }, allowed.length ? 'No marks yet.' : 'This study takes a label only, no marks.');
  const comment = h('textarea', { id: 'rw-comment', rows: 3, disabled: locked, placeholder: view.adjudicating ? 'Why this truth (Shift+Enter: new line)' : 'Optional (Shift+Enter: new line)', maxlength: 5000 });
  comment.value = current.comment;
  comment.addEventListener('input', () => hooks.onComment(comment.value));
  section.append(
    h('h2', {}, view.adjudicating ? 'Final truth' : 'Your label'),
    h('div', { class: 'rw-labels', role: 'group', 'aria-label': 'Label' }, labelButton(1, 'Diseased', 'Y'), labelButton(0, 'Not diseased', 'N')),
    allowed.length ? h('fieldset', { class: 'rw-marks' },
      h('legend', {}, `Lesion marks (${marks.length}) `, h('kbd', {}, 'M')),
      kinds,
      h('p', { class: 'muted', id: 'rw-kind-hint' }, view.drafting ? 'Polygon: click the first vertex again to close it.' : `Mark tool (M): ${HINTS[view.kind]}.`),
      list) : list,
    h('div', { class: 'rw-comment' }, h('label', { for: 'rw-comment' }, view.adjudicating ? 'Note (required) ' : 'Comment ', h('kbd', {}, 'C')), comment),
    button({ id: 'rw-submit', class: 'primary', disabled: locked, onclick: () => hooks.onSubmit() }, view.adjudicating ? 'Record the final truth ' : 'Submit ', h('kbd', {}, 'Enter')),
  );
}

/**
 * The other experts' labels and marks: ``others`` [{member, label, lesions, round?}] in the order
 * their colours were given; ``onAdopt`` (adjudicator) takes one expert's label and marks as a start.
 */
export function renderOthers(section, others, { title, onAdopt = null }) {
  section.replaceChildren();
  section.hidden = !others.length;
  if (!others.length) return;
  section.append(
    h('h2', {}, title),
    h('ul', { class: 'rw-others-list' }, others.map((other, i) => {
      const item = h('li', { class: expertColour(i), 'data-member': other.member },
        h('span', { class: 'rw-swatch', 'aria-hidden': 'true' }),
        h('strong', {}, other.member),
        other.round ? h('span', { class: 'muted' }, ` round ${other.round}`) : null,
        `: ${labelText(other.label)} · ${countMarks(other.lesions || [])}`);
      if (onAdopt) item.append(' ', button({ class: 'rw-link', 'data-adopt': other.member, onclick: () => onAdopt(other) }, `Start from ${other.member}'s`));
      return item;
    })),
  );
}
