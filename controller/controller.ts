// The controller: ControllerService for exporters (Register, Status, Listen, ReportStatus) and
// legacy clients, ClientService for today's clients (leases and exporters as resources), and the
// glue that turns lease events into Status and Listen messages and cuts router streams.

import { create } from "@bufbuild/protobuf";
import { durationMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import {
  clientv1,
  ControllerService,
  type ListenResponse,
  ListenResponseSchema,
  SESSION_GRACE_KEY,
  type StatusResponse,
  StatusResponseSchema,
} from "../proto/mod.ts";
import { authenticate, type Caller } from "./auth.ts";
import { uuidv7 } from "./ids.ts";
import { type LeaseEvent, LeaseScheduler, plannedEnd } from "./lease_scheduler.ts";
import { longestAllowedMs } from "./access_policy.ts";
import { Mailbox } from "./mailbox.ts";
import { GrantLatency } from "./metrics.ts";
import {
  exporterResource,
  leaseResource,
  legacyLease,
  parseParent,
  parseResourceName,
  statusName,
} from "./resource_view.ts";
import { matchesSelector, normalizeSelector, parseSelector, SelectorError } from "./selector.ts";
import {
  AlreadyExistsError,
  type ExporterRecord,
  type LabelSelector,
  type LeaseRecord,
  NotFoundError,
  type Store,
} from "./store/mod.ts";
import type { OidcVerifier, TokenIssuer } from "./tokens.ts";
import { VERSION } from "../config/version.ts";
import { VERSION_HEADER, versionProblem } from "./version_check.ts";

/** Label keys an exporter may set about itself when it registers (upstream's rule). */
const SELF_LABEL_PREFIX = "jumpstarter.dev/";
/** How often an open Status stream refreshes the exporter's last-seen time. */
const HEARTBEAT_MS = 10_000;
/** How long Dial waits for the exporter to be ready for a just-granted lease. */
const DIAL_WAIT_MS = 30_000;
/** Pending Listen messages per lease (upstream: 8). */
const LISTEN_QUEUE = 8;

/** Options of a controller. */
export interface ControllerOptions {
  store: Store;
  issuer: TokenIssuer;
  /** The router address clients and exporters are told to use (`host:port`). */
  routerEndpoint: string;
  /** Called when a lease ends, to cut its router streams. */
  onLeaseEnded?: (lease: LeaseRecord) => void;
  /** External OIDC issuers whose tokens identify clients (mapped by user name). */
  oidc?: OidcVerifier[];
  /**
   * Whether this replica schedules leases (the elected leader); always, when absent. With
   * several replicas, `pollMs` makes the leader reconcile and every replica tell its
   * exporters about changes made elsewhere.
   */
  isLeader?: () => boolean;
  pollMs?: number;
  /** Namespaces whose changes the store is watched for (with `pollMs`). */
  watchNamespaces?: string[];
  /** More work for the leader on each round (e.g. credentials for new identities). */
  onLeaderRound?: () => Promise<void>;
  now?: () => number;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * Serves the controller's gRPC services over a store.
 *
 * @example
 * ```ts
 * const controller = new Controller({ store, issuer, routerEndpoint: "lab:8083" });
 * await serve({ address: ":8082", routes: controller.routes });
 * ```
 */
export class Controller {
  readonly store: Store;
  readonly issuer: TokenIssuer;
  readonly scheduler: LeaseScheduler;
  /** How long granted leases waited, for the metrics. */
  readonly grantLatency = new GrantLatency();
  readonly #options: ControllerOptions;
  readonly #now: () => number;
  /** Open Status streams per exporter. */
  readonly #status = new Map<string, Set<Mailbox<StatusResponse>>>();
  /** The Listen stream of each exporter's current lease. */
  readonly #listen = new Map<string, Mailbox<ListenResponse>>();
  /** When each session lease's client was last heard from (ns/lease → ms). */
  readonly #heard = new Map<string, number>();
  /** The lease each connected exporter was last told about ("" for none). */
  readonly #told = new Map<string, string>();
  #poller: ReturnType<typeof setInterval> | undefined;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.store = options.store;
    this.issuer = options.issuer;
    this.#now = options.now ?? Date.now;
    this.scheduler = new LeaseScheduler(options.store, {
      now: this.#now,
      onEvent: (event) => this.#onLeaseEvent(event),
      // With several replicas an exporter's stream may be held by another one: its heartbeat
      // (last seen) is what tells that it is there.
      abandonedAt: (lease) => this.#abandonedAt(lease),
      isConnected: options.pollMs
        ? () => true
        : (exporter) => this.isConnected(exporter.namespace, exporter.name),
    });
    if (options.pollMs) {
      this.#poller = setInterval(() => this.#poll().catch(() => {}), options.pollMs);
      // A store that watches makes changes by other replicas count at once, not at the next poll.
      this.#unwatch = (options.watchNamespaces ?? []).map((namespace) =>
        options.store.watch?.(namespace, () => this.#pollSoon())
      );
    }
  }

  #unwatch: ((() => void) | undefined)[] = [];
  #pollTimer: ReturnType<typeof setTimeout> | undefined;

  /** Applies the rules and tells exporters about changes soon (e.g. on becoming the leader). */
  pollSoon(): void {
    this.#pollSoon();
  }

  // Changes come in bursts (a grant writes two objects): one poll after the burst.
  #pollSoon(): void {
    clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => this.#poll().catch(() => {}), 50);
  }

  // A session lease is abandoned once its client is silent for the grace period. A controller
  // that just started has heard nothing yet: the grace counts from then.
  #abandonedAt(lease: LeaseRecord): { at: number; why: string } | undefined {
    const grace = Number(lease.context[SESSION_GRACE_KEY]);
    if (!(grace > 0)) return undefined;
    const leaseKey = key(lease.namespace, lease.name);
    if (lease.status.ended) {
      this.#heard.delete(leaseKey);
      return undefined;
    }
    const heard = this.#heard.get(leaseKey) ?? this.#now();
    this.#heard.set(leaseKey, heard);
    return {
      at: heard + grace * 1000,
      why: `its client ${lease.client} went away (not heard from for ${grace} s)`,
    };
  }

  // The lease's client is still there (it asked about the lease or dialled it).
  #heardFrom(caller: Caller, lease: LeaseRecord | undefined): void {
    if (lease && caller.kind === "client" && lease.client === caller.name) {
      this.#heard.set(key(lease.namespace, lease.name), this.#now());
    }
  }

  // Only the leader decides; the others' calls are picked up by its next poll.
  #reconcile(namespace: string): Promise<void> {
    return this.#options.isLeader?.() === false
      ? Promise.resolve()
      : this.scheduler.reconcile(namespace);
  }

  // One round of the multi-replica loop: the leader applies the rules, every replica tells its
  // exporters about leases that began or ended elsewhere.
  async #poll(): Promise<void> {
    if (this.#options.isLeader?.() !== false) {
      for (const namespace of await this.store.listNamespaces()) {
        await this.scheduler.reconcile(namespace);
      }
      await this.#options.onLeaderRound?.();
    }
    for (const exporterKey of [...this.#status.keys()]) {
      if (!this.#status.get(exporterKey)?.size) continue;
      const [namespace, name] = exporterKey.split("/");
      const active = await this.store.activeLeaseOf(namespace, name);
      if ((active?.name ?? "") === (this.#told.get(exporterKey) ?? "")) continue;
      const lease = active ?? (await this.store.getLease(namespace, this.#told.get(exporterKey)!));
      if (lease) this.#tellExporter(namespace, name, lease, active !== undefined);
    }
  }

  /** Registers the services on a connect-es router. */
  readonly routes = (router: ConnectRouter): void => {
    router.service(ControllerService, withStoreErrors(this.#controllerService()));
    router.service(clientv1.ClientService, withStoreErrors(this.#clientService()));
  };

  /** Whether the exporter has a Status stream open right now. */
  isConnected(namespace: string, name: string): boolean {
    return (this.#status.get(key(namespace, name))?.size ?? 0) > 0;
  }

  /** Number of exporters with a Status stream open. */
  get connectedCount(): number {
    return [...this.#status.values()].filter((boxes) => boxes.size > 0).length;
  }

  /** Applies the lease rules to every namespace that has leases or exporters. */
  async reconcileAll(namespaces: string[]): Promise<void> {
    for (const namespace of namespaces) await this.#reconcile(namespace);
  }

  /** Stops timers and ends the open streams. */
  close(): void {
    clearInterval(this.#poller);
    clearTimeout(this.#pollTimer);
    for (const stop of this.#unwatch) stop?.();
    this.scheduler.close();
    for (const boxes of this.#status.values()) for (const box of boxes) box.close();
    for (const box of this.#listen.values()) box.close();
  }

  #onLeaseEvent(event: LeaseEvent): void {
    const lease = event.lease;
    const exporter = lease.status.exporter;
    if (!exporter) return;
    if (event.kind === "granted") {
      this.grantLatency.observe(
        Math.max(0, (lease.status.beginTime ?? 0) - lease.createdAt) / 1000,
      );
      this.#tellExporter(lease.namespace, exporter, lease, true);
    } else if (event.kind === "ended") {
      this.#tellExporter(lease.namespace, exporter, lease, false);
      const listenKey = `${key(lease.namespace, exporter)}/${lease.name}`;
      this.#listen.get(listenKey)?.close();
      this.#listen.delete(listenKey);
      this.#options.onLeaseEnded?.(lease);
    }
  }

  #tellExporter(namespace: string, exporter: string, lease: LeaseRecord, leased: boolean): void {
    this.#told.set(key(namespace, exporter), leased ? lease.name : "");
    const message = create(StatusResponseSchema, {
      leased,
      leaseName: leased ? lease.name : undefined,
      clientName: leased ? lease.client : undefined,
      context: leased ? lease.context : {},
    });
    for (const box of this.#status.get(key(namespace, exporter)) ?? []) box.put(message);
  }

  // Authenticates the caller and checks its version: an incompatible exporter is recorded as
  // refused (so listings say why), and either side gets both versions in the error.
  async #auth(ctx: HandlerContext, kind?: "client" | "exporter"): Promise<Caller> {
    ctx.responseHeader.set(VERSION_HEADER, VERSION);
    const caller = await authenticate(
      ctx.requestHeader,
      this.issuer,
      this.store,
      kind,
      this.#options.oidc,
    );
    const problem = versionProblem(caller.kind, ctx.requestHeader.get(VERSION_HEADER), VERSION);
    if (problem) {
      if (caller.kind === "exporter") {
        await this.store.updateExporter(caller.namespace, caller.name, {
          status: "Offline",
          statusMessage: `refused: ${problem}`,
        });
      }
      throw new ConnectError(problem, Code.FailedPrecondition);
    }
    return caller;
  }

  async #ownLease(caller: Caller, name: string): Promise<LeaseRecord> {
    const lease = await this.store.getLease(caller.namespace, name);
    if (!lease) throw new ConnectError(`lease ${name} not found`, Code.NotFound);
    const mine = caller.kind === "client"
      ? lease.client === caller.name
      : lease.status.exporter === caller.name;
    if (!mine) throw new ConnectError("permission denied", Code.PermissionDenied);
    return lease;
  }

  async #release(caller: Caller, name: string): Promise<void> {
    const lease = await this.#ownLease(caller, name);
    if (lease.status.ended || lease.release) {
      throw new ConnectError(`lease ${name} has already ended`, Code.FailedPrecondition);
    }
    await this.store.updateLeaseSpec(caller.namespace, name, { release: true });
    await this.#reconcile(caller.namespace);
  }

  async #createLease(
    caller: Caller,
    spec: {
      name?: string;
      selector: LabelSelector;
      exporterName?: string;
      durationMs?: number;
      beginTime?: number;
      endTime?: number;
      tags?: Record<string, string>;
      context?: Record<string, string>;
      allowDisabled?: boolean;
    },
  ): Promise<LeaseRecord> {
    const times = leaseTimes(spec.durationMs, spec.beginTime, spec.endTime);
    const lease = await this.store.createLease({
      namespace: caller.namespace,
      name: spec.name || uuidv7(this.#now()),
      client: caller.name,
      selector: spec.selector,
      exporterName: spec.exporterName || undefined,
      ...times,
      tags: spec.tags ?? {},
      context: spec.context ?? {},
      allowDisabled: spec.allowDisabled ?? false,
      release: false,
    }).catch((err) => {
      throw err?.name === "AlreadyExistsError"
        ? new ConnectError(err.message, Code.AlreadyExists)
        : err;
    });
    await this.#reconcile(caller.namespace);
    return (await this.store.getLease(caller.namespace, lease.name)) ?? lease;
  }

  #controllerService(): ServiceImpl<typeof ControllerService> {
    return {
      register: async (req, ctx) => {
        const caller = await this.#auth(ctx, "exporter");
        const own = Object.fromEntries(
          Object.entries(req.labels).filter(([k]) => k.startsWith(SELF_LABEL_PREFIX)),
        );
        const record = caller.record as ExporterRecord;
        await this.store.updateExporter(caller.namespace, caller.name, {
          labels: { ...record.labels, ...own },
          devices: req.reports.map((r) => ({
            uuid: r.uuid,
            parentUuid: r.parentUuid,
            labels: r.labels,
          })),
          lastSeen: this.#now(),
          status: "Available",
          statusMessage: "Exporter registered",
          version: ctx.requestHeader.get("x-jumpstarter-version") ?? undefined,
        });
        await this.#reconcile(caller.namespace);
        return { uuid: record.uid };
      },
      unregister: async (req, ctx) => {
        const caller = await this.#auth(ctx, "exporter");
        await this.store.updateExporter(caller.namespace, caller.name, {
          status: "Offline",
          statusMessage: req.reason || "unregistered",
          lastSeen: this.#now(),
        });
        await this.#reconcile(caller.namespace);
        return {};
      },
      reportStatus: async (req, ctx) => {
        const caller = await this.#auth(ctx, "exporter");
        await this.store.updateExporter(caller.namespace, caller.name, {
          status: statusName(req.status),
          statusMessage: req.message ?? "",
          lastSeen: this.#now(),
        });
        if (req.releaseLease) {
          const active = await this.store.activeLeaseOf(caller.namespace, caller.name);
          if (active) {
            await this.store.updateLeaseSpec(caller.namespace, active.name, { release: true });
          }
        }
        await this.#reconcile(caller.namespace);
        return {};
      },
      status: (_req, ctx) => this.#statusStream(ctx),
      listen: (req, ctx) => this.#listenStream(req.leaseName, ctx),
      dial: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        return await this.#dial(caller, req.leaseName, ctx.signal);
      },
      getLease: async (req, ctx) => {
        const caller = await this.#auth(ctx);
        const lease = await this.#ownLease(caller, req.name);
        this.#heardFrom(caller, lease);
        const exporter = lease.status.exporter
          ? await this.store.getExporter(lease.namespace, lease.status.exporter)
          : undefined;
        return legacyLease(lease, exporter);
      },
      requestLease: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const selector = selectorArgument(() => normalizeSelector(req.selector ?? {}));
        const lease = await this.#createLease(caller, {
          selector,
          durationMs: req.duration ? durationMs(req.duration) : undefined,
        });
        return { name: lease.name };
      },
      releaseLease: async (req, ctx) => {
        await this.#release(await this.#auth(ctx), req.name);
        return {};
      },
      listLeases: async (_req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const leases = await this.store.listLeases(caller.namespace, { client: caller.name });
        return { names: leases.map((l) => l.name) };
      },
      getServiceEndpoints: async (_req, ctx) => {
        await this.#auth(ctx, "exporter");
        return { telemetryEndpoints: [] };
      },
    };
  }

  async *#statusStream(ctx: HandlerContext): AsyncGenerator<StatusResponse> {
    const caller = await this.#auth(ctx, "exporter");
    const exporterKey = key(caller.namespace, caller.name);
    const box = new Mailbox<StatusResponse>();
    const boxes = this.#status.get(exporterKey) ?? new Set();
    boxes.add(box);
    this.#status.set(exporterKey, boxes);
    const seen = () =>
      this.store.updateExporter(caller.namespace, caller.name, { lastSeen: this.#now() })
        .catch(() => {});
    await seen();
    const beat = setInterval(seen, HEARTBEAT_MS);
    try {
      // The current state first: an exporter that reconnects mid-lease picks its lease up again.
      const active = await this.store.activeLeaseOf(caller.namespace, caller.name);
      this.#told.set(exporterKey, active?.name ?? "");
      box.put(create(StatusResponseSchema, {
        leased: active !== undefined,
        leaseName: active?.name,
        clientName: active?.client,
        context: active?.context ?? {},
      }));
      await this.#reconcile(caller.namespace);
      yield* box.drain(ctx.signal);
    } finally {
      clearInterval(beat);
      boxes.delete(box);
      await seen();
      this.#reconcile(caller.namespace).catch(() => {});
    }
  }

  async *#listenStream(leaseName: string, ctx: HandlerContext): AsyncGenerator<ListenResponse> {
    const caller = await this.#auth(ctx, "exporter");
    const lease = await this.#ownLease(caller, leaseName);
    if (lease.status.ended) {
      throw new ConnectError(`lease ${leaseName} has ended`, Code.FailedPrecondition);
    }
    const listenKey = `${key(caller.namespace, caller.name)}/${leaseName}`;
    this.#listen.get(listenKey)?.close();
    const box = new Mailbox<ListenResponse>(LISTEN_QUEUE);
    this.#listen.set(listenKey, box);
    try {
      yield* box.drain(ctx.signal);
    } finally {
      if (this.#listen.get(listenKey) === box) this.#listen.delete(listenKey);
    }
  }

  async #dial(caller: Caller, leaseName: string, signal: AbortSignal) {
    const deadline = this.#now() + DIAL_WAIT_MS;
    while (true) {
      const lease = await this.#ownLease(caller, leaseName);
      this.#heardFrom(caller, lease);
      if (lease.status.ended) {
        throw new ConnectError(`lease ${leaseName} has ended`, Code.FailedPrecondition);
      }
      if (!lease.status.exporter) {
        throw new ConnectError(`lease ${leaseName} is not ready yet`, Code.FailedPrecondition);
      }
      const exporter = await this.store.getExporter(caller.namespace, lease.status.exporter);
      if (!exporter || !this.isConnected(caller.namespace, exporter.name)) {
        throw new ConnectError(
          `exporter ${lease.status.exporter} is offline`,
          Code.FailedPrecondition,
        );
      }
      const box = this.#listen.get(`${key(caller.namespace, exporter.name)}/${leaseName}`);
      const ready = ["LeaseReady", "BeforeLeaseHook", "AfterLeaseHook", "Unspecified"]
        .includes(exporter.status);
      if (box && ready) {
        const { token } = await this.issuer.issueRouterToken({
          namespace: caller.namespace,
          lease: leaseName,
        });
        const message = create(ListenResponseSchema, {
          routerEndpoint: this.#options.routerEndpoint,
          routerToken: token,
        });
        if (!box.put(message)) {
          throw new ConnectError(
            `exporter ${exporter.name} has too many connections waiting`,
            Code.ResourceExhausted,
          );
        }
        return { routerEndpoint: message.routerEndpoint, routerToken: token };
      }
      if (this.#now() >= deadline || signal.aborted) {
        throw new ConnectError(
          box
            ? `exporter ${exporter.name} is not ready (status: ${exporter.status})`
            : `exporter ${exporter.name} is not listening on lease ${leaseName}`,
          Code.Unavailable,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  #clientService(): ServiceImpl<typeof clientv1.ClientService> {
    const inNamespace = (caller: Caller, namespace: string) => {
      if (namespace !== caller.namespace) {
        throw new ConnectError(
          `permission denied: namespace mismatch (${namespace}, not ${caller.namespace})`,
          Code.PermissionDenied,
        );
      }
    };
    return {
      getExporter: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const name = parseResourceName(req.name, "exporters");
        inNamespace(caller, name.namespace);
        const exporter = await this.store.getExporter(name.namespace, name.name);
        if (!exporter) throw new ConnectError(`exporter ${name.name} not found`, Code.NotFound);
        return this.#exporterView(exporter);
      },
      listExporters: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const namespace = parseParent(req.parent);
        inNamespace(caller, namespace);
        const filter = selectorArgument(() => parseSelector(req.filter));
        const exporters = (await this.store.listExporters(namespace))
          .filter((e) => matchesSelector(filter, e.labels));
        return { exporters: exporters.map((e) => this.#exporterView(e)) };
      },
      getLease: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const name = parseResourceName(req.name, "leases");
        inNamespace(caller, name.namespace);
        const lease = await this.store.getLease(name.namespace, name.name);
        if (!lease) throw new ConnectError(`lease ${name.name} not found`, Code.NotFound);
        this.#heardFrom(caller, lease);
        return leaseResource(lease, this.#now());
      },
      listLeases: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const namespace = parseParent(req.parent);
        inNamespace(caller, namespace);
        const filter = selectorArgument(() => parseSelector(req.filter));
        const leases = (await this.store.listLeases(namespace, {
          includeEnded: req.onlyActive === false,
        })).filter((l) => matchesSelector(filter, l.selector.matchLabels));
        return { leases: leases.map((l) => leaseResource(l, this.#now())) };
      },
      createLease: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        inNamespace(caller, parseParent(req.parent));
        const spec = req.lease;
        if (!spec) throw new ConnectError("lease is required", Code.InvalidArgument);
        const lease = await this.#createLease(caller, {
          name: req.leaseId,
          selector: selectorArgument(() => parseSelector(spec.selector)),
          exporterName: spec.exporterName,
          durationMs: spec.duration ? durationMs(spec.duration) : undefined,
          beginTime: spec.beginTime ? timestampMs(spec.beginTime) : undefined,
          endTime: spec.endTime ? timestampMs(spec.endTime) : undefined,
          tags: spec.tags,
          context: spec.context,
          allowDisabled: spec.allowDisabled,
        });
        return leaseResource(lease, this.#now());
      },
      updateLease: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const spec = req.lease;
        if (!spec) throw new ConnectError("lease is required", Code.InvalidArgument);
        const name = parseResourceName(spec.name, "leases");
        inNamespace(caller, name.namespace);
        const lease = await this.#ownLease(caller, name.name);
        if (lease.status.ended) {
          throw new ConnectError(`lease ${name.name} has ended`, Code.FailedPrecondition);
        }
        const patch: Parameters<Store["updateLeaseSpec"]>[2] = {};
        if (spec.duration) patch.durationMs = durationMs(spec.duration);
        if (spec.endTime) patch.endTime = timestampMs(spec.endTime);
        if (spec.beginTime) {
          if (lease.status.beginTime !== undefined) {
            throw new ConnectError(
              "begin_time cannot change once the lease has started",
              Code.InvalidArgument,
            );
          }
          patch.beginTime = timestampMs(spec.beginTime);
        }
        if (spec.client) patch.client = parseResourceName(spec.client, "clients").name;
        const updated = { ...lease, ...patch };
        await this.#checkLongest(updated);
        const end = plannedEnd(updated);
        if (end !== undefined && end <= this.#now()) {
          throw new ConnectError(
            "the new duration or end time is already past; the lease would end at once",
            Code.InvalidArgument,
          );
        }
        await this.store.updateLeaseSpec(name.namespace, name.name, patch);
        await this.#reconcile(name.namespace);
        const fresh = await this.store.getLease(name.namespace, name.name);
        return leaseResource(fresh ?? lease, this.#now());
      },
      deleteLease: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        const name = parseResourceName(req.name, "leases");
        inNamespace(caller, name.namespace);
        await this.#release(caller, name.name);
        return {};
      },
      rotateToken: async (req, ctx) => {
        const caller = await this.#auth(ctx, "client");
        inNamespace(caller, parseParent(req.parent));
        const token = await this.issuer.issueIdentityToken({
          kind: "client",
          namespace: caller.namespace,
          name: caller.name,
          uid: caller.record.uid,
        });
        const { expiresAt } = await this.issuer.verifyIdentityToken(token);
        return { token, expiry: timestampFromMs(expiresAt) };
      },
    };
  }

  // A longer lease must stay within what the access policies allow on its exporter.
  async #checkLongest(lease: LeaseRecord): Promise<void> {
    if (!lease.status.exporter) return;
    const [policies, exporter, client] = await Promise.all([
      this.store.listAccessPolicies(lease.namespace),
      this.store.getExporter(lease.namespace, lease.status.exporter),
      this.store.getClient(lease.namespace, lease.client),
    ]);
    const longest = longestAllowedMs(policies, exporter?.labels ?? {}, client?.labels ?? {});
    const span = (lease.endTime ?? (lease.status.beginTime ?? 0) + lease.durationMs) -
      (lease.status.beginTime ?? 0);
    if (span > longest) {
      throw new ConnectError(
        `the access policy allows leases of at most ${minutesOrSeconds(longest)} on ` +
          `${lease.status.exporter}; this one would last ${minutesOrSeconds(span)}`,
        Code.PermissionDenied,
      );
    }
  }

  #exporterView(exporter: ExporterRecord) {
    return exporterResource(
      exporter,
      this.#now(),
      this.isConnected(exporter.namespace, exporter.name),
    );
  }
}

// A store that cannot do its work (disk full, database damaged, API server away) is reported
// to the caller as such, with its one-line reason, rather than as a bare "internal error".
function storeError(err: unknown): unknown {
  if (err instanceof ConnectError || !(err instanceof Error)) return err;
  if (err instanceof NotFoundError) return new ConnectError(err.message, Code.NotFound);
  if (err instanceof AlreadyExistsError) return new ConnectError(err.message, Code.AlreadyExists);
  if (/StoreError$/.test(err.name)) {
    return new ConnectError(err.message.split("\n")[0], Code.Unavailable);
  }
  return err;
}

function withStoreErrors<T extends object>(impl: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(impl)) {
    wrapped[name] = (...args: unknown[]) => {
      const result = (method as (...a: unknown[]) => unknown)(...args);
      if (result && typeof result === "object" && Symbol.asyncIterator in result) {
        return (async function* () {
          try {
            yield* result as AsyncIterable<unknown>;
          } catch (err) {
            throw storeError(err);
          }
        })();
      }
      return Promise.resolve(result).catch((err) => {
        throw storeError(err);
      });
    };
  }
  return wrapped as T;
}

function minutesOrSeconds(ms: number): string {
  return ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

function selectorArgument(parse: () => LabelSelector): LabelSelector {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SelectorError) throw new ConnectError(err.message, Code.InvalidArgument);
    throw err;
  }
}

/**
 * The duration, begin and end of a new lease from what was given, by upstream's rules: the
 * duration alone, begin + duration, begin + end, end + duration; all three must agree.
 */
export function leaseTimes(
  duration: number | undefined,
  begin: number | undefined,
  end: number | undefined,
): { durationMs: number; beginTime?: number; endTime?: number } {
  const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);
  if (begin !== undefined && end !== undefined) {
    const span = end - begin;
    if (duration !== undefined && duration !== span) {
      throw invalid("duration conflicts with begin_time and end_time");
    }
    duration = span;
  } else if (end !== undefined && duration !== undefined) {
    begin = end - duration;
  } else if (end !== undefined) {
    throw invalid("duration is required when only end_time is given");
  }
  if (duration === undefined) throw invalid("duration is required");
  if (duration <= 0) throw invalid("duration must be positive");
  return { durationMs: duration, beginTime: begin, endTime: end };
}
