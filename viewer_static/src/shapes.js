// Lesion marks of the truthing mode as plain geometry, without a DOM: a box (two corners), a point
// or a polygon (3..200 vertices), in image pixels (column x, row y) of one frame of one instance,
// as the truthing API stores them: {type, sop_instance_uid, frame, points: [[x, y], ...]}.

export const MARK_KINDS = ['box', 'point', 'polygon'];
export const MAX_POLYGON_POINTS = 200;
const MIN_BOX_SIDE = 2; // image pixels: a smaller drag is a slip, not a box

/** Round to a tenth of a pixel: enough for any display, and stable in stored JSON. */
const tenth = (v) => Math.round(v * 10) / 10;
const at = ({ instanceUid, frame }) => ({ sop_instance_uid: instanceUid, frame: frame || 1 });

/** A point mark where the image was clicked (``where``: the image point with its instance and frame). */
export function pointMark(where) {
  return { type: 'point', ...at(where), points: [[tenth(where.x), tenth(where.y)]] };
}

/** A box from a drag between two image points on the same image; null where the drag is too small. */
export function boxMark(from, to) {
  if (from.instanceUid !== to.instanceUid || (from.frame || 1) !== (to.frame || 1)) return null;
  const [x0, x1] = [Math.min(from.x, to.x), Math.max(from.x, to.x)];
  const [y0, y1] = [Math.min(from.y, to.y), Math.max(from.y, to.y)];
  if (x1 - x0 < MIN_BOX_SIDE || y1 - y0 < MIN_BOX_SIDE) return null;
  return { type: 'box', ...at(from), points: [[tenth(x0), tenth(y0)], [tenth(x1), tenth(y1)]] };
}

/**
 * A polygon being drawn vertex by vertex on one image. ``add`` takes the next image point and
 * says 'added', 'closed' (the click was within ``closeRadius`` image pixels of the first vertex,
 * with three vertices or more), 'crossing' (that click would close an outline whose edges cross,
 * which the server refuses), 'other-image' (a click on another image: ignored) or 'full'.
 */
export class PolygonDraft {
  constructor(first) {
    this.where = at(first);
    this.points = [[tenth(first.x), tenth(first.y)]];
  }

  add(point, closeRadius) {
    if (at(point).sop_instance_uid !== this.where.sop_instance_uid || at(point).frame !== this.where.frame) return 'other-image';
    const [fx, fy] = this.points[0];
    if (this.points.length >= 3 && Math.hypot(point.x - fx, point.y - fy) <= closeRadius) {
      return isSimplePolygon(this.points) ? 'closed' : 'crossing';
    }
    if (this.points.length >= MAX_POLYGON_POINTS) return 'full';
    this.points.push([tenth(point.x), tenth(point.y)]);
    return 'added';
  }

  /** The finished polygon, or null while it has fewer than three vertices. */
  mark() {
    return this.points.length >= 3 ? { type: 'polygon', ...this.where, points: this.points.map((p) => [...p]) } : null;
  }
}

/** Whether a mark is one the API takes: a known kind among ``allowed``, the right number of finite points. */
export function isValidMark(mark, allowed = MARK_KINDS) {
  if (!mark || !allowed.includes(mark.type) || !mark.sop_instance_uid || !Array.isArray(mark.points)) return false;
  const n = mark.points.length;
  const counts = { box: n === 2, point: n === 1, polygon: n >= 3 && n <= MAX_POLYGON_POINTS };
  return counts[mark.type] && mark.points.every((p) => p.length === 2 && p.every(Number.isFinite));
}

/** The polygon a mark covers (a box's four corners; a point covers nothing). */
export function outline(mark) {
  if (mark.type === 'box') {
    const [[x0, y0], [x1, y1]] = mark.points;
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]];
  }
  return mark.type === 'polygon' ? mark.points : [];
}

const orientation = ([ax, ay], [bx, by], [cx, cy]) => Math.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax));
const within = ([ax, ay], [bx, by], [cx, cy]) =>
  Math.min(ax, bx) <= cx && cx <= Math.max(ax, bx) && Math.min(ay, by) <= cy && cy <= Math.max(ay, by);

/** Whether segments p-q and r-s cross, touch or overlap (orientation tests; Cormen et al., ch. 33.1). */
function segmentsMeet(p, q, r, s) {
  const [o1, o2, o3, o4] = [orientation(p, q, r), orientation(p, q, s), orientation(r, s, p), orientation(r, s, q)];
  if (o1 * o2 < 0 && o3 * o4 < 0) return true;
  return (o1 === 0 && within(p, q, r)) || (o2 === 0 && within(p, q, s)) || (o3 === 0 && within(r, s, p)) || (o4 === 0 && within(r, s, q));
}

/** Whether a closed outline encloses an area and its edges meet only where neighbours share a vertex. */
export function isSimplePolygon(points) {
  const n = points.length;
  if (n < 3 || polygonArea(points) === 0) return false;
  const edge = (i) => [points[i], points[(i + 1) % n]];
  for (let i = 0; i < n; i++) {
    for (let j = i + 2; j < n; j++) {
      if (i === 0 && j === n - 1) continue; // the closing edge and the first share vertex 0
      if (segmentsMeet(...edge(i), ...edge(j))) return false;
    }
  }
  return true;
}

/** Area of a simple polygon (shoelace formula), in square image pixels. */
export function polygonArea(points) {
  let twice = 0;
  points.forEach(([x0, y0], i) => {
    const [x1, y1] = points[(i + 1) % points.length];
    twice += x0 * y1 - x1 * y0;
  });
  return Math.abs(twice) / 2;
}

/** A mark in words, as the panel lists it: "box 40×30 px", "point (120, 88)", "polygon, 5 vertices". */
export function describeMark(mark) {
  if (mark.type === 'box') {
    const [[x0, y0], [x1, y1]] = mark.points;
    return `box ${Math.round(x1 - x0)}×${Math.round(y1 - y0)} px`;
  }
  if (mark.type === 'point') return `point (${Math.round(mark.points[0][0])}, ${Math.round(mark.points[0][1])})`;
  return `polygon, ${mark.points.length} vertices`;
}

/** "2 boxes, 1 point" or "no marks". */
export function countMarks(marks) {
  const plural = { box: 'boxes', point: 'points', polygon: 'polygons' };
  const parts = MARK_KINDS.map((kind) => [kind, marks.filter((m) => m.type === kind).length])
    .filter(([, n]) => n)
    .map(([kind, n]) => `${n} ${n === 1 ? kind : plural[kind]}`);
  return parts.length ? parts.join(', ') : 'no marks';
}

/** The colour class of the n-th other expert (0-based): distinct, cycling over a fixed palette. */
export const EXPERT_COLOURS = 6;
export function expertColour(index) {
  return `rw-expert-${index % EXPERT_COLOURS}`;
}
