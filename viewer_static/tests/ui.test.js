// What the notice of a saved score says: the values as they were sent, in words.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeValues } from '../src/ui.js';

test('a saved score in words: rating, then decision, marks and a comment where given', () => {
  assert.equal(describeValues({ rating: 72.5, decision: true, marks: [{}], comment: 'dense' }), 'rating 72.5 · positive · 1 mark · comment');
  assert.equal(describeValues({ rating: 3, decision: false, marks: [{}, {}], comment: '' }), 'rating 3 · negative · 2 marks');
  assert.equal(describeValues({ rating: 0, decision: null, marks: [], comment: '' }), 'rating 0');
  const ordinal = { type: 'ordinal', min: 1, max: 3, labels: ['normal', 'equivocal', 'abnormal'] };
  assert.equal(describeValues({ rating: 3, decision: true }, ordinal), 'rating 3 (abnormal) · positive', 'the category named');
  const continuous = { type: 'continuous', min: 0, max: 100, labels: ['normal', 'abnormal'] }; // the ends' labels
  assert.equal(describeValues({ rating: 1, decision: null }, continuous), 'rating 1');
});
