// The outbox of unsent reads: the one piece of state that must survive a reload, a lost network
// or a server restart. A read, or a change to one (a body with ``read``: its id), is written here
// (localStorage, synchronously) before any request, and removed only when the server confirms it
// (201/200, or 200 for a replay of the same idempotency key). Retries reuse the key, so the
// server stores each read and each change exactly once. The training workstation keeps its
// scores in an outbox of its own (``name``), each case known by its study, case and arm.

import { HttpError } from './api.js';

const RETRY_MS = [1000, 2000, 4000, 8000, 15000];
const MAX_RETRY_AFTER_MS = 5 * 60 * 1000; // a server asking for longer still gets a try every 5 minutes

/**
 * Whether a failed send may succeed later as it is: no answer (network), throttled (429), the
 * server or a proxy in trouble (5xx: 502, 503, 504), logged out (401) or a stale CSRF token.
 * Any other 4xx says the read itself is refused: retrying cannot help.
 */
export function isRetryable(status, csrf = false) {
  return status === 0 || status === 401 || csrf || status === 408 || status === 429 || status >= 500;
}

/** The wait a Retry-After header asks for (delay-seconds or an HTTP date, RFC 9110 10.2.3), in ms; null if none. */
export function retryAfterMs(value, now = Date.now()) {
  if (value === null || value === undefined || value === '') return null;
  const seconds = Number(value);
  const wait = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isNaN(wait) ? null : Math.min(Math.max(wait, 0), MAX_RETRY_AFTER_MS);
}

export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class Outbox {
  /**
   * @param {string} owner the reader's username: one outbox per reader on a shared workstation
   * @param {(body: object) => Promise<{status: number}>} send
   * @param {{name?: string, caseOf?: (body: object) => *}} options ``name``: an outbox apart from the
   *   study reads' (training); ``caseOf``: what a body reads, one first read each (its assignment)
   */
  constructor(owner, send, { name = '', caseOf = (body) => body.assignment } = {}) {
    this.storageKey = `mrmc.outbox.v1.${owner}${name ? `.${name}` : ''}`;
    this.send = send;
    this.caseOf = caseOf;
    this.listeners = new Set();
    this.sending = null;
    this.timer = null;
    this.attempt = 0;
    this.lastError = '';
    this.nextRetryAt = null;
    this.retryAfter = null; // what the last failed send's server asked us to wait, in ms
    window.addEventListener('online', () => this.flush());
    window.addEventListener('storage', (e) => e.key === this.storageKey && this._emit());
  }

  items() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey) || '[]');
    } catch {
      return [];
    }
  }

  _save(items) {
    localStorage.setItem(this.storageKey, JSON.stringify(items));
    this._emit();
  }

  /** Keep the read; returns its idempotency key. A case already queued keeps its first key. */
  enqueue(body) {
    const sameCase = (item) => this.caseOf(item.body) === this.caseOf(body);
    // A refused read of the same case gives way to the new one.
    const items = this.items().filter((i) => !(i.state === 'rejected' && sameCase(i)));
    const queued = !body.read && items.find((item) => !item.body.read && sameCase(item));
    if (queued) return queued.body.idempotency_key;
    items.push({ body, state: 'pending', queuedAt: new Date().toISOString(), error: '' });
    this._save(items);
    return body.idempotency_key;
  }

  /** Cases (``caseOf``) whose first read is waiting to be sent (not changes, not those the server refused). */
  pendingCases() {
    return new Set(this.items().filter((i) => i.state === 'pending' && !i.body.read).map((item) => this.caseOf(item.body)));
  }

  onChange(listener) {
    this.listeners.add(listener);
    listener(this.status());
  }

  _emit() {
    const status = this.status();
    for (const listener of this.listeners) listener(status);
  }

  status() {
    const items = this.items();
    return {
      pending: items.filter((i) => i.state === 'pending').length,
      rejected: items.filter((i) => i.state === 'rejected'),
      sending: Boolean(this.sending),
      lastError: this.lastError,
      nextRetryAt: this.nextRetryAt,
    };
  }

  /** Resolves when the read of this case (``caseOf``) has left the outbox (confirmed or rejected). */
  whenDone(caseId) {
    if (!this.pendingCases().has(caseId)) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!this.pendingCases().has(caseId)) {
          this.listeners.delete(check);
          resolve();
        }
      };
      this.listeners.add(check);
    });
  }

  /**
   * Resolves 'saved' once the server has confirmed the read or change kept under ``key`` (it has
   * left the outbox), 'rejected' once the server refused it.
   */
  settled(key) {
    return new Promise((resolve) => {
      const check = () => {
        const item = this.items().find((i) => i.body.idempotency_key === key);
        if (item?.state === 'pending') return false;
        this.listeners.delete(check);
        resolve(item ? 'rejected' : 'saved');
        return true;
      };
      if (!check()) this.listeners.add(check);
    });
  }

  /** Send every pending read, oldest first; schedule a retry if any is left. */
  flush() {
    if (this.sending) return this.sending;
    clearTimeout(this.timer);
    this.timer = null;
    this.nextRetryAt = null;
    this.sending = this._flush().finally(() => {
      this.sending = null;
      this._emit();
    });
    this._emit();
    return this.sending;
  }

  async _flush() {
    for (const item of this.items().filter((i) => i.state === 'pending')) {
      const outcome = await this._deliver(item);
      if (outcome === 'retry') {
        const delay = this.retryAfter ?? RETRY_MS[Math.min(this.attempt, RETRY_MS.length - 1)];
        this.attempt += 1;
        this.nextRetryAt = Date.now() + delay;
        this.timer = setTimeout(() => this.flush(), delay);
        return;
      }
    }
    this.attempt = 0;
    this.lastError = '';
  }

  async _deliver(item) {
    const key = item.body.idempotency_key;
    try {
      await this.send(item.body);
      this._remove(key);
      this.lastError = '';
      return 'done';
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 0;
      const detail = error instanceof HttpError ? error.body?.detail || error.message : 'server unreachable';
      const csrf = status === 403 && /csrf/i.test(String(detail));
      if (status === 409 && error.body?.code === 'already_read' && !item.body.read) {
        // The server already holds a read of this case under another key (another tab).
        this._remove(key);
        return 'done';
      }
      // Invalid input, or a change the study no longer allows (409): refused for good.
      if (!isRetryable(status, csrf)) {
        this._update(key, { state: 'rejected', error: String(detail) });
        return 'done';
      }
      // Network down, server busy or restarting, logged out or stale CSRF token: keep it.
      this.retryAfter = retryAfterMs(error instanceof HttpError ? error.retryAfter : null);
      this.lastError = status === 401 || csrf ? 'log in again to send' : status ? `server error ${status}` : String(detail);
      this._emit();
      return 'retry';
    }
  }

  _remove(key) {
    this._save(this.items().filter((i) => i.body.idempotency_key !== key));
  }

  _update(key, changes) {
    this._save(this.items().map((i) => (i.body.idempotency_key === key ? { ...i, ...changes } : i)));
  }

  dismissRejected() {
    this._save(this.items().filter((i) => i.state !== 'rejected'));
  }
}
