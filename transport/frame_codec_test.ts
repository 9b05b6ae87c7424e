import { strict as assert } from "node:assert";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { StreamRequestSchema, StreamResponseSchema } from "../proto/mod.ts";
import {
  decodeFrameMessage,
  decodeFramePieces,
  encodeFrame,
  EnvelopeReader,
  FrameDecodeError,
  FrameTooLargeError,
  FrameType,
  joinViews,
} from "./frame_codec.ts";

const cases = [
  { frameType: FrameType.DATA, payload: new Uint8Array([1, 2, 3]) },
  { frameType: FrameType.GOAWAY, payload: new Uint8Array(0) },
  { frameType: FrameType.PING, payload: new Uint8Array(0) },
  { frameType: FrameType.DATA, payload: new Uint8Array(70_000).fill(9) },
  { frameType: FrameType.RST_STREAM, payload: new Uint8Array([0xff]) },
];

Deno.test("hand-encoded frames decode with the generated StreamRequest codec", () => {
  for (const frame of cases) {
    const enveloped = encodeFrame(frame);
    assert.equal(enveloped[0], 0, "uncompressed flag");
    const length = new DataView(enveloped.buffer).getUint32(1);
    assert.equal(length, enveloped.length - 5);
    const decoded = fromBinary(StreamRequestSchema, enveloped.subarray(5));
    assert.equal(decoded.frameType, frame.frameType);
    assert.deepEqual(decoded.payload, frame.payload);
  }
});

Deno.test("messages encoded by the generated codec decode by hand", () => {
  for (const frame of cases) {
    const bytes = toBinary(StreamResponseSchema, create(StreamResponseSchema, frame));
    const decoded = decodeFrameMessage(bytes);
    assert.equal(decoded.frameType, frame.frameType);
    assert.deepEqual(decoded.payload, frame.payload);
  }
});

Deno.test("unknown fields are skipped when decoding", () => {
  // field 1 = "hi", field 9 (varint) = 5, field 10 (fixed64), field 11 (bytes), field 2 = 7
  const body = new Uint8Array([
    0x0a,
    2,
    0x68,
    0x69,
    0x48,
    5,
    0x51,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    0x5a,
    1,
    0,
    0x10,
    7,
  ]);
  const frame = decodeFrameMessage(body);
  assert.equal(frame.frameType, 7);
  assert.equal(new TextDecoder().decode(frame.payload), "hi");
});

Deno.test("truncated messages are rejected with FrameDecodeError", () => {
  assert.throws(() => decodeFrameMessage(new Uint8Array([0x0a, 5, 1])), FrameDecodeError);
  assert.throws(() => decodeFrameMessage(new Uint8Array([0x10, 0x80])), FrameDecodeError);
  assert.throws(() => decodeFrameMessage(new Uint8Array([0x0b])), FrameDecodeError);
});

Deno.test("envelope reader splits and joins messages across arbitrary chunk boundaries", () => {
  const stream = new Uint8Array(cases.reduce((n, f) => n + encodeFrame(f).length, 0));
  let offset = 0;
  for (const frame of cases) {
    const bytes = encodeFrame(frame);
    stream.set(bytes, offset);
    offset += bytes.length;
  }
  for (const step of [1, 3, 5, 7, 4096, stream.length]) {
    const reader = new EnvelopeReader(1 << 20);
    const got = [];
    for (let i = 0; i < stream.length; i += step) {
      reader.push(stream.subarray(i, i + step));
      for (let body = reader.next(); body; body = reader.next()) {
        const pieces = decodeFramePieces(body);
        got.push({ frameType: pieces.frameType, payload: joinViews(pieces.payload) });
      }
    }
    assert.equal(reader.buffered, 0);
    assert.deepEqual(got.map((f) => f.frameType), cases.map((f) => f.frameType));
    assert.deepEqual(got.map((f) => f.payload.length), cases.map((f) => f.payload.length));
  }
});

Deno.test("envelope reader refuses messages over its limit and compressed messages", () => {
  const reader = new EnvelopeReader(100);
  reader.push(encodeFrame({ frameType: 0, payload: new Uint8Array(200) }));
  assert.throws(() => reader.next(), FrameTooLargeError);
  const compressed = new EnvelopeReader(100);
  compressed.push(new Uint8Array([1, 0, 0, 0, 0]));
  assert.throws(() => compressed.next(), /compressed/);
});
