// The 'wadors' image loader of the page: dicom-image-loader's, asking for each frame in the form
// transfer.js chooses (its Accept header set through the loader's beforeSend), asking again in
// the plain form when the server refuses that form (406) or the browser cannot decode it, and
// recording what each frame cost: the syntax it came in, its bytes, its transfer and decode times.

import { Enums, metaData, utilities } from '@cornerstonejs/core';
import { wadors } from '@cornerstonejs/dicom-image-loader';

import { AS_STORED, HTJ2K_RPCL, TRANSCODED, acceptFor, failureKind } from './transfer.js';

const { ProgressiveIterator } = utilities;
const RECORDS_KEPT = 500;

/** The frame URL of a wadors: image id (the loader's beforeSend gets one or the other). */
export function frameUrl(imageIdOrUrl) {
  return imageIdOrUrl.startsWith('wadors:') ? imageIdOrUrl.slice('wadors:'.length) : imageIdOrUrl;
}

/** Bytes of a frame's pixels as stored, from its metadata. */
function decodedBytes(imageId) {
  const pixel = metaData.get(Enums.MetadataModules.IMAGE_PIXEL, imageId) || {};
  return (pixel.rows * pixel.columns * (pixel.samplesPerPixel || 1) * pixel.bitsAllocated) / 8 || 0;
}

/** The last resource timing entry of a URL (same origin: sizes and phases are all exposed). */
function resourceEntry(url) {
  return performance.getEntriesByName(new URL(url, location.href).href, 'resource').at(-1) || null;
}

/** Pass each image of a (progressive) load on to ``out``; resolves with the last. */
async function relay(promise, out) {
  const images = ProgressiveIterator.as(promise);
  // A failure reaches us through the iterator; the loader's promise, otherwise never awaited,
  // would report the same failure again as an unhandled rejection.
  promise.catch(() => {});
  let last;
  for await (const image of images) {
    last = image;
    out.add(image, images.done);
  }
  return last;
}

export class FrameLoader {
  /** @param {import('./transfer.js').TransferPolicy} policy */
  constructor(policy) {
    this.policy = policy;
    this.asking = new Map(); // frame URL -> the form asked for while its request is out
    this.records = new Map(); // frame URL -> what it cost, the latest RECORDS_KEPT frames
    this.failures = new WeakSet(); // what frames that could not be loaded failed with (isLoadFailure)
    // Entries are read as each frame arrives; a full buffer would stop new ones being kept.
    performance.addEventListener('resourcetimingbufferfull', () => performance.clearResourceTimings());
  }

  /** dicom-image-loader's beforeSend (XMLHttpRequest and streaming alike): the chosen form's Accept. */
  headersFor = (_xhr, imageIdOrUrl) => {
    const accept = acceptFor(this.asking.get(frameUrl(imageIdOrUrl)) ?? AS_STORED);
    return accept ? { Accept: accept } : {};
  };

  /** An image loader for imageLoader.registerImageLoader('wadors', ...). */
  loadImage = (imageId, options = {}) => {
    const images = new ProgressiveIterator('frame');
    images.generate((out) => this._load(imageId, options, out));
    return { promise: images.getDonePromise(), cancelFn: undefined };
  };

  /**
   * Whether ``reason`` is what a frame failed to load with. Cornerstone's image cache passes the
   * failure on from a promise that nothing awaits, where the page has already dealt with it.
   */
  isLoadFailure(reason) {
    return typeof reason === 'object' && reason !== null && this.failures.has(reason);
  }

  /** What the frame of ``imageId`` cost when it was last loaded, or null. */
  record(imageId) {
    return this.records.get(frameUrl(imageId)) || null;
  }

  async _load(imageId, options, out) {
    const url = frameUrl(imageId);
    const stored = metaData.get(Enums.MetadataModules.TRANSFER_SYNTAX, imageId)?.transferSyntaxUID;
    const started = performance.now();
    let form = this.policy.formFor(url, stored);
    let fallback = null;
    for (;;) {
      this.asking.set(url, form);
      try {
        const image = await relay(wadors.loadImage(imageId, loaderOptions(options, form)).promise, out);
        this._keep(imageId, url, form, image, { started, fallback });
        return;
      } catch (error) {
        const next = this.policy.fallbackFor(url, form, stored, error);
        if (!next) {
          if (typeof error === 'object' && error !== null) this.failures.add(error);
          throw error;
        }
        fallback = { from: form, because: failureKind(error) };
        form = next;
      } finally {
        this.asking.delete(url);
      }
    }
  }

  _keep(imageId, url, form, image, { started, fallback }) {
    const entry = resourceEntry(url);
    const fromCache = entry ? entry.transferSize === 0 : null;
    const record = {
      transferSyntax: image.transferSyntaxUID,
      asked: form,
      bytes: entry ? entry.encodedBodySize : null,
      fromCache,
      fetchMs: entry ? entry.responseEnd - entry.startTime : null,
      decodeMs: image.decodeTimeInMS ?? null,
      loadMs: performance.now() - started,
      fallback,
    };
    this.records.delete(url);
    this.records.set(url, record);
    if (this.records.size > RECORDS_KEPT) this.records.delete(this.records.keys().next().value);
    if (entry && !fromCache) {
      this.policy.link.add({
        bodyBytes: entry.encodedBodySize,
        bodyMs: entry.responseEnd - entry.responseStart,
        decodedBytes: decodedBytes(imageId),
        decodeMs: record.decodeMs ?? 0,
        compressed: form in TRANSCODED,
      });
    }
  }
}

/**
 * The loader's options for one request: streamed (partial images decoded as bytes arrive) only
 * where the viewport asked for it and the form decodes from its first bytes; a fresh streaming
 * state for each try.
 */
function loaderOptions(options, form) {
  const streaming = Boolean(options.retrieveOptions?.streaming) && form === HTJ2K_RPCL;
  return { ...options, retrieveOptions: { ...options.retrieveOptions, streaming }, streamingData: {} };
}
