// A RouterService.Stream call seen as a duplex of frames, shared by the server and the client
// side: reads gRPC-enveloped StreamRequest/StreamResponse messages from a readable and writes
// them to a writable without going through the generic protobuf codec.

import { type FrameSink, FrameWriter } from "./frame_writer.ts";
import {
  decodeFramePieces,
  EnvelopeReader,
  type Frame,
  FrameDecodeError,
  type FramePieces,
  FrameType,
  joinViews,
} from "./frame_codec.ts";

/** Options shared by both ends. */
export interface ByteStreamOptions {
  /** Largest message accepted from the peer, in bytes. */
  maxMessageBytes: number;
  /** Called for every chunk received (keepalive bookkeeping). */
  onRead?: () => void;
  /** Called when the reader stops, early or not: the rest of the input must be drained. */
  onReadStopped?: () => void;
  /** Half-closes the sending side (client: end the request; server: nothing until status). */
  endSending: () => void;
  /**
   * Settles when the call has ended, rejecting if it failed (the client end's `done`). Sends on
   * a stream that is gone then wait for it and fail with the call's error, so that a sender fed
   * by an endless source stops when the peer vanishes. Without it, or when the call ended well,
   * such sends are dropped.
   */
  ended?: Promise<void>;
}

/** A byte stream ended without the peer's end-of-data mark (GOAWAY): the data is incomplete. */
export class TransferCutError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "TransferCutError";
  }
}

/** Default limit of one received message: 4 MiB, like gRPC's default receive limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/**
 * One end of a byte stream. `frames()` yields every received frame; `[Symbol.asyncIterator]`
 * yields only payload bytes and stops at GOAWAY, which is how peers say "no more data".
 *
 * @example
 * ```ts
 * for await (const chunk of stream) await stream.send(chunk); // echo
 * await stream.close();
 * ```
 */
export class ByteStream implements AsyncIterable<Uint8Array> {
  readonly #source: AsyncIterable<Uint8Array>;
  readonly #sink: FrameSink;
  readonly #options: ByteStreamOptions;
  readonly #writer: FrameWriter;
  #sendingClosed = false;
  #reading = false;

  constructor(source: AsyncIterable<Uint8Array>, sink: FrameSink, options: ByteStreamOptions) {
    this.#source = source;
    this.#sink = sink;
    this.#options = options;
    this.#writer = new FrameWriter(sink);
  }

  /** Every frame the peer sends, including PING and GOAWAY; ends when the peer ends its side. */
  async *frames(): AsyncGenerator<Frame> {
    for await (const { frameType, payload } of this.#pieces()) {
      yield { frameType, payload: joinViews(payload) };
    }
  }

  /** Payload bytes of DATA frames until GOAWAY or the end of the peer's side. */
  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for await (const frame of this.#pieces()) {
      if (frame.frameType === FrameType.DATA) {
        // A message that spanned network chunks comes out as several views, not one copy.
        for (const piece of frame.payload) if (piece.length > 0) yield piece;
      } else if (frame.frameType === FrameType.GOAWAY) {
        return;
      }
      // PING, RST_STREAM and unknown types carry nothing for the reader.
    }
  }

  /**
   * Payload bytes of DATA frames until GOAWAY, like iterating the stream, but a stream that
   * ends without GOAWAY throws: for transfers (images, files) where a cut must not pass for the
   * end.
   */
  async *completeData(): AsyncGenerator<Uint8Array> {
    for await (const frame of this.#pieces()) {
      if (frame.frameType === FrameType.GOAWAY) return;
      if (frame.frameType === FrameType.DATA) {
        for (const piece of frame.payload) if (piece.length > 0) yield piece;
      }
    }
    throw new TransferCutError("the transfer was cut short: the stream ended without its end mark");
  }

  /**
   * Every message as received: its frame type and its encoded body (views, not copies), for a
   * relay that passes messages on unchanged with {@linkcode sendEncoded}.
   */
  async *encodedMessages(): AsyncGenerator<{ frameType: number; body: Uint8Array[] }> {
    for await (const { frameType, body } of this.#bodies()) yield { frameType, body };
  }

  /**
   * Sends a message body received by {@linkcode encodedMessages} of another stream, after the
   * bytes already sent. StreamRequest and StreamResponse share their fields, so a body read on
   * one side is a valid message on the other.
   */
  sendEncoded(body: Uint8Array[]): Promise<void> {
    if (this.#sendingClosed) throw new Error("byte stream: cannot send after close()");
    return this.#gone() ?? this.#writer.encoded(body);
  }

  async *#pieces(): AsyncGenerator<FramePieces> {
    for await (const { pieces } of this.#bodies()) yield pieces;
  }

  async *#bodies(): AsyncGenerator<
    { frameType: number; body: Uint8Array[]; pieces: FramePieces }
  > {
    if (this.#reading) throw new Error("a byte stream can be read only once");
    this.#reading = true;
    const reader = new EnvelopeReader(this.#options.maxMessageBytes);
    const onRead = this.#options.onRead;
    try {
      for await (const chunk of this.#source) {
        onRead?.();
        reader.push(chunk);
        for (let body = reader.next(); body !== undefined; body = reader.next()) {
          const pieces = decodeFramePieces(body);
          yield { frameType: pieces.frameType, body, pieces };
        }
      }
    } finally {
      this.#options.onReadStopped?.();
    }
    if (reader.buffered > 0) {
      throw new FrameDecodeError(
        `stream ended inside a message (${reader.buffered} bytes left over)`,
      );
    }
  }

  /**
   * Sends bytes as DATA; resolves once the transport can take more. Bytes sent in a burst may
   * travel together in one message; the peer sees the same byte sequence.
   */
  send(payload: Uint8Array): Promise<void> {
    if (this.#sendingClosed) throw new Error("byte stream: cannot send after close()");
    return this.#gone() ?? this.#writer.data(payload);
  }

  /**
   * Sends `payload` as exactly one DATA message, never joined with other sends: for datagrams,
   * whose boundaries the peer must see.
   */
  sendMessage(payload: Uint8Array): Promise<void> {
    if (this.#sendingClosed) throw new Error("byte stream: cannot send after close()");
    return this.#gone() ?? this.#writer.frame(FrameType.DATA, payload);
  }

  /** Sends one frame of any type, after the bytes already sent. */
  sendFrame(frameType: number, payload: Uint8Array = new Uint8Array(0)): Promise<void> {
    if (frameType === FrameType.DATA) return this.send(payload);
    if (this.#sendingClosed) throw new Error("byte stream: cannot send after close()");
    return this.#gone() ?? this.#writer.frame(frameType, payload);
  }

  // A send on a stream that is gone: the end of its call, when the owner gave it.
  #gone(): Promise<void> | undefined {
    return this.#sink.destroyed ? this.#options.ended : undefined;
  }

  /** Says "no more data" with GOAWAY and half-closes the sending side. Idempotent. */
  async close(): Promise<void> {
    if (this.#sendingClosed) return;
    if (!this.#sink.destroyed && !this.#sink.writableEnded) {
      await this.#writer.frame(FrameType.GOAWAY);
    }
    this.#sendingClosed = true;
    this.#options.endSending();
  }

  /** True once close() was called. */
  get sendingClosed(): boolean {
    return this.#sendingClosed;
  }
}
