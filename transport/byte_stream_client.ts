// Opens RouterService.Stream on a channel's HTTP/2 session with lean framing: the client end of
// consoles, port forwards and uploads.

import type * as http2 from "node:http2";
import { ConnectError } from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import { ByteStream } from "./byte_stream.ts";
import { BYTE_STREAM_PATH } from "./byte_stream_server.ts";
import type { Channel } from "./channel.ts";
import {
  endedWithoutStatus,
  httpStatusCode,
  limitCall,
  openCallStream,
  RST,
} from "./client_call.ts";
import { toHeaders } from "./metadata.ts";

/** Options of one byte-stream call. */
export interface OpenByteStreamOptions {
  /** Request metadata, e.g. `{ request: JSON.stringify({kind: "driver", ...}) }`. */
  metadata?: Record<string, string>;
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline of the whole call; defaults to the channel's. */
  timeoutMs?: number;
}

/** The client end of a byte stream. */
export interface ClientByteStream {
  readonly stream: ByteStream;
  /** The server's initial metadata; rejects with the call's error if it fails first. */
  readonly headers: Promise<Headers>;
  /** Settles when the call ends: resolves on OK, rejects with a ConnectError otherwise. */
  readonly done: Promise<void>;
  /** Cancels the call (RST_STREAM); reading and sending stop. */
  cancel(): void;
}

/**
 * Opens a byte stream.
 *
 * @example
 * ```ts
 * const { stream, done } = await openByteStream(channel, { metadata: { request } });
 * await stream.send(new TextEncoder().encode("hello"));
 * await stream.close();
 * for await (const chunk of stream) console.log(chunk);
 * await done;
 * ```
 */
export async function openByteStream(
  channel: Channel,
  options: OpenByteStreamOptions = {},
): Promise<ClientByteStream> {
  const timeoutMs = options.timeoutMs ?? channel.timeoutMs;
  const h2 = await openCallStream(channel, BYTE_STREAM_PATH, options.metadata, timeoutMs);
  const signal = options.signal;
  const limits = limitCall(h2, signal, timeoutMs);
  const closedError = () =>
    endedWithoutStatus(h2, channel, signal, limits.expired ? timeoutMs : undefined);

  // An error with nobody reading (an upload only sends) must not crash the process: "close"
  // follows it, and says how the call ended.
  h2.on("error", () => {});

  let responseHeaders: Headers | undefined;
  const headersReady = new Promise<Headers>((resolve, reject) => {
    h2.once("response", (raw) => {
      responseHeaders = toHeaders(raw);
      // A trailers-only response carries the status in the headers themselves.
      const error = raw[":status"] === 200
        ? findTrailerError(responseHeaders)
        : new ConnectError(`HTTP status ${raw[":status"]}`, httpStatusCode(raw[":status"]));
      if (error) reject(error);
      else resolve(responseHeaders);
      if (responseHeaders.has("grpc-status") && !h2.writableEnded) {
        h2.close(RST.NO_ERROR);
      }
    });
    h2.once("close", () => reject(closedError()));
  });
  headersReady.catch(() => {});

  let trailers: Headers | undefined;
  h2.once("trailers", (raw) => {
    trailers = toHeaders(raw);
    // The status ends the call even if this side is still sending: stop the stream cleanly.
    if (!h2.writableEnded) h2.close(RST.NO_ERROR);
  });
  const done = new Promise<void>((resolve, reject) => {
    h2.once("close", () => {
      limits.dispose();
      const status = trailers ?? responseHeaders;
      const error = status?.has("grpc-status") ? findTrailerError(status) : closedError();
      if (error) reject(error);
      else resolve();
    });
  });
  done.catch(() => {});

  const sessions = channel.sessions;
  const stream = new ByteStream(readUntilStatus(h2, done), h2, {
    maxMessageBytes: channel.maxMessageBytes,
    onRead: () => sessions.notifyResponseByteRead(h2),
    onReadStopped: () => h2.resume(),
    endSending: () => h2.end(),
    ended: done,
  });
  return {
    stream,
    headers: headersReady,
    done,
    cancel: () => h2.close(RST.CANCEL),
  };
}

// Yields the response body; if the call ended with an error status, the reader gets that error
// instead of a silent end.
async function* readUntilStatus(
  h2: http2.ClientHttp2Stream,
  done: Promise<void>,
): AsyncGenerator<Uint8Array> {
  try {
    // Stopping at GOAWAY must not destroy the stream before the server's status arrives.
    for await (const chunk of h2.iterator({ destroyOnReturn: false })) yield chunk as Uint8Array;
  } catch (err) {
    await done; // prefer the server's status over the stream's local error
    throw err;
  }
  await done;
}
