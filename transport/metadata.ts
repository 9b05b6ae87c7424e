// Converts node:http2 header objects into gRPC metadata (`Headers`), dropping pseudo-headers.

import type { IncomingHttpHeaders } from "node:http2";

/**
 * Copies every regular header; repeated values stay separate entries.
 *
 * @example
 * ```ts
 * toHeaders({ ":path": "/x", authorization: "Bearer t" }).get("authorization"); // "Bearer t"
 * ```
 */
export function toHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(raw)) {
    if (key.startsWith(":") || value === undefined) continue;
    for (const item of Array.isArray(value) ? value : [value]) headers.append(key, String(item));
  }
  return headers;
}
