// Caller deadlines (grpc-timeout) longer than a timer can hold. setTimeout takes at most
// 2^31-1 ms (about 24.8 days); a longer delay overflows and fires at once, which would end the
// call as it starts. Such a deadline is as good as none.

import { parseTimeout } from "@connectrpc/connect/protocol-grpc";

/** The longest delay setTimeout honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * True when `header` is a valid grpc-timeout longer than MAX_TIMER_MS.
 *
 * @example
 * ```ts
 * beyondTimer("99999999H"); // true
 * beyondTimer("30S"); // false
 * ```
 */
export function beyondTimer(header: string | null | undefined): boolean {
  if (typeof header !== "string") return false;
  const { timeoutMs } = parseTimeout(header, Number.MAX_SAFE_INTEGER);
  return timeoutMs !== undefined && timeoutMs > MAX_TIMER_MS;
}
