// A simple per-study hanging protocol: which images go into which viewport.
//
// Projection radiography (DX, CR, MG, ...) hangs each image in its own viewport; cross-sectional
// series (CT, MR, ...) hang as one scrollable stack per series. Screening mammography hangs in
// the conventional 2x2 (right breast on the viewer's left: R CC | L CC over R MLO | L MLO).

import { tagValue } from './api.js';

const PROJECTION = new Set(['DX', 'CR', 'MG', 'RF', 'XA', 'IO', 'PX', 'OT', 'SC']);
const MG_ORDER = ['R CC', 'L CC', 'R MLO', 'L MLO'];

// View Code Sequence (0054,0220) values, SNOMED CT and the older SNOMED-RT codes.
const VIEW_CODES = {
  399162004: 'CC', 'R-10242': 'CC',
  399368009: 'MLO', 'R-10226': 'MLO',
  399260004: 'ML', 'R-10224': 'ML',
  399352003: 'LM', 'R-10228': 'LM',
};

function viewOf(meta) {
  const position = tagValue(meta, '00185101');
  if (position) return position;
  const code = tagValue(meta, '00540220');
  const value = code ? tagValue(code, '00080100') : undefined;
  return VIEW_CODES[value] || (code ? tagValue(code, '00080104') : '') || '';
}

// Image Laterality in words for the viewport label; U (unpaired, e.g. a chest) says nothing to a reader.
const LATERALITY_WORDS = { R: 'Right', L: 'Left', B: 'Both' };
// The view codes of View Position (DX) and the mammography views, spelled out in the label's tooltip.
const VIEW_WORDS = {
  PA: 'posteroanterior', AP: 'anteroposterior', LL: 'left lateral', RL: 'right lateral', LAT: 'lateral',
  CC: 'craniocaudal', MLO: 'mediolateral oblique', ML: 'mediolateral', LM: 'lateromedial',
};

/** The viewport's label ("Right CC", "PA") and its tooltip in words; the series description otherwise. */
function labelOf(laterality, view, description) {
  const side = LATERALITY_WORDS[laterality];
  const label = [side, view].filter(Boolean).join(' ');
  if (!label) return { label: description, title: description };
  const viewWords = VIEW_WORDS[view] ? `${VIEW_WORDS[view]} (${view})` : view;
  return { label, title: [side, viewWords].filter(Boolean).join(', ') };
}

function describe(meta) {
  const laterality = tagValue(meta, '00200062') || tagValue(meta, '00200060') || '';
  const view = viewOf(meta);
  return {
    orientation: meta['00200020']?.Value || [], // PatientOrientation: rows, columns
    sopUid: tagValue(meta, '00080018'),
    seriesUid: tagValue(meta, '0020000E'),
    modality: tagValue(meta, '00080060') || '',
    instanceNumber: Number(tagValue(meta, '00200013') ?? 0),
    seriesNumber: Number(tagValue(meta, '00200011') ?? 0),
    frames: Number(tagValue(meta, '00280008') ?? 1) || 1,
    laterality,
    view,
    ...labelOf(laterality, view, tagValue(meta, '0008103E') || ''),
  };
}

/**
 * Display sets from the metadata of every instance of a study.
 * @param {object[]} instances DICOM JSON, one object per instance
 * @param {(d: object, frame: number) => string} imageIdOf
 * @returns {{modality: string, label: string, imageIds: string[]}[]}
 */
export function displaySets(instances, imageIdOf) {
  const described = instances.map((meta) => ({ meta, d: describe(meta) }));
  described.sort(
    (a, b) => a.d.seriesNumber - b.d.seriesNumber || a.d.instanceNumber - b.d.instanceNumber,
  );
  const sets = [];
  const bySeries = new Map();
  for (const { meta, d } of described) {
    const ids = Array.from({ length: d.frames }, (_, i) => imageIdOf(meta, d, i + 1));
    if (PROJECTION.has(d.modality)) {
      sets.push({ modality: d.modality, label: d.label, title: d.title, laterality: d.laterality, view: d.view, orientation: d.orientation, imageIds: ids });
      continue;
    }
    if (!bySeries.has(d.seriesUid)) {
      const set = { modality: d.modality, label: d.label, title: d.title, imageIds: [] };
      bySeries.set(d.seriesUid, set);
      sets.push(set);
    }
    bySeries.get(d.seriesUid).imageIds.push(...ids);
  }
  if (sets.length && sets.every((s) => s.modality === 'MG')) {
    const rank = (s) => {
      const i = MG_ORDER.indexOf(`${s.laterality} ${s.view}`);
      return i < 0 ? MG_ORDER.length : i;
    };
    sets.sort((a, b) => rank(a) - rank(b));
  }
  return sets;
}

/**
 * Flips that hang a mammogram by convention, from its PatientOrientation (PS3.3 C.8.11.7.1.4):
 * the chest wall toward the middle of the 2x2 (a right breast's rows run posterior, P; a left
 * breast's anterior, A); cranio-caudal views with the lateral side up (columns toward the
 * patient's left for a right breast, right for a left one); other views with the feet down.
 * Without PatientOrientation the image is taken as stored for display.
 * @returns {{flipHorizontal: boolean, flipVertical: boolean}}
 */
export function mammoFlips({ laterality, view, orientation = [] }) {
  const [rows = '', columns = ''] = orientation;
  const flipHorizontal = ['A', 'P'].includes(rows[0]) && rows[0] !== (laterality === 'R' ? 'P' : 'A');
  let flipVertical = false;
  if (view.includes('CC')) {
    const lateralUp = laterality === 'R' ? 'L' : 'R';
    flipVertical = /[LR]/.test(columns) && !columns.includes(lateralUp);
  } else {
    flipVertical = columns.startsWith('H');
  }
  return { flipHorizontal, flipVertical };
}

/** Rows x columns for n viewports: 1 -> 1x1, 2 -> 1x2 (side by side), 3-4 -> 2x2, then 2x3, 3x3. */
export function layoutFor(n) {
  if (n <= 1) return { rows: 1, columns: 1 };
  if (n === 2) return { rows: 1, columns: 2 };
  if (n <= 4) return { rows: 2, columns: 2 };
  if (n <= 6) return { rows: 2, columns: 3 };
  return { rows: 3, columns: 3 };
}

export const MAX_VIEWPORTS = 9;
