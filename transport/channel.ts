// Client connections: one HTTP/2 session per channel, shared by connect-es calls and the lean
// byte-stream path, to `host:port` (TLS by default, plaintext when asked) or a Unix socket.

import * as net from "node:net";
import { connect as tlsConnect, type ConnectionOptions } from "node:tls";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type Address, formatAddress, parseAddress } from "./address.ts";
import { UnreachableError } from "./errors.ts";
import { readPem } from "./tls_material.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./byte_stream.ts";
import { ClientSession, type KeepaliveOptions } from "./client_session.ts";

/** Client-side TLS. `ca` is PEM text, base64 PEM or a file path. */
export interface ClientTlsOptions {
  /** CA to trust instead of the system store. */
  ca?: string;
  /** Encrypt but accept any server certificate (upstream's `tls.insecure`). */
  insecure?: boolean;
  /** Client certificate and key for servers that require one. */
  cert?: string;
  key?: string;
  /** Name to verify the certificate against, when it differs from the host dialled. */
  serverName?: string;
}

/** How to dial. */
export interface ChannelOptions {
  /** TLS settings for TCP addresses; `false` dials plaintext HTTP/2. Ignored for Unix sockets. */
  tls?: ClientTlsOptions | false;
  /** Deadline applied to every call that sets none of its own. */
  timeoutMs?: number;
  /** Largest message sent or accepted, in bytes (default 4 MiB). */
  maxMessageBytes?: number;
  /** Ping the server every `intervalMs` (also while idle); give up after `timeoutMs`. */
  keepalive?: KeepaliveOptions;
  /** Give up dialling after this long (default 20 s). */
  connectTimeoutMs?: number;
  /** Extra interceptors for connect-es calls. */
  interceptors?: Interceptor[];
}

/** A client connection. */
export interface Channel {
  readonly address: Address;
  /** HTTP/2 over TCP without TLS (asked for with `tls: false`). */
  readonly plaintextTcp: boolean;
  /** For connect-es clients: `createClient(ExporterService, channel.transport)`. */
  readonly transport: Transport;
  /** The shared HTTP/2 session, used by the byte-stream path. */
  readonly sessions: ClientSession;
  readonly maxMessageBytes: number;
  readonly timeoutMs?: number;
  /** Connects now; rejects with UnreachableError if the endpoint cannot be reached. */
  connect(): Promise<void>;
  /** Closes the connection and every call on it. */
  close(): void;
}

/**
 * Creates a channel; nothing is dialled until the first call or `connect()`.
 *
 * @example
 * ```ts
 * const channel = createChannel("unix:/tmp/exporter.sock");
 * const exporter = createClient(ExporterService, channel.transport);
 * ```
 */
export function createChannel(target: string | Address, options: ChannelOptions = {}): Channel {
  const address = typeof target === "string" ? parseAddress(target) : target;
  const display = formatAddress(address);
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const { baseUrl, dial } = dialOptions(address, options.tls);
  const plaintextTcp = address.kind === "tcp" && options.tls === false;
  const sessions = new ClientSession(baseUrl, {
    dial,
    keepalive: options.keepalive,
    connectTimeoutMs: options.connectTimeoutMs,
  });
  const transport = createGrpcTransport({
    baseUrl,
    sessionManager: sessions,
    readMaxBytes: maxMessageBytes,
    writeMaxBytes: maxMessageBytes,
    defaultTimeoutMs: options.timeoutMs,
    interceptors: [...(options.interceptors ?? []), explainConnectionErrors(address, plaintextTcp)],
  });
  return {
    address,
    plaintextTcp,
    transport,
    sessions,
    maxMessageBytes,
    timeoutMs: options.timeoutMs,
    async connect() {
      try {
        await sessions.connect();
      } catch (err) {
        throw new UnreachableError(display, describeDialError(err), { cause: err });
      }
    },
    close() {
      sessions.close();
    },
  };
}

function dialOptions(
  address: Address,
  tlsOptions: ClientTlsOptions | false | undefined,
): { baseUrl: string; dial: () => net.Socket } {
  if (address.kind === "unix") {
    const path = address.path;
    return { baseUrl: "http://localhost", dial: () => net.connect(path) };
  }
  const { host, port } = address;
  const authority = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  if (tlsOptions === false) {
    return { baseUrl: `http://${authority}`, dial: () => net.connect(port, host) };
  }
  const tls = tlsOptions ?? {};
  const options: ConnectionOptions = {
    host,
    port,
    ALPNProtocols: ["h2"],
    rejectUnauthorized: !tls.insecure,
    // SNI takes host names only, not IP literals.
    servername: tls.serverName ?? (net.isIP(host) ? undefined : host),
  };
  if (tls.ca) options.ca = readPem(tls.ca, "CA certificate");
  if (tls.cert) options.cert = readPem(tls.cert, "client certificate");
  if (tls.key) options.key = readPem(tls.key, "client key");
  return { baseUrl: `https://${authority}`, dial: () => tlsConnect(options) };
}

const TLS_TRUST_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_UNTRUSTED",
]);

const MESSAGE_HINTS: [RegExp, string][] = [
  [/unable to verify|self[- ]signed certificate|unable to get (local )?issuer/i, "UNTRUSTED"],
  [/certificate has expired/i, "CERT_HAS_EXPIRED"],
  [/does not match certificate's altnames|altname/i, "ERR_TLS_CERT_ALTNAME_INVALID"],
  [/\b(E[A-Z]{3,})\b/, ""],
];

// Error codes are not set on every runtime's errors; the message then carries the same fact.
function errorCode(chain: unknown[]): string | undefined {
  for (const e of chain) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
  }
  for (const e of chain) {
    const message = e instanceof Error ? e.message : String(e);
    for (const [pattern, code] of MESSAGE_HINTS) {
      const match = message.match(pattern);
      if (match) return code || match[1];
    }
  }
  return undefined;
}

/** Says in a user's terms why a connection could not be set up. */
export function describeDialError(err: unknown): string {
  const chain = causeChain(err);
  const hint = dialProblem(chain);
  if (hint) return hint;
  const last = chain[chain.length - 1];
  return last instanceof Error ? last.message : String(last);
}

// The explanation of a connection-level failure, or undefined if it is not one.
const RESET = "connection reset by the server";

function dialProblem(chain: unknown[]): string | undefined {
  const code = errorCode(chain);
  switch (code) {
    case undefined:
      return undefined;
    case "ECONNREFUSED":
      return "connection refused (is the server running and listening there?)";
    case "ENOENT":
      return "no socket at that path (is the exporter running?)";
    case "EACCES":
      return "permission denied on the socket";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "host name not found";
    case "ETIMEDOUT":
      return "connection timed out";
    case "ECONNRESET":
    case "EPIPE":
      return RESET;
    case "CERT_HAS_EXPIRED":
      return "the server's TLS certificate has expired";
    case "ERR_TLS_CERT_ALTNAME_INVALID":
      return "the server's TLS certificate does not name this host (set the server name or fix the certificate)";
  }
  if (code === "UNTRUSTED" || TLS_TRUST_CODES.has(code)) {
    return "the server's TLS certificate is not trusted (give its CA with tls.ca, or use tls.insecure to skip the check)";
  }
  return undefined;
}

function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err; e !== undefined && e !== null && chain.length < 8;) {
    chain.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return chain;
}

function isDialFailure(err: ConnectError): boolean {
  if (err.code !== Code.Unavailable && err.code !== Code.Internal && err.code !== Code.Unknown) {
    return false;
  }
  return dialProblem(causeChain(err)) !== undefined;
}

// What connect-es says when an established connection goes away under a call.
const LOST =
  /\bECONNRESET\b|\bEPIPE\b|stream closed with error code|socket hang up|premature close/i;
const LOST_CODES = new Set([
  Code.Aborted,
  Code.Canceled,
  Code.Unknown,
  Code.Internal,
  Code.Unavailable,
]);

/** How the client ends say that the connection went away in the middle of a call. */
export function lostConnection(address: Address, plaintextTcp: boolean, detail: string): string {
  // A TLS server drops a plaintext client at its first bytes: the likely mistake, worth naming.
  const hint = plaintextTcp ? "; is it a TLS server dialled in plaintext?" : "";
  return `the connection to ${
    formatAddress(address)
  } was lost before the call finished (${detail}${hint})`;
}

// connect-es reports a refused connection as "[unavailable] connect ECONNREFUSED ..." and a lost
// one as "[aborted] read ECONNRESET"; these name the address and the likely cause instead,
// keeping the ConnectError type. A call the caller cancelled is left as it is.
function explainConnectionErrors(address: Address, plaintextTcp: boolean): Interceptor {
  const display = formatAddress(address);
  const explain = (err: unknown, signal: AbortSignal): unknown => {
    if (!(err instanceof ConnectError) || signal.aborted) return err;
    if (
      LOST_CODES.has(err.code) &&
      (LOST.test(err.rawMessage) || dialProblem(causeChain(err)) === RESET)
    ) {
      return new ConnectError(
        lostConnection(address, plaintextTcp, err.rawMessage),
        Code.Unavailable,
        err.metadata,
        undefined,
        err,
      );
    }
    if (isDialFailure(err)) {
      return new ConnectError(
        `cannot reach ${display}: ${describeDialError(err)}`,
        Code.Unavailable,
        err.metadata,
        undefined,
        err,
      );
    }
    return err;
  };
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw explain(err, req.signal);
          }
        })(),
      };
    } catch (err) {
      throw explain(err, req.signal);
    }
  };
}
