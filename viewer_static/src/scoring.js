// The scoring panel, built from the study's rating scale: a slider (continuous) or 1..K buttons
// (ordinal), an optional binary decision, optional lesion marks with their own confidence, and a
// comment. The rating starts unset so that no default value nudges the reader.

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
    this.reset();
  }

  reset() {
    this.rating = null;
    this.decision = null;
    this.marks = [];
    this.selectedMark = -1;
    this.comment = '';
    this.revision = null; // {reason} while changing a submitted read
    this.locked = false;
    this.render();
  }

  /** Start from a submitted read's values; the change needs a reason (kept in the audit history). */
  startRevision(read) {
    this.rating = read.rating;
    this.decision = read.decision;
    this.marks = (read.marks || []).map((mark) => ({ ...mark }));
    this.comment = read.comment || '';
    this.revision = { reason: '' };
    this.render();
  }

  get ordinal() {
    return this.scale.type === 'ordinal';
  }

  get complete() {
    return this.missing().length === 0;
  }

  missing() {
    const need = [];
    if (this.rating === null) need.push('a rating');
    if (this.scale.binary_decision && this.decision === null) need.push('a decision');
    if (this.revision && !this.revision.reason.trim()) need.push('the reason for the change');
    return need;
  }

  setRating(value) {
    if (this.locked) return;
    const { min, max } = this.scale;
    this.rating = Math.max(min, Math.min(max, this.ordinal ? Math.round(value) : Math.round(value * 10) / 10));
    this.update();
  }

  nudgeRating(delta) {
    const { min, max } = this.scale;
    const start = this.rating ?? (this.ordinal ? min : (min + max) / 2);
    this.setRating(this.rating === null ? start : start + delta);
  }

  setDecision(value) {
    if (this.locked || !this.scale.binary_decision) return;
    this.decision = value;
    this.update();
  }

  addMark(point) {
    if (this.locked || !this.scale.marks_enabled) return false;
    if (this.marks.length >= this.scale.max_marks) {
      this.flash(`At most ${this.scale.max_marks} marks per case`);
      return false;
    }
    const confidence = this.rating ?? (this.ordinal ? this.scale.max : this.scale.max);
    this.marks.push({ ...point, x: round1(point.x), y: round1(point.y), confidence });
    this.selectedMark = this.marks.length - 1;
    this.render();
    return true;
  }

  removeMark(index = this.selectedMark >= 0 ? this.selectedMark : this.marks.length - 1) {
    if (this.locked || index < 0 || index >= this.marks.length) return;
    this.marks.splice(index, 1);
    this.selectedMark = Math.min(this.selectedMark, this.marks.length - 1);
    this.render();
  }

  setMarkConfidence(index, value) {
    const { min, max } = this.scale;
    this.marks[index].confidence = Math.max(min, Math.min(max, Number(value)));
    this.hooks.onMarksChanged?.(this.marks, this.selectedMark);
  }

  values() {
    return {
      rating: this.rating,
      decision: this.scale.binary_decision ? this.decision : null,
      marks: this.marks.map(({ x, y, confidence, instance_uid, frame }) => ({ x, y, confidence, instance_uid, frame })),
      comment: this.comment,
    };
  }

  flash(message) {
    const out = this.root.querySelector('#rw-score-message');
    if (out) out.textContent = message;
  }

  update() {
    const out = this.root.querySelector('#rw-rating-value');
    if (out) out.textContent = this.rating === null ? 'not set' : String(this.rating);
    const slider = this.root.querySelector('#rw-rating');
    if (slider) {
      if (this.rating !== null) slider.value = String(this.rating);
      slider.classList.toggle('unset', this.rating === null);
      slider.setAttribute('aria-valuetext', this.rating === null ? 'not set' : String(this.rating));
    }
    this.root.querySelectorAll('[data-rating]').forEach((b) => {
      b.setAttribute('aria-pressed', String(Number(b.dataset.rating) === this.rating));
    });
    this.root.querySelectorAll('[data-decision]').forEach((b) => {
      b.setAttribute('aria-pressed', String(this.decision !== null && String(this.decision) === b.dataset.decision));
    });
    const submit = this.root.querySelector('#rw-submit');
    if (submit) {
      submit.disabled = this.locked || !this.complete;
      const action = this.revision ? 'Save the change and go on (Enter)' : 'Submit and go to the next case (Enter)';
      submit.title = this.complete ? action : `Still needed: ${this.missing().join(', ')}`;
    }
    this.flash(this.complete || this.locked ? '' : `Still needed: ${this.missing().join(', ')}`);
    this.hooks.onChange?.(this);
  }

  render() {
    const { min, max, labels } = this.scale;
    const ratingControl = this.ordinal
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
            value: (min + max) / 2,
            'aria-labelledby': 'rw-rating-label',
            'aria-valuetext': 'not set',
            oninput: (e) => this.setRating(Number(e.target.value)),
            onkeydown: (e) => e.stopPropagation(),
          }),
          h('div', { class: 'rw-scale-ends', 'aria-hidden': 'true' }, h('span', {}, `${min}${labels?.[0] ? ` ${labels[0]}` : ''}`), h('span', {}, `${max}${labels?.[1] ? ` ${labels[1]}` : ''}`)),
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
          h('legend', {}, `Lesion marks (${this.marks.length}/${this.scale.max_marks}) `, h('kbd', {}, 'M')),
          this.marks.length
            ? h(
                'ol',
                {},
                this.marks.map((mark, i) =>
                  h(
                    'li',
                    { class: i === this.selectedMark ? 'selected' : '' },
                    h('label', { for: `rw-mark-${i}` }, `Mark ${i + 1} confidence`),
                    h('input', {
                      id: `rw-mark-${i}`,
                      type: 'number',
                      min,
                      max,
                      step: this.ordinal ? 1 : 'any',
                      value: mark.confidence,
                      onchange: (e) => this.setMarkConfidence(i, e.target.value),
                      onfocus: () => {
                        this.selectedMark = i;
                        this.hooks.onMarksChanged?.(this.marks, i);
                      },
                      onkeydown: (e) => e.stopPropagation(),
                    }),
                    h('button', { type: 'button', class: 'rw-link', 'aria-label': `Remove mark ${i + 1}`, onclick: () => this.removeMark(i) }, '✕'),
                  ),
                ),
              )
            : h('p', { class: 'muted' }, 'Press M (or the Mark tool), then click the image.'),
        )
      : null;

    const comment = this._textField('rw-comment', ['Comment ', h('kbd', {}, 'C')], 5000, (text) => {
      this.comment = text;
    });
    const reason = this.revision
      ? this._textField('rw-reason', 'Reason for changing the submitted score (required)', 2000, (text) => {
          this.revision.reason = text;
          this.update();
        })
      : null;

    this.root.replaceChildren(
      h('h2', { id: 'rw-rating-label' }, this.revision ? 'Changing the rating ' : 'Rating ', h('output', { id: 'rw-rating-value', 'aria-live': 'polite' }, 'not set')),
      ratingControl,
      decision,
      marks,
      comment,
      reason,
      h('p', { id: 'rw-score-message', class: 'muted', role: 'status' }),
      h('button', { id: 'rw-submit', type: 'button', class: 'primary', disabled: true, 'aria-keyshortcuts': 'Enter', onclick: () => this.hooks.onSubmit?.() }, this.revision ? 'Save change ' : 'Submit & next ', h('kbd', {}, 'Enter')),
    );
    this.root.querySelector('#rw-comment').value = this.comment;
    if (this.revision) this.root.querySelector('#rw-reason').value = this.revision.reason;
    this.update();
    this.hooks.onMarksChanged?.(this.marks, this.selectedMark);
  }

  /** A labelled two-line text box; keys typed in it do not reach the viewer's shortcuts. */
  _textField(id, label, maxlength, onInput) {
    return h(
      'div',
      { class: 'rw-comment' },
      h('label', { for: id }, label),
      h('textarea', { id, rows: 2, maxlength, onkeydown: (e) => this._commentKey(e), oninput: (e) => onInput(e.target.value) }),
    );
  }

  _commentKey(event) {
    event.stopPropagation();
    if (event.key === 'Escape') event.target.blur();
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      this.hooks.onSubmit?.();
    }
  }
}

function round1(v) {
  return Math.round(v * 10) / 10;
}
