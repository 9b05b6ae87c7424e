// Writes byte-stream frames to an HTTP/2 stream. Bytes sent in a burst are gathered into one
// large DATA message, built in a buffer that keeps room for the envelope in front, so the
// HTTP/2 layer sees one contiguous write per 64-512 KiB instead of two writes (or a vectored
// write that the runtime joins by copying) per small message.

import { Buffer } from "node:buffer";
import { setImmediate } from "node:timers";
import { encodeFrameHeader, FrameType } from "./frame_codec.ts";

/** The writable half a byte stream sends on (an HTTP/2 stream). */
export interface FrameSink {
  /** `done` runs once the stream has taken the chunk over, so its memory may be reused. */
  write(chunk: Uint8Array, done?: (err?: Error | null) => void): boolean;
  /** With cork/uncork, a header and a separate payload leave in one vectored write. */
  cork?(): void;
  uncork?(): void;
  on(event: "drain" | "close", listener: () => void): unknown;
  off(event: "drain" | "close", listener: () => void): unknown;
  readonly writableEnded?: boolean;
  readonly destroyed?: boolean;
}

// Room for the gRPC envelope (5 bytes) and the payload field's tag and length (up to 6).
const HEADER_ROOM = 16;
/** A gathering buffer starts this large; it doubles each time a burst fills it. */
export const MIN_BATCH_BYTES = 64 * 1024;
/** ... up to this size: bulk transfers then move in messages of this size. */
export const MAX_BATCH_BYTES = 512 * 1024;
/** Gathering buffers kept for reuse once written: fresh large buffers cost page faults. */
const POOL_SIZE = 4;
/** Payloads this large are written as they are, not gathered. */
export const DIRECT_BYTES = 256 * 1024;

/**
 * Frame writer with burst coalescing and backpressure.
 *
 * @example
 * ```ts
 * const writer = new FrameWriter(http2Stream);
 * await writer.data(bytes); // resolves at once unless the stream is backed up
 * await writer.frame(FrameType.GOAWAY);
 * ```
 */
export class FrameWriter {
  readonly #sink: FrameSink;
  #batch: Uint8Array | undefined;
  readonly #pool: Uint8Array[] = [];
  #batched = 0;
  #capacity = MIN_BATCH_BYTES;
  #flushScheduled = false;
  #blocked: Promise<void> | undefined;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  /** Queues bytes as DATA; resolves once the stream can take more. */
  async data(payload: Uint8Array): Promise<void> {
    if (payload.length === 0) return;
    if (payload.length >= DIRECT_BYTES) {
      // Large enough on its own: no copy, header and payload go out together.
      this.flush();
      this.#writeFrame(FrameType.DATA, payload);
    } else {
      if (this.#batched + payload.length > this.#capacity) {
        // A burst that fills the buffer is bulk: gather more per message from now on.
        this.flush();
        this.#capacity = Math.min(this.#capacity * 2, MAX_BATCH_BYTES);
      }
      if (!this.#batch || this.#batch.length < HEADER_ROOM + this.#capacity) {
        this.#batch = this.#takeBuffer(HEADER_ROOM + this.#capacity);
      }
      this.#batch.set(payload, HEADER_ROOM + this.#batched);
      this.#batched += payload.length;
      if (!this.#flushScheduled) {
        // The rest of the burst joins it; at the latest it leaves on the next event-loop turn.
        this.#flushScheduled = true;
        setImmediate(() => this.flush());
      }
    }
    if (this.#blocked) await this.#blocked;
  }

  /** Sends a non-DATA frame (GOAWAY, PING, ...) after any queued bytes. */
  async frame(frameType: number, payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    this.flush();
    this.#writeFrame(frameType, payload);
    if (this.#blocked) await this.#blocked;
  }

  /** Sends an already encoded message body (views), after any queued bytes, without copying. */
  async encoded(body: Uint8Array[]): Promise<void> {
    this.flush();
    const length = body.reduce((n, view) => n + view.length, 0);
    const header = new Uint8Array(5);
    new DataView(header.buffer).setUint32(1, length);
    const sink = this.#sink;
    sink.cork?.();
    this.#write(header);
    for (const view of body) this.#write(view);
    sink.uncork?.();
    if (this.#blocked) await this.#blocked;
  }

  /** Writes the queued bytes now. */
  flush(): void {
    this.#flushScheduled = false;
    const batch = this.#batch;
    const length = this.#batched;
    if (!batch || length === 0) return;
    this.#batched = 0;
    const header = encodeFrameHeader(FrameType.DATA, length);
    if (length >= this.#capacity / 4) {
      // Hand the buffer over to the stream; it returns to the pool once the stream took it.
      this.#batch = undefined;
      const start = HEADER_ROOM - header.length;
      batch.set(header, start);
      this.#write(batch.subarray(start, HEADER_ROOM + length), () => this.#giveBack(batch));
      return;
    }
    // A small burst (a keystroke, a prompt) is copied out, so the big buffer is reused.
    const message = new Uint8Array(header.length + length);
    message.set(header, 0);
    message.set(batch.subarray(HEADER_ROOM, HEADER_ROOM + length), header.length);
    this.#write(message);
  }

  #writeFrame(frameType: number, payload: Uint8Array): void {
    const header = encodeFrameHeader(frameType, payload.length);
    if (payload.length === 0) {
      this.#write(header);
      return;
    }
    const sink = this.#sink;
    sink.cork?.();
    this.#write(header);
    this.#write(payload);
    sink.uncork?.();
  }

  #takeBuffer(size: number): Uint8Array {
    while (this.#pool.length > 0) {
      const buffer = this.#pool.pop()!;
      if (buffer.length >= size) return buffer;
    }
    // Not zero-filled: every byte sent is written first.
    return Buffer.allocUnsafe(size);
  }

  #giveBack(buffer: Uint8Array): void {
    if (this.#pool.length < POOL_SIZE && buffer.length >= HEADER_ROOM + this.#capacity) {
      this.#pool.push(buffer);
    }
  }

  #write(chunk: Uint8Array, written?: () => void): void {
    const sink = this.#sink;
    if (sink.destroyed || sink.writableEnded) return;
    // A Buffer view, not a copy: some runtimes' HTTP/2 writes take a slower path for plain
    // Uint8Arrays.
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const done = written && ((err?: Error | null) => err ? undefined : written());
    if (!sink.write(buffer, done) && !this.#blocked) {
      this.#blocked = waitForDrain(sink).then(() => (this.#blocked = undefined));
    }
  }
}

function waitForDrain(sink: FrameSink): Promise<void> {
  // 'close' also settles the wait, so a peer that vanishes does not leave a sender hanging.
  return new Promise<void>((resolve) => {
    const finish = () => {
      sink.off("drain", finish);
      sink.off("close", finish);
      resolve();
    };
    sink.on("drain", finish);
    sink.on("close", finish);
  });
}
