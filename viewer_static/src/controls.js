// The reader's controls over the images and the score: toolbar, window presets, keyboard
// shortcuts (keyboard.js), and pointer events on the viewports (active viewport, lesion marks).

import * as tools from './tools.js';
import { shortcutOf } from './keyboard.js';
import { showHelp } from './ui.js';

export class Controls {
  /**
   * @param {{ui: object, store: import('./store.js').ViewerStore, hanging: object, overlays: object,
   *          onSubmit: Function, onPrevious: Function}} parts
   */
  constructor({ ui, store, hanging, overlays, onSubmit, onPrevious }) {
    Object.assign(this, { ui, store, hanging, overlays });
    this.scoring = null; // the ScoringPanel, once the session's scale is known
    this.keyActions = this._keyActions({ onSubmit, onPrevious });
    this._wireToolbar();
    document.addEventListener('keydown', (e) => this.onKey(e));
  }

  activeViewport() {
    return this.hanging.viewports[this.store.activeViewport] || this.hanging.viewports[0];
  }

  /** After a new layout: follow the active viewport and place marks with the Mark tool. */
  wireViewports() {
    this.hanging.viewportIds.forEach((_, index) => {
      const element = this.hanging.element(index);
      const activate = () => (this.store.activeViewport = index);
      element.addEventListener('pointerenter', activate);
      element.addEventListener('focus', activate);
      let down = null;
      element.addEventListener(
        'pointerdown',
        (e) => {
          activate();
          down = e.button === 0 && tools.primaryTool() === 'mark' ? [e.clientX, e.clientY] : null;
        },
        true,
      );
      element.addEventListener('pointerup', (e) => {
        // A click, not a drag: a drag with the Mark tool does nothing.
        if (!down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 5) return;
        const rect = element.getBoundingClientRect();
        this._markAt(index, [e.clientX - rect.left, e.clientY - rect.top]);
      });
    });
  }

  _markAt(index, canvasPoint) {
    const point = this.overlays.imagePointAt(index, canvasPoint);
    const image = this.hanging.viewports[index].getImageData?.();
    const [cols, rows] = image?.dimensions || [Infinity, Infinity];
    if (point.x < 0 || point.y < 0 || point.x > cols || point.y > rows) return;
    this.scoring?.addMark({ x: point.x, y: point.y, instance_uid: point.instanceUid, frame: point.frame });
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
    tools.applyVoi(viewport, preset[1](viewport, base));
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
    });
    this.selectTool('wl');
  }

  runAction(action) {
    const viewport = this.activeViewport();
    const all = this.hanging.viewports;
    switch (action) {
      case 'invert': return viewport && tools.toggleInvert(viewport);
      case 'fit': all.forEach(tools.fit); return this.hanging.alignAll();
      case 'reset': tools.clearMeasurements(); all.forEach(tools.reset); return this.hanging.alignAll();
      case 'zoom-in': return viewport && tools.zoomBy(viewport, 1.25);
      case 'zoom-out': return viewport && tools.zoomBy(viewport, 0.8);
      case 'help': return showHelp(this.ui.help, { ai: !this.ui.ai.hidden });
      default: return undefined;
    }
  }

  /** What each shortcut of keyboard.js does; the score ones wait for the scoring panel. */
  _keyActions({ onSubmit, onPrevious }) {
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
      escape: (_, event) => {
        this.selectTool('wl');
        event.target.blur?.();
      },
    };
  }

  onKey(e) {
    // Keys typed into the comment or a mark's confidence are text, except Escape, which leaves the field.
    if (e.target.closest?.('input, textarea, select') && e.key !== 'Escape') return;
    if (this.ui.help.open || e.ctrlKey || e.metaKey || e.altKey) return;
    const shortcut = shortcutOf(e);
    if (!shortcut) return;
    const [name, argument] = shortcut;
    this.keyActions[name](argument, e);
    e.preventDefault();
  }
}
