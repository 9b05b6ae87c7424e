// An exporter registered with a controller (`jmp-exporter run NAME`): serves its drivers on a
// private Unix socket (for its hooks), registers, follows its Status stream, and while leased
// answers each Listen message by handing a router stream to that server as a connection. It
// reconnects with capped, jittered backoff whenever the controller is away, and keeps a lease's
// connections across such gaps.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ConfigError, type ExporterConfig } from "../config/mod.ts";
import { ControllerService, ExporterStatus, LogSource } from "../proto/mod.ts";
import {
  byteStreamDuplex,
  type Channel,
  endpointChannel,
  type GrpcServer,
  openByteStream,
  serve,
} from "../transport/mod.ts";
import { NAME_LABEL } from "../drivers/framework/mod.ts";
import { buildDriverTree } from "./driver_tree.ts";
import { type LogEntry, LogHub } from "./log_hub.ts";
import { LeaseLifecycle } from "./lease_lifecycle.ts";
import { Session } from "./session.ts";
import { VERSION } from "../config/version.ts";

/** Options of a registered exporter. */
export interface RegisteredExporterOptions {
  /** Stops the exporter (it reports itself offline and unregisters). */
  signal: AbortSignal;
  onLog?: (entry: LogEntry) => void;
  /** Told about connection state changes, for the log. */
  onState?: (message: string) => void;
  /** First and largest wait between reconnection attempts (default 0.5 s and 4 s). */
  backoff?: { initialMs: number; maxMs: number };
  /** A folder holding `j`, put first on the hooks' PATH. */
  binDir?: string;
}

/** Upstream's metadata for exporter calls to the controller. */
function credentials(config: ExporterConfig): Record<string, string> {
  return {
    authorization: `Bearer ${config.token}`,
    "jumpstarter-kind": "Exporter",
    "jumpstarter-namespace": config.metadata.namespace ?? "default",
    "jumpstarter-name": config.metadata.name,
    "x-jumpstarter-version": VERSION,
  };
}

/** The next wait of a capped exponential backoff, jittered between half and all of the ceiling. */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * Runs until `options.signal` aborts. Fails at once (before any retry) only for what retrying
 * cannot fix: a config without endpoint or token, drivers that do not build.
 */
export async function runRegisteredExporter(
  config: ExporterConfig,
  options: RegisteredExporterOptions,
): Promise<void> {
  for (const field of ["endpoint", "token"] as const) {
    if (!config[field]) {
      throw new ConfigError(config.file, field, "needed to register with a controller");
    }
  }
  const logs = new LogHub(options.onLog);
  const tree = await buildDriverTree(config, logs);
  const session = new Session(tree, logs, {
    labels: { [NAME_LABEL]: config.metadata.name },
    motd: config.motd,
    status: ExporterStatus.AVAILABLE,
  });
  const dir = mkdtempSync(join(tmpdir(), "jmp-exporter-"));
  const socket = join(dir, "session.sock");
  const server = await serve({
    address: `unix:${socket}`,
    routes: session.routes,
    byteStream: session.byteStream,
    unary: session.unary,
    maxMessageBytes: 64 * 1024 * 1024,
    socketMode: 0o600,
  });
  const channel = endpointChannel(config.endpoint!, config.tls, {
    grpcOptions: config.grpcOptions,
  });
  const link = new ControllerLink(config, session, { socket, server }, channel, options);
  try {
    await link.run();
    if (link.exitReason) throw new Error(link.exitReason);
  } finally {
    await link.shutdown();
    channel.close();
    await server.close({ graceMs: 500 });
    await tree.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// One exporter's conversation with its controller.
class ControllerLink {
  readonly #config: ExporterConfig;
  readonly #session: Session;
  /** Serves the session: each router stream becomes one of its connections. */
  readonly #server: GrpcServer;
  readonly #channel: Channel;
  readonly #options: RegisteredExporterOptions;
  readonly #client;
  readonly #headers: Record<string, string>;
  /** The lease whose Listen stream and tunnels run, with what stops them. */
  #listening: { name: string; stop: AbortController } | undefined;
  readonly #lifecycle: LeaseLifecycle;
  /** Set when a hook with `onFailure: exit` failed: why the exporter stops. */
  exitReason: string | undefined;
  readonly #stopped = new AbortController();

  constructor(
    config: ExporterConfig,
    session: Session,
    { socket, server }: { socket: string; server: GrpcServer },
    channel: Channel,
    options: RegisteredExporterOptions,
  ) {
    this.#config = config;
    this.#session = session;
    this.#server = server;
    this.#channel = channel;
    this.#options = options;
    this.#client = createClient(ControllerService, channel.transport);
    this.#headers = credentials(config);
    const root = session.tree.root.uuid;
    this.#lifecycle = new LeaseLifecycle({
      hooks: config.hooks,
      socket,
      binDir: options.binDir,
      setStatus: async (status, message) => {
        session.setStatus(status, message);
        await this.#client.reportStatus({ status, message }, {
          headers: this.#headers,
          timeoutMs: 5000,
        }).catch(() => {/* told again on the next registration */});
      },
      hookLog: (hook) =>
        session.logs.logFor(
          root,
          hook,
          hook === "beforeLease" ? LogSource.BEFORE_LEASE_HOOK : LogSource.AFTER_LEASE_HOOK,
        ),
      releaseLease: async (name) => {
        await this.#client.releaseLease({ name }, { headers: this.#headers, timeoutMs: 5000 });
      },
      exit: (_code, reason) => {
        this.exitReason = reason;
        this.#stopped.abort();
      },
      onLeaseBegins: () => session.logs.clearHookLines(),
    });
  }

  async run(): Promise<void> {
    // A cap of seconds, not minutes: a restarted controller should see its exporters within
    // seconds however long it was away; the jitter keeps them from all reconnecting at once.
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 500, maxMs: 4000 };
    const signal = AbortSignal.any([this.#options.signal, this.#stopped.signal]);
    for (let attempt = 0; !signal.aborted;) {
      try {
        await this.#register();
        attempt = 0;
        await this.#follow();
      } catch (err) {
        if (signal.aborted) break;
        if (isPermanent(err)) {
          throw new Error(`the controller refused this exporter: ${message(err)}`);
        }
        const wait = backoffDelay(attempt++, initialMs, maxMs);
        this.#state(
          `controller unreachable (${message(err)}); retrying in ${(wait / 1000).toFixed(1)} s`,
        );
        await sleep(wait, signal);
      }
    }
  }

  /** Reports the exporter offline and unregisters; best effort, the controller may be gone. */
  async shutdown(): Promise<void> {
    this.#stopListening();
    await this.#lifecycle.end();
    const opts = { headers: this.#headers, timeoutMs: 2000 };
    await this.#client.reportStatus(
      { status: ExporterStatus.OFFLINE, message: "Exporter shutting down" },
      opts,
    ).catch(() => {});
    await this.#client.unregister({ reason: "Exporter shutdown" }, opts).catch(() => {});
  }

  async #register(): Promise<void> {
    const opts = { headers: this.#headers, signal: this.#options.signal };
    await this.#client.register({
      labels: { [NAME_LABEL]: this.#config.metadata.name },
      reports: this.#session.tree.reports(),
    }, opts);
    await this.#reportStatus();
    this.#state("registered with the controller");
  }

  #reportStatus(): Promise<unknown> {
    return this.#client.reportStatus({
      status: this.#session.status,
      message: this.#lifecycle.lease ? "Ready for commands" : "Available for new lease",
    }, { headers: this.#headers, signal: this.#options.signal });
  }

  // Follows the Status stream until it ends; an end is an error, so that run() reconnects. A
  // controller that comes back mid-lease says "leased" for the same lease: nothing restarts.
  async #follow(): Promise<void> {
    const stream = this.#client.status({}, {
      headers: this.#headers,
      signal: AbortSignal.any([this.#options.signal, this.#stopped.signal]),
    });
    for await (const status of stream) {
      if (status.leased && status.leaseName) {
        if (status.leaseName !== this.#listening?.name) {
          this.#stopListening();
          this.#state(`lease ${status.leaseName} begins (client ${status.clientName ?? "?"})`);
          const stop = new AbortController();
          this.#listening = { name: status.leaseName, stop };
          this.#listen(status.leaseName, stop.signal).catch(() => {});
        }
        this.#lifecycle.begin(status.leaseName, status.clientName ?? "").catch(() => {});
      } else if (!status.leased && this.#lifecycle.lease) {
        this.#state(`lease ${this.#lifecycle.lease} ends`);
        this.#stopListening();
        this.#lifecycle.end().catch(() => {});
      }
    }
    throw new Error("the controller ended the status stream");
  }

  #stopListening(): void {
    this.#listening?.stop.abort();
    this.#listening = undefined;
  }

  // Keeps the lease's Listen stream open (reopening it after a controller gap) and connects
  // the router for each message.
  async #listen(lease: string, signal: AbortSignal): Promise<void> {
    for (let attempt = 0; !signal.aborted;) {
      try {
        const stream = this.#client.listen({ leaseName: lease }, {
          headers: this.#headers,
          signal,
        });
        for await (const dial of stream) {
          attempt = 0;
          this.#tunnel(dial.routerEndpoint, dial.routerToken, signal).catch((err) =>
            this.#state(`a connection of lease ${lease} failed: ${message(err)}`)
          );
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ConnectError && err.code === Code.FailedPrecondition) return;
      }
      await sleep(backoffDelay(attempt++, 200, 5000), signal);
    }
  }

  // One client connection: a router stream served by the session server.
  async #tunnel(endpoint: string, token: string, signal: AbortSignal): Promise<void> {
    const router = endpointChannel(endpoint, this.#config.tls, {
      grpcOptions: this.#config.grpcOptions,
    });
    try {
      const call = await openByteStream(router, {
        metadata: { authorization: `Bearer ${token}` },
        signal,
      });
      // The stream is a connection of the session server itself: no socket hop in between.
      const connection = byteStreamDuplex(call.stream);
      const onAbort = () => connection.destroy(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      try {
        this.#server.accept(connection);
        await new Promise<void>((resolve, reject) => {
          connection.once(
            "close",
            () => connection.errored ? reject(connection.errored) : resolve(),
          );
        });
      } finally {
        signal.removeEventListener("abort", onAbort);
      }
      await call.done.catch(() => {});
    } finally {
      router.close();
    }
  }

  #state(message: string): void {
    this.#options.onState?.(message);
  }
}

// Errors no retry can fix: the controller does not know or accept this exporter.
function isPermanent(err: unknown): boolean {
  return err instanceof ConnectError &&
    [Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument].includes(err.code);
}

function message(err: unknown): string {
  return err instanceof ConnectError
    ? err.rawMessage
    : err instanceof Error
    ? err.message
    : String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
