// Parses the address forms users write: `host:port`, `[v6]:port`, `unix:PATH`, `unix://PATH`,
// and a bare socket path (what JUMPSTARTER_HOST holds in local mode).

import { AddressError } from "./errors.ts";

/** A TCP endpoint. */
export interface TcpAddress {
  kind: "tcp";
  host: string;
  port: number;
}

/** A Unix domain socket. */
export interface UnixAddress {
  kind: "unix";
  path: string;
}

/** Where to listen or dial. */
export type Address = TcpAddress | UnixAddress;

/**
 * Parses an address string. A scheme of `grpc://`, `http://`, `https://` or `grpcs://` in front
 * of `host:port` is accepted and dropped: TLS is chosen by options, not by the string.
 *
 * @example
 * ```ts
 * parseAddress("localhost:8082"); // { kind: "tcp", host: "localhost", port: 8082 }
 * parseAddress("unix:/run/jumpstarter.sock"); // { kind: "unix", path: "/run/jumpstarter.sock" }
 * ```
 */
export function parseAddress(text: string): Address {
  const input = text.trim();
  if (input === "") throw new AddressError(text, "empty");
  if (input.startsWith("unix://")) return unixAddress(text, input.slice("unix://".length));
  if (input.startsWith("unix:")) return unixAddress(text, input.slice("unix:".length));
  if (input.startsWith("/") || input.startsWith("./") || input.startsWith("../")) {
    return unixAddress(text, input);
  }
  const rest = input.replace(/^(grpcs?|https?):\/\//, "").replace(/\/+$/, "");
  let host: string;
  let portText: string;
  if (rest.startsWith("[")) {
    const close = rest.indexOf("]");
    if (close < 0 || rest[close + 1] !== ":") {
      throw new AddressError(text, "expected [IPv6]:port");
    }
    host = rest.slice(1, close);
    portText = rest.slice(close + 2);
  } else {
    const colon = rest.lastIndexOf(":");
    if (colon < 0) throw new AddressError(text, "missing port (expected host:port or unix:PATH)");
    host = rest.slice(0, colon);
    portText = rest.slice(colon + 1);
    if (host.includes(":")) {
      throw new AddressError(text, "write IPv6 hosts in brackets: [::1]:port");
    }
  }
  if (host === "") throw new AddressError(text, "missing host");
  if (!/^\d+$/.test(portText)) throw new AddressError(text, `port "${portText}" is not a number`);
  const port = Number(portText);
  if (port > 65535) throw new AddressError(text, `port ${port} is out of range`);
  return { kind: "tcp", host, port };
}

function unixAddress(text: string, path: string): UnixAddress {
  if (path === "") throw new AddressError(text, "missing socket path");
  return { kind: "unix", path };
}

/** Formats an address the way `parseAddress` reads it back. */
export function formatAddress(address: Address): string {
  if (address.kind === "unix") return `unix:${address.path}`;
  return address.host.includes(":")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}
