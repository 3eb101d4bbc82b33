// Orientation markers: which way the patient lies at each edge of a displayed image, from
// Image Orientation (Patient) (0020,0037) where the image has it, else Patient Orientation
// (0020,0020) (PS3.3 C.7.6.1.1.1 and C.7.6.2.1.1), after whatever flips or turns the view applies.
// Directions are in DICOM's patient coordinates: +x to the patient's left, +y posterior, +z head.
// No DOM, no Cornerstone.

const AXIS_LETTERS = [['R', 'L'], ['A', 'P'], ['F', 'H']]; // [negative, positive] along x, y, z
const LETTER_VECTORS = { L: [1, 0, 0], R: [-1, 0, 0], P: [0, 1, 0], A: [0, -1, 0], H: [0, 0, 1], F: [0, 0, -1] };
const LEAST_COMPONENT = 0.1; // of a unit vector: smaller components (slight obliquity) get no letter

export const ORIENTATION_LEGEND = [
  ['R', 'right'],
  ['L', 'left'],
  ['A', 'anterior'],
  ['P', 'posterior'],
  ['H', 'head'],
  ['F', 'feet'],
];

function tagValues(meta, tag) {
  return meta?.[tag]?.Value || [];
}

/** A unit vector from Patient Orientation letters ("FR": toward the feet and the right), or null. */
function vectorOfLetters(letters) {
  const sum = [0, 0, 0];
  for (const letter of String(letters || '')) {
    const v = LETTER_VECTORS[letter];
    if (!v) return null;
    v.forEach((c, k) => (sum[k] += c));
  }
  return normalized(sum);
}

function normalized(v) {
  const length = Math.hypot(...v);
  return length > 1e-9 ? v.map((c) => c / length) : null;
}

/**
 * The patient directions of an image's rows and columns from its DICOM JSON metadata:
 * ``row`` the way along a row (increasing column index), ``column`` down a column (increasing
 * row index); null when the image says neither.
 */
export function imageDirections(meta) {
  const cosines = tagValues(meta, '00200037').map(Number);
  if (cosines.length === 6 && cosines.every(Number.isFinite)) {
    const row = normalized(cosines.slice(0, 3));
    const column = normalized(cosines.slice(3));
    if (row && column) return { row, column };
  }
  const [rows, columns] = tagValues(meta, '00200020');
  const row = vectorOfLetters(rows);
  const column = vectorOfLetters(columns);
  return row && column ? { row, column } : null;
}

/**
 * The letters of a direction, strongest first ("L", "LP", ...), equal ones head/feet, then
 * anterior/posterior, then right/left, as Patient Orientation writes them ("FL"); '' for none.
 */
export function lettersOf(vector) {
  const unit = normalized(vector);
  if (!unit) return '';
  const strength = (k) => Math.round(Math.abs(unit[k]) * 1000); // equal within rounding of the view's mapping
  return [2, 1, 0]
    .filter((k) => Math.abs(unit[k]) >= LEAST_COMPONENT)
    .sort((a, b) => strength(b) - strength(a))
    .map((k) => AXIS_LETTERS[k][unit[k] > 0 ? 1 : 0])
    .join('');
}

/**
 * Image-pixel steps of one screen step right and one down, from where three image points land
 * on the canvas: ``origin`` (0, 0), ``alongRow`` (1, 0) and ``downColumn`` (0, 1).
 * @returns {{right: number[], down: number[]} | null} [columns, rows] each; null if degenerate
 */
export function screenSteps(origin, alongRow, downColumn) {
  const [a, c] = [alongRow[0] - origin[0], alongRow[1] - origin[1]]; // canvas step of one column
  const [b, d] = [downColumn[0] - origin[0], downColumn[1] - origin[1]]; // canvas step of one row
  const det = a * d - b * c;
  if (!(Math.abs(det) > 1e-12)) return null;
  // The inverse of [[a, b], [c, d]] applied to screen right (1, 0) and down (0, 1).
  return { right: [d / det, -c / det], down: [-b / det, a / det] };
}

/** The letters at each edge of the screen for an image of ``directions`` shown with ``steps``. */
export function edgeLabels(directions, steps) {
  if (!directions || !steps) return null;
  const toward = ([columns, rows]) => directions.row.map((r, k) => columns * r + rows * directions.column[k]);
  const right = toward(steps.right);
  const down = toward(steps.down);
  return {
    right: lettersOf(right),
    left: lettersOf(right.map((v) => -v)),
    bottom: lettersOf(down),
    top: lettersOf(down.map((v) => -v)),
  };
}
