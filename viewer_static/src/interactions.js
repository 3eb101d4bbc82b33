// What the reader did while reading a case, sent with the read as its ``interactions`` (version 1,
// checked by the server in studies/services/interactions.py):
//
//   {"v": 1,
//    "images": [[set, index, ms], ...],  time each image was on screen in the viewport the reader
//                                        was at (the one last pointed at or focused), page visible;
//                                        set: the viewport / display set, index: the image in its stack
//    "wl": n, "zoom": n, "pan": n, "invert": n,   changes the reader made: one per drag, key or button
//    "ai_toggles": n,                    AI findings shown or hidden by the reader
//    "events": [[ds, kind], ...],        those changes in order, ds: tenths of a second since the
//                                        first image; the first MAX_EVENTS only
//    "truncated": bool}                  whether images or events were left out at their limits
//
// Nothing else: no coordinates, no values, no free text. No DOM, no Cornerstone: main.js and
// controls.js feed it; ``now`` is any millisecond clock.

export const INTERACTIONS_VERSION = 1;
export const MAX_IMAGES = 4000;
export const MAX_EVENTS = 200;
export const VIEW_CHANGES = ['wl', 'zoom', 'pan', 'invert'];

export class InteractionRecorder {
  constructor() {
    this.started = null; // ms of the case's first image; nothing is recorded before it
  }

  /** A new case: its first image is on screen at ``now``, in viewport 0. */
  start(now, { visible = true } = {}) {
    this.started = now;
    this.dwell = new Map(); // "set,index" -> ms
    this.shown = new Map(); // viewport -> "set,index"
    this.active = 0;
    this.visible = visible;
    this.since = now;
    this.counts = { wl: 0, zoom: 0, pan: 0, invert: 0, ai_toggles: 0 };
    this.events = [];
    this.truncated = false;
  }

  get recording() {
    return this.started !== null;
  }

  /** Viewport ``viewport`` now shows image ``index`` of display set ``set``. */
  show(viewport, set, index, now) {
    if (!this.recording) return;
    const key = `${set},${index}`;
    if (this.shown.get(viewport) === key) return;
    this._accrue(now);
    this.shown.set(viewport, key);
  }

  /** The reader is now at viewport ``viewport`` (pointer or focus). */
  focus(viewport, now) {
    if (!this.recording || viewport === this.active) return;
    this._accrue(now);
    this.active = viewport;
  }

  /** The page was hidden (another tab, a minimised window) or shown again. */
  visibility(visible, now) {
    if (!this.recording || visible === this.visible) return;
    this._accrue(now);
    this.visible = visible;
  }

  /** One change the reader made to a view: 'wl', 'zoom', 'pan' or 'invert'. */
  change(kind, now) {
    if (!this.recording || !VIEW_CHANGES.includes(kind)) return;
    this.counts[kind] += 1;
    this._event(kind, now);
  }

  /** The reader showed (``on``) or hid the AI findings. */
  aiToggle(on, now) {
    if (!this.recording) return;
    this.counts.ai_toggles += 1;
    this._event(on ? 'ai_on' : 'ai_off', now);
  }

  /** The record up to ``now``, in the compact form the server stores; null before the first image. */
  record(now) {
    if (!this.recording) return null;
    this._accrue(now);
    const images = [...this.dwell].map(([key, ms]) => [...key.split(',').map(Number), Math.round(ms)]);
    return { v: INTERACTIONS_VERSION, images, ...this.counts, events: this.events.slice(), truncated: this.truncated };
  }

  _accrue(now) {
    const key = this.shown.get(this.active);
    const elapsed = now - this.since;
    this.since = now;
    if (!this.visible || key === undefined || !(elapsed > 0)) return;
    if (!this.dwell.has(key) && this.dwell.size >= MAX_IMAGES) {
      this.truncated = true;
      return;
    }
    this.dwell.set(key, (this.dwell.get(key) || 0) + elapsed);
  }

  _event(kind, now) {
    if (this.events.length >= MAX_EVENTS) {
      this.truncated = true;
      return;
    }
    this.events.push([Math.max(0, Math.round((now - this.started) / 100)), kind]);
  }
}

/**
 * The changes between two states of a view ({voi: {lower, upper}, invert, scale, focal: [x, y, z]}):
 * a window/level change, a zoom (the scale changed; the centre may move with it) or else a pan,
 * and an inversion.
 */
export function viewChanges(before, after) {
  if (!before || !after) return [];
  const changes = [];
  const differs = (a, b, tolerance) => Math.abs(a - b) > tolerance;
  const width = Math.abs(before.voi.upper - before.voi.lower) || 1;
  if (differs(before.voi.lower, after.voi.lower, width * 1e-6) || differs(before.voi.upper, after.voi.upper, width * 1e-6)) {
    changes.push('wl');
  }
  if (differs(before.scale, after.scale, before.scale * 1e-6)) changes.push('zoom');
  else if (before.focal.some((v, k) => differs(v, after.focal[k], before.scale * 1e-6))) changes.push('pan');
  if (before.invert !== after.invert) changes.push('invert');
  return changes;
}
