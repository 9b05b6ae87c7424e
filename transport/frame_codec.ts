// Encodes and decodes RouterService.Stream messages (StreamRequest / StreamResponse share one
// shape) and their gRPC length-prefixed envelopes by hand, so byte streams skip the generic
// protobuf path and the payload is never copied on the way in.

/** Frame types of `jumpstarter.v1.FrameType`. */
export const FrameType = {
  DATA: 0,
  RST_STREAM: 3,
  PING: 6,
  GOAWAY: 7,
} as const;

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

const EMPTY = new Uint8Array(0);

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

/** Decodes the protobuf body of a StreamRequest/StreamResponse; unknown fields are skipped. */
export function decodeFrameMessage(body: Uint8Array): Frame {
  let frameType = 0;
  let payload: Uint8Array = EMPTY;
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= body.length) throw new FrameDecodeError("truncated varint");
      const byte = body[pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw new FrameDecodeError("varint too long");
  };
  while (pos < body.length) {
    const tag = readVarint();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (wireType === 0) {
      const value = readVarint();
      if (field === 2) frameType = value;
    } else if (wireType === 2) {
      const length = readVarint();
      if (pos + length > body.length) {
        throw new FrameDecodeError("truncated length-delimited field");
      }
      if (field === 1) payload = body.subarray(pos, pos + length);
      pos += length;
    } else if (wireType === 1) {
      pos += 8;
    } else if (wireType === 5) {
      pos += 4;
    } else {
      throw new FrameDecodeError(`unsupported wire type ${wireType} in field ${field}`);
    }
    if (pos > body.length) throw new FrameDecodeError("truncated fixed-width field");
  }
  return { frameType, payload };
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

  /** Returns the next complete message body, or undefined if more bytes are needed. */
  next(): Uint8Array | undefined {
    if (this.#buffered < 5) return undefined;
    let head = this.#chunks[0];
    if (head.length < 5) {
      this.#coalesce(5);
      head = this.#chunks[0];
    }
    if (head[0] !== 0) {
      throw new FrameDecodeError("compressed messages are not supported on byte streams");
    }
    const length = ((head[1] << 24) >>> 0) + (head[2] << 16) + (head[3] << 8) + head[4];
    if (length > this.#maxMessageBytes) throw new FrameTooLargeError(length, this.#maxMessageBytes);
    const total = 5 + length;
    if (this.#buffered < total) return undefined;
    if (head.length < total) {
      this.#coalesce(total);
      head = this.#chunks[0];
    }
    const body = head.subarray(5, total);
    if (head.length === total) this.#chunks.shift();
    else this.#chunks[0] = head.subarray(total);
    this.#buffered -= total;
    return body;
  }

  // Joins the leading chunks until the first one holds at least `size` bytes; one splice, so
  // a peer that sends many tiny chunks costs linear time, not quadratic.
  #coalesce(size: number): void {
    const joined = new Uint8Array(size);
    let filled = 0;
    let used = 0;
    while (filled < size) {
      const chunk = this.#chunks[used];
      const take = Math.min(chunk.length, size - filled);
      joined.set(chunk.subarray(0, take), filled);
      filled += take;
      if (take === chunk.length) used++;
      else this.#chunks[used] = chunk.subarray(take);
    }
    this.#chunks.splice(0, used, joined);
  }
}
