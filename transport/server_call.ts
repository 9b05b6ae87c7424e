// What every call served straight on node:http2 (byte streams, lean unary methods) shares: the
// signal that ends it (caller gone, deadline, shutdown) and the status it ends with.

import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { MAX_TIMER_MS } from "./deadline.ts";
import { FrameDecodeError, FrameTooLargeError } from "./frame_codec.ts";

/** gRPC's content types for protobuf messages. */
export const GRPC_CONTENT_TYPE = /^application\/grpc(\+proto)?$/;

/** The response headers every gRPC response starts with. */
export const GRPC_RESPONSE_HEADERS = { "content-type": "application/grpc+proto" } as const;

/** The life of one served call. */
export interface ServerCall {
  /** Aborted when the caller cancels, the deadline passes or the server shuts down. */
  readonly signal: AbortSignal;
  /** Rejects with the reason once `signal` aborts: race the handler against it. */
  readonly aborted: Promise<never>;
  /** Ends the call's clock: no deadline, shutdown or hang-up aborts it any more. */
  dispose(): void;
}

/** Starts the call's clock: its deadline from `grpc-timeout`, its end at shutdown or hang-up. */
export function startServerCall(
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  shutdownSignal: AbortSignal,
): ServerCall {
  const abort = new AbortController();
  const onShutdown = () =>
    abort.abort(new ConnectError("server is shutting down", Code.Unavailable));
  shutdownSignal.addEventListener("abort", onShutdown, { once: true });
  const header = req.headers["grpc-timeout"];
  const timeout = parseTimeout(typeof header === "string" ? header : null, Number.MAX_SAFE_INTEGER);
  // A deadline beyond what a timer holds (over 24 days) is as good as none.
  const timer = timeout.timeoutMs !== undefined && timeout.timeoutMs <= MAX_TIMER_MS
    ? setTimeout(
      () => abort.abort(new ConnectError("deadline exceeded", Code.DeadlineExceeded)),
      timeout.timeoutMs,
    )
    : undefined;
  let done = false;
  res.on("close", () => {
    // A call already answered is not cancelled by its stream closing (nor worth an error).
    if (!done && !abort.signal.aborted) {
      abort.abort(new ConnectError("the caller went away", Code.Canceled));
    }
  });
  const aborted = new Promise<never>((_, reject) => {
    abort.signal.addEventListener("abort", () => reject(abort.signal.reason), { once: true });
  });
  aborted.catch(() => {});
  return {
    signal: abort.signal,
    aborted,
    dispose() {
      done = true;
      clearTimeout(timer);
      shutdownSignal.removeEventListener("abort", onShutdown);
    },
  };
}

/** The gRPC status headers (`grpc-status`, `grpc-message`, details) of an outcome. */
export function statusHeaders(error: ConnectError | undefined): Record<string, string> {
  const status: Record<string, string> = {};
  setTrailerStatus(new Headers(), error).forEach((value, key) => (status[key] = value));
  return status;
}

/**
 * Answers with a trailers-only response: one HEADERS frame that carries the status and ends the
 * stream (grpc-js reads a status followed by an empty DATA frame as INTERNAL).
 */
export function answerTrailersOnly(res: http2.Http2ServerResponse, error: ConnectError): void {
  const h2 = res.stream;
  if (res.destroyed || res.writableEnded || res.headersSent || h2.headersSent || h2.destroyed) {
    return;
  }
  h2.respond({ ":status": 200, ...GRPC_RESPONSE_HEADERS, ...statusHeaders(error) }, {
    endStream: true,
  });
}

/** Maps what a handler threw (or a frame the caller got wrong) to the status sent back. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof FrameTooLargeError) {
    return new ConnectError(err.message, Code.ResourceExhausted);
  }
  if (err instanceof FrameDecodeError) return new ConnectError(err.message, Code.InvalidArgument);
  return ConnectError.from(err, Code.Unknown);
}
