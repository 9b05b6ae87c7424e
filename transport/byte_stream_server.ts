// Serves RouterService.Stream straight on node:http2, bypassing connect-es: the byte path of
// consoles, port forwards and flashing, where the generic codec costs most of the throughput.

import type * as http2 from "node:http2";
import type { ConnectError } from "@connectrpc/connect";
import { ByteStream } from "./byte_stream.ts";
import { toHeaders } from "./metadata.ts";
import {
  GRPC_CONTENT_TYPE,
  GRPC_RESPONSE_HEADERS,
  startServerCall,
  statusHeaders,
  toConnectError,
} from "./server_call.ts";

/** The gRPC path of the byte-stream method. */
export const BYTE_STREAM_PATH = "/jumpstarter.v1.RouterService/Stream";

/** What a byte-stream handler gets for one call. */
export interface ByteStreamCall {
  /** The caller's request metadata (lower-case keys; `authorization`, `request`, ...). */
  readonly metadata: Headers;
  /** Aborted when the caller cancels, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  /** The frames of this call. */
  readonly stream: ByteStream;
  /** Sends the response headers (initial metadata) now; later calls are ignored. */
  sendHeaders(metadata?: Record<string, string>): void;
}

/** Handles one byte-stream call; returning ends it with OK, throwing with the error's status. */
export type ByteStreamHandler = (call: ByteStreamCall) => Promise<void>;

/** Limits applied to byte-stream calls. */
export interface ByteStreamServeOptions {
  maxMessageBytes: number;
  shutdownSignal: AbortSignal;
}

/**
 * Runs `handler` for a request on BYTE_STREAM_PATH. Responds with a gRPC status in every case,
 * so a client never waits on a call the server gave up on.
 */
export function serveByteStream(
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  handler: ByteStreamHandler,
  options: ByteStreamServeOptions,
): void {
  const contentType = String(req.headers["content-type"] ?? "");
  if (!GRPC_CONTENT_TYPE.test(contentType)) {
    res.writeHead(415, { "content-type": "text/plain" });
    res.end(`unsupported content type "${contentType}" for ${BYTE_STREAM_PATH}`);
    return;
  }
  const lifetime = startServerCall(req, res, options.shutdownSignal);

  let headersSent = false;
  const sendHeaders = (metadata: Record<string, string> = {}) => {
    if (headersSent || res.headersSent) return;
    headersSent = true;
    res.writeHead(200, { ...metadata, ...GRPC_RESPONSE_HEADERS });
  };
  // Frames are read from and written to the HTTP/2 stream itself: the compatibility objects add
  // a layer per chunk and cannot cork.
  const h2 = res.stream;
  // Stopping at GOAWAY must not destroy the stream: that would reset it before the status goes
  // out.
  const source = h2.iterator({ destroyOnReturn: false });
  const stream = new ByteStream(source, {
    write(chunk, done) {
      sendHeaders();
      return h2.write(chunk, done);
    },
    cork: () => h2.cork(),
    uncork: () => h2.uncork(),
    on: (event, listener) => h2.on(event, listener),
    off: (event, listener) => h2.off(event, listener),
    get destroyed() {
      return h2.destroyed;
    },
    get writableEnded() {
      return h2.writableEnded;
    },
  }, {
    maxMessageBytes: options.maxMessageBytes,
    onReadStopped: () => h2.resume(),
    // The server's sending side ends with the status trailers, written below.
    endSending: () => {},
  });

  const finish = (error: ConnectError | undefined) => {
    lifetime.dispose();
    if (res.destroyed || res.writableEnded) return;
    const status = statusHeaders(error);
    if (!headersSent && !res.headersSent) {
      // Trailers-only response: the status travels in the headers.
      headersSent = true;
      res.writeHead(200, { ...GRPC_RESPONSE_HEADERS, ...status });
    } else {
      res.addTrailers(status);
    }
    res.end();
    // Whatever the caller still sends after the status is discarded, so its side can finish.
    h2.resume();
  };

  const call: ByteStreamCall = {
    metadata: toHeaders(req.headers),
    signal: lifetime.signal,
    stream,
    sendHeaders,
  };
  const running = handler(call);
  // Once the call is aborted its status is sent; whatever the handler does later is moot.
  running.catch(() => {});
  // A handler that ignores the signal is still ended when the deadline passes.
  Promise.race([running, lifetime.aborted]).then(
    () => finish(undefined),
    (err) => finish(toConnectError(err)),
  );
}
