// HTTP/2 flow-control sizes for bulk byte streams. The protocol default (64 KiB windows) stalls
// a sender every few frames; wide windows let a 32 KiB-message stream run without waiting.

import type * as http2 from "node:http2";
import process from "node:process";

/** Per-stream receive window and frame size announced in SETTINGS. */
export const FLOW_CONTROL_SETTINGS = {
  initialWindowSize: 16 * 1024 * 1024,
  maxFrameSize: 256 * 1024,
} as const;

/** Connection-level receive window. */
export const SESSION_WINDOW_BYTES = 64 * 1024 * 1024;

/**
 * Widens the connection-level receive window of a session.
 *
 * @example
 * ```ts
 * server.on("session", widenConnectionWindow);
 * ```
 */
export function widenConnectionWindow(session: http2.Http2Session): void {
  // With Bun 1.4.5 a session stalls for good after setLocalWindowSize (seen with 64 MiB echoes);
  // its own defaults already move bytes fast, so it keeps them.
  if (process.versions.bun) return;
  try {
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
  } catch {
    // Not every runtime implements it; the per-stream window from the settings still applies.
  }
}
