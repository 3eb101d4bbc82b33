// What the notice of a saved score says: the values as they were sent, in words.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeValues } from '../src/ui.js';

test('a saved score in words: rating, then decision, marks and a comment where given', () => {
  assert.equal(describeValues({ rating: 72.5, decision: true, marks: [{}], comment: 'dense' }), 'rating 72.5 · positive · 1 mark · comment');
  assert.equal(describeValues({ rating: 3, decision: false, marks: [{}, {}], comment: '' }), 'rating 3 · negative · 2 marks');
  assert.equal(describeValues({ rating: 0, decision: null, marks: [], comment: '' }), 'rating 0');
});
