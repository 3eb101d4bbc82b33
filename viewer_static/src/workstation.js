// What the reading page and its training mode share: the imaging (Cornerstone, the frame loader,
// the hanging, overlays and readouts), the controls, the status line, the scoring panel, the AI
// panel, a case's images brought on screen with their timings, and the record of what the reader
// does. The case flows are session.js (a reading session), training.js (training mode) and
// truthing.js (truthing mode, never the AI panel); each keeps its state in a store whose
// ``current`` is the case on screen.

import { DicomWeb, ReadingApi } from './api.js';
import { CaseImages, Hanging, initImaging, viewportProbe } from './viewport.js';
import { FrameLoader } from './frame_loader.js';
import { TransferPolicy, parseForcedForm } from './transfer.js';
import * as tools from './tools.js';
import { Overlays } from './overlay.js';
import { Readouts } from './readouts.js';
import { ScoringPanel } from './scoring.js';
import { Controls } from './controls.js';
import { buildShell, renderAiPanel } from './ui.js';

export const clock = () => performance.now();
export const RETRY_MS = 3000; // between tries to load what a page needs, while the server is unreachable

export class Workstation {
  /**
   * @param {object} config the page's (rw-config): apiRoot, dicomwebRoot, worklistUrl, user, and
   *   sessionId, trainingStudyId or truthingStudyId
   * @param {{current: object|null, activeViewport: number, isShowing: Function}} store the flow's state
   */
  constructor(config, store, { training = false, truthing = false } = {}) {
    this.config = config;
    this.store = store;
    this.params = new URLSearchParams(location.search);
    this.api = new ReadingApi(config.apiRoot);
    this.images = new CaseImages(new DicomWeb(config.dicomwebRoot));
    // ?transfer=<syntax UID>|uncompressed|stored forces the form of every frame, for benchmarks.
    this.frames = new FrameLoader(new TransferPolicy({ forced: parseForcedForm(this.params.get('transfer')) }));
    // A frame that fails to load is dealt with where it was asked for (the case's "Retrying…", the
    // prefetch's catch); Cornerstone's image cache reports it once more from a promise nothing awaits.
    window.addEventListener('unhandledrejection', (event) => {
      if (this.frames.isLoadFailure(event.reason)) event.preventDefault();
    });
    // Test and benchmark hook: timings and the viewports; nothing about truth or other readers.
    this.probe = window.__rw = { ready: false, caseReady: false, timings: [], errors: [] };
    this.ui = buildShell(document.getElementById('rw-app'), { worklistUrl: config.worklistUrl, training, truthing });
    this.scoring = null;
  }

  /** What the reader does is recorded for the first read of the case on screen, once its images show. */
  recording() {
    return this.store.current?.recorder ?? null;
  }

  setStatus(text, kind = 'info') {
    const { status } = this.ui;
    status.textContent = text;
    status.dataset.kind = kind;
    status.hidden = !text;
  }

  /** Until ``load`` succeeds, saying what is being loaded and retrying while ``stillWanted()``; null once not. */
  async untilLoaded(load, what, stillWanted = () => true) {
    for (;;) {
      try {
        return await load();
      } catch (error) {
        if (!stillWanted()) return null;
        this.setStatus(`Could not load ${what} (${error.message || error}). Retrying…`, 'error');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  /** Start the imaging and the controls; ``onSubmit``, ``onPrevious`` and ``onUndo`` are the flow's. */
  async start({ onSubmit, onPrevious = () => {}, onUndo = () => {} }) {
    const { params, ui } = this;
    const forced = params.get('cpu') === '1' ? true : params.get('gpu') === '1' ? false : undefined;
    this.probe.rendering = (await initImaging({ cpu: forced, frames: this.frames })).useCPURendering ? 'cpu' : 'gpu';
    tools.initTools();
    const hanging = (this.hanging = new Hanging(ui.viewports, {
      onViewportsChanged: (ids, engineId) => {
        tools.attachViewports(ids, engineId);
        this.controls.wireViewports();
        this.overlays.redraw();
      },
    }));
    this.overlays = new Overlays(hanging);
    new Readouts(hanging);
    hanging.onRendered((index) => this.recordShown(index));
    document.addEventListener('visibilitychange', () => this.recording()?.visibility(!document.hidden, clock()));
    this.controls = new Controls({
      ui, store: this.store, hanging, overlays: this.overlays, onSubmit, onPrevious, onUndo,
      onViewChanged: (kind) => this.recording()?.change(kind, clock()),
      onActivate: (index) => this.recording()?.focus(index, clock()),
    });
    let resizeTimer;
    new ResizeObserver(() => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        hanging.resize();
        hanging.alignAll();
        this.overlays.redraw();
      }, 50);
    }).observe(ui.viewports);
  }

  /** The scoring panel for the study's scale; the probe says the workstation is ready. */
  useScale(scale, onSubmit) {
    this.scoring = this.controls.scoring = new ScoringPanel(this.ui.scoring, scale, {
      onSubmit,
      onMarksChanged: (marks, selected) => this.overlays.setMarks(marks, selected),
    });
    this.markReady();
    return this.scoring;
  }

  /** The probe says the workstation is ready, and gives the viewports' helpers. */
  markReady() {
    Object.assign(this.probe, { ready: true, hanging: this.hanging }, viewportProbe(this.hanging, this.frames));
  }

  /** The query string of the case on screen, keeping the forced rendering path and transfer form. */
  replaceQuery(query) {
    const { params } = this;
    const keep = ['cpu', 'gpu'].filter((k) => params.get(k) === '1').map((k) => `&${k}=1`).join('')
      + (params.has('transfer') ? `&transfer=${encodeURIComponent(params.get('transfer'))}` : '');
    history.replaceState(null, '', `?${query}${keep}`);
  }

  /**
   * The AI panel and findings of ``outputs`` (null: an arm that does not show AI, or none yet);
   * the reader's toggles go to the record.
   */
  showAi(outputs) {
    renderAiPanel(this.ui.ai, outputs, {
      onToggle: (on) => {
        this.overlays.toggleFindings(on);
        this.recording()?.aiToggle(on, clock());
      },
    });
    this.overlays.setFindings(outputs ? outputs.flatMap((output) => output.findings) : []);
    this.overlays.toggleFindings(Boolean(outputs));
  }

  /** The record follows which image of the case each viewport shows. */
  recordShown(index) {
    const imageId = this.hanging.viewports[index]?.getCurrentImageId?.();
    const position = this.hanging.sets[index]?.imageIds.indexOf(imageId) ?? -1;
    if (position >= 0) this.recording()?.show(index, index, position, clock());
  }

  /** From the first image on (again, for a case the reader comes back to), the images shown count. */
  startRecording(recorder, now) {
    if (!recorder) return;
    if (recorder.recording) recorder.visibility(!document.hidden, now);
    else recorder.start(now, { visible: !document.hidden });
    this.hanging.viewports.forEach((_, index) => this.recordShown(index));
  }

  /**
   * Bring the images of ``studyUid`` on screen for ``current`` (opened at ``t0``, performance
   * clock) and record when (``probe.timings``, with ``tag``'s fields). Returns the timing, or null
   * where the reader moved on while they loaded; throws where they could not be loaded.
   */
  async showImages(current, studyUid, t0, tag) {
    const prefetched = tag.prefetched ?? this.images.studies.has(studyUid); // before this case opened
    const sets = await this.images.show(studyUid);
    if (!sets.length) throw new Error('the study has no images');
    const renderedAt = await this.hanging.show(sets);
    if (!this.store.isShowing(current)) return null;
    current.firstImageAt = new Date(performance.timeOrigin + renderedAt);
    this.store.activeViewport = 0;
    this.startRecording(current.recorder, renderedAt);
    this.overlays.redraw();
    this.setStatus('');
    const { probe } = this;
    const timing = {
      ...tag,
      prefetched,
      openToFirstImageMs: renderedAt - t0,
      sinceNavigationMs: renderedAt,
      submitToNextMs: probe.submittedAt ? renderedAt - probe.submittedAt : null,
    };
    probe.timings.push(timing);
    this.recordFullQuality(timing, t0);
    probe.submittedAt = null;
    probe.caseReady = true;
    return timing;
  }

  /**
   * Once every viewport shows its whole image: when (``fullQualityMs`` from the case opening) and
   * how each displayed frame came (``images``: transfer syntax, bytes, fetch and decode times).
   */
  recordFullQuality(timing, t0) {
    this.hanging.fullQuality.then((at) => {
      timing.images = this.hanging.viewportIds.map((_, i) => this.probe.image(i));
      timing.fullQualityMs = at - t0;
    });
  }

  /** No case on screen: no images, no AI. */
  clearCase() {
    this.store.current = null;
    this.hanging.show([]).catch(() => {});
    this.ui.viewports.replaceChildren();
    renderAiPanel(this.ui.ai, null, {});
  }

  /** The status line's final word, with the way back to the worklist. */
  finish(text) {
    this.setStatus(text, 'done');
    this.ui.status.append(' ', Object.assign(document.createElement('a'), { href: this.config.worklistUrl, textContent: 'Back to the worklist' }));
  }
}
