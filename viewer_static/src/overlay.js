// SVG layer over each viewport: AI findings (aided arms only), the reader's lesion marks, in
// training the truth's lesions once the reader's score is stored (feedback), and in truthing the
// experts' boxes, points and polygons (shapes.js), each in its class's colour with its label.
// Positions are stored in image pixels (column x, row y) and mapped to the canvas on every
// camera change, so they follow zoom and pan.

import { utilities as csUtils } from '@cornerstonejs/core';
import { imageToCanvas, parseImageId } from './viewport.js';

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Overlays {
  constructor(hanging) {
    this.hanging = hanging;
    this.findings = [];
    this.showFindings = false;
    this.marks = [];
    this.selectedMark = -1;
    this.lesions = [];
    this.shapes = [];
    hanging.onRendered((index) => this.redrawViewport(index));
  }

  setFindings(findings) {
    this.findings = findings || [];
    this.redraw();
  }

  setMarks(marks, selected = -1) {
    this.marks = marks;
    this.selectedMark = selected;
    this.redraw();
  }

  /** The truth's lesions (training feedback): centre and radius in image pixels; none to clear them. */
  setTruth(lesions) {
    this.lesions = lesions || [];
    this.redraw();
  }

  /**
   * Truthing marks: ``{mark, cls, label, open, labelAtEnd}`` where ``mark`` is a box, point or polygon in image
   * pixels (shapes.js), ``cls`` its colour class, ``open`` a polygon still being drawn.
   */
  setShapes(shapes) {
    this.shapes = shapes || [];
    this.redraw();
  }

  toggleFindings(on = !this.showFindings) {
    this.showFindings = on;
    this.redraw();
    return on;
  }

  /** Image pixel of a canvas point in viewport `index`, with the instance and frame shown there. */
  imagePointAt(index, canvasPoint) {
    const viewport = this.hanging.viewports[index];
    const imageId = viewport.getCurrentImageId();
    const world = viewport.canvasToWorld(canvasPoint);
    const [x, y] = csUtils.worldToImageCoords(imageId, world);
    return { x, y, ...parseImageId(imageId) };
  }

  redraw() {
    this.hanging.viewports.forEach((_, i) => this.redrawViewport(i));
  }

  redrawViewport(index) {
    const viewport = this.hanging.viewports[index];
    const svg = this.hanging.element(index)?.parentElement.querySelector('.rw-overlay');
    if (!viewport || !svg) return;
    svg.replaceChildren();
    const imageId = viewport.getCurrentImageId?.();
    if (!imageId || !viewport.getImageData()) return; // no image to map positions on yet
    const shown = parseImageId(imageId);
    const here = (uid, frame) =>
      uid ? uid === shown.instanceUid && (frame || 1) === shown.frame : index === 0 && viewport.getCurrentImageIdIndex() === 0;
    const toCanvas = (x, y) => imageToCanvas(viewport, x, y);

    if (this.showFindings) {
      for (const f of this.findings) {
        if (!here(f.sop_instance_uid, f.frame)) continue;
        svg.append(...drawFinding(f, toCanvas));
      }
    }
    for (const lesion of this.lesions) {
      if (here(lesion.sop_instance_uid, lesion.frame)) svg.append(...drawLesion(lesion, toCanvas));
    }
    for (const shape of this.shapes) {
      if (here(shape.mark.sop_instance_uid, shape.mark.frame)) svg.append(drawShape(shape, toCanvas));
    }
    this.marks.forEach((mark, i) => {
      if (!here(mark.instance_uid, mark.frame)) return;
      const [cx, cy] = toCanvas(mark.x, mark.y);
      const selected = i === this.selectedMark;
      const g = el('g', { class: `rw-mark${selected ? ' selected' : ''}`, 'data-mark': i + 1 });
      g.append(
        el('circle', { cx, cy, r: 14 }),
        el('line', { x1: cx - 20, y1: cy, x2: cx - 8, y2: cy }),
        el('line', { x1: cx + 8, y1: cy, x2: cx + 20, y2: cy }),
        el('text', { x: cx + 18, y: cy - 14 }, `${i + 1}: ${fmt(mark.confidence)}`),
      );
      svg.append(g);
    });
  }
}

function fmt(v) {
  return v === null || v === undefined ? '–' : Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/**
 * A finding as payloads.js reads it: a box (x, y, width, height), a point (x, y) or a contour
 * (points). Its label says "finding" and its own confidence, not to be taken for the AI's case
 * score, which the AI panel shows.
 */
function drawFinding(f, toCanvas) {
  const label = f.score !== undefined && f.score !== null ? `AI finding ${fmt(f.score)}` : 'AI finding';
  const nodes = [];
  if (f.type === 'box') {
    const [x0, y0] = toCanvas(f.x, f.y);
    const [x1, y1] = toCanvas(f.x + f.width, f.y + f.height);
    nodes.push(el('rect', { class: 'rw-ai', x: Math.min(x0, x1), y: Math.min(y0, y1), width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) }));
    nodes.push(el('text', { class: 'rw-ai-label', x: Math.min(x0, x1), y: Math.min(y0, y1) - 4 }, label));
  } else if (f.type === 'contour') {
    const pts = (f.points || []).map(([x, y]) => toCanvas(x, y));
    nodes.push(el('polygon', { class: 'rw-ai', points: pts.map((p) => p.join(',')).join(' ') }));
    if (pts.length) nodes.push(el('text', { class: 'rw-ai-label', x: pts[0][0], y: pts[0][1] - 4 }, label));
  } else {
    const [cx, cy] = toCanvas(f.x, f.y);
    nodes.push(el('path', { class: 'rw-ai', d: `M${cx - 10},${cy} L${cx + 10},${cy} M${cx},${cy - 10} L${cx},${cy + 10}` }));
    nodes.push(el('text', { class: 'rw-ai-label', x: cx + 12, y: cy - 12 }, label));
  }
  return nodes;
}

/**
 * A truthing mark: a box's rectangle, a point's ring and cross, a polygon (open while drawn), with its label
 * (``labelAtEnd``: at its lower right rather than its upper left).
 */
function drawShape({ mark, cls, label, open = false, labelAtEnd = false }, toCanvas) {
  const pts = mark.points.map(([x, y]) => toCanvas(x, y));
  const g = el('g', { class: `rw-shape ${cls}`, 'data-type': mark.type });
  let anchor = pts[0];
  if (mark.type === 'box') {
    const [[x0, y0], [x1, y1]] = pts;
    anchor = [Math.min(x0, x1), Math.min(y0, y1)];
    g.append(el('rect', { x: anchor[0], y: anchor[1], width: Math.abs(x1 - x0), height: Math.abs(y1 - y0) }));
  } else if (mark.type === 'point') {
    const [cx, cy] = pts[0];
    g.append(el('circle', { cx, cy, r: 6 }), el('path', { d: `M${cx - 12},${cy} H${cx + 12} M${cx},${cy - 12} V${cy + 12}` }));
  } else {
    g.append(el(open ? 'polyline' : 'polygon', { points: pts.map((p) => p.join(',')).join(' ') }));
    if (open) g.append(el('circle', { cx: pts[0][0], cy: pts[0][1], r: 5, class: 'rw-first' }));
  }
  if (label && labelAtEnd) {
    // Another expert's code at the lower right, clear of the top-left labels of the marks it overlaps.
    const [ex, ey] = [Math.max(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[1]))];
    g.append(el('text', { x: ex + 4, y: ey + 14 }, label));
  } else if (label) g.append(el('text', { x: anchor[0] + 4, y: anchor[1] - 6 }, label));
  return g;
}

/** A lesion of the truth: its circle (the radius mapped like the centre, so it follows zoom) and its label. */
function drawLesion(lesion, toCanvas) {
  const [cx, cy] = toCanvas(lesion.x, lesion.y);
  const [ex, ey] = toCanvas(lesion.x + (lesion.radius || 0), lesion.y);
  const r = Math.max(8, Math.hypot(ex - cx, ey - cy));
  const g = el('g', { class: 'rw-truth' });
  g.append(el('circle', { cx, cy, r }), el('text', { x: cx + r * 0.72 + 4, y: cy - r * 0.72 - 4 }, 'Truth lesion'));
  return [g];
}
