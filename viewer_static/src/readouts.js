// What each viewport says about its view, redrawn whenever it renders: window width and level,
// the zoom (screen pixels per image pixel, 100% = one to one) and the patient's direction at each
// edge (orientation.js), after any flip or turn of the view. Hanging builds the elements.

import { directionsOf, imageToCanvas } from './viewport.js';
import { edgeLabels, screenSteps } from './orientation.js';

function setText(element, text) {
  if (element && element.textContent !== text) element.textContent = text;
}

export class Readouts {
  constructor(hanging) {
    this.hanging = hanging;
    hanging.onRendered((index) => this.update(index));
  }

  update(index) {
    const viewport = this.hanging.viewports[index];
    const cell = this.hanging.element(index)?.parentElement;
    // The camera also moves before a new case's image has arrived: nothing to map yet.
    if (!cell || !viewport?.getCurrentImageId?.() || !viewport.getImageData()) return;
    const imageId = viewport.getCurrentImageId();
    const { voiRange } = viewport.getProperties();
    const origin = imageToCanvas(viewport, 0, 0);
    const alongRow = imageToCanvas(viewport, 1, 0);
    const zoom = Math.hypot(alongRow[0] - origin[0], alongRow[1] - origin[1]);
    const windowLevel = voiRange
      ? `W ${Math.round(voiRange.upper - voiRange.lower)}  L ${Math.round((voiRange.upper + voiRange.lower) / 2)}`
      : '';
    setText(cell.querySelector('.rw-vp-info'), `${windowLevel}${windowLevel ? '  ·  ' : ''}Zoom ${Math.round(zoom * 100)}%`);
    const labels = edgeLabels(directionsOf(imageId), screenSteps(origin, alongRow, imageToCanvas(viewport, 0, 1)));
    cell.querySelectorAll('.rw-orient').forEach((marker) => setText(marker, labels?.[marker.dataset.edge] ?? ''));
  }
}
