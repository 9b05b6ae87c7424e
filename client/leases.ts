// Leases through a controller, as upstream's client takes them: ClientService CreateLease, wait
// for Ready, then for each connection to the exporter Dial and a router stream, served to local
// code as a Unix socket (so `j`, scripts and the library connect exactly as in local mode).

import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { durationFromMs, durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import type { ClientConfig } from "../config/mod.ts";
import { VERSION } from "../config/version.ts";
import {
  clientv1,
  ControllerService,
  ExporterService,
  ExporterStatus,
  LogSource,
  SESSION_GRACE_KEY,
} from "../proto/mod.ts";
import {
  answerTrailersOnly,
  type Channel,
  createChannel,
  endpointChannel,
  openByteStream,
  pipeDuplex,
} from "../transport/mod.ts";

/** A lease as the client sees it. */
export interface LeaseInfo {
  name: string;
  selector: string;
  client: string;
  exporter?: string;
  /** Ready (granted), Pending, or ended with a reason (Released, Expired, ...). */
  state: string;
  message: string;
  durationMs: number;
  beginTime?: number;
  endTime?: number;
}

/** A lease that cannot be had (no such exporter, not allowed, ended). */
export class LeaseError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "LeaseError";
  }
}

/** What a client needs to talk to its controller. */
export class ControllerConnection implements Disposable {
  readonly config: ClientConfig;
  readonly channel: Channel;
  readonly headers: Record<string, string>;
  readonly clients;
  readonly controller;
  readonly parent: string;

  constructor(config: ClientConfig) {
    if (!config.endpoint) {
      throw new LeaseError(
        `client config ${config.alias}: no endpoint; set one with jmp config client`,
      );
    }
    if (!config.token) throw new LeaseError(`client config ${config.alias}: no token`);
    this.config = config;
    this.channel = endpointChannel(config.endpoint, config.tls, {
      grpcOptions: config.grpcOptions,
    });
    this.clients = createClient(clientv1.ClientService, this.channel.transport);
    this.controller = createClient(ControllerService, this.channel.transport);
    this.headers = {
      authorization: `Bearer ${config.token}`,
      "jumpstarter-kind": "Client",
      "jumpstarter-namespace": config.metadata.namespace,
      "jumpstarter-name": config.metadata.name,
      "x-jumpstarter-version": VERSION,
    };
    this.parent = `namespaces/${config.metadata.namespace}`;
  }

  /** Asks for a lease; returns its name at once (it may still be pending). */
  async createLease(request: {
    selector?: string;
    exporterName?: string;
    durationMs: number;
    /**
     * Seconds the controller keeps the lease once this client stops asking about it (a session
     * that died): released then. Without it the lease lasts its duration whatever happens.
     */
    sessionGraceSeconds?: number;
  }): Promise<LeaseInfo> {
    const lease = await this.clients.createLease({
      parent: this.parent,
      lease: {
        selector: request.selector ?? "",
        exporterName: request.exporterName,
        duration: durationFromMs(request.durationMs),
        context: request.sessionGraceSeconds
          ? { [SESSION_GRACE_KEY]: String(request.sessionGraceSeconds) }
          : {},
      },
    }, { headers: this.headers });
    return leaseInfo(lease);
  }

  /** The lease called `name`. */
  async getLease(name: string): Promise<LeaseInfo> {
    return leaseInfo(
      await this.clients.getLease({ name: `${this.parent}/leases/${name}` }, {
        headers: this.headers,
      }),
    );
  }

  /** Leases of the namespace (active ones unless `all`). */
  async listLeases(options: { all?: boolean } = {}): Promise<LeaseInfo[]> {
    const answer = await this.clients.listLeases({
      parent: this.parent,
      onlyActive: !options.all,
    }, { headers: this.headers });
    return answer.leases.map(leaseInfo);
  }

  /** Ends the lease `name`. */
  async releaseLease(name: string): Promise<void> {
    await this.clients.deleteLease({ name: `${this.parent}/leases/${name}` }, {
      headers: this.headers,
    });
  }

  /** Sets a lease's duration (counted from its start). */
  async updateLease(name: string, durationMs: number): Promise<LeaseInfo> {
    return leaseInfo(
      await this.clients.updateLease({
        lease: { name: `${this.parent}/leases/${name}`, duration: durationFromMs(durationMs) },
      }, { headers: this.headers }),
    );
  }

  /** Exporters of the namespace, optionally filtered by a selector. */
  async listExporters(selector = "") {
    const answer = await this.clients.listExporters({ parent: this.parent, filter: selector }, {
      headers: this.headers,
    });
    return answer.exporters.map((e) => ({
      name: e.name.split("/").pop()!,
      labels: e.labels,
      online: e.online,
      status: e.status,
      statusMessage: e.statusMessage,
    }));
  }

  /**
   * Waits until lease `name` is granted; `onWait` sees each new reason it is still pending
   * for (with the queue position). Fails with LeaseError when it ends or cannot be had, and
   * when `timeoutMs` passes.
   */
  async waitForLease(
    name: string,
    options: { timeoutMs: number; signal?: AbortSignal; onWait?: (message: string) => void },
  ): Promise<LeaseInfo> {
    const deadline = Date.now() + options.timeoutMs;
    let last = "";
    while (true) {
      const lease = await this.getLease(name);
      if (lease.state === "Ready") return lease;
      if (lease.state !== "Pending") {
        throw new LeaseError(`lease ${name} cannot be had: ${lease.message || lease.state}`);
      }
      if (lease.message !== last) options.onWait?.(last = lease.message);
      if (Date.now() >= deadline) {
        throw new LeaseError(
          `no exporter became free within ${seconds(options.timeoutMs)} ` +
            `(lease ${name}: ${lease.message})`,
        );
      }
      if (options.signal?.aborted) throw new LeaseError("cancelled while waiting for the lease");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /**
   * Serves lease `name` on a local Unix socket: each connection to it becomes a Dial and a
   * router stream to the exporter.
   */
  async openTunnel(name: string): Promise<LeaseTunnel> {
    return await LeaseTunnel.open(this, name);
  }

  [Symbol.dispose](): void {
    this.channel.close();
  }
}

/**
 * Waits until the exporter behind `address` (a lease's tunnel socket) is ready for commands,
 * showing its lease hook output meanwhile: a lease is granted before its beforeLease hook has
 * prepared the board. Fails when the hook fails the lease, or after `timeoutMs`. Exporters
 * that report no status (older ones) count as ready.
 */
export async function waitUntilReady(
  address: string,
  options: { timeoutMs: number; onHookLine?: (hook: string, line: string) => void },
): Promise<void> {
  const channel = createChannel(address, { tls: false });
  const stop = new AbortController();
  try {
    const service = createClient(ExporterService, channel.transport);
    const showing = (async () => {
      for await (const entry of service.logStream({}, { signal: stop.signal })) {
        const hook = HOOK_NAMES.get(entry.source ?? LogSource.UNSPECIFIED);
        if (hook) options.onHookLine?.(hook, entry.message);
      }
    })();
    showing.catch(() => {/* best effort: the status decides */});
    const deadline = Date.now() + options.timeoutMs;
    while (true) {
      let status: ExporterStatus;
      try {
        status = (await service.getStatus({})).status;
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.Unimplemented) return;
        throw err;
      }
      if (status === ExporterStatus.LEASE_READY) return;
      if (Date.now() >= deadline) {
        throw new LeaseError(
          `the exporter was not ready within ${seconds(options.timeoutMs)} ` +
            `(status ${ExporterStatus[status]})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    stop.abort();
    channel.close();
  }
}

const HOOK_NAMES = new Map([
  [LogSource.BEFORE_LEASE_HOOK, "beforeLease"],
  [LogSource.AFTER_LEASE_HOOK, "afterLease"],
]);

/** A local socket whose connections reach a leased exporter through the router. */
export class LeaseTunnel implements AsyncDisposable {
  readonly socket: string;
  readonly #server: net.Server;
  readonly #dir: string;
  readonly #connections = new Set<net.Socket>();
  readonly #stop = new AbortController();
  /** The latest failure of a connection (e.g. the exporter is offline), for the user. */
  lastError: string | undefined;

  private constructor(server: net.Server, dir: string, socket: string) {
    this.#server = server;
    this.#dir = dir;
    this.socket = socket;
  }

  static async open(connection: ControllerConnection, lease: string): Promise<LeaseTunnel> {
    const dir = mkdtempSync(join(tmpdir(), "jmp-lease-"));
    const socket = join(dir, "exporter.sock");
    const server = net.createServer();
    const tunnel = new LeaseTunnel(server, dir, socket);
    server.on("connection", (local) => tunnel.#carry(connection, lease, local));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socket, () => resolve());
    });
    return tunnel;
  }

  async #carry(connection: ControllerConnection, lease: string, local: net.Socket) {
    this.#connections.add(local);
    local.on("error", () => {});
    let dial;
    try {
      dial = await dialWithRetry(connection, lease, this.#stop.signal);
    } catch (err) {
      // Whoever connected gets the reason as a gRPC error, not a dropped connection.
      this.lastError = err instanceof ConnectError ? err.rawMessage : String(err);
      refuseCalls(local, err instanceof ConnectError ? err.code : Code.Unavailable, this.lastError);
      this.#connections.delete(local);
      return;
    }
    const router = endpointChannel(dial.routerEndpoint, connection.config.tls, {
      grpcOptions: connection.config.grpcOptions,
    });
    try {
      const call = await openByteStream(router, {
        metadata: { authorization: `Bearer ${dial.routerToken}` },
        signal: this.#stop.signal,
      });
      await pipeDuplex(call.stream, local, { signal: this.#stop.signal });
      await call.done;
    } catch (err) {
      this.lastError = err instanceof ConnectError ? err.rawMessage : String(err);
      local.destroy();
    } finally {
      router.close();
      this.#connections.delete(local);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop.abort();
    for (const c of this.#connections) c.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.#dir, { recursive: true, force: true });
  }
}

// Serves HTTP/2 on `socket` answering every call with `code` and `message`, then closes.
function refuseCalls(socket: net.Socket, code: Code, message: string): void {
  const server = http2.createServer((_req, res) => {
    answerTrailersOnly(res, new ConnectError(message, code));
  });
  server.emit("connection", socket);
  socket.once("close", () => server.close());
}

// Dial, retried while the exporter is getting ready (upstream: 0.3 s to 2 s, up to the dial
// timeout).
async function dialWithRetry(connection: ControllerConnection, lease: string, signal: AbortSignal) {
  const deadline = Date.now() + connection.config.leases.dialTimeout * 1000;
  for (let wait = 300;; wait = Math.min(wait * 2, 2000)) {
    try {
      return await connection.controller.dial({ leaseName: lease }, {
        headers: connection.headers,
        signal,
      });
    } catch (err) {
      const retry = err instanceof ConnectError &&
        (err.code === Code.Unavailable ||
          (err.code === Code.FailedPrecondition && /not ready/.test(err.rawMessage)));
      if (!retry || Date.now() + wait > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

function leaseInfo(lease: clientv1.Lease): LeaseInfo {
  const ready = lease.conditions.find((c) => c.type === "Ready");
  const pending = lease.conditions.find((c) => c.type === "Pending" && c.status === "True");
  const failed = lease.conditions.find((c) =>
    (c.type === "Unsatisfiable" || c.type === "Invalid") && c.status === "True"
  );
  const state = ready?.status === "True"
    ? "Ready"
    : failed
    ? failed.reason ?? failed.type ?? "Ended"
    : ready?.status === "False"
    ? ready.reason ?? "Ended"
    : "Pending";
  const why = ready?.status === "True"
    ? ready
    : failed ?? (ready?.status === "False" ? ready : pending);
  return {
    name: lease.name.split("/").pop()!,
    selector: lease.selector,
    client: (lease.client ?? "").split("/").pop()!,
    exporter: lease.exporter?.split("/").pop(),
    state,
    message: why?.message ?? "",
    durationMs: lease.duration ? durationMs(lease.duration) : 0,
    beginTime: lease.effectiveBeginTime ? timestampMs(lease.effectiveBeginTime) : undefined,
    endTime: lease.effectiveEndTime ? timestampMs(lease.effectiveEndTime) : undefined,
  };
}
