// Orientation markers: the patient's direction at each screen edge, from Image Orientation
// (Patient) or Patient Orientation, as the view shows the image (flipped, turned).
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { edgeLabels, imageDirections, lettersOf, screenSteps } from '../src/orientation.js';

const meta = (tags) => Object.fromEntries(Object.entries(tags).map(([tag, value]) => [tag, { Value: value }]));
const AS_STORED = screenSteps([0, 0], [1, 0], [0, 1]); // one image pixel per screen pixel, no flip

test('a chest PA stored as the patient faces the viewer: patient left on the screen right, feet at the bottom', () => {
  const directions = imageDirections(meta({ '00200020': ['L', 'F'] }));
  assert.deepEqual(edgeLabels(directions, AS_STORED), { right: 'L', left: 'R', bottom: 'F', top: 'H' });
});

test('an axial slice (Image Orientation (Patient) 1\\0\\0\\0\\1\\0): L at the right, P at the bottom', () => {
  const directions = imageDirections(meta({ '00200037': [1, 0, 0, 0, 1, 0], '00200020': ['R', 'F'] }));
  // Image Orientation (Patient) wins over Patient Orientation where both are given.
  assert.deepEqual(edgeLabels(directions, AS_STORED), { right: 'L', left: 'R', bottom: 'P', top: 'A' });
});

test('a view flipped horizontally swaps the side letters; one turned a quarter moves them round', () => {
  const directions = imageDirections(meta({ '00200020': ['L', 'F'] }));
  // Flipped: image column 1 lands one screen pixel to the left.
  const flipped = screenSteps([100, 0], [99, 0], [100, 1]);
  assert.deepEqual(edgeLabels(directions, flipped), { right: 'R', left: 'L', bottom: 'F', top: 'H' });
  // Turned 90° clockwise: along a row goes down the screen, down a column goes left; zoomed 2x.
  const turned = screenSteps([100, 0], [100, 2], [98, 0]);
  assert.deepEqual(edgeLabels(directions, turned), { right: 'H', left: 'F', bottom: 'L', top: 'R' });
});

test('compound Patient Orientation values and oblique planes give two letters, the stronger first', () => {
  const mlo = imageDirections(meta({ '00200020': ['A', 'FR'] }));
  assert.deepEqual(edgeLabels(mlo, AS_STORED), { right: 'A', left: 'P', bottom: 'FR', top: 'HL' });
  assert.equal(lettersOf([0.94, 0.34, 0]), 'LP');
  assert.equal(lettersOf([0.999, 0.04, 0]), 'L'); // slight obliquity: no second letter
  assert.equal(lettersOf([0, 0, 0]), '');
});

test('no markers without orientation, with an unknown letter or a degenerate view', () => {
  assert.equal(imageDirections(meta({})), null);
  assert.equal(imageDirections(meta({ '00200020': ['L', 'X'] })), null);
  assert.equal(imageDirections(meta({ '00200037': [0, 0, 0, 0, 1, 0] })), null);
  assert.equal(screenSteps([0, 0], [1, 1], [2, 2]), null);
  assert.equal(edgeLabels(null, AS_STORED), null);
});
