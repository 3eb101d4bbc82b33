// HTTP to our own server only: the reading API (/api/v1) and DICOMweb (/dicomweb), with the
// reader's session cookie. Nothing here talks to a third party.

import {
  readAssignment, readSession, readTraining, readTrainingCase, readTruthingCase, readTruthingCases, readTruthingDisputes,
  readTruthingPanels,
} from './payloads.js';

export class HttpError extends Error {
  constructor(status, body, url, retryAfter = null) {
    super(`${status} ${body?.detail || body?.error || ''} (${url})`.trim());
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter; // the Retry-After header of a 503 or 429, if any
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : '';
}

async function request(url, { method = 'GET', body, accept = 'application/json', signal } = {}) {
  const headers = { Accept: accept };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRFToken'] = csrfToken();
  }
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
    signal,
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new HttpError(response.status, data, url, response.headers.get('Retry-After'));
  return { status: response.status, data };
}

/** The outbox needs only the status of a stored read: nothing of the response is read. */
async function sendRead(url, method, body, signal) {
  const { status } = await request(url, { method, body, signal });
  return { status };
}

export class ReadingApi {
  constructor(root) {
    this.root = root.replace(/\/$/, '');
  }
  async session(id) {
    return readSession((await request(`${this.root}/sessions/${id}/`)).data);
  }
  async assignment(id) {
    return readAssignment((await request(`${this.root}/assignments/${id}/`)).data);
  }
  /** POST a read; resolves {status} (201 created, 200 replay of the same key). */
  submitRead(body, signal) {
    return sendRead(`${this.root}/reads/`, 'POST', body, signal);
  }
  /**
   * PATCH a change to one's own read (studies with audited revisions); resolves {status}. The outbox
   * keeps the read's id and its assignment beside the change; the server refuses keys it does not take.
   */
  reviseRead(readId, body, signal) {
    const { read: _read, assignment: _assignment, ...change } = body;
    return sendRead(`${this.root}/reads/${readId}/`, 'PATCH', change, signal);
  }
  /** A reader's training in a study: its items, the scale and the qualification so far. */
  async training(studyId) {
    return readTraining((await request(`${this.root}/studies/${studyId}/training/`)).data);
  }
  /** One training case in one arm; its ``feedback`` once the reader's score of it is stored. */
  async trainingCase(studyId, caseId, arm) {
    return readTrainingCase((await request(`${this.root}/studies/${studyId}/training/${caseId}/${encodeURIComponent(arm)}/`)).data);
  }
  /**
   * POST a training score; resolves {status}. The outbox keeps the study beside the score (its URL);
   * the feedback is fetched with the case once the score is stored, so a score sent after a reload
   * has its feedback too.
   */
  submitTrainingRead(body, signal) {
    const { study, ...score } = body;
    return sendRead(`${this.root}/studies/${study}/training/reads/`, 'POST', score, signal);
  }
  /** The truthing panels the user is on: their role, the round open to them, their progress. */
  async truthingPanels() {
    return readTruthingPanels((await request(`${this.root}/truthing/`)).data);
  }
  /** A truther's cases in the study's truthing, in order, each with the round open to them and whether it is done. */
  async truthingCases(studyId) {
    return readTruthingCases((await request(`${this.root}/studies/${studyId}/truthing/cases/`)).data);
  }
  /** One case to label: its images, the marks the rule allows, in round 2 the other experts' round-1 labels. */
  async truthingCase(studyId, caseId) {
    return readTruthingCase((await request(`${this.root}/studies/${studyId}/truthing/cases/${caseId}/`)).data);
  }
  /** The adjudicator's disputes: the cases the panel disagreed on, why, and whether adjudicated. */
  async truthingDisputes(studyId) {
    return readTruthingDisputes((await request(`${this.root}/studies/${studyId}/truthing/disputes/`)).data);
  }
  /** POST a truth label (or, with ``note``, an adjudication); resolves {status}. The study travels beside it. */
  submitTruthing(body, signal) {
    const { study, ...label } = body;
    const what = 'note' in label ? 'adjudications' : 'labels';
    return sendRead(`${this.root}/studies/${study}/truthing/${what}/`, 'POST', label, signal);
  }
}

// DICOM JSON (PS3.18 F.2) helpers.
export function tagValue(instance, tag) {
  const element = instance?.[tag];
  return element?.Value ? element.Value[0] : undefined;
}

export class DicomWeb {
  constructor(root) {
    this.root = root.replace(/\/$/, '');
  }
  studyUrl(studyUid) {
    return `${this.root}/studies/${studyUid}`;
  }
  /** QIDO-RS: the series of a study. */
  async series(studyUid) {
    return (await request(`${this.studyUrl(studyUid)}/series`, { accept: 'application/dicom+json' })).data || [];
  }
  /** WADO-RS metadata of every instance of a study in one request; else series by series. */
  async studyMetadata(studyUid) {
    try {
      return (await request(`${this.studyUrl(studyUid)}/metadata`, { accept: 'application/dicom+json' })).data || [];
    } catch (error) {
      if (!(error instanceof HttpError) || ![404, 405, 406, 501].includes(error.status)) throw error;
    }
    const series = await this.series(studyUid);
    const perSeries = await Promise.all(series.map((s) => this.seriesMetadata(studyUid, tagValue(s, '0020000E'))));
    return perSeries.flat();
  }
  /** WADO-RS metadata of every instance of a series; falls back to QIDO instances + per-instance metadata. */
  async seriesMetadata(studyUid, seriesUid) {
    const base = `${this.studyUrl(studyUid)}/series/${seriesUid}`;
    try {
      return (await request(`${base}/metadata`, { accept: 'application/dicom+json' })).data || [];
    } catch (error) {
      if (!(error instanceof HttpError) || ![404, 405, 406, 501].includes(error.status)) throw error;
    }
    const instances = (await request(`${base}/instances`, { accept: 'application/dicom+json' })).data || [];
    const metas = await Promise.all(
      instances.map((instance) =>
        request(`${base}/instances/${tagValue(instance, '00080018')}/metadata`, { accept: 'application/dicom+json' }),
      ),
    );
    return metas.map((m) => m.data[0]);
  }
  frameUrl(studyUid, seriesUid, sopUid, frame) {
    return `${this.studyUrl(studyUid)}/series/${seriesUid}/instances/${sopUid}/frames/${frame}`;
  }
}
