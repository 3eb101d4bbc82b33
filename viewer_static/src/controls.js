// The reader's controls over the images and the score: toolbar, window presets, keyboard
// shortcuts (keyboard.js), and pointer events on the viewports (active viewport, lesion marks).
// Each change the reader makes to a view (a drag, a key, a button) is reported once to
// ``onViewChanged`` for the interaction record (interactions.js).

import * as tools from './tools.js';
import { fieldKind, shortcutOf } from './keyboard.js';
import { viewChanges } from './interactions.js';
import { showHelp } from './ui.js';

export class Controls {
  /**
   * @param {{ui: object, store: import('./store.js').ViewerStore, hanging: object, overlays: object,
   *          onSubmit: Function, onPrevious: Function, onUndo: Function,
   *          onViewChanged: (kind: string) => void, onActivate: (index: number) => void}} parts
   */
  constructor({ ui, store, hanging, overlays, onSubmit, onPrevious, onUndo, onViewChanged, onActivate }) {
    Object.assign(this, { ui, store, hanging, overlays, onViewChanged, onActivate });
    this.scoring = null; // the ScoringPanel, once the session's scale is known
    this.keyActions = this._keyActions({ onSubmit, onPrevious, onUndo });
    this.gesture = null; // the views before a pointer gesture on a viewport
    this._wireToolbar();
    document.addEventListener('keydown', (e) => this.onKey(e));
    window.addEventListener('pointerup', () => this._endGesture());
    window.addEventListener('pointercancel', () => this._endGesture());
  }

  activeViewport() {
    return this.hanging.viewports[this.store.activeViewport] || this.hanging.viewports[0];
  }

  /** Run ``action`` and report the view changes it made, once each per viewport. */
  tracked(action) {
    const before = this.hanging.viewports.map(tools.viewState);
    const result = action();
    this._report(before);
    return result;
  }

  _report(before) {
    this.hanging.viewports.forEach((viewport, i) => {
      for (const kind of viewChanges(before[i], tools.viewState(viewport))) this.onViewChanged?.(kind);
    });
  }

  _endGesture() {
    if (!this.gesture) return;
    const before = this.gesture;
    this.gesture = null;
    this._report(before);
  }

  /** After a new layout: follow the active viewport and place marks with the Mark tool. */
  wireViewports() {
    this.hanging.viewportIds.forEach((_, index) => {
      const element = this.hanging.element(index);
      const activate = () => {
        this.store.activeViewport = index;
        this.onActivate?.(index);
      };
      element.addEventListener('pointerenter', activate);
      element.addEventListener('focus', activate);
      let down = null;
      element.addEventListener(
        'pointerdown',
        (e) => {
          activate();
          this.gesture = this.hanging.viewports.map(tools.viewState);
          down = e.button === 0 && tools.primaryTool() === 'mark' ? [e.clientX, e.clientY] : null;
        },
        true,
      );
      const toCanvas = ([x, y]) => {
        const rect = element.getBoundingClientRect();
        return [x - rect.left, y - rect.top];
      };
      const canvasPoint = (e) => toCanvas([e.clientX, e.clientY]);
      const dragged = (e) => Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 5;
      // A drag with the Mark tool draws a box where the panel takes one (truthing); elsewhere it does nothing.
      element.addEventListener('pointermove', (e) => {
        if (down && this.scoring?.dragMark && dragged(e)) this._dragTo(index, toCanvas(down), canvasPoint(e), 'preview');
      });
      element.addEventListener('pointerup', (e) => {
        if (!down) return;
        if (!dragged(e)) this._markAt(index, canvasPoint(e));
        else if (this.scoring?.dragMark) this._dragTo(index, toCanvas(down), canvasPoint(e), 'done');
        down = null;
      });
    });
  }

  /** The image point at a canvas point of viewport ``index``, or null outside the image. */
  _imagePoint(index, canvasPoint) {
    const point = this.overlays.imagePointAt(index, canvasPoint);
    const image = this.hanging.viewports[index].getImageData?.();
    const [cols, rows] = image?.dimensions || [Infinity, Infinity];
    return point.x < 0 || point.y < 0 || point.x > cols || point.y > rows ? null : point;
  }

  _markAt(index, canvasPoint) {
    const point = this._imagePoint(index, canvasPoint);
    if (!point) return;
    this.scoring?.addMark({ x: point.x, y: point.y, instance_uid: point.instanceUid, frame: point.frame }, { viewport: index, point });
  }

  /** A drag between two canvas points of viewport ``index``: the box being drawn ('preview'), or drawn ('done'). */
  _dragTo(index, from, to, phase) {
    this.scoring.dragMark(this.overlays.imagePointAt(index, from), this.overlays.imagePointAt(index, to), { viewport: index, phase });
  }

  selectTool(name) {
    tools.setPrimaryTool(name);
    this.ui.toolbar.querySelectorAll('[data-tool]').forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.tool === name)));
    this.ui.viewports.dataset.tool = name;
  }

  applyPreset(index) {
    const viewport = this.activeViewport();
    if (!viewport) return;
    const set = this.hanging.sets[this.store.activeViewport] || this.hanging.sets[0];
    const preset = tools.presetsFor(set?.modality)[index];
    if (!preset) return;
    const base = this.hanging.defaultVoi.get(viewport.id) || viewport.getProperties().voiRange;
    this.tracked(() => tools.applyVoi(viewport, preset[1](viewport, base)));
  }

  _wireToolbar() {
    const { toolbar, presets } = this.ui;
    toolbar.addEventListener('click', (e) => {
      const button = e.target.closest('button');
      if (!button) return;
      if (button.dataset.tool) this.selectTool(button.dataset.tool);
      if (button.dataset.action) this.runAction(button.dataset.action);
    });
    presets.addEventListener('change', () => {
      this.applyPreset(Number(presets.value));
      presets.value = '';
      presets.blur(); // the shortcuts' digits would otherwise pick a preset by its number
    });
    this.selectTool('wl');
  }

  runAction(action) {
    if (action === 'help') return showHelp(this.ui.help, { ai: !this.ui.ai.hidden, truthing: Boolean(this.ui.others) });
    return this.tracked(() => this._viewAction(action));
  }

  _viewAction(action) {
    const viewport = this.activeViewport();
    const all = this.hanging.viewports;
    switch (action) {
      case 'invert': return viewport && tools.toggleInvert(viewport);
      case 'fit': all.forEach(tools.fit); return this.hanging.alignAll();
      case 'reset': tools.clearMeasurements(); all.forEach(tools.reset); return this.hanging.alignAll();
      case 'zoom-in': return viewport && tools.zoomBy(viewport, 1.25);
      case 'zoom-out': return viewport && tools.zoomBy(viewport, 0.8);
      default: return undefined;
    }
  }

  /** What each shortcut of keyboard.js does; the score ones wait for the scoring panel. */
  _keyActions({ onSubmit, onPrevious, onUndo }) {
    const { ui } = this;
    const viewport = () => this.activeViewport();
    return {
      scroll: (step) => viewport() && tools.scrollBy(viewport(), step),
      preset: (index) => this.applyPreset(index),
      tool: (name) => this.selectTool(name),
      markTool: () => this.selectTool(tools.primaryTool() === 'mark' ? 'wl' : 'mark'),
      action: (name) => this.runAction(name),
      rating: (digit) => this.scoring?.setRatingFromDigit(digit),
      nudge: (delta) => this.scoring?.nudgeRating(delta),
      decision: (value) => this.scoring?.setDecision(value),
      removeMark: () => this.scoring?.removeMark(),
      toggleAi: () => ui.ai.querySelector('#rw-ai-toggle')?.click(),
      comment: () => ui.scoring.querySelector('#rw-comment')?.focus(),
      submit: () => onSubmit(),
      previous: () => onPrevious(),
      undo: () => onUndo(),
      escape: (_, event) => {
        this.selectTool('wl');
        event.target.blur?.();
      },
    };
  }

  onKey(e) {
    // A held Enter submits one case, not one per key repeat.
    if (this.ui.help.open || (e.repeat && e.key === 'Enter')) return;
    // Wherever the focus is; a text field keeps what is typed in it and the slider its arrows.
    const shortcut = shortcutOf(e, fieldKind(e.target));
    if (!shortcut) return;
    const [name, argument] = shortcut;
    // Before the action: Enter on a focused button would also click it, in a text field add a line.
    e.preventDefault();
    this.keyActions[name](argument, e);
  }
}
