// Which form the viewer asks WADO-RS frames in. A frame stored uncompressed travels compressed
// (about 45% of the bytes) unless this link moves bytes so fast that decoding costs more than the
// bytes it saves: as HTJ2K Lossless RPCL where the viewport draws a stream's partial images (its
// first bytes already decode at a lower resolution), else as JPEG-LS Lossless, the smallest. A frame
// stored compressed travels as stored. Lossless only: every form here decodes to the stored pixels.
// No DOM, no Cornerstone.

export const UNCOMPRESSED = '1.2.840.10008.1.2.1'; // Explicit VR Little Endian
export const AS_STORED = 'stored';
export const HTJ2K = '1.2.840.10008.1.2.4.201';
export const HTJ2K_RPCL = '1.2.840.10008.1.2.4.202';
export const JPEG_LS = '1.2.840.10008.1.2.4.80';
/** The lossless syntaxes the server transcodes frames into, with their media types (PS3.18 Table 8.7.3-2). */
export const TRANSCODED = {
  [JPEG_LS]: 'image/jls',
  '1.2.840.10008.1.2.4.90': 'image/jp2',
  [HTJ2K]: 'image/jphc',
  [HTJ2K_RPCL]: 'image/jphc',
};
const NATIVE = new Set(['1.2.840.10008.1.2', UNCOMPRESSED]);
const FORCEABLE = new Set([...Object.keys(TRANSCODED), UNCOMPRESSED, AS_STORED]);

/**
 * The Accept header for ``form``: a single part (it carries a Content-Length, which progressive
 * decoding needs, and no multipart framing), or null to keep the loader's own (as stored).
 */
export function acceptFor(form) {
  if (form === AS_STORED) return null;
  const type = form === UNCOMPRESSED ? 'application/octet-stream' : TRANSCODED[form];
  return `${type}; transfer-syntax=${form}`;
}

/** The ``?transfer=`` switch of benchmarks: a syntax UID, "uncompressed" or "stored"; anything else is auto (null). */
export function parseForcedForm(value) {
  const form = value === 'uncompressed' ? UNCOMPRESSED : value;
  return FORCEABLE.has(form) ? form : null;
}

/** The HTTP status a failed frame load carries (an XMLHttpRequest, or the loader's streaming error), or null. */
export function httpStatus(error) {
  if (typeof error?.status === 'number') return error.status;
  const match = /got status (\d{3})/.exec(error?.message || '');
  return match ? Number(match[1]) : null;
}

/**
 * Why a frame load failed: "refused" (406: the server will not transcode this image, e.g. a lossy
 * source or a colour model its encoders refuse), "transport" (any other HTTP status or no
 * response: the same request in another form would fail too), else "decoding".
 */
export function failureKind(error) {
  const status = httpStatus(error);
  if (status === 406) return 'refused';
  if (status !== null || (error?.name === 'TypeError' && /fetch|network/i.test(error.message))) return 'transport';
  return 'decoding';
}

const SMOOTHING = 0.3; // weight of the newest sample in the running estimates

function smoothed(previous, sample) {
  return previous === null ? sample : previous + SMOOTHING * (sample - previous);
}

/**
 * Running estimates of this link and this browser, per byte of decoded pixels so that images of
 * any size compare: the link's throughput, the compressed form's size and its decoding time.
 * Compression pays while the transfer time it saves exceeds the decoding time it adds.
 */
export class LinkEstimate {
  constructor() {
    this.bytesPerMs = null;
    this.compressedRatio = null; // compressed bytes per decoded byte
    this.decodeMsPerByte = null;
  }

  /**
   * One frame brought over the network: ``bodyBytes`` in ``bodyMs`` (first to last byte of the
   * body; a frame from the browser cache is no sample); for a compressed form, the size and
   * decoding time against ``decodedBytes``.
   */
  add({ bodyBytes, bodyMs, decodedBytes, decodeMs, compressed }) {
    if (bodyBytes > 0) this.bytesPerMs = smoothed(this.bytesPerMs, bodyBytes / Math.max(bodyMs, 1));
    if (compressed && bodyBytes > 0 && decodedBytes > 0) {
      this.compressedRatio = smoothed(this.compressedRatio, bodyBytes / decodedBytes);
      this.decodeMsPerByte = smoothed(this.decodeMsPerByte, decodeMs / decodedBytes);
    }
  }

  /** True once measured that an uncompressed frame arrives decoded sooner than a compressed one. */
  get uncompressedIsFaster() {
    if (this.bytesPerMs === null || this.compressedRatio === null) return false;
    return (1 - this.compressedRatio) / this.bytesPerMs < this.decodeMsPerByte;
  }
}

/** The compressed form that shows an image first: streamed HTJ2K RPCL where partial images are drawn. */
export function compressedForm({ drawsPartialImages }) {
  return drawsPartialImages ? HTJ2K_RPCL : JPEG_LS;
}

/** The form each frame is asked for, and the fallback when that form fails. */
export class TransferPolicy {
  /**
   * @param {{forced?: string|null, compressed?: string}} options forced: parseForcedForm's value;
   *   compressed: compressedForm's, for frames stored uncompressed
   */
  constructor({ forced = null, compressed = HTJ2K_RPCL } = {}) {
    this.forced = forced;
    this.compressed = compressed;
    this.link = new LinkEstimate();
    this.refused = new Set(); // frame URLs the server would not transcode
    this.undecodable = new Set(); // forms this browser failed to decode
  }

  /** The form to ask for a frame at ``url`` stored in ``storedSyntax`` (from its metadata). */
  formFor(url, storedSyntax) {
    const native = NATIVE.has(storedSyntax);
    const plain = native ? UNCOMPRESSED : AS_STORED;
    const wanted = this.forced ?? (!native ? AS_STORED : this.link.uncompressedIsFaster ? UNCOMPRESSED : this.compressed);
    return this.refused.has(url) || this.undecodable.has(wanted) ? plain : wanted;
  }

  /**
   * A load of ``url`` in ``form`` failed with ``error``: the form to try instead, or null when
   * another form would not help (a transport failure, or the form was already the plain one).
   */
  fallbackFor(url, form, storedSyntax, error) {
    const kind = failureKind(error);
    if (kind === 'transport') return null;
    if (kind === 'refused') this.refused.add(url);
    else this.undecodable.add(form);
    const next = this.formFor(url, storedSyntax);
    return next === form ? null : next;
  }
}
