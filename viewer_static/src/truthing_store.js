// The truthing mode's state, without a DOM: the cases a truther labels in the round open to them
// (or the disputes an adjudicator settles), the case on screen with the label, marks and comment
// being entered, and the bodies the outbox sends. Like store.js it is lost on reload by design:
// what was submitted waits in the outbox (offline.js), keyed by ``caseKey``.

import { isValidMark } from './shapes.js';

/** How the truthing outbox knows a label: its study, case and round (one label each). */
export function caseKey({ study, case: caseId, round }) {
  return `${study}:${caseId}:${round ?? 'adjudication'}`;
}

export class TruthingStore {
  /** @param {number} studyId @param {'truther'|'adjudicator'} role */
  constructor(studyId, role) {
    this.studyId = studyId;
    this.role = role;
    this.items = []; // truther: {case, label, position, round, done, study_instance_uid}; adjudicator: disputes
    this.current = null;
    this.activeViewport = 0;
    this.submitting = false;
  }

  get adjudicating() {
    return this.role === 'adjudicator';
  }

  /** The truther's cases, or the adjudicator's disputes (those settled count as done). */
  setItems(items) {
    this.items = items.map((item, i) => ({
      ...item,
      position: item.position ?? i + 1,
      round: this.adjudicating ? null : item.round,
      done: this.adjudicating ? Boolean(item.adjudicated) : Boolean(item.done),
    }));
  }

  keyOf(item) {
    return caseKey({ study: this.studyId, case: item.case, round: item.round });
  }

  _done(item, queued) {
    return item.done || queued.has(this.keyOf(item));
  }

  /** The first case neither done nor waiting in the outbox. */
  next(queued) {
    return this.items.find((item) => !this._done(item, queued));
  }

  progress(queued) {
    return { done: this.items.filter((item) => this._done(item, queued)).length, total: this.items.length };
  }

  markDone(item) {
    const entry = this.items.find((i) => this.keyOf(i) === this.keyOf(item));
    if (entry) entry.done = true;
  }

  /**
   * The case on screen. ``details``: the case as the API gives it (truther) or the dispute
   * (adjudicator); ``allowed``: the kinds of marks the study's rule allows.
   */
  startCase(item, details, { openedAt, allowed }) {
    this.current = { item, details, openedAt, allowed, label: null, marks: [], comment: '', selected: -1, locked: false };
    return this.current;
  }

  isShowing(current) {
    return this.current === current && current !== null;
  }

  /** Y / N: 1 diseased, 0 not; whether it changed. */
  setLabel(diseased) {
    const c = this.current;
    if (!c || c.locked) return false;
    const label = diseased ? 1 : 0;
    if (c.label === label) return false;
    c.label = label;
    return true;
  }

  /** 'added', 'locked', or 'refused' (a kind the rule does not allow, or a malformed mark). */
  addMark(mark) {
    const c = this.current;
    if (!c || c.locked) return 'locked';
    if (!isValidMark(mark, c.allowed)) return 'refused';
    c.marks.push(mark);
    c.selected = c.marks.length - 1;
    return 'added';
  }

  select(index) {
    if (!this.current || index < -1 || index >= this.current.marks.length) return false;
    this.current.selected = index;
    return true;
  }

  /** Remove mark ``index``, else the selected one, else the last; whether one went. */
  removeMark(index = null) {
    const c = this.current;
    if (!c || c.locked || !c.marks.length) return false;
    const at = index ?? (c.selected >= 0 ? c.selected : c.marks.length - 1);
    if (at < 0 || at >= c.marks.length) return false;
    c.marks.splice(at, 1);
    c.selected = Math.min(c.selected, c.marks.length - 1);
    if (c.selected === at) c.selected = -1;
    return true;
  }

  /** The adjudicator takes an expert's label and marks as the starting point of the final truth. */
  adopt({ label, lesions }) {
    const c = this.current;
    if (!c || c.locked) return false;
    c.label = label ?? c.label;
    c.marks = (lesions || []).filter((mark) => isValidMark(mark, c.allowed)).map((mark) => structuredClone(mark));
    c.selected = -1;
    return true;
  }

  /** Why the case on screen cannot be submitted as it is ('' when it can). */
  missing() {
    if (!this.current) return 'No case is open.';
    if (this.current.label === null) return 'Choose a label first: diseased (Y) or not diseased (N).';
    if (this.current.label === 0 && this.current.marks.length) return 'A case not diseased has no lesion marks: remove them (Delete) or label it diseased (Y).';
    if (this.adjudicating && !this.current.comment.trim()) return 'Say in the note (C) why the case is decided so.';
    return '';
  }

  /** The body the outbox sends for the case on screen (the study travels beside it, for the URL). */
  body({ idempotencyKey }) {
    const c = this.current;
    const common = { study: this.studyId, case: c.item.case, idempotency_key: idempotencyKey, label: c.label, lesions: c.marks.map((m) => structuredClone(m)) };
    if (this.adjudicating) return { ...common, note: c.comment };
    return { ...common, round: c.item.round, comment: c.comment, opened_at: c.openedAt.toISOString() };
  }
}
