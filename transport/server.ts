// Serves connect-es routes as gRPC on node:http2 over TCP (h2c), TLS or a Unix socket, with the
// byte-stream method optionally on its own lean path.

import * as http2 from "node:http2";
import * as net from "node:net";
import type { Duplex } from "node:stream";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, lstatSync, unlinkSync } from "node:fs";
import type { ConnectRouter } from "@connectrpc/connect";
import { type Address, formatAddress, parseAddress } from "./address.ts";
import { AddressInUseError, CertificateError, listenError, SocketPathError } from "./errors.ts";
import { readPem } from "./tls_material.ts";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./byte_stream.ts";
import { BYTE_STREAM_PATH, type ByteStreamHandler, serveByteStream } from "./byte_stream_server.ts";
import { FLOW_CONTROL_SETTINGS, widenConnectionWindow } from "./flow_control.ts";
import { createRouteHandler } from "./route_handler.ts";
import { type LeanUnaryMethod, serveLeanUnary, takesLeanUnary } from "./unary_server.ts";

/** Server-side TLS. Values are PEM text, base64 PEM or file paths. */
export interface ServerTlsOptions {
  cert: string;
  key: string;
  /** CA that signs client certificates; when set, clients must present one. */
  clientCa?: string;
}

/** Where and how to serve. */
export interface ServeOptions {
  /** `host:port` (port 0 picks a free one), `unix:PATH` or a socket path. */
  address: string | Address;
  /** Registers the connect-es service implementations. */
  routes: (router: ConnectRouter) => void;
  /** Serves RouterService.Stream on the lean byte path instead of through `routes`. */
  byteStream?: ByteStreamHandler;
  /**
   * Unary methods also served on the lean path; `routes` must register them too, for the
   * requests that path leaves to connect-es (compressed, Connect or gRPC-web protocol).
   */
  unary?: LeanUnaryMethod[];
  /** TLS; plaintext (h2c) when absent. */
  tls?: ServerTlsOptions;
  /** Largest message accepted or sent, in bytes (default 4 MiB). */
  maxMessageBytes?: number;
  /** Ping idle clients every `intervalMs`, drop them if no answer within `timeoutMs`. */
  keepalive?: { intervalMs: number; timeoutMs?: number };
  /** Told about handler failures other than callers hanging up (default: one line on stderr). */
  onHandlerError?: (method: string, error: unknown) => void;
  /** File mode of a Unix socket (default 0o660: owner and group). */
  socketMode?: number;
}

/** A running server. */
export interface GrpcServer {
  /** The address actually bound (with the real port when 0 was asked). */
  readonly address: Address;
  /**
   * Serves one more connection that did not come through the address: an in-process duplex,
   * e.g. a router stream wrapped by `byteStreamDuplex`. After close() it is destroyed instead.
   */
  accept(connection: Duplex): void;
  /** Stops accepting, cancels open calls after `graceMs` (default 0) and frees the address. */
  close(options?: { graceMs?: number }): Promise<void>;
}

/**
 * Starts serving. Rejects with AddressInUseError, SocketPathError or CertificateError when the
 * address or the TLS material is unusable.
 *
 * @example
 * ```ts
 * const server = await serve({ address: "unix:/tmp/exporter.sock", routes: (r) => r.service(ExporterService, impl) });
 * await server.close();
 * ```
 */
export async function serve(options: ServeOptions): Promise<GrpcServer> {
  const address = typeof options.address === "string"
    ? parseAddress(options.address)
    : options.address;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const shutdown = new AbortController();
  const connectHandler = createRouteHandler({
    routes: options.routes,
    readMaxBytes: maxMessageBytes,
    writeMaxBytes: maxMessageBytes,
    shutdownSignal: shutdown.signal,
    onError: options.onHandlerError,
  });
  const byteStream = options.byteStream;
  const unary = new Map(options.unary?.map((method) => [method.path, method]));
  const limits = { maxMessageBytes, shutdownSignal: shutdown.signal };
  const onRequest = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    const lean = unary.get(req.url);
    if (lean && takesLeanUnary(req)) {
      serveLeanUnary(req, res, lean, limits);
    } else if (byteStream && req.url === BYTE_STREAM_PATH) {
      serveByteStream(req, res, byteStream, limits);
    } else {
      connectHandler(req, res);
    }
  };
  const serverOptions: http2.ServerOptions = {
    settings: FLOW_CONTROL_SETTINGS,
    // In MB: wide flow-control windows may buffer more than the default 10 MB per session.
    maxSessionMemory: 64,
  };
  const server = options.tls
    ? http2.createSecureServer({ ...serverOptions, ...secureOptions(options.tls) }, onRequest)
    : http2.createServer(serverOptions, onRequest);

  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.on("close", () => sessions.delete(session));
    session.on("error", () => {}); // a broken peer must not take the server down
    widenConnectionWindow(session);
  });
  const pinger = options.keepalive ? startPinging(sessions, options.keepalive) : undefined;

  const displayAddress = formatAddress(address);
  if (address.kind === "unix") await prepareSocketPath(address.path, displayAddress);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: unknown) =>
      reject(listenError(displayAddress, socketPathOf(address), err));
    server.once("error", onError);
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    if (address.kind === "unix") server.listen(address.path, onListening);
    else server.listen(address.port, address.host, onListening);
  });
  server.on("error", () => {});
  if (address.kind === "unix") chmodSync(address.path, options.socketMode ?? 0o660);

  const bound: Address = address.kind === "unix"
    ? address
    : { kind: "tcp", host: address.host, port: (server.address() as net.AddressInfo).port };

  let closed: Promise<void> | undefined;
  return {
    address: bound,
    accept(connection) {
      if (closed) connection.destroy();
      else server.emit("connection", connection);
    },
    close({ graceMs = 0 } = {}) {
      closed ??= (async () => {
        clearInterval(pinger);
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        if (graceMs > 0) await Promise.race([stopped, delay(graceMs)]);
        shutdown.abort();
        for (const session of sessions) session.close();
        // Sessions whose peers do not answer GOAWAY are cut after a short wait.
        await Promise.race([stopped, delay(500)]);
        for (const session of sessions) session.destroy();
        await stopped;
        if (address.kind === "unix" && existsSync(address.path)) unlinkSync(address.path);
      })();
      return closed;
    },
  };
}

function socketPathOf(address: Address): string | undefined {
  return address.kind === "unix" ? address.path : undefined;
}

function secureOptions(tls: ServerTlsOptions): http2.SecureServerOptions {
  const options: http2.SecureServerOptions = {
    cert: readPem(tls.cert, "server certificate"),
    key: readPem(tls.key, "server key"),
    allowHTTP1: false,
    ALPNProtocols: ["h2"],
  };
  if (tls.clientCa) {
    options.ca = readPem(tls.clientCa, "client CA");
    options.requestCert = true;
    options.rejectUnauthorized = true;
  }
  checkKeyPair(options.cert as string, options.key as string);
  return options;
}

// Fails at start, not on the first handshake, for unparsable PEM, an expired certificate or a key
// that does not belong to the certificate.
function checkKeyPair(certPem: string, keyPem: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw new CertificateError("server certificate", "not a parsable X.509 PEM certificate", {
      cause: err,
    });
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new CertificateError("server key", "not a parsable PEM private key", { cause: err });
  }
  if (!cert.checkPrivateKey(key)) {
    throw new CertificateError(
      "server certificate or key",
      "the key does not match the certificate",
    );
  }
  if (Date.parse(cert.validTo) < Date.now()) {
    throw new CertificateError("server certificate", `expired on ${cert.validTo}`);
  }
}

// A stale socket file from a crashed server is removed; a live one means the address is in use.
async function prepareSocketPath(path: string, display: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) {
    throw new SocketPathError(path, "a file that is not a socket is in the way");
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (live) throw new AddressInUseError(display);
  try {
    unlinkSync(path);
  } catch (err) {
    throw listenError(display, path, err);
  }
}

function startPinging(
  sessions: Set<http2.ServerHttp2Session>,
  keepalive: { intervalMs: number; timeoutMs?: number },
): ReturnType<typeof setInterval> {
  const timeoutMs = keepalive.timeoutMs ?? 20_000;
  const timer = setInterval(() => {
    for (const session of sessions) {
      if (session.closed || session.destroyed) continue;
      const deadline = setTimeout(() => session.destroy(), timeoutMs);
      const sent = session.ping((err) => {
        clearTimeout(deadline);
        if (err) session.destroy();
      });
      if (!sent) clearTimeout(deadline);
    }
  }, keepalive.intervalMs);
  timer.unref?.();
  return timer;
}

// A wait that does not keep the process alive once everything else is done.
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}
