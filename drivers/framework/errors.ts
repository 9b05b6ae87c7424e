// Errors a driver method raises, each mapped to the gRPC code upstream uses for the same kind of
// failure, so that clients (ours or upstream's) react the same way.

import { Code, ConnectError } from "@connectrpc/connect";

/** A failure inside a driver; the message travels to the client as the status details. */
export class DriverError extends Error {
  /** The gRPC code the exporter answers with. */
  readonly code: Code;

  /** Creates an error answered with `code` (UNKNOWN unless a subclass says otherwise). */
  constructor(message: string, code: Code = Code.Unknown, options?: ErrorOptions) {
    super(message, options);
    this.name = "DriverError";
    this.code = code;
  }
}

/** Bad arguments or configuration values: INVALID_ARGUMENT. */
export class InvalidArgumentError extends DriverError {
  /** Creates an INVALID_ARGUMENT error. */
  constructor(message: string) {
    super(message, Code.InvalidArgument);
    this.name = "InvalidArgumentError";
  }
}

/** The device does not support this: UNIMPLEMENTED. */
export class NotImplementedError extends DriverError {
  /** Creates an UNIMPLEMENTED error. */
  constructor(message: string) {
    super(message, Code.Unimplemented);
    this.name = "NotImplementedError";
  }
}

/** The operation ran out of time: DEADLINE_EXCEEDED. */
export class DriverTimeoutError extends DriverError {
  /** Creates a DEADLINE_EXCEEDED error. */
  constructor(message: string) {
    super(message, Code.DeadlineExceeded);
    this.name = "DriverTimeoutError";
  }
}

/** The device or a service it needs cannot be reached: UNAVAILABLE. */
export class DeviceUnavailableError extends DriverError {
  /** Creates an UNAVAILABLE error. */
  constructor(message: string) {
    super(message, Code.Unavailable);
    this.name = "DeviceUnavailableError";
  }
}

// Node-style system errors (ENOENT, EACCES, ...) are OS errors: INTERNAL, as upstream maps them.
function isSystemError(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^E[A-Z]+$/.test(code);
}

/**
 * The status a failed driver call answers with. Anything not raised on purpose becomes UNKNOWN
 * with its message: a driver bug reaches the caller, never the exporter's process.
 *
 * @example
 * ```ts
 * throw toDriverStatus(new InvalidArgumentError("wait must be a number")); // INVALID_ARGUMENT
 * ```
 */
export function toDriverStatus(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof DriverError) return new ConnectError(statusMessage(err.message), err.code);
  if (isSystemError(err)) {
    return new ConnectError(statusMessage((err as Error).message), Code.Internal);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ConnectError(statusMessage(message) || "driver failed", Code.Unknown);
}

const LINE_BREAKS: Record<string, string> = {
  "\n": "\\n",
  "\r": "\\r",
  "\u2028": "\\u2028",
  "\u2029": "\\u2029",
};

// The longest status message, in characters. It travels percent-encoded in a header: one that
// quotes a large argument would exceed the HTTP/2 header limits, and the caller would get a
// reset stream instead of the status.
const MAX_MESSAGE_LENGTH = 4096;

// A status message is shown as one line; driver messages may quote the caller's arguments (or a
// command's output) with line breaks in them.
function statusMessage(message: string): string {
  const line = message.replace(/[\n\r\u2028\u2029]/g, (c) => LINE_BREAKS[c]);
  return line.length > MAX_MESSAGE_LENGTH ? `${line.slice(0, MAX_MESSAGE_LENGTH)}...` : line;
}
