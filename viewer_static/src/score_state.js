// What the reader has scored on the current case, checked against the study's scale: the rating
// and each lesion mark's confidence (unset until the reader sets them, so no default nudges them),
// the binary decision where the study asks for one, lesion marks up to the study's limit, a
// comment, and the reason for a change to a submitted read. No DOM: scoring.js draws it, main.js
// sends it.

export class ScoreState {
  /** @param {{type: string, min: number, max: number, binary_decision: boolean, marks_enabled: boolean, max_marks: number}} scale */
  constructor(scale) {
    this.scale = scale;
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
  }

  /**
   * Start from a submitted read's values; the change needs a reason (kept in the audit history),
   * given here where the viewer knows it (an undo).
   */
  startRevision(read, reason = '') {
    this.rating = read.rating;
    this.decision = read.decision;
    this.marks = read.marks.map((mark) => ({ ...mark }));
    this.comment = read.comment || '';
    this.revision = { reason };
  }

  get ordinal() {
    return this.scale.type === 'ordinal';
  }

  get complete() {
    return this.missing().length === 0;
  }

  /** What the reader still has to give before the read can be submitted. */
  missing() {
    const need = [];
    if (this.rating === null) need.push('a rating');
    if (this.scale.binary_decision && this.decision === null) need.push('a decision');
    this.marks.forEach((mark, i) => {
      if (mark.confidence === null) need.push(`a confidence for mark ${i + 1} (${this.scaleText})`);
    });
    if (this.revision && !this.revision.reason.trim()) need.push('the reason for the change');
    return need;
  }

  /** The scale's range as the reader reads it: "0–100", "1–5". */
  get scaleText() {
    return `${this.scale.min}–${this.scale.max}`;
  }

  /** A value inside the scale: whole steps on an ordinal scale, tenths on a continuous one. */
  onScale(value) {
    const { min, max } = this.scale;
    return Math.max(min, Math.min(max, this.ordinal ? Math.round(value) : Math.round(value * 10) / 10));
  }

  /** Returns whether the rating could be set (not while the read is being sent). */
  setRating(value) {
    if (this.locked || !Number.isFinite(Number(value))) return false;
    this.rating = this.onScale(Number(value));
    return true;
  }

  /** The digit keys: the rating itself on an ordinal scale, tenths of the range on a continuous one. */
  setRatingFromDigit(digit) {
    const { min, max } = this.scale;
    return this.setRating(this.ordinal ? digit : min + (digit / 10) * (max - min));
  }

  /** Step the rating; the first step from unset lands on the lowest grade or the middle of the range. */
  nudgeRating(delta) {
    const { min, max } = this.scale;
    if (this.rating === null) return this.setRating(this.ordinal ? min : (min + max) / 2);
    return this.setRating(this.rating + delta);
  }

  setDecision(value) {
    if (this.locked || !this.scale.binary_decision) return false;
    this.decision = value;
    return true;
  }

  /**
   * Add a lesion mark (image pixel, instance, frame); its confidence is unset until the reader sets it.
   * @returns {'added'|'limit'|'off'} 'limit': the study's max_marks is reached
   */
  addMark(point) {
    if (this.locked || !this.scale.marks_enabled) return 'off';
    if (this.marks.length >= this.scale.max_marks) return 'limit';
    this.marks.push({ ...point, x: round1(point.x), y: round1(point.y), confidence: null });
    this.selectedMark = this.marks.length - 1;
    return 'added';
  }

  /** Remove a mark: the selected one, else the last. Returns whether one was removed. */
  removeMark(index = this.selectedMark >= 0 ? this.selectedMark : this.marks.length - 1) {
    if (this.locked || index < 0 || index >= this.marks.length) return false;
    this.marks.splice(index, 1);
    this.selectedMark = Math.min(this.selectedMark, this.marks.length - 1);
    return true;
  }

  /**
   * A mark's confidence as typed: a number on the scale (a whole one on an ordinal scale), else
   * unset, so that what the field shows is what is sent or the read cannot be submitted.
   * Returns whether the value is on the scale.
   */
  setMarkConfidence(index, value) {
    const mark = this.marks[index];
    if (!mark || this.locked) return false;
    const number = String(value).trim() === '' ? NaN : Number(value);
    const { min, max } = this.scale;
    const onScale = Number.isFinite(number) && number >= min && number <= max && (!this.ordinal || Number.isInteger(number));
    mark.confidence = onScale ? number : null;
    return onScale;
  }

  values() {
    return {
      rating: this.rating,
      decision: this.scale.binary_decision ? this.decision : null,
      marks: this.marks.map(({ x, y, confidence, instance_uid, frame }) => ({ x, y, confidence, instance_uid, frame })),
      comment: this.comment,
    };
  }
}

function round1(v) {
  return Math.round(v * 10) / 10;
}

/** What every score sends: its key, its values (no empty marks, no decision the study does not ask for), when it was opened and submitted. */
function scoreBody({ idempotencyKey, values, openedAt, submittedAt }) {
  const body = { idempotency_key: idempotencyKey, ...values, opened_at: openedAt.toISOString(), submitted_at: submittedAt.toISOString() };
  if (!body.marks.length) delete body.marks;
  if (body.decision === null) delete body.decision;
  return body;
}

/**
 * The body of a read (POST /reads/, with what the reader did: ``interactions``, interactions.js) or
 * of a change to one (PATCH, ``revising``: the read's id).
 * The timestamps go in order, opened <= first image <= submitted: the first image's time comes
 * from the performance clock, which can drift a few ms from the wall clock the others use.
 */
export function readBody({ assignmentId, idempotencyKey, values, openedAt, firstImageAt, submittedAt, revising = null, reason = '', interactions = null }) {
  const firstImage = firstImageAt
    ? new Date(Math.min(Math.max(firstImageAt.getTime(), openedAt.getTime()), submittedAt.getTime()))
    : null;
  const body = {
    assignment: assignmentId,
    ...scoreBody({ idempotencyKey, values, openedAt, submittedAt }),
    first_image_at: firstImage ? firstImage.toISOString() : null,
  };
  // A change keeps the record of the first reading: only a first read carries one.
  if (revising) Object.assign(body, { read: revising, reason: reason.trim() });
  else if (interactions) body.interactions = interactions;
  return body;
}

/**
 * The body of a training score (POST /studies/<study>/training/reads/; ``study`` is kept for the URL):
 * the case and the arm it is read in, the values and what the reader did. Final once stored: no
 * change, and no first-image time (the training endpoint keeps none).
 */
export function trainingReadBody({ studyId, caseId, arm, idempotencyKey, values, openedAt, submittedAt, interactions = null }) {
  const body = { study: studyId, case: caseId, arm, ...scoreBody({ idempotencyKey, values, openedAt, submittedAt }) };
  if (interactions) body.interactions = interactions;
  return body;
}
