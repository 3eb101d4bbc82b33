// The training page's state (training mode): the reader's training items (each training case in
// each training arm, case by case and the arms in order), the case on screen and whether its
// feedback is shown. Like store.js: no DOM, lost on reload by design; ``queued`` arguments are
// the training outbox's pendingCases(), keyed by ``caseKey``.

/** How the training outbox knows a score: its study, case and arm (one score each). */
export function caseKey({ study, case: caseId, arm }) {
  return `${study}:${caseId}:${arm}`;
}

export class TrainingStore {
  constructor(studyId) {
    this.studyId = studyId;
    this.training = null;
    this.items = [];
    this.current = null; // {item, details, openedAt, firstImageAt, recorder, feedback}
    this.activeViewport = 0;
    this.submitting = false;
  }

  /** The training overview; read flags kept where this page has seen a score stored that it does not carry yet. */
  setTraining(training) {
    const seen = new Set(this.items.filter((item) => item.read).map((item) => this.keyOf(item)));
    this.training = training;
    this.items = training.items.map((item) => (seen.has(this.keyOf(item)) ? { ...item, read: true } : item));
  }

  keyOf(item) {
    return caseKey({ study: this.studyId, case: item.case, arm: item.arm.name });
  }

  startCase(item, details, { openedAt, recorder }) {
    this.current = { item, details, openedAt, firstImageAt: null, recorder, feedback: null };
    return this.current;
  }

  isShowing(current) {
    return this.current === current && current !== null;
  }

  /** 1-based place of an item in the training. */
  position(item) {
    return this.items.findIndex((i) => this.keyOf(i) === this.keyOf(item)) + 1;
  }

  _done(item, queued) {
    return item.read || queued.has(this.keyOf(item));
  }

  /**
   * The next item to read: the first neither read nor waiting in the outbox. The items come case by
   * case with the arms in order, so every arm before it on its case is read (the server asks that).
   */
  next(queued) {
    return this.items.find((item) => !this._done(item, queued));
  }

  /** The first item whose score waits in the outbox (kept from before a reload): its feedback comes first. */
  waiting(queued) {
    return this.items.find((item) => !item.read && queued.has(this.keyOf(item)));
  }

  /** Items read or waiting in the outbox, out of all. */
  progress(queued) {
    return { done: this.items.filter((item) => this._done(item, queued)).length, total: this.items.length };
  }

  markRead(item) {
    const entry = this.items.find((i) => this.keyOf(i) === this.keyOf(item));
    if (entry) entry.read = true;
  }
}
