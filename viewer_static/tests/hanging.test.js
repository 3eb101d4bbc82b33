// The hanging protocol: which images go into which viewport, in which order, turned which way.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { displaySets, layoutFor, mammoFlips } from '../src/hanging.js';

/** DICOM JSON of one instance (PS3.18 F.2) from tag -> value pairs. */
function instance(tags) {
  return Object.fromEntries(Object.entries(tags).map(([tag, value]) => [tag, { Value: Array.isArray(value) ? value : [value] }]));
}

function image({ sop, series = '1.2.3', modality = 'MG', seriesNumber = 1, number = 1, frames, laterality, position, viewCode, orientation, description }) {
  const tags = { '00080018': sop, '0020000E': series, '00080060': modality, '00200011': seriesNumber, '00200013': number };
  if (frames) tags['00280008'] = frames;
  if (laterality) tags['00200062'] = laterality;
  if (position) tags['00185101'] = position;
  if (orientation) tags['00200020'] = orientation;
  if (description) tags['0008103E'] = description;
  const meta = instance(tags);
  if (viewCode) meta['00540220'] = { Value: [instance({ '00080100': viewCode[0], '00080104': viewCode[1] })] };
  return meta;
}

const idOf = (meta, d, frame) => `${d.sopUid}/${frame}`;

test('screening mammography hangs R CC, L CC, R MLO, L MLO whatever the stored order', () => {
  const sets = displaySets(
    [
      image({ sop: 'lmlo', laterality: 'L', position: 'MLO', number: 1 }),
      image({ sop: 'rmlo', laterality: 'R', position: 'MLO', number: 2 }),
      image({ sop: 'lcc', laterality: 'L', position: 'CC', number: 3 }),
      image({ sop: 'rcc', laterality: 'R', position: 'CC', number: 4 }),
    ],
    idOf,
  );
  assert.deepEqual(sets.map((s) => s.label), ['Right CC', 'Left CC', 'Right MLO', 'Left MLO']);
  assert.equal(sets[0].title, 'Right, craniocaudal (CC)');
  assert.deepEqual(sets.map((s) => s.imageIds), [['rcc/1'], ['lcc/1'], ['rmlo/1'], ['lmlo/1']]);
});

test('the view comes from View Code Sequence when View Position is absent (SNOMED CT and SNOMED-RT codes)', () => {
  const sets = displaySets(
    [
      image({ sop: 'a', laterality: 'L', viewCode: ['R-10226', 'medio-lateral oblique'], number: 1 }),
      image({ sop: 'b', laterality: 'R', viewCode: ['399162004', 'cranio-caudal'], number: 2 }),
      image({ sop: 'c', laterality: 'R', viewCode: ['999', 'exaggerated'], number: 3 }),
    ],
    idOf,
  );
  // Known codes map to CC/MLO and sort by convention; an unknown code keeps its meaning and goes last.
  assert.deepEqual(sets.map((s) => s.label), ['Right CC', 'Left MLO', 'Right exaggerated']);
});

test('views outside the four standard ones hang after them, in series and instance order', () => {
  const sets = displaySets(
    [
      image({ sop: 'ml', laterality: 'R', position: 'ML', seriesNumber: 2, number: 1 }),
      image({ sop: 'lm', laterality: 'L', position: 'LM', seriesNumber: 1, number: 5 }),
      image({ sop: 'cc', laterality: 'L', position: 'CC', seriesNumber: 3, number: 1 }),
    ],
    idOf,
  );
  assert.deepEqual(sets.map((s) => s.label), ['Left CC', 'Left LM', 'Right ML']);
});

test('projection radiographs get a viewport each, in series then instance order; multi-frame images keep their frames', () => {
  const sets = displaySets(
    [
      image({ sop: 'lat', modality: 'DX', seriesNumber: 2, number: 1, description: 'Chest LAT' }),
      image({ sop: 'pa', modality: 'DX', seriesNumber: 1, number: 2, description: 'Chest PA' }),
      image({ sop: 'cine', modality: 'XA', seriesNumber: 1, number: 1, frames: 3 }),
    ],
    idOf,
  );
  assert.deepEqual(sets.map((s) => s.imageIds), [['cine/1', 'cine/2', 'cine/3'], ['pa/1'], ['lat/1']]);
  assert.deepEqual(sets.map((s) => s.label), ['', 'Chest PA', 'Chest LAT']);
});

test('a chest radiograph of unpaired laterality (U) is labelled by its view alone, spelled out in the tooltip', () => {
  const [set] = displaySets([image({ sop: 'pa', modality: 'DX', laterality: 'U', position: 'PA', description: 'Chest' })], idOf);
  assert.equal(set.label, 'PA');
  assert.equal(set.title, 'posteroanterior (PA)');
});

test('cross-sectional images stack one viewport per series, slices in instance order', () => {
  const sets = displaySets(
    [
      image({ sop: 's2', modality: 'CT', series: 'axial', seriesNumber: 3, number: 2 }),
      image({ sop: 'l1', modality: 'CT', series: 'scout', seriesNumber: 1, number: 1 }),
      image({ sop: 's1', modality: 'CT', series: 'axial', seriesNumber: 3, number: 1 }),
      image({ sop: 's3', modality: 'CT', series: 'axial', seriesNumber: 3, number: 10 }),
    ],
    idOf,
  );
  assert.equal(sets.length, 2);
  assert.deepEqual(sets.map((s) => s.imageIds), [['l1/1'], ['s1/1', 's2/1', 's3/1']]);
});

test('a mixed study is not reordered as mammography', () => {
  const sets = displaySets(
    [
      image({ sop: 'lcc', laterality: 'L', position: 'CC', seriesNumber: 1 }),
      image({ sop: 'us', modality: 'US', seriesNumber: 2 }),
      image({ sop: 'rcc', laterality: 'R', position: 'CC', seriesNumber: 3 }),
    ],
    idOf,
  );
  assert.deepEqual(sets.map((s) => s.imageIds[0]), ['lcc/1', 'us/1', 'rcc/1']);
});

test('mammograms turn so the chest walls meet in the middle and the CC lateral side is up', () => {
  // Right breast stored with rows toward anterior: flipped so its rows run posterior.
  assert.deepEqual(mammoFlips({ laterality: 'R', view: 'CC', orientation: ['A', 'R'] }), { flipHorizontal: true, flipVertical: true });
  assert.deepEqual(mammoFlips({ laterality: 'R', view: 'CC', orientation: ['P', 'L'] }), { flipHorizontal: false, flipVertical: false });
  assert.deepEqual(mammoFlips({ laterality: 'L', view: 'CC', orientation: ['P', 'L'] }), { flipHorizontal: true, flipVertical: true });
  assert.deepEqual(mammoFlips({ laterality: 'L', view: 'CC', orientation: ['A', 'R'] }), { flipHorizontal: false, flipVertical: false });
  // Oblique views: feet down.
  assert.deepEqual(mammoFlips({ laterality: 'L', view: 'MLO', orientation: ['A', 'HL'] }), { flipHorizontal: false, flipVertical: true });
  assert.deepEqual(mammoFlips({ laterality: 'R', view: 'MLO', orientation: ['P', 'FL'] }), { flipHorizontal: false, flipVertical: false });
  // Without PatientOrientation the image is shown as stored.
  assert.deepEqual(mammoFlips({ laterality: 'R', view: 'CC' }), { flipHorizontal: false, flipVertical: false });
});

test('layouts: 1x1, 1x2 side by side, 2x2 up to four, then 2x3 and 3x3', () => {
  const shapes = [0, 1, 2, 3, 4, 5, 6, 7, 9].map((n) => {
    const { rows, columns } = layoutFor(n);
    return `${rows}x${columns}`;
  });
  assert.deepEqual(shapes, ['1x1', '1x1', '1x2', '2x2', '2x2', '2x3', '2x3', '3x3', '3x3']);
});
