// The scoring panel, built from the study's rating scale: a slider (continuous) or 1..K buttons
// (ordinal), an optional binary decision, optional lesion marks with their own confidence, and a
// comment. It draws a ScoreState (score_state.js), which holds the values and their rules.

import { ScoreState } from './score_state.js';

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export class ScoringPanel {
  /**
   * @param {HTMLElement} root
   * @param {object} scale the study's scale from the API
   * @param {{onChange: Function, onSubmit: Function, onMarksChanged: Function}} hooks
   */
  constructor(root, scale, hooks) {
    this.root = root;
    this.scale = scale;
    this.hooks = hooks;
    this.state = new ScoreState(scale);
    this.render();
  }

  reset() {
    this.state.reset();
    this.render();
  }

  startRevision(read, reason = '') {
    this.state.startRevision(read, reason);
    this.render();
  }

  /** While a read is being sent its values cannot change. */
  lock(locked = true) {
    this.state.locked = locked;
    this.update();
  }

  setRating(value) {
    if (this.state.setRating(value)) this.update();
  }

  setRatingFromDigit(digit) {
    if (this.state.setRatingFromDigit(digit)) this.update();
  }

  nudgeRating(delta) {
    if (this.state.nudgeRating(delta)) this.update();
  }

  setDecision(value) {
    if (this.state.setDecision(value)) this.update();
  }

  addMark(point) {
    const outcome = this.state.addMark(point);
    if (outcome === 'limit') this.flash(`At most ${this.scale.max_marks} marks per case`);
    if (outcome === 'added') this.render();
  }

  removeMark(index) {
    if (this.state.removeMark(index)) this.render();
  }

  /** As the reader types: the field keeps the text, the mark its value on the scale or none. */
  setMarkConfidence(index, value) {
    this.state.setMarkConfidence(index, value);
    this.update();
    this.hooks.onMarksChanged?.(this.state.marks, this.state.selectedMark);
  }

  flash(message, kind = 'info') {
    const out = this.root.querySelector('#rw-score-message');
    if (!out) return;
    out.textContent = message;
    out.dataset.kind = kind;
  }

  /** Submit was asked for before the read is complete: say what is missing, nothing is sent. */
  refuse() {
    if (this.state.locked) return;
    this.flash(`Not submitted. Still needed: ${this.state.missing().join(', ')}.`, 'error');
  }

  update() {
    const { state } = this;
    const out = this.root.querySelector('#rw-rating-value');
    if (out) out.textContent = state.rating === null ? 'not set' : String(state.rating);
    const slider = this.root.querySelector('#rw-rating');
    if (slider) {
      // Unset, the slider shows no thumb: no position to anchor on until the reader picks one.
      if (state.rating !== null) slider.value = String(state.rating);
      slider.classList.toggle('unset', state.rating === null);
      slider.setAttribute('aria-valuetext', state.rating === null ? 'not set' : String(state.rating));
      this.root.querySelector('#rw-rating-hint').hidden = state.rating !== null;
    }
    state.marks.forEach((mark, i) => {
      this.root.querySelector(`#rw-mark-${i}`)?.setAttribute('aria-invalid', String(mark.confidence === null));
    });
    this.root.querySelectorAll('[data-rating]').forEach((b) => {
      b.setAttribute('aria-pressed', String(Number(b.dataset.rating) === state.rating));
    });
    this.root.querySelectorAll('[data-decision]').forEach((b) => {
      b.setAttribute('aria-pressed', String(state.decision !== null && String(state.decision) === b.dataset.decision));
    });
    const submit = this.root.querySelector('#rw-submit');
    if (submit) {
      // Not disabled: a click on an incomplete read says what is missing (refuse) instead of nothing.
      submit.setAttribute('aria-disabled', String(state.locked || !state.complete));
      const action = state.revision ? 'Save the change and go on (Enter)' : 'Submit and go to the next case (Enter)';
      submit.title = state.complete ? action : `Still needed: ${state.missing().join(', ')}`;
    }
    this.flash(state.complete || state.locked ? '' : `Still needed: ${state.missing().join(', ')}`, 'info');
    this.hooks.onChange?.(this);
  }

  render() {
    const { state } = this;
    const { min, max, labels } = this.scale;
    const ratingControl = state.ordinal
      ? h(
          'div',
          { class: 'rw-ordinal', role: 'group', 'aria-labelledby': 'rw-rating-label' },
          Array.from({ length: max - min + 1 }, (_, i) => {
            const value = min + i;
            const text = labels?.[i] || '';
            return h(
              'button',
              { type: 'button', 'data-rating': value, 'aria-pressed': 'false', 'aria-keyshortcuts': String(value), onclick: () => this.setRating(value) },
              h('span', { class: 'key' }, String(value)),
              text ? h('span', { class: 'lbl' }, text) : null,
            );
          }),
        )
      : h(
          'div',
          { class: 'rw-continuous' },
          h('input', {
            id: 'rw-rating',
            type: 'range',
            class: 'unset',
            min,
            max,
            step: 1,
            'aria-labelledby': 'rw-rating-label',
            'aria-describedby': 'rw-rating-hint',
            'aria-valuetext': 'not set',
            oninput: (e) => this.setRating(Number(e.target.value)),
            // A click where the hidden thumb already sits changes no value and fires no input event.
            onpointerup: (e) => this.setRating(Number(e.target.value)),
          }),
          h('div', { class: 'rw-scale-ends', 'aria-hidden': 'true' }, h('span', {}, `${min}${labels?.[0] ? ` ${labels[0]}` : ''}`), h('span', {}, `${max}${labels?.[1] ? ` ${labels[1]}` : ''}`)),
          h('p', { id: 'rw-rating-hint', class: 'muted' }, 'Not set: click the scale where your rating lies, or press 0–9.'),
        );

    const decision = this.scale.binary_decision
      ? h(
          'fieldset',
          { class: 'rw-decision' },
          h('legend', {}, 'Decision'),
          h('button', { type: 'button', 'data-decision': 'true', 'aria-pressed': 'false', 'aria-keyshortcuts': 'Y', onclick: () => this.setDecision(true) }, 'Positive ', h('kbd', {}, 'Y')),
          h('button', { type: 'button', 'data-decision': 'false', 'aria-pressed': 'false', 'aria-keyshortcuts': 'N', onclick: () => this.setDecision(false) }, 'Negative ', h('kbd', {}, 'N')),
        )
      : null;

    const marks = this.scale.marks_enabled
      ? h(
          'fieldset',
          { class: 'rw-marks' },
          h('legend', {}, `Lesion marks (${state.marks.length}/${this.scale.max_marks}) `, h('kbd', {}, 'M')),
          state.marks.length
            ? h(
                'ol',
                {},
                state.marks.map((mark, i) =>
                  h(
                    'li',
                    { class: i === state.selectedMark ? 'selected' : '' },
                    h('label', { for: `rw-mark-${i}` }, `Mark ${i + 1} confidence`),
                    h('input', {
                      id: `rw-mark-${i}`,
                      type: 'number',
                      min,
                      max,
                      step: state.ordinal ? 1 : 'any',
                      value: mark.confidence ?? '',
                      placeholder: `${min}–${max}`,
                      'aria-invalid': String(mark.confidence === null),
                      oninput: (e) => this.setMarkConfidence(i, e.target.value),
                      onfocus: () => {
                        state.selectedMark = i;
                        this.hooks.onMarksChanged?.(state.marks, i);
                      },
                    }),
                    h('button', { type: 'button', class: 'rw-link', 'aria-label': `Remove mark ${i + 1}`, onclick: () => this.removeMark(i) }, '✕'),
                  ),
                ),
              )
            : h('p', { class: 'muted' }, 'Press M (or the Mark tool), then click the image; then give each mark its confidence.'),
        )
      : null;

    const comment = this._textField('rw-comment', ['Comment ', h('kbd', {}, 'C')], 5000, (text) => {
      state.comment = text;
    });
    const reason = state.revision
      ? this._textField('rw-reason', 'Reason for changing the submitted score (required)', 2000, (text) => {
          state.revision.reason = text;
          this.update();
        })
      : null;

    // Parts the study does not use are null; replaceChildren would write them as the text "null".
    this.root.replaceChildren(
      ...[
        h('h2', { id: 'rw-rating-label' }, state.revision ? 'Changing the rating ' : 'Rating ', h('output', { id: 'rw-rating-value', 'aria-live': 'polite' }, 'not set')),
        ratingControl,
        decision,
        marks,
        comment,
        reason,
        h('p', { id: 'rw-score-message', class: 'muted', role: 'status' }),
        h('button', { id: 'rw-submit', type: 'button', class: 'primary', 'aria-disabled': 'true', 'aria-keyshortcuts': 'Enter', onclick: () => this.hooks.onSubmit?.() }, state.revision ? 'Save change ' : 'Submit & next ', h('kbd', {}, 'Enter')),
      ].filter((part) => part !== null),
    );
    this.root.querySelector('#rw-comment').value = state.comment;
    if (state.revision) this.root.querySelector('#rw-reason').value = state.revision.reason;
    this.update();
    this.hooks.onMarksChanged?.(state.marks, state.selectedMark);
  }

  /**
   * A labelled two-line text box. Keys typed in it stay text (keyboard.js), but Enter, which
   * submits from anywhere; the line under it says so.
   */
  _textField(id, label, maxlength, onInput) {
    return h(
      'div',
      { class: 'rw-comment' },
      h('label', { for: id }, label),
      h('textarea', { id, rows: 2, maxlength, 'aria-describedby': `${id}-keys`, oninput: (e) => onInput(e.target.value) }),
      h('p', { id: `${id}-keys`, class: 'muted rw-keys' }, h('kbd', {}, 'Enter'), ' submits · ', h('kbd', {}, 'Shift+Enter'), ' new line'),
    );
  }
}
