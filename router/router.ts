// RouterService.Stream between a client and an exporter: both present the same router token; the
// first stream waits for its partner, then frames are copied both ways until each side has said
// it is done. The payload is an inner HTTP/2 connection, so nothing here decodes it.

import { Code, ConnectError } from "@connectrpc/connect";
import { type ByteStream, type ByteStreamCall, FrameType } from "../transport/mod.ts";

/** What a verified router token says. */
export interface RouterGrant {
  streamId: string;
  namespace: string;
  lease: string;
  expiresAt: number;
}

/** Options of a router. */
export interface RouterOptions {
  /** Verifies a router token; throws (any error) when it is not acceptable. */
  verify(token: string): Promise<RouterGrant>;
  /** How long a stream waits for its partner (default 60 s): probe dials never get one. */
  pairTimeoutMs?: number;
}

interface Waiting {
  call: ByteStreamCall;
  /** `namespace/lease` of its token. */
  lease: string;
  /** Hands the waiting side the splice its partner started (boxed: not a thenable). */
  paired: (splice: { done: Promise<void> }) => void;
  /** Ends the wait with `reason`. */
  cut: (reason: ConnectError) => void;
}

/**
 * Pairs and splices router streams.
 *
 * @example
 * ```ts
 * const router = new Router({ verify: (t) => issuer.verifyRouterToken(t) });
 * await serve({ address, routes: () => {}, byteStream: router.handle });
 * ```
 */
export class Router {
  readonly #options: RouterOptions;
  readonly #waiting = new Map<string, Waiting>();
  /** Stream ids already paired: a token pairs once. */
  readonly #used = new Set<string>();
  /** Open pairs by lease, so that a lease's end can cut them. */
  readonly #byLease = new Map<string, Set<AbortController>>();

  constructor(options: RouterOptions) {
    this.#options = options;
  }

  /** The byte-stream handler to serve. */
  readonly handle = async (call: ByteStreamCall): Promise<void> => {
    const grant = await this.#authenticate(call);
    const waiting = this.#waiting.get(grant.streamId);
    if (waiting) {
      this.#waiting.delete(grant.streamId);
      this.#used.add(grant.streamId);
      const done = this.#splice(waiting.call, call, grant);
      waiting.paired({ done });
      return await done;
    }
    if (this.#used.has(grant.streamId)) {
      throw new ConnectError("this router token was already used", Code.PermissionDenied);
    }
    const splice = await this.#waitForPartner(call, grant);
    await splice.done;
  };

  /** Number of streams waiting for their partner (for metrics). */
  get waitingCount(): number {
    return this.#waiting.size;
  }

  /** Cuts every open stream of lease `namespace/lease` (it ended), paired or waiting. */
  cutLease(namespace: string, lease: string): void {
    const key = `${namespace}/${lease}`;
    const reason = () => new ConnectError(`lease ${lease} has ended`, Code.Unavailable);
    for (const cut of this.#byLease.get(key) ?? []) cut.abort(reason());
    // A waiting stream would otherwise stay until its pair timeout, open to the lease's token
    // while its exporter may already serve the next lease.
    for (const waiting of [...this.#waiting.values()]) {
      if (waiting.lease === key) waiting.cut(reason());
    }
  }

  async #authenticate(call: ByteStreamCall): Promise<RouterGrant> {
    const header = call.metadata.get("authorization") ?? "";
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    if (!token) {
      throw new ConnectError(
        "missing router token (authorization: Bearer ...)",
        Code.Unauthenticated,
      );
    }
    let grant: RouterGrant;
    try {
      grant = await this.#options.verify(token);
    } catch (err) {
      throw new ConnectError(
        `router token refused: ${err instanceof Error ? err.message : err}`,
        Code.Unauthenticated,
      );
    }
    return grant;
  }

  #waitForPartner(
    call: ByteStreamCall,
    grant: RouterGrant,
  ): Promise<{ done: Promise<void> }> {
    return new Promise((resolve, reject) => {
      const timeoutMs = Math.min(
        this.#options.pairTimeoutMs ?? 60_000,
        Math.max(0, grant.expiresAt - Date.now()),
      );
      const done = () => {
        clearTimeout(timer);
        call.signal.removeEventListener("abort", onAbort);
        if (this.#waiting.get(grant.streamId)?.call === call) this.#waiting.delete(grant.streamId);
      };
      const timer = setTimeout(() => {
        done();
        reject(new ConnectError("no partner arrived for this stream", Code.DeadlineExceeded));
      }, timeoutMs);
      const onAbort = () => {
        done();
        reject(call.signal.reason);
      };
      call.signal.addEventListener("abort", onAbort, { once: true });
      this.#waiting.set(grant.streamId, {
        call,
        lease: `${grant.namespace}/${grant.lease}`,
        paired: (splice) => {
          done();
          resolve(splice);
        },
        cut: (reason) => {
          done();
          reject(reason);
        },
      });
    });
  }

  // Copies frames both ways. Each direction ends when its sender says GOAWAY or ends its side;
  // the receiver is then told GOAWAY. A side that goes away (or a lease that ends) cuts both.
  async #splice(a: ByteStreamCall, b: ByteStreamCall, grant: RouterGrant): Promise<void> {
    const key = `${grant.namespace}/${grant.lease}`;
    const cut = new AbortController();
    const cuts = this.#byLease.get(key) ?? new Set();
    cuts.add(cut);
    this.#byLease.set(key, cuts);
    for (const side of [a, b]) {
      side.signal.addEventListener("abort", () => cut.abort(side.signal.reason), { once: true });
    }
    const stopped = new Promise<never>((_, reject) =>
      cut.signal.addEventListener("abort", () => reject(cut.signal.reason), { once: true })
    );
    stopped.catch(() => {}); // a cut after both directions finished changes nothing
    try {
      await Promise.race([
        Promise.all([pump(a.stream, b.stream), pump(b.stream, a.stream)]),
        stopped,
      ]);
    } catch (err) {
      throw err instanceof ConnectError ? err : new ConnectError(String(err), Code.Unavailable);
    } finally {
      cuts.delete(cut);
      if (cuts.size === 0) this.#byLease.delete(key);
    }
  }
}

// One direction: every message from `from` to `to` as it came (not decoded beyond its frame
// type, not copied), until GOAWAY or the end of `from`'s side.
async function pump(from: ByteStream, to: ByteStream): Promise<void> {
  for await (const message of from.encodedMessages()) {
    if (message.frameType === FrameType.GOAWAY) break;
    await to.sendEncoded(message.body);
  }
  await to.close();
}
