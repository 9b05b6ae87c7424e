// Owns the HTTP/2 connection of a channel: dials lazily, redials after the connection is lost,
// widens flow-control windows, and runs keepalive pings. connect-es calls and byte streams both
// open their streams here.

import * as http2 from "node:http2";
import type * as net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { FLOW_CONTROL_SETTINGS, widenConnectionWindow } from "./flow_control.ts";

/** Keepalive: ping every `intervalMs`, drop the connection if no answer within `timeoutMs`. */
export interface KeepaliveOptions {
  intervalMs: number;
  timeoutMs?: number;
}

/** How the session dials. */
export interface ClientSessionOptions {
  /** Opens the byte connection (TCP, TLS or Unix socket) a session runs on. */
  dial: () => net.Socket;
  keepalive?: KeepaliveOptions;
  /** Gives up dialling after this long (default 20 s). */
  connectTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
const DEFAULT_PING_TIMEOUT_MS = 20_000;

/** Raised when dialling takes longer than the connect timeout. */
class DialTimeoutError extends Error {
  readonly code = "ETIMEDOUT";
}

/**
 * One HTTP/2 connection at a time to `authority`, replaced on demand when it closes.
 *
 * @example
 * ```ts
 * const session = new ClientSession("http://localhost", { nodeOptions: {} });
 * const stream = await session.request("POST", "/svc/Method", {}, {});
 * session.close();
 * ```
 */
export class ClientSession {
  readonly authority: string;
  readonly #options: ClientSessionOptions;
  #current: Promise<http2.ClientHttp2Session> | undefined;
  #socket: net.Socket | undefined;
  #closed = false;
  readonly #forgetters = new WeakMap<http2.ClientHttp2Session, () => void>();

  constructor(authority: string, options: ClientSessionOptions) {
    this.authority = authority;
    this.#options = options;
  }

  /** Returns the open connection, dialling if there is none. Rejects with the dial error. */
  connect(): Promise<http2.ClientHttp2Session> {
    if (this.#closed) {
      return Promise.reject(new ConnectError("channel closed", Code.Canceled));
    }
    this.#current ??= this.#dial();
    return this.#current;
  }

  /** Opens a stream on the connection (the interface connect-es calls). */
  async request(
    method: string,
    path: string,
    headers: http2.OutgoingHttpHeaders,
    options: Omit<http2.ClientSessionRequestOptions, "signal">,
  ): Promise<http2.ClientHttp2Stream> {
    for (let attempt = 0;; attempt++) {
      const session = await this.connect();
      try {
        return session.request({ ...headers, ":method": method, ":path": path }, options);
      } catch (err) {
        // The connection may close, or be told to go away, between dialling and opening the
        // stream: redial once.
        const goingAway = (err as { code?: string }).code === "ERR_HTTP2_GOAWAY_SESSION";
        if (attempt > 0 || !(session.closed || session.destroyed || goingAway)) throw err;
        if (goingAway) this.#forgetters.get(session)?.();
      }
    }
  }

  /** Keepalive bookkeeping hook of the interface; pings run on their own timer here. */
  notifyResponseByteRead(_stream: http2.ClientHttp2Stream): void {}

  /** Closes the connection and refuses new requests. */
  close(): void {
    this.#closed = true;
    const current = this.#current;
    this.#current = undefined;
    // Closing the socket ourselves skips the GOAWAY frame: Deno 2.9's nghttp2 binding can abort
    // the *server* process while it processes a GOAWAY (denoland/deno#36788), and a client that
    // is leaving has nothing to negotiate anyway.
    this.#socket?.destroy();
    this.#socket = undefined;
    current?.then((session) => session.destroy(), () => {});
  }

  #dial(): Promise<http2.ClientHttp2Session> {
    const socket = this.#options.dial();
    socket.on("error", () => {}); // reported through the session
    this.#socket = socket;
    const session = http2.connect(this.authority, {
      createConnection: () => socket,
      settings: FLOW_CONTROL_SETTINGS,
    });
    // Errors also surface on the streams that use the session; this listener only keeps an
    // error that arrives with no stream open from crashing the process.
    session.on("error", () => {});
    const forget = () => {
      if (this.#current === dialled) this.#current = undefined;
    };
    this.#forgetters.set(session, forget);
    session.once("close", forget);
    session.once("goaway", forget);
    const dialled = new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const timeoutMs = this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      const timer = setTimeout(() => {
        const err = new DialTimeoutError(`no connection within ${timeoutMs} ms`);
        session.destroy(err);
        reject(err);
      }, timeoutMs);
      session.once("connect", () => {
        clearTimeout(timer);
        widenConnectionWindow(session);
        if (this.#options.keepalive) startKeepalive(session, this.#options.keepalive);
        resolve(session);
      });
      session.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
      session.once("close", () => {
        clearTimeout(timer);
        reject(new ConnectError("connection closed while dialling", Code.Unavailable));
      });
    });
    dialled.catch(forget);
    return dialled;
  }
}

function startKeepalive(session: http2.ClientHttp2Session, keepalive: KeepaliveOptions): void {
  const timeoutMs = keepalive.timeoutMs ?? DEFAULT_PING_TIMEOUT_MS;
  const timer = setInterval(() => {
    if (session.closed || session.destroyed) return;
    const deadline = setTimeout(() => {
      session.destroy(new ConnectError("keepalive ping timed out", Code.Unavailable));
    }, timeoutMs);
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      if (err && !session.destroyed) session.destroy(err);
    });
    if (!sent) clearTimeout(deadline);
  }, keepalive.intervalMs);
  // Pings alone must not keep a process alive.
  timer.unref?.();
  session.once("close", () => clearInterval(timer));
}
