// Malformed inputs for an exporter's socket: raw bytes and HTTP/2 frames for fresh connections,
// and gRPC request bodies and metadata with wrong lengths, flags, wire types and contents.

import { BYTE_STREAM_PATH } from "../../transport/mod.ts";
import type { Rng } from "./prng.ts";
import { concat, envelope, FLAG, FRAME, frame, hpack, PREFACE, settings } from "./raw_http2.ts";

/** What the inputs aim at: an exporter's drivers, so that some requests name real ones. */
export interface Target {
  uuidOf(name: string): string;
  drivers: readonly { uuid: string }[];
}

/** Random protobuf-ish bytes: real StreamRequest fields, broken varints, bad wire types. */
export function protobufBytes(rng: Rng): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let n = rng.length(6); n > 0; n--) {
    parts.push(
      rng.pick<() => Uint8Array>([
        () => {
          const payload = rng.bytes(rng.length(300));
          return concat([new Uint8Array([0x0a, ...varint(payload.length)]), payload]);
        },
        () => new Uint8Array([0x10, ...varint(rng.int(6))]),
        () => new Uint8Array([0x10, ...varint(rng.int(2 ** 32))]),
        () => new Uint8Array([0x0a, ...varint(rng.int(2 ** 31))]), // length beyond the end
        () => new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        () => new Uint8Array([(rng.int(32) << 3) | rng.pick([3, 4, 6, 7])]),
        () => new Uint8Array([0x19, ...rng.bytes(rng.int(10))]), // fixed64, maybe truncated
        () => rng.bytes(rng.length(64)),
      ])(),
    );
  }
  return concat(parts);
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 128) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** A request body: gRPC envelopes with wrong lengths, flags and contents. */
export function grpcBody(rng: Rng): { chunks: Uint8Array[]; hugeLength: boolean } {
  let hugeLength = false;
  const messages: Uint8Array[] = [];
  for (let n = rng.length(5); n > 0; n--) {
    const body = protobufBytes(rng);
    messages.push(
      rng.pick<() => Uint8Array>([
        () => envelope(body),
        () => envelope(body, rng.pick([1, 2, 0x80, 0xff])),
        () => envelope(body, 0, body.length + rng.between(1, 100)),
        () => envelope(body, 0, Math.max(0, body.length - rng.between(1, 5))),
        () => {
          hugeLength = true;
          return envelope(body, 0, rng.pick([64 * 1024 * 1024 + 1, 0x7fffffff, 0xffffffff]));
        },
        () => rng.bytes(rng.length(100)),
        () => envelope(new Uint8Array(0)),
      ])(),
    );
  }
  // Split the bytes at random places, as the network might.
  const all = concat(messages);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < all.length;) {
    const size = rng.between(1, Math.max(1, all.length - at));
    chunks.push(all.subarray(at, at + size));
    at += size;
  }
  return { chunks, hugeLength };
}

/** Bytes for a fresh connection: garbage, a broken preface, or a preface and odd frames. */
export function rawConnectionBytes(rng: Rng, target: Target): Uint8Array {
  const kind = rng.int(10);
  if (kind === 0) return rng.bytes(rng.length(4096));
  if (kind === 1) return concat([PREFACE, rng.bytes(rng.length(2048))]);
  if (kind === 2) {
    const broken = PREFACE.slice(0, rng.int(PREFACE.length + 1));
    if (broken.length > 0 && rng.chance(0.5)) broken[rng.int(broken.length)] ^= 0x20;
    return concat([broken, rng.bytes(rng.length(64))]);
  }
  if (kind === 3) {
    return new TextEncoder().encode(
      rng.pick(["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "PRI * HTTP/1.1\r\n\r\n", "\r\n\r\n"]),
    );
  }
  const frames: Uint8Array[] = [PREFACE, settings(rng.chance(0.3) ? oddSettings(rng) : [])];
  for (let n = rng.between(1, 8); n > 0; n--) frames.push(oddFrame(rng, target));
  return concat(frames);
}

export function oddSettings(rng: Rng): [number, number][] {
  return Array.from({ length: rng.between(1, 4) }, () =>
    rng.pick<[number, number]>([
      [2, rng.between(2, 10)], // ENABLE_PUSH must be 0 or 1
      [4, 0x80000000 + rng.int(100)], // INITIAL_WINDOW_SIZE too large
      [5, rng.int(16384)], // MAX_FRAME_SIZE too small
      [5, 0x1000000 + rng.int(100)], // ... too large
      [rng.int(65536), rng.int(2 ** 32)],
    ]));
}

export const PATHS = [
  BYTE_STREAM_PATH,
  "/jumpstarter.v1.ExporterService/DriverCall",
  "/jumpstarter.v1.ExporterService/GetReport",
  "/jumpstarter.v1.ExporterService/StreamingDriverCall",
  "/jumpstarter.v1.Unknown/Method",
  "/",
  "*",
  "",
];

export function requestMetadata(rng: Rng, target: Target): string {
  return rng.pick<() => string>([
    () => JSON.stringify({ kind: "driver", uuid: target.uuidOf("echo"), method: "connect" }),
    () => JSON.stringify({ kind: "driver", uuid: target.uuidOf("echo"), method: rng.text(10) }),
    () => JSON.stringify({ kind: "driver", uuid: rng.pick(target.drivers).uuid, method: "on" }),
    () => JSON.stringify({ kind: "resource", uuid: target.uuidOf("storage") }),
    () => JSON.stringify({ kind: "resource", uuid: rng.json(1), x_jmp_content_encoding: "gzip" }),
    () => JSON.stringify({ kind: rng.json(1), uuid: rng.json(1), method: rng.json(1) }),
    () => JSON.stringify(rng.json(3)),
    () => rng.text(60),
    () => "",
  ])();
}

/** A HEADERS frame: a plausible gRPC request with random extras, or random fields. */
export function headersFrame(
  rng: Rng,
  target: Target,
  streamId: number,
  endStream: boolean,
): Uint8Array {
  const bytes = () => rng.chance(0.3) ? rng.bytes(rng.length(40)) : rng.text(30);
  const fields: [string | Uint8Array, string | Uint8Array][] = rng.chance(0.7)
    ? [
      [":method", rng.pick(["POST", "GET", "post", ""])],
      [":scheme", "http"],
      [":path", rng.pick(PATHS)],
      [":authority", "localhost"],
      ["content-type", rng.pick(["application/grpc", "application/grpc+proto", "text/plain"])],
      ["te", "trailers"],
      ["grpc-timeout", "1500m"],
      ["request", requestMetadata(rng, target)],
    ]
    : [];
  for (let n = rng.length(4); n > 0; n--) {
    fields.push(
      rng.pick<() => [string | Uint8Array, string | Uint8Array]>([
        () => [bytes(), bytes()],
        () => [rng.text(10, "abcdefghijklmnopqrstuvwxyz-"), bytes()],
        () => ["authorization", bytes()],
        () => ["request", bytes()],
        () => [":path", bytes()],
        () => ["Upper-Case", "x"],
        () => ["connection", "keep-alive"],
        () => ["x-big", "v".repeat(rng.between(1000, 70_000))],
      ])(),
    );
  }
  if (rng.chance(0.2)) fields.sort(() => rng.next() - 0.5);
  const flags = FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0);
  return frame(FRAME.HEADERS, flags, streamId, hpack(fields));
}

export function oddFrame(rng: Rng, target: Target): Uint8Array {
  const stream = rng.pick([1, 3, 5, 0, 2, 0x7fffffff, rng.int(2 ** 32)]);
  return rng.pick<() => Uint8Array>([
    () => headersFrame(rng, target, stream, rng.chance(0.3)),
    () => headersFrame(rng, target, stream, false),
    () => frame(FRAME.DATA, rng.int(2) ? FLAG.END_STREAM : 0, stream, concat(grpcBody(rng).chunks)),
    () => frame(rng.int(256), rng.int(256), stream, rng.bytes(rng.length(200))),
    () => frame(rng.int(10), rng.int(256), stream, rng.bytes(20), rng.int(2 ** 24)),
    () => frame(FRAME.DATA, 0, 1, rng.bytes(20000)), // beyond the default 16 KiB frame size
    () => frame(FRAME.WINDOW_UPDATE, 0, stream, new Uint8Array([0, 0, 0, 0])),
    () => frame(FRAME.WINDOW_UPDATE, 0, stream, new Uint8Array([0x7f, 0xff, 0xff, 0xff])),
    () => frame(FRAME.PING, 0, 0, rng.bytes(rng.pick([0, 7, 8, 9]))),
    () => frame(FRAME.CONTINUATION, FLAG.END_HEADERS, stream, rng.bytes(10)),
    () => frame(FRAME.PRIORITY, 0, 1, new Uint8Array([0, 0, 0, 1, 16])), // depends on itself
    () => frame(FRAME.RST_STREAM, 0, stream, new Uint8Array([0, 0, 0, rng.int(16)])),
    () => frame(FRAME.GOAWAY, 0, 0, concat([new Uint8Array(8), rng.bytes(rng.length(20))])),
    () => frame(FRAME.PUSH_PROMISE, FLAG.END_HEADERS, stream, rng.bytes(12)),
    () => settings(oddSettings(rng)),
    () => frame(FRAME.SETTINGS, 1, 0, rng.bytes(6)), // ACK with a payload
  ])();
}

/** Keeps only what node:http2 lets a client put in a header value. */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").trim();
}
