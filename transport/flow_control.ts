// HTTP/2 flow-control sizes for bulk byte streams. The protocol default (64 KiB windows) stalls
// a sender every few frames; wide windows let a 32 KiB-message stream run without waiting.

/** Per-stream receive window and frame size announced in SETTINGS. */
export const FLOW_CONTROL_SETTINGS = {
  initialWindowSize: 16 * 1024 * 1024,
  maxFrameSize: 256 * 1024,
} as const;

/** Connection-level receive window. */
export const SESSION_WINDOW_BYTES = 64 * 1024 * 1024;
