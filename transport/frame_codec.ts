// Encodes and decodes RouterService.Stream messages (StreamRequest / StreamResponse share one
// shape) and their gRPC length-prefixed envelopes by hand, so byte streams skip the generic
// protobuf path and the payload is never copied on the way in.

import { FrameType } from "../proto/mod.ts";

export { FrameType };

/** One decoded StreamRequest/StreamResponse. `payload` may be a view into a network buffer. */
export interface Frame {
  frameType: number;
  payload: Uint8Array;
}

/** A message that does not decode as StreamRequest/StreamResponse. */
export class FrameDecodeError extends Error {
  readonly code = "ERR_FRAME_DECODE";
  constructor(message: string) {
    super(`malformed stream frame: ${message}`);
    this.name = "FrameDecodeError";
  }
}

/** A message larger than the receiver accepts. */
export class FrameTooLargeError extends Error {
  readonly code = "ERR_FRAME_TOO_LARGE";
  constructor(readonly size: number, readonly limit: number) {
    super(`stream message of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.name = "FrameTooLargeError";
  }
}

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Uint8Array, offset: number, value: number): number {
  while (value >= 0x80) {
    buf[offset++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[offset++] = value;
  return offset;
}

/**
 * Returns the gRPC envelope header plus the protobuf bytes that precede the payload, so that the
 * caller can write `header` and then `payload` itself without joining them.
 *
 * @example
 * ```ts
 * const header = encodeFrameHeader(FrameType.DATA, chunk.length);
 * stream.write(header);
 * stream.write(chunk);
 * ```
 */
export function encodeFrameHeader(frameType: number, payloadLength: number): Uint8Array {
  const payloadField = payloadLength > 0 ? 1 + varintLength(payloadLength) : 0;
  const typeField = frameType !== 0 ? 1 + varintLength(frameType) : 0;
  const messageLength = payloadField + payloadLength + typeField;
  // The frame_type field (2) goes before the payload (1): protobuf readers accept any field order,
  // and it keeps the payload last so that it can be written as a separate chunk.
  const header = new Uint8Array(5 + typeField + payloadField);
  const view = new DataView(header.buffer);
  view.setUint32(1, messageLength);
  let offset = 5;
  if (typeField) {
    header[offset++] = 0x10;
    offset = writeVarint(header, offset, frameType);
  }
  if (payloadField) {
    header[offset++] = 0x0a;
    writeVarint(header, offset, payloadLength);
  }
  return header;
}

/** Encodes one whole enveloped message; convenient where a copy does not matter. */
export function encodeFrame(frame: Frame): Uint8Array {
  const header = encodeFrameHeader(frame.frameType, frame.payload.length);
  const out = new Uint8Array(header.length + frame.payload.length);
  out.set(header, 0);
  out.set(frame.payload, header.length);
  return out;
}

/** Puts one encoded message in its gRPC envelope (uncompressed). */
export function envelope(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + message.length);
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, 5);
  return out;
}

/** A decoded message whose payload is a list of views, as it lay across network chunks. */
export interface FramePieces {
  frameType: number;
  payload: Uint8Array[];
}

// Reads bytes across the segments of one message without joining them.
class SegmentCursor {
  readonly #segments: Uint8Array[];
  #index = 0;
  #offset = 0;

  constructor(segments: Uint8Array[]) {
    this.#segments = segments;
    this.#settle();
  }

  get done(): boolean {
    return this.#index >= this.#segments.length;
  }

  byte(what: string): number {
    if (this.done) throw new FrameDecodeError(`truncated ${what}`);
    const value = this.#segments[this.#index][this.#offset++];
    this.#settle();
    return value;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = this.byte("varint");
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw new FrameDecodeError("varint too long");
  }

  /** Returns the next `length` bytes as views; `keep` false just skips them. */
  take(length: number, what: string, keep: boolean): Uint8Array[] {
    const views: Uint8Array[] = [];
    while (length > 0) {
      if (this.done) throw new FrameDecodeError(`truncated ${what}`);
      const segment = this.#segments[this.#index];
      const n = Math.min(length, segment.length - this.#offset);
      if (keep) views.push(segment.subarray(this.#offset, this.#offset + n));
      this.#offset += n;
      length -= n;
      this.#settle();
    }
    return views;
  }

  #settle(): void {
    while (
      this.#index < this.#segments.length && this.#offset >= this.#segments[this.#index].length
    ) {
      this.#index++;
      this.#offset = 0;
    }
  }
}

/**
 * Decodes the protobuf body of a StreamRequest/StreamResponse given as segments; the payload
 * stays a list of views into them. Unknown fields are skipped.
 */
export function decodeFramePieces(body: Uint8Array[]): FramePieces {
  let frameType = 0;
  let payload: Uint8Array[] = [];
  const cursor = new SegmentCursor(body);
  while (!cursor.done) {
    const tag = cursor.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 0) {
      const value = cursor.varint();
      if (field === 2) frameType = value;
    } else if (wireType === 2) {
      const length = cursor.varint();
      const views = cursor.take(length, "length-delimited field", field === 1);
      if (field === 1) payload = views;
    } else if (wireType === 1 || wireType === 5) {
      cursor.take(wireType === 1 ? 8 : 4, "fixed-width field", false);
    } else {
      throw new FrameDecodeError(`unsupported wire type ${wireType} in field ${field}`);
    }
  }
  return { frameType, payload };
}

/** Joins views into one array; a single view is returned as it is. */
export function joinViews(views: Uint8Array[]): Uint8Array {
  if (views.length === 1) return views[0];
  const out = new Uint8Array(views.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const view of views) {
    out.set(view, offset);
    offset += view.length;
  }
  return out;
}

/** Decodes the protobuf body of a StreamRequest/StreamResponse; unknown fields are skipped. */
export function decodeFrameMessage(body: Uint8Array): Frame {
  const { frameType, payload } = decodeFramePieces([body]);
  return { frameType, payload: joinViews(payload) };
}

/**
 * Splits a byte stream into gRPC messages. Chunks are kept as they arrive; a message that lies
 * inside one chunk is returned as a view of it, one that spans chunks is joined once.
 */
export class EnvelopeReader {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  readonly #maxMessageBytes: number;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Adds received bytes. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
  }

  /** Bytes received but not yet returned as messages. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Returns the next complete message body as views of the received chunks (one view when it
   * lay in one chunk), or undefined if more bytes are needed. Nothing is copied.
   */
  next(): Uint8Array[] | undefined {
    if (this.#buffered < 5) return undefined;
    const prefix = this.#peek(5);
    if (prefix[0] !== 0) {
      throw new FrameDecodeError(
        "a compressed message without a negotiated grpc-encoding (send messages uncompressed)",
      );
    }
    const length = ((prefix[1] << 24) >>> 0) + (prefix[2] << 16) + (prefix[3] << 8) + prefix[4];
    if (length > this.#maxMessageBytes) throw new FrameTooLargeError(length, this.#maxMessageBytes);
    if (this.#buffered < 5 + length) return undefined;
    this.#take(5);
    return this.#take(length);
  }

  #peek(size: number): number[] {
    const bytes: number[] = [];
    for (const chunk of this.#chunks) {
      for (let i = 0; i < chunk.length && bytes.length < size; i++) bytes.push(chunk[i]);
      if (bytes.length === size) break;
    }
    return bytes;
  }

  // Removes `size` bytes from the front as views; one splice, so a peer that sends many tiny
  // chunks costs linear time, not quadratic.
  #take(size: number): Uint8Array[] {
    const views: Uint8Array[] = [];
    let used = 0;
    let left = size;
    while (left > 0) {
      const chunk = this.#chunks[used];
      if (chunk.length <= left) {
        views.push(chunk);
        left -= chunk.length;
        used++;
      } else {
        views.push(chunk.subarray(0, left));
        this.#chunks[used] = chunk.subarray(left);
        left = 0;
      }
    }
    this.#chunks.splice(0, used);
    this.#buffered -= size;
    return views;
  }
}
