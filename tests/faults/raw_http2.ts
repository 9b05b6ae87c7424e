// Hand-built HTTP/2 frames and gRPC envelopes for the fuzz tests, so that inputs can break the
// rules node:http2's own client enforces (header bytes, frame sizes, stream states).

const encoder = new TextEncoder();

/** The client connection preface. */
export const PREFACE = encoder.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** HTTP/2 frame types. */
export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** HEADERS and DATA flags. */
export const FLAG = { END_STREAM: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Joins byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * One frame. `declaredLength` overrides the length field, to lie about the payload's size.
 *
 * @example
 * ```ts
 * socket.write(frame(FRAME.PING, 0, 0, new Uint8Array(8)));
 * ```
 */
export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array,
  declaredLength = payload.length,
): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  out[0] = (declaredLength >>> 16) & 0xff;
  out[1] = (declaredLength >>> 8) & 0xff;
  out[2] = declaredLength & 0xff;
  out[3] = type & 0xff;
  out[4] = flags & 0xff;
  new DataView(out.buffer).setUint32(5, streamId >>> 0);
  out.set(payload, 9);
  return out;
}

/** A SETTINGS frame with `[id, value]` entries. */
export function settings(entries: readonly [number, number][] = []): Uint8Array {
  const payload = new Uint8Array(entries.length * 6);
  const view = new DataView(payload.buffer);
  entries.forEach(([id, value], i) => {
    view.setUint16(i * 6, id);
    view.setUint32(i * 6 + 2, value >>> 0);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

// An HPACK integer with an `prefixBits`-bit prefix, the first byte's high bits set to `mask`.
function hpackInt(value: number, prefixBits: number, mask: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [mask | value];
  const out = [mask | max];
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

function hpackString(bytes: Uint8Array): Uint8Array {
  return concat([new Uint8Array(hpackInt(bytes.length, 7, 0)), bytes]);
}

/**
 * An HPACK block of literal fields without indexing, so any bytes can be sent as a name or value
 * (nothing is Huffman-coded or remembered in the dynamic table).
 */
export function hpack(fields: readonly [string | Uint8Array, string | Uint8Array][]): Uint8Array {
  const bytes = (text: string | Uint8Array) =>
    typeof text === "string" ? encoder.encode(text) : text;
  return concat(
    fields.map(([name, value]) =>
      concat([new Uint8Array([0]), hpackString(bytes(name)), hpackString(bytes(value))])
    ),
  );
}

/** A gRPC length-prefixed message; `declaredLength` lies about its size when given. */
export function envelope(body: Uint8Array, compressed = 0, declaredLength = body.length) {
  const out = new Uint8Array(5 + body.length);
  out[0] = compressed;
  new DataView(out.buffer).setUint32(1, declaredLength >>> 0);
  out.set(body, 5);
  return out;
}
