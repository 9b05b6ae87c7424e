// Transport failures as typed errors with messages that say what to do next.

import { statSync } from "node:fs";
import { dirname } from "node:path";

/** Base class of every transport failure; `code` is stable for programs to match on. */
export class TransportError extends Error {
  constructor(readonly code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An address string that is neither `host:port` nor a Unix socket path. */
export class AddressError extends TransportError {
  constructor(address: string, reason: string) {
    super("ERR_ADDRESS", `invalid address "${address}": ${reason}`);
  }
}

/** Another process already listens on the address. */
export class AddressInUseError extends TransportError {
  constructor(address: string, options?: ErrorOptions) {
    super(
      "ERR_ADDRESS_IN_USE",
      `cannot listen on ${address}: address already in use (stop the other server or pick another address)`,
      options,
    );
  }
}

/** The Unix socket cannot be created where asked. */
export class SocketPathError extends TransportError {
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super("ERR_SOCKET_PATH", `cannot listen on unix:${path}: ${reason}`, options);
  }
}

/** A certificate, key or CA that cannot be read or used. */
export class CertificateError extends TransportError {
  constructor(what: string, reason: string, options?: ErrorOptions) {
    super("ERR_CERTIFICATE", `bad ${what}: ${reason}`, options);
  }
}

/** Nothing answers at the address, or the connection broke while setting up. */
export class UnreachableError extends TransportError {
  constructor(address: string, reason: string, options?: ErrorOptions) {
    super("ERR_UNREACHABLE", `cannot reach ${address}: ${reason}`, options);
  }
}

/** Turns a system error from listen() into the matching typed error. */
export function listenError(address: string, socketPath: string | undefined, err: unknown) {
  const code = (err as { code?: string })?.code;
  if (code === "EADDRINUSE") return new AddressInUseError(address, { cause: err });
  if (socketPath !== undefined) {
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      return new SocketPathError(socketPath, "permission denied (choose a writable directory)", {
        cause: err,
      });
    }
    if (code === "ENOENT" || code === "ENOTDIR") {
      // Some read-only file systems (/proc) answer ENOENT even though the directory is there.
      const reason = isDirectory(dirname(socketPath))
        ? "cannot create a socket in that directory (not writable)"
        : `${dirname(socketPath)} is not an existing directory`;
      return new SocketPathError(socketPath, reason, { cause: err });
    }
  }
  if (code === "EACCES") {
    return new TransportError("ERR_LISTEN", `cannot listen on ${address}: permission denied`, {
      cause: err,
    });
  }
  if (code === "EADDRNOTAVAIL") {
    return new TransportError("ERR_LISTEN", `cannot listen on ${address}: no such local address`, {
      cause: err,
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TransportError("ERR_LISTEN", `cannot listen on ${address}: ${message}`, {
    cause: err,
  });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
