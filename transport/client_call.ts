// What the lean client calls (byte streams, unary methods) share: opening the HTTP/2 stream with
// gRPC's request headers, and naming why a call ended without a status.

import type * as http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";
import { formatAddress } from "./address.ts";
import { type Channel, describeDialError } from "./channel.ts";

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
