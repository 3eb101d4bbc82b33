// The reading page's state: the session and its assignments, the case on screen with its timings,
// where the reader left off to change an earlier score, and the active viewport. Lost on reload by
// design: the server holds the reads, and the outbox (offline.js) the ones not yet confirmed.
// No DOM, no Cornerstone; ``queued`` arguments are the outbox's pendingCases().

export class ViewerStore {
  constructor() {
    this.session = null;
    this.assignments = []; // the session's, in reading order
    this.current = null; // the case on screen: {assignment, openedAt, firstImageAt, revising: read id or null, recorder}
    this.activeViewport = 0;
    this.submitting = false;
    this.resume = null; // {id, openedAt, recorder}: the case left unscored to change an earlier score
    this.prefetched = new Map(); // assignment id -> details fetched ahead (see keepPrefetched)
  }

  setSession(session) {
    this.session = session;
    this.assignments = session.assignments;
  }

  get sequential() {
    return this.session?.study.design === 'sequential';
  }

  /**
   * The case now on screen; the reading time counts from ``openedAt``. ``recorder``: what the reader
   * does while reading it (interactions.js), for a first read only.
   */
  startCase(assignment, { openedAt, revising = null, recorder = null }) {
    this.current = { assignment, openedAt, firstImageAt: null, revising, recorder };
    return this.current;
  }

  /** Whether ``current`` is still the case on screen (the reader may have moved on while it loaded). */
  isShowing(current) {
    return this.current === current && current !== null;
  }

  /** 1-based place of an assignment in the session. */
  position(id) {
    return this.assignments.findIndex((a) => a.id === id) + 1;
  }

  /** The next case to read after ``after`` (wrapping round), skipping those read or in the outbox. */
  nextUnread(queued, after = null) {
    const fromOrder = after ? this.assignments.find((a) => a.id === after)?.order ?? 0 : 0;
    const unread = (a) => !a.read && !queued.has(a.id);
    return this.assignments.find((a) => a.order > fromOrder && unread(a))
      || this.assignments.find((a) => unread(a) && a.id !== after);
  }

  /** Cases read or waiting in the outbox, out of all. */
  progress(queued) {
    const done = this.assignments.filter((a) => a.read || queued.has(a.id)).length;
    return { done, total: this.assignments.length };
  }

  markRead(id) {
    const entry = this.assignments.find((a) => a.id === id);
    if (entry) entry.read = true;
  }

  /** The last case before the one on screen whose read the server holds (one to go back to and change). */
  previousScored(queued) {
    const before = this.current ? this.current.assignment.order : Infinity;
    return [...this.assignments].reverse().find((a) => a.order < before && a.read && !queued.has(a.id));
  }

  /** Going back to change a score: remember the unscored case on screen, when it was opened and its record. */
  leaveForRevision() {
    if (this.current && !this.current.revising) {
      const { assignment, openedAt, recorder } = this.current;
      this.resume = { id: assignment.id, openedAt, recorder };
    }
  }

  /**
   * When the reader returns to ``next``: its first opening and its record so far if it is the case
   * left, else ``now`` and no record.
   */
  takeResume(next, now) {
    const left = next && this.resume?.id === next.id ? this.resume : null;
    this.resume = null;
    return { openedAt: left ? left.openedAt : now, recorder: left?.recorder ?? null };
  }

  /**
   * Keep a next case's details fetched during prefetch, only outside the sequential design: there
   * the details of an aided read fetched early could carry AI the reader may not see yet.
   */
  keepPrefetched(id, details) {
    if (!this.sequential) this.prefetched.set(id, details);
  }

  /** Details prefetched for ``id``, if any; the others are dropped. */
  takePrefetched(id) {
    const details = this.prefetched.get(id);
    this.prefetched.clear();
    return details;
  }
}
