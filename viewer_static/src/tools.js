// Image tools: one Cornerstone3D ToolGroup for all viewports of the reading page, as in the
// Cornerstone3D stack examples. Left button = the chosen tool, middle = pan, right = zoom,
// wheel = stack scroll. Lesion marks are placed by the scoring panel, not by a Cornerstone tool.

import {
  init as toolsInit,
  addTool,
  ToolGroupManager,
  WindowLevelTool,
  ZoomTool,
  PanTool,
  StackScrollTool,
  LengthTool,
  Enums as ToolEnums,
  annotation,
} from '@cornerstonejs/tools';

const { MouseBindings } = ToolEnums;
const GROUP_ID = 'rw-tools';

export const PRIMARY_TOOLS = {
  wl: WindowLevelTool.toolName,
  zoom: ZoomTool.toolName,
  pan: PanTool.toolName,
  length: LengthTool.toolName,
  mark: null, // handled by the marks layer (scoring.js)
};

let group = null;
let primary = 'wl';

export function initTools() {
  toolsInit();
  for (const tool of [WindowLevelTool, ZoomTool, PanTool, StackScrollTool, LengthTool]) addTool(tool);
  group = ToolGroupManager.createToolGroup(GROUP_ID);
  for (const tool of [WindowLevelTool, ZoomTool, PanTool, StackScrollTool, LengthTool]) group.addTool(tool.toolName);
  group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
  group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
  group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
  setPrimaryTool('wl');
}

export function attachViewports(viewportIds, engineId) {
  for (const id of viewportIds) group.addViewport(id, engineId);
}

export function primaryTool() {
  return primary;
}

export function setPrimaryTool(name) {
  const previous = PRIMARY_TOOLS[primary];
  if (previous) group.setToolPassive(previous);
  primary = name;
  const next = PRIMARY_TOOLS[name];
  if (next) group.setToolActive(next, { bindings: [{ mouseButton: MouseBindings.Primary }] });
  return primary;
}

export function clearMeasurements() {
  annotation.state.removeAllAnnotations();
}

/** Window/level presets for a modality, as [label, (viewport, defaultVoi) => {lower, upper}]. */
export function presetsFor(modality) {
  const fixed = (center, width) => () => ({ lower: center - width / 2, upper: center + width / 2 });
  const scaled = (factor) => (_vp, d) => {
    const center = (d.lower + d.upper) / 2;
    const width = (d.upper - d.lower) * factor;
    return { lower: center - width / 2, upper: center + width / 2 };
  };
  const fullRange = (vp) => {
    const data = vp.getImageData?.();
    const range = data?.imageData?.getPointData?.().getScalars?.().getRange?.();
    return range ? { lower: range[0], upper: range[1] } : null;
  };
  if (modality === 'CT') {
    return [
      ['Default', (_vp, d) => d],
      ['Lung', fixed(-600, 1500)],
      ['Mediastinum', fixed(40, 400)],
      ['Bone', fixed(400, 1800)],
      ['Brain', fixed(40, 80)],
    ];
  }
  // Projection radiographs: values depend on the detector, so presets are relative to the
  // image's own window.
  return [
    ['Default', (_vp, d) => d],
    ['High contrast', scaled(0.5)],
    ['Low contrast', scaled(2)],
    ['Full range', (vp, d) => fullRange(vp) || d],
  ];
}

export function applyVoi(viewport, voiRange) {
  viewport.setProperties({ voiRange });
  viewport.render();
}

export function toggleInvert(viewport) {
  viewport.setProperties({ invert: !viewport.getProperties().invert });
  viewport.render();
}

export function fit(viewport) {
  viewport.resetCamera();
  viewport.render();
}

export function reset(viewport) {
  viewport.resetProperties();
  viewport.resetCamera();
  viewport.render();
}

export function zoomBy(viewport, factor) {
  viewport.setZoom(viewport.getZoom() * factor);
  viewport.render();
}

export function scrollBy(viewport, delta) {
  const ids = viewport.getImageIds();
  const index = Math.max(0, Math.min(ids.length - 1, viewport.getCurrentImageIdIndex() + delta));
  if (index !== viewport.getCurrentImageIdIndex()) viewport.setImageIdIndex(index);
}

/**
 * What the reader can change of a view, to tell which changes a gesture or key made
 * (interactions.js viewChanges); null before an image is shown.
 */
export function viewState(viewport) {
  const { voiRange, invert } = viewport?.getProperties?.() || {};
  const camera = viewport?.getCamera?.();
  if (!voiRange || !camera) return null;
  return {
    voi: { lower: voiRange.lower, upper: voiRange.upper },
    invert: Boolean(invert),
    scale: camera.parallelScale,
    focal: [...camera.focalPoint],
  };
}
