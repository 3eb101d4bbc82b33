// Cornerstone3D set-up, loading a case's images over WADO-RS, hanging them, and prefetching the
// next case while the reader scores this one. Follows Cornerstone3D's stack examples: one
// RenderingEngine, STACK viewports, wadors: image ids with their metadata registered first.

import {
  init as csInit,
  getShouldUseCPURendering,
  RenderingEngine,
  Enums,
  imageLoader,
  metaData,
  utilities as csUtils,
} from '@cornerstonejs/core';
import { init as dicomLoaderInit, wadors } from '@cornerstonejs/dicom-image-loader';

import { displaySets, layoutFor, mammoFlips, MAX_VIEWPORTS } from './hanging.js';
import { imageDirections } from './orientation.js';
import { compressedForm } from './transfer.js';

const ENGINE_ID = 'rw-engine';
const ONE_FULL_PARTIAL_DECODE_MS = 3_600_000; // the least time between two full-resolution partial decodes
const STREAMED = { streaming: true, msBetweenDecode: ONE_FULL_PARTIAL_DECODE_MS };

/**
 * True when WebGL is a software rasterizer (SwiftShader, llvmpipe): there Cornerstone's CPU
 * path draws a large radiograph several times faster than emulated WebGL.
 */
export function softwareWebGL() {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (!gl) return true;
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return /swiftshader|llvmpipe|softpipe|software/i.test(renderer);
}

/**
 * @param {{cpu?: boolean, frames: import('./frame_loader.js').FrameLoader}} options cpu: true
 *   forces, false forbids, undefined picks by the GPU; frames: the loader of WADO-RS frames
 */
export async function initImaging({ cpu, frames }) {
  const useCPURendering = cpu ?? softwareWebGL();
  await csInit(useCPURendering ? { rendering: { useCPURendering: true } } : undefined);
  const workers = Math.max(1, Math.min(4, Math.floor((navigator.hardwareConcurrency || 2) / 2)));
  dicomLoaderInit({ maxWebWorkers: workers, beforeSend: frames.headersFor });
  imageLoader.registerImageLoader('wadors', frames.loadImage);
  // GPU viewports draw each partial image of a streamed frame (Cornerstone's CPU path waits for the
  // whole one): at 1/8 to 1/2 resolution, then once at full resolution from a quarter of the bytes.
  // The loader decodes one image at a time, so further full-resolution partial decodes would only
  // delay the final one.
  csUtils.imageRetrieveMetadataProvider.add('stack', { retrieveOptions: { default: STREAMED } });
  frames.policy.compressed = compressedForm({ drawsPartialImages: !useCPURendering });
  return { useCPURendering };
}

// Projection radiographs often carry only Imager Pixel Spacing (0018,1164), the spacing at the
// detector. Measuring with it (divided by the Estimated Radiographic Magnification Factor,
// 0018,1114, when given) is what PS3.3 C.8.11.1.1.1 allows; without it lengths would be in pixels.
const detectorSpacing = new Map();

function registerDetectorSpacing(imageId, meta) {
  if (meta['00280030']?.Value) return;
  const imager = meta['00181164']?.Value;
  if (!imager || !(imager[0] > 0)) return;
  const ermf = Number(meta['00181114']?.Value?.[0]);
  const factor = ermf > 1 ? ermf : 1;
  detectorSpacing.set(imageId, [Number(imager[0]) / factor, Number(imager[1] ?? imager[0]) / factor]);
}

metaData.addProvider((type, imageId) => {
  if (type !== 'imagePlaneModule' || !detectorSpacing.has(imageId)) return undefined;
  const plane = wadors.metaData.metaDataProvider(type, imageId);
  if (!plane) return undefined;
  const [rowPixelSpacing, columnPixelSpacing] = detectorSpacing.get(imageId);
  return { ...plane, rowPixelSpacing, columnPixelSpacing, pixelSpacing: [rowPixelSpacing, columnPixelSpacing], usingDefaultValues: false };
}, 10000);

// The patient directions of each image's rows and columns (orientation.js), for the markers.
const directions = new Map();

/** The patient directions of the rows and columns of an image (orientation.js), or null. */
export function directionsOf(imageId) {
  return directions.get(imageId) ?? null;
}

/** Where image pixel (x, y) (column, row) of the viewport's image lies on its canvas, in CSS pixels. */
export function imageToCanvas(viewport, x, y) {
  return viewport.worldToCanvas(csUtils.imageToWorldCoords(viewport.getCurrentImageId(), [x, y]));
}

/** Loads (once per study) the metadata of a case and turns it into display sets of wadors: ids. */
export class CaseImages {
  constructor(dicomweb) {
    this.dicomweb = dicomweb;
    this.studies = new Map();
  }

  load(studyUid) {
    if (!this.studies.has(studyUid)) {
      const promise = this._load(studyUid);
      promise.catch(() => this.studies.delete(studyUid));
      this.studies.set(studyUid, promise);
    }
    return this.studies.get(studyUid);
  }

  async _load(studyUid) {
    const instances = await this.dicomweb.studyMetadata(studyUid);
    const imageIdOf = (meta, d, frame) => {
      const imageId = `wadors:${this.dicomweb.frameUrl(studyUid, d.seriesUid, d.sopUid, frame)}`;
      // The loader needs the instance's metadata before it fetches the frame.
      wadors.metaDataManager.add(imageId, meta);
      registerDetectorSpacing(imageId, meta);
      directions.set(imageId, imageDirections(meta));
      return imageId;
    };
    return displaySets(instances, imageIdOf);
  }

  /**
   * The case on screen: its metadata, and then at once the first image of each display set, loaded
   * as its viewport will load it (streamed where the viewport draws partial images). The viewport,
   * once set up, takes up the load already under way instead of starting it only then.
   */
  async show(studyUid) {
    const sets = await this.load(studyUid);
    for (const set of sets.slice(0, MAX_VIEWPORTS)) {
      // A failure is the viewport's to report: its own load, taking this one up, fails with it.
      imageLoader.loadAndCacheImage(set.imageIds[0], shownImageOptions(set.imageIds[0])).catch(() => {});
    }
    return sets;
  }

  /** Decode and cache the case's images: the first image of each display set first. */
  async prefetch(studyUid) {
    const sets = await this.load(studyUid);
    const first = sets.map((s) => s.imageIds[0]);
    const rest = sets.flatMap((s) => s.imageIds.slice(1));
    await Promise.all(first.map((id) => imageLoader.loadAndCacheImage(id).catch(() => null)));
    await Promise.all(rest.map((id) => imageLoader.loadAndCacheImage(id).catch(() => null)));
    return sets;
  }
}

/** The options a stack viewport loads the image it shows with (StackViewport's CPU and GPU paths). */
function shownImageOptions(imageId) {
  const requestType = Enums.RequestType.Interaction;
  if (getShouldUseCPURendering()) return { useRGBA: true, requestType };
  const { transferSyntaxUID } = metaData.get(Enums.MetadataModules.TRANSFER_SYNTAX, imageId) || {};
  return {
    useRGBA: false, transferSyntaxUID, priority: 5, requestType,
    retrieveType: 'default', retrieveOptions: STREAMED, streamingData: {},
  };
}

const FULL_RESOLUTION = Enums.ImageQualityStatus.FULL_RESOLUTION;

/** Whether a Cornerstone image is the whole frame, not a partial one of a stream. */
function isFullQuality(image) {
  return Boolean(image) && (image.imageQualityStatus ?? FULL_RESOLUTION) >= FULL_RESOLUTION;
}

/** performance.now() of the first render of ``element`` for which ``test()`` holds (never, once aborted). */
function renderedWhen(element, signal, test) {
  return new Promise((resolve) => {
    const listener = () => {
      if (!test()) return;
      element.removeEventListener(Enums.Events.IMAGE_RENDERED, listener);
      resolve(performance.now());
    };
    element.addEventListener(Enums.Events.IMAGE_RENDERED, listener, { signal });
  });
}

/** The viewports of the reading page: created per layout, reused while the layout stays. */
export class Hanging {
  constructor(container, { onViewportsChanged } = {}) {
    this.container = container;
    this.engine = new RenderingEngine(ENGINE_ID);
    this.viewportIds = [];
    this.sets = [];
    this.onViewportsChanged = onViewportsChanged || (() => {});
    this.defaultVoi = new Map();
    this.renderListeners = [];
  }

  /** Call ``listener(index)`` whenever viewport ``index`` renders or its camera moves. */
  onRendered(listener) {
    this.renderListeners.push(listener);
  }

  get viewports() {
    return this.viewportIds.map((id) => this.engine.getViewport(id));
  }

  element(index) {
    return this.container.querySelector(`[data-viewport-index="${index}"] .rw-viewport`);
  }

  _build(n) {
    for (const id of this.viewportIds) this.engine.disableElement(id);
    this.container.replaceChildren();
    const { rows, columns } = layoutFor(n);
    this.container.style.gridTemplateRows = `repeat(${rows}, minmax(0, 1fr))`;
    this.container.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    this.viewportIds = [];
    const inputs = [];
    for (let i = 0; i < n; i++) {
      const cell = document.createElement('div');
      cell.className = 'rw-cell';
      cell.dataset.viewportIndex = String(i);
      const element = document.createElement('div');
      element.className = 'rw-viewport';
      element.tabIndex = 0;
      element.setAttribute('role', 'img');
      element.oncontextmenu = (e) => e.preventDefault();
      const overlay = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      overlay.classList.add('rw-overlay');
      overlay.setAttribute('aria-hidden', 'true');
      const label = document.createElement('div');
      label.className = 'rw-vp-label';
      const info = document.createElement('div'); // window/level and zoom (readouts.js)
      info.className = 'rw-vp-info';
      const markers = ['top', 'right', 'bottom', 'left'].map((edge) => {
        const marker = document.createElement('div'); // the patient's direction at this edge
        marker.className = 'rw-orient';
        marker.dataset.edge = edge;
        return marker;
      });
      cell.append(element, overlay, label, info, ...markers);
      this.container.append(cell);
      for (const event of [Enums.Events.IMAGE_RENDERED, Enums.Events.CAMERA_MODIFIED]) {
        element.addEventListener(event, () => this.renderListeners.forEach((listener) => listener(i)));
      }
      const viewportId = `rw-vp-${i}`;
      this.viewportIds.push(viewportId);
      inputs.push({ viewportId, type: Enums.ViewportType.STACK, element, defaultOptions: { background: [0, 0, 0] } });
    }
    this.engine.setViewports(inputs);
    this.onViewportsChanged(this.viewportIds, ENGINE_ID);
  }

  /**
   * Show a case. Resolves with performance.now() of the first rendered image; ``fullQuality``
   * then resolves with performance.now() once every viewport has drawn its image whole (a
   * streamed frame is drawn at lower resolutions first).
   * @param {{label: string, imageIds: string[]}[]} sets
   */
  async show(sets) {
    const n = Math.min(sets.length, MAX_VIEWPORTS);
    if (n !== this.viewportIds.length) this._build(n);
    this.sets = sets.slice(0, n);
    this.showing?.abort();
    this.showing = new AbortController();
    if (!n) return null;
    const { signal } = this.showing;
    const rendered = [];
    const whole = [];
    const shownImages = [];
    const stacks = this.sets.map((set, i) => {
      const element = this.element(i);
      element.setAttribute('aria-label', `Image ${i + 1} of ${n}${set.label ? `: ${set.label}` : ''}`);
      const label = element.parentElement.querySelector('.rw-vp-label');
      label.textContent = set.label || '';
      label.title = set.title || '';
      const viewport = this.engine.getViewport(this.viewportIds[i]);
      // Cornerstone also renders before an image arrives, and keeps the last case's image until then.
      const shown = () => {
        const image = viewport.getCornerstoneImage();
        return image && set.imageIds.includes(image.imageId) ? image : null;
      };
      shownImages.push(shown);
      rendered.push(renderedWhen(element, signal, () => shown() !== null));
      whole.push(renderedWhen(element, signal, () => isFullQuality(shown())));
      return viewport.setStack(set.imageIds, 0).then(() => {
        viewport.resetCamera();
        this.align(i);
        viewport.render();
        this.defaultVoi.set(this.viewportIds[i], { ...viewport.getProperties().voiRange });
      });
    });
    this.fullQuality = Promise.all(whole).then((times) => Math.max(...times));
    await Promise.all(stacks);
    // The GPU path's loader reports a failed image by an event, and setStack resolves all the same.
    if (shownImages.some((shown) => !shown())) throw new Error('an image could not be loaded');
    const times = await Promise.all(rendered);
    return Math.min(...times);
  }

  /**
   * Mammograms hang back to back: each image turned by its PatientOrientation (``mammoFlips``),
   * a right breast image against the right edge of its viewport, a left one against the left
   * edge, so the two chest walls meet in the middle. Called after every camera reset, which
   * also resets flips.
   */
  align(index) {
    const set = this.sets[index];
    if (set?.modality !== 'MG' || !['R', 'L'].includes(set.laterality)) return;
    const viewport = this.viewports[index];
    viewport.setCamera(mammoFlips(set));
    const imageId = viewport.getCurrentImageId();
    const [columns] = viewport.getImageData()?.dimensions || [];
    if (!imageId || !columns) return;
    const edge = (column) => viewport.worldToCanvas(csUtils.imageToWorldCoords(imageId, [column, 0]))[0];
    const [left, right] = [edge(0), edge(columns)].sort((a, b) => a - b);
    const shift = set.laterality === 'R' ? viewport.canvas.clientWidth - right : -left;
    const a = viewport.canvasToWorld([0, 0]);
    const b = viewport.canvasToWorld([shift, 0]);
    const delta = [0, 1, 2].map((k) => b[k] - a[k]);
    const { focalPoint, position } = viewport.getCamera();
    viewport.setCamera({
      focalPoint: focalPoint.map((v, k) => v - delta[k]),
      position: position.map((v, k) => v - delta[k]),
    });
  }

  alignAll() {
    this.viewports.forEach((viewport, i) => {
      this.align(i);
      viewport.render();
    });
  }

  resize() {
    this.engine.resize(true, false);
  }
}

/** The SOP Instance UID and frame number that a wadors: image id points at. */
export function parseImageId(imageId) {
  const match = /\/instances\/([^/]+)\/frames\/(\d+)/.exec(imageId || '');
  return match ? { instanceUid: match[1], frame: Number(match[2]) } : { instanceUid: null, frame: 1 };
}

/**
 * For the e2e tests and benchmarks: where an image pixel is on the canvas, what a viewport shows,
 * the pixel values it holds and how its frame came (``frames``: the FrameLoader).
 */
export function viewportProbe(hanging, frames) {
  return {
    /** The displayed image's values (modality LUT applied) in a rectangle, row by row. */
    pixels(index, { x = 0, y = 0, width, height }) {
      const image = hanging.viewports[index].getCornerstoneImage();
      const values = image.voxelManager.getScalarData();
      const out = [];
      for (let row = y; row < Math.min(y + height, image.rows); row++) {
        for (let column = x; column < Math.min(x + width, image.columns); column++) {
          out.push(values[row * image.columns + column]);
        }
      }
      return out;
    },
    /**
     * SHA-256 (hex) of the displayed image's values as they lie in memory, and their array type: a test
     * compares a whole 2048² image without carrying its 4 million values out of the page.
     */
    async pixelDigest(index) {
      const values = hanging.viewports[index].getCornerstoneImage().voxelManager.getScalarData();
      const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
      return { type: values.constructor.name, sha256: [...digest].map((b) => b.toString(16).padStart(2, '0')).join('') };
    },
    /** The displayed image: its size, whether whole, and what its frame cost (FrameLoader.record). */
    image(index) {
      const viewport = hanging.viewports[index];
      const image = viewport.getCornerstoneImage();
      return image && {
        rows: image.rows,
        columns: image.columns,
        fullQuality: isFullQuality(image),
        transferSyntax: image.transferSyntaxUID ?? null,
        frame: frames.record(viewport.getCurrentImageId()),
      };
    },
    imageToCanvas(index, x, y) {
      return imageToCanvas(hanging.viewports[index], x, y);
    },
    view(index) {
      const viewport = hanging.viewports[index];
      const { voiRange, invert } = viewport.getProperties();
      const { flipHorizontal, flipVertical } = viewport.getCamera();
      return {
        voi: voiRange,
        invert: Boolean(invert),
        imageIndex: viewport.getCurrentImageIdIndex(),
        images: viewport.getImageIds().length,
        flipHorizontal: Boolean(flipHorizontal),
        flipVertical: Boolean(flipVertical),
        ...parseImageId(viewport.getCurrentImageId()),
      };
    },
  };
}
