import { strict as assert } from "node:assert";
import { EventEmitter } from "node:events";
import { decodeFramePieces, EnvelopeReader, FrameType, joinViews } from "./frame_codec.ts";
import { DIRECT_BYTES, FrameWriter, MIN_BATCH_BYTES } from "./frame_writer.ts";

// A sink that records what is written and reports backpressure when told to.
class RecordingSink extends EventEmitter {
  writes: Uint8Array[] = [];
  full = false;
  destroyed = false;
  writableEnded = false;
  write(chunk: Uint8Array): boolean {
    this.writes.push(chunk);
    return !this.full;
  }
  frames() {
    const reader = new EnvelopeReader(1 << 24);
    for (const chunk of this.writes) reader.push(chunk);
    const out = [];
    for (let body = reader.next(); body; body = reader.next()) {
      const { frameType, payload } = decodeFramePieces(body);
      out.push({ frameType, payload: joinViews(payload) });
    }
    return out;
  }
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

Deno.test("a burst of small sends leaves as one DATA message, in order", async () => {
  const sink = new RecordingSink();
  const writer = new FrameWriter(sink);
  for (const word of ["a", "bb", "ccc"]) await writer.data(bytes(word));
  assert.equal(sink.writes.length, 0, "nothing is written before the burst ends");
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(sink.frames().map((f) => [f.frameType, text(f.payload)]), [[0, "abbccc"]]);
});

Deno.test("a control frame goes out after the bytes queued before it", async () => {
  const sink = new RecordingSink();
  const writer = new FrameWriter(sink);
  await writer.data(bytes("tail"));
  await writer.frame(FrameType.GOAWAY);
  assert.deepEqual(sink.frames().map((f) => [f.frameType, text(f.payload)]), [
    [FrameType.DATA, "tail"],
    [FrameType.GOAWAY, ""],
  ]);
});

Deno.test("a large payload is written as it is, without a copy", async () => {
  const sink = new RecordingSink();
  const writer = new FrameWriter(sink);
  const big = new Uint8Array(DIRECT_BYTES).fill(7);
  await writer.data(big);
  assert.ok(sink.writes.some((w) => w.buffer === big.buffer), "the payload's own memory is sent");
  const [frame] = sink.frames();
  assert.equal(frame.payload.length, big.length);
});

Deno.test("bytes never reorder across batches, and bulk batches grow", async () => {
  const sink = new RecordingSink();
  const writer = new FrameWriter(sink);
  const piece = new Uint8Array(MIN_BATCH_BYTES / 4 - 1);
  const count = 60;
  for (let i = 0; i < count; i++) await writer.data(piece.fill(i));
  writer.flush();
  const frames = sink.frames();
  const joined = joinViews(frames.map((f) => f.payload));
  assert.equal(joined.length, piece.length * count);
  for (let i = 0; i < count; i++) assert.equal(joined[i * piece.length], i);
  assert.ok(frames[0].payload.length <= MIN_BATCH_BYTES, "a burst starts with small messages");
  assert.ok(
    Math.max(...frames.map((f) => f.payload.length)) > 2 * MIN_BATCH_BYTES,
    "a sustained burst moves in larger messages",
  );
});

Deno.test("sending waits for 'drain' once the sink reports backpressure", async () => {
  const sink = new RecordingSink();
  const writer = new FrameWriter(sink);
  sink.full = true;
  let resolved = false;
  // Written at once; the sink is then full, so the send resolves only after 'drain'.
  const sent = writer.data(new Uint8Array(DIRECT_BYTES)).then(() => (resolved = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(sink.writes.length > 0, true);
  assert.equal(resolved, false);
  sink.full = false;
  sink.emit("drain");
  await sent;
  assert.equal(resolved, true);
});

Deno.test("a gathering buffer is reused only after the stream has taken it", async () => {
  // This sink takes a chunk over (copies it) only when told to, like a stream whose socket is
  // busy; reusing the memory earlier would change bytes still waiting to be sent.
  class LazySink extends RecordingSink {
    pending: { chunk: Uint8Array; done?: () => void }[] = [];
    taken: Uint8Array[] = [];
    override write(chunk: Uint8Array, done?: () => void): boolean {
      this.writes.push(chunk);
      this.pending.push({ chunk, done });
      return true;
    }
    takeAll() {
      for (const { chunk, done } of this.pending.splice(0)) {
        this.taken.push(new Uint8Array(chunk)); // a copy (Buffer.slice would be a view)
        done?.();
      }
    }
  }
  const sink = new LazySink();
  const writer = new FrameWriter(sink);
  const piece = new Uint8Array(MIN_BATCH_BYTES / 2);
  const rounds = 100;
  for (let i = 0; i < rounds; i++) {
    await writer.data(piece.fill(i));
    // Every few sends the stream catches up and hands buffers back.
    if (i % 8 === 7) sink.takeAll();
  }
  writer.flush();
  sink.takeAll();
  const memories = sink.writes.map((w) => w.buffer);
  assert.ok(new Set(memories).size < memories.length, "handed-back buffers are used again");
  sink.writes = sink.taken;
  const joined = joinViews(sink.frames().map((f) => f.payload));
  assert.equal(joined.length, piece.length * rounds);
  for (let i = 0; i < rounds; i++) {
    assert.ok(joined.subarray(i * piece.length, (i + 1) * piece.length).every((b) => b === i));
  }
});
