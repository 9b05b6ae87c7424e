// Dispatches node:http2 requests to connect-es handlers. It plays the part of connect-node's
// adapter, but answers unknown methods the gRPC way and treats a caller that hung up as normal,
// not as a handler failure to log.

import type * as http2 from "node:http2";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ConnectRouterOptions,
  createConnectRouter,
} from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import {
  compressionBrotli,
  compressionGzip,
  universalRequestFromNodeRequest,
  universalResponseToNodeResponse,
} from "@connectrpc/connect-node";
import { beyondTimer, MAX_TIMER_MS } from "./deadline.ts";
import { answerTrailersOnly } from "./server_call.ts";

/** Options of the dispatcher. */
export interface RouteHandlerOptions extends ConnectRouterOptions {
  routes: (router: ConnectRouter) => void;
  /** Told about handler failures that are not the caller going away. */
  onError?: (method: string, error: unknown) => void;
}

/** A node:http2 compatibility-API request handler. */
export type NodeHandler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void;

// What runtimes report when the caller reset the stream while a response was being written.
const HANG_UP_CODES = new Set([
  "ECANCELED",
  "ECONNRESET",
  "EPIPE",
  "ERR_STREAM_DESTROYED",
  "ERR_HTTP2_INVALID_STREAM",
  "ERR_STREAM_WRITE_AFTER_END",
  "ERR_HTTP2_STREAM_ERROR",
]);

/**
 * Builds the request handler for `routes`.
 *
 * @example
 * ```ts
 * const handler = createRouteHandler({ routes: (r) => r.service(ExporterService, impl) });
 * http2.createServer(handler);
 * ```
 */
export function createRouteHandler(options: RouteHandlerOptions): NodeHandler {
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    ...options,
  });
  options.routes(router);
  const handlers = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const onError = options.onError ?? logHandlerError;
  return (req, res) => {
    const path = req.url?.split("?", 1)[0] ?? "";
    const handler = handlers.get(path);
    if (!handler) {
      answerUnknownMethod(req, res, path);
      return;
    }
    const method = `${handler.service.typeName}/${handler.method.name}`;
    const uReq = universalRequestFromNodeRequest(req, res, undefined, undefined);
    // connect-es would arm a timer that overflows and ends the call at once.
    if (beyondTimer(uReq.header.get("grpc-timeout"))) uReq.header.delete("grpc-timeout");
    const deadline = answerAtDeadline(res, uReq.header.get("grpc-timeout"));
    handler(uReq)
      .then((uRes) => universalResponseToNodeResponse(uRes, res))
      .catch((err: unknown) => {
        if (res.destroyed || deadline.answered || isHangUp(err)) return;
        onError(method, err);
      });
  };
}

// Time after the deadline that connect-es gets to answer on its own.
const DEADLINE_GRACE_MS = 100;

// connect-es stops an implementation at the caller's deadline, but not its wait for the rest of
// a request: a caller that never finishes sending one would get no status. It gets
// DEADLINE_EXCEEDED, as on the byte-stream path.
function answerAtDeadline(
  res: http2.Http2ServerResponse,
  header: string | null,
): { answered: boolean } {
  const state = { answered: false };
  const { timeoutMs, error } = parseTimeout(header, MAX_TIMER_MS);
  if (timeoutMs === undefined || error) return state;
  const timer = setTimeout(() => {
    if (res.headersSent || res.writableEnded || res.destroyed) return;
    state.answered = true;
    answerTrailersOnly(res, new ConnectError("deadline exceeded", Code.DeadlineExceeded));
  }, timeoutMs + DEADLINE_GRACE_MS);
  res.once("close", () => clearTimeout(timer));
  res.once("finish", () => clearTimeout(timer));
  return state;
}

function answerUnknownMethod(
  req: http2.Http2ServerRequest,
  res: http2.Http2ServerResponse,
  path: string,
): void {
  if (!String(req.headers["content-type"] ?? "").startsWith("application/grpc")) {
    res.writeHead(404);
    res.end();
    return;
  }
  answerTrailersOnly(res, new ConnectError(`unknown method ${path}`, Code.Unimplemented));
  req.resume();
}

function isHangUp(err: unknown): boolean {
  if (err instanceof ConnectError && (err.code === Code.Aborted || err.code === Code.Canceled)) {
    return true;
  }
  for (let e = err, depth = 0; e && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && HANG_UP_CODES.has(code)) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === "string" && /\bECANCELED\b|stream destroyed/i.test(message)) {
      return true;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function logHandlerError(method: string, err: unknown): void {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`error: handler for ${method} failed: ${message}`);
}
