// What the lean client calls (byte streams, unary methods) share: opening the HTTP/2 stream with
// gRPC's request headers, and naming why a call ended without a status.

import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { formatAddress } from "./address.ts";
import { type Channel, describeDialError, lostConnection } from "./channel.ts";

/** RST_STREAM codes the clients send. */
export const RST = { NO_ERROR: 0, CANCEL: 8 } as const;

/**
 * Opens a gRPC call's stream on the channel's connection, dialling if needed. Rejects with an
 * UNAVAILABLE ConnectError that names the address when it cannot be reached.
 */
export async function openCallStream(
  channel: Channel,
  path: string,
  metadata: Record<string, string> | undefined,
  timeoutMs: number | undefined,
): Promise<http2.ClientHttp2Stream> {
  const headers: http2.OutgoingHttpHeaders = {
    ...metadata,
    "content-type": "application/grpc+proto",
    te: "trailers",
    "user-agent": "jumpstarter-ts",
  };
  if (timeoutMs !== undefined) headers["grpc-timeout"] = `${Math.max(1, Math.ceil(timeoutMs))}m`;
  try {
    return await channel.sessions.request("POST", path, headers, {});
  } catch (err) {
    throw new ConnectError(
      `cannot reach ${formatAddress(channel.address)}: ${describeDialError(err)}`,
      Code.Unavailable,
      undefined,
      undefined,
      err,
    );
  }
}

/** What ends a call early: its signal or its deadline. */
export interface CallLimits {
  /** Whether the deadline passed. */
  readonly expired: boolean;
  /** Stops watching (the call ended). */
  dispose(): void;
}

/** Cancels the call's stream (RST_STREAM CANCEL) when `signal` aborts or `timeoutMs` passes. */
export function limitCall(
  h2: http2.ClientHttp2Stream,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
): CallLimits {
  const cancel = () => h2.close(RST.CANCEL);
  signal?.addEventListener("abort", cancel, { once: true });
  let expired = false;
  const deadline = timeoutMs !== undefined
    ? setTimeout(() => {
      expired = true;
      cancel();
    }, timeoutMs)
    : undefined;
  return {
    get expired() {
      return expired;
    },
    dispose() {
      clearTimeout(deadline);
      signal?.removeEventListener("abort", cancel);
    },
  };
}

/** Why a call's stream closed without a gRPC status: cancelled, expired or cut. */
export function endedWithoutStatus(
  h2: http2.ClientHttp2Stream,
  channel: Channel,
  signal: AbortSignal | undefined,
  expiredAfterMs: number | undefined,
): ConnectError {
  if (signal?.aborted) return new ConnectError("call cancelled", Code.Canceled);
  if (expiredAfterMs !== undefined) {
    return new ConnectError(`deadline of ${expiredAfterMs} ms exceeded`, Code.DeadlineExceeded);
  }
  return new ConnectError(
    lostConnection(channel.address, channel.plaintextTcp, `HTTP/2 code ${h2.rstCode ?? "none"}`),
    Code.Unavailable,
  );
}

/** The gRPC code of a non-200 HTTP status, as gRPC's HTTP mapping says. */
export function httpStatusCode(status: number | undefined): Code {
  if (status === 401) return Code.Unauthenticated;
  if (status === 403) return Code.PermissionDenied;
  if (status === 404) return Code.Unimplemented;
  if (status === 429 || status === 502 || status === 503 || status === 504) {
    return Code.Unavailable;
  }
  return Code.Unknown;
}
