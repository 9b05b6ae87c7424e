// The Kubernetes store: clients, exporters, leases and access policies as custom resources of
// group jumpstarter.dev/v1alpha1, with upstream's spec and status field names, so that upstream
// manifests and tooling see the same objects. Every write is guarded by resourceVersion and
// retried on conflict, never forced. A lock annotation on each exporter makes a second active
// lease on it impossible: a grant takes the lock before it marks the lease granted (and
// mirrors it into upstream's `status.leaseRef`).

import "../quiet_deprecations.ts";
import * as k8s from "@kubernetes/client-node";
import {
  type AccessPolicyRecord,
  AlreadyExistsError,
  type ClientRecord,
  type Condition,
  type DeviceRecord,
  type ExporterRecord,
  type ExporterStatusName,
  type LabelSelector,
  type LeaseRecord,
  NotFoundError,
  type Store,
} from "./types.ts";

const GROUP = "jumpstarter.dev";
const VERSION = "v1alpha1";
const API_VERSION = `${GROUP}/${VERSION}`;
/** Upstream's label on ended leases (active leases lack it). */
export const LEASE_ENDED_LABEL = "jumpstarter.dev/lease-ended";
// Facts upstream's schema has no field for, kept as annotations.
const SEQ_ANNOTATION = "jumpstarter.dev/queue-seq";
const CREATED_ANNOTATION = "jumpstarter.dev/created-ms";
const VERSION_ANNOTATION = "jumpstarter.dev/version";
const LOCK_ANNOTATION = "jumpstarter.dev/lease-lock";
/** A lock whose grant never completed (its writer died) is stale after this long. */
const STALE_LOCK_MS = 30_000;

type Plural = "clients" | "exporters" | "leases" | "exporteraccesspolicies";
const KINDS: Record<Plural, string> = {
  clients: "Client",
  exporters: "Exporter",
  leases: "Lease",
  exporteraccesspolicies: "ExporterAccessPolicy",
};

/** A custom object as the API server returns it. */
// deno-lint-ignore no-explicit-any
type Obj = Record<string, any> & {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string;
  };
};

/** Another writer changed the object first. */
class ConflictError extends Error {}

/** A failure of the API server or of reaching it, with what was being done. */
export class KubernetesStoreError extends Error {
  /** Creates the error. */
  constructor(what: string, cause: unknown) {
    const code = (cause as { code?: number }).code;
    const detail = (cause as { body?: unknown }).body;
    const message = typeof detail === "string"
      ? safeMessage(detail)
      : (detail as { message?: string } | undefined)?.message;
    super(
      `Kubernetes API: ${what}: ${code ? `HTTP ${code}` : ""}${
        message ? `${code ? ", " : ""}${message}` : code ? "" : String(cause)
      }`,
    );
    this.name = "KubernetesStoreError";
  }
}

function safeMessage(body: string): string | undefined {
  try {
    return JSON.parse(body).message;
  } catch {
    return body.slice(0, 200) || undefined;
  }
}

// The few REST calls the store makes, with errors turned into the store's own.
class Resources {
  readonly #api: k8s.CustomObjectsApi;

  constructor(api: k8s.CustomObjectsApi) {
    this.#api = api;
  }

  async get(plural: Plural, namespace: string, name: string): Promise<Obj | undefined> {
    try {
      return await this.#api.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
        name,
      });
    } catch (err) {
      if (codeOf(err) === 404) return undefined;
      throw new KubernetesStoreError(`get ${plural} ${namespace}/${name}`, err);
    }
  }

  async list(plural: Plural, namespace: string, labelSelector?: string): Promise<Obj[]> {
    try {
      const list = await this.#api.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
        labelSelector,
      });
      return (list.items ?? []) as Obj[];
    } catch (err) {
      throw new KubernetesStoreError(`list ${plural} in ${namespace}`, err);
    }
  }

  /** Objects of every namespace; undefined when the caller may not list cluster-wide. */
  async listAll(plural: Plural): Promise<Obj[] | undefined> {
    try {
      const list = await this.#api.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural,
      });
      return (list.items ?? []) as Obj[];
    } catch (err) {
      if (codeOf(err) === 403) return undefined;
      throw new KubernetesStoreError(`list ${plural} in every namespace`, err);
    }
  }

  async create(plural: Plural, body: Obj): Promise<Obj> {
    const { namespace, name } = body.metadata;
    try {
      return await this.#api.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
        body: { apiVersion: API_VERSION, kind: KINDS[plural], ...body },
      });
    } catch (err) {
      if (codeOf(err) === 409) throw new AlreadyExistsError(KINDS[plural], namespace, name);
      throw new KubernetesStoreError(`create ${plural} ${namespace}/${name}`, err);
    }
  }

  /** Replaces the object (or only its status) as of its resourceVersion. */
  async replace(plural: Plural, body: Obj, part: "main" | "status" = "main"): Promise<Obj> {
    const { namespace, name } = body.metadata;
    const request = { group: GROUP, version: VERSION, namespace, plural, name, body };
    try {
      return part === "status"
        ? await this.#api.replaceNamespacedCustomObjectStatus(request)
        : await this.#api.replaceNamespacedCustomObject(request);
    } catch (err) {
      if (codeOf(err) === 409) throw new ConflictError();
      if (codeOf(err) === 404) throw new NotFoundError(KINDS[plural], namespace, name);
      throw new KubernetesStoreError(`replace ${plural} ${namespace}/${name}`, err);
    }
  }

  async delete(plural: Plural, namespace: string, name: string): Promise<void> {
    try {
      await this.#api.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural,
        name,
      });
    } catch (err) {
      if (codeOf(err) === 404) throw new NotFoundError(KINDS[plural], namespace, name);
      throw new KubernetesStoreError(`delete ${plural} ${namespace}/${name}`, err);
    }
  }
}

function codeOf(err: unknown): number | undefined {
  return (err as { code?: number })?.code;
}

// Reads, changes and writes until no other writer got in between (or `attempts` run out).
async function retryOnConflict<T>(step: () => Promise<T>, attempts = 20): Promise<T> {
  for (let i = 1;; i++) {
    try {
      return await step();
    } catch (err) {
      if (!(err instanceof ConflictError) || i >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * i));
    }
  }
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());
const ms = (text: unknown) => (typeof text === "string" ? Date.parse(text) : undefined);

/** A duration as Kubernetes objects write it (Go's syntax). */
function goDuration(durationMs: number): string {
  return `${durationMs / 1000}s`;
}

function parseGoDuration(text: unknown): number {
  if (typeof text !== "string") return 0;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    total += Number(amount) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!;
  }
  return total;
}

function createdAt(o: Obj): number {
  return Number(o.metadata.annotations?.[CREATED_ANNOTATION] ?? ms(o.metadata.creationTimestamp));
}

function selectorOf(raw: unknown): LabelSelector {
  const s = (raw ?? {}) as Partial<LabelSelector>;
  return {
    matchLabels: { ...(s.matchLabels ?? {}) },
    matchExpressions: (s.matchExpressions ?? []).map((e) => ({
      key: e.key,
      operator: e.operator,
      values: [...(e.values ?? [])],
    })),
  };
}

function conditionsOf(raw: unknown): Condition[] {
  return ((raw ?? []) as Record<string, string>[]).map((c) => ({
    type: c.type as Condition["type"],
    status: c.status as Condition["status"],
    reason: c.reason ?? "",
    message: c.message ?? "",
    lastTransitionTime: ms(c.lastTransitionTime) ?? 0,
  }));
}

function conditionsTo(conditions: Condition[]) {
  return conditions.map((c) => ({ ...c, lastTransitionTime: iso(c.lastTransitionTime) }));
}

// Records leave optional fields out rather than carry them as undefined, as the other store.
function present<T extends object>(record: T): T {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined)) as T;
}

function clientOf(o: Obj): ClientRecord {
  return present({
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    uid: o.metadata.uid ?? "",
    labels: { ...(o.metadata.labels ?? {}) },
    username: o.spec?.username || undefined,
    createdAt: createdAt(o),
  });
}

function exporterOf(o: Obj): ExporterRecord {
  const status = o.status ?? {};
  return present({
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    uid: o.metadata.uid ?? "",
    labels: { ...(o.metadata.labels ?? {}) },
    enabled: o.spec?.enabled !== false,
    devices: Array.isArray(status.devices)
      ? status.devices.map((d: Record<string, unknown>): DeviceRecord =>
        present({
          uuid: String(d.uuid),
          parentUuid: (d.parent_uuid as string) || undefined,
          labels: { ...(d.labels as Record<string, string> ?? {}) },
        })
      )
      : null,
    lastSeen: ms(status.lastSeen) ?? null,
    status: (status.exporterStatus ?? "Offline") as ExporterStatusName,
    statusMessage: status.statusMessage ?? "",
    version: o.metadata.annotations?.[VERSION_ANNOTATION],
    createdAt: createdAt(o),
  });
}

function leaseOf(o: Obj): LeaseRecord {
  const spec = o.spec ?? {};
  const status = o.status ?? {};
  return present({
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    client: spec.clientRef?.name ?? "",
    selector: selectorOf(spec.selector),
    exporterName: spec.exporterRef?.name || undefined,
    durationMs: parseGoDuration(spec.duration),
    beginTime: ms(spec.beginTime),
    endTime: ms(spec.endTime),
    tags: { ...(spec.tags ?? {}) },
    context: { ...(spec.context ?? {}) },
    allowDisabled: spec.allowDisabled === true,
    release: spec.release === true,
    seq: Number(o.metadata.annotations?.[SEQ_ANNOTATION] ?? 0),
    createdAt: createdAt(o),
    status: present({
      exporter: status.exporterRef?.name || undefined,
      beginTime: ms(status.beginTime),
      endTime: ms(status.endTime),
      ended: status.ended === true,
      priority: status.priority ?? 0,
      spotAccess: status.spotAccess === true,
      conditions: conditionsOf(status.conditions),
    }),
  });
}

function leaseSpec(l: Omit<LeaseRecord, "seq" | "createdAt" | "status">) {
  return {
    clientRef: { name: l.client },
    duration: goDuration(l.durationMs),
    selector: l.selector,
    ...(l.exporterName ? { exporterRef: { name: l.exporterName } } : {}),
    ...(l.beginTime !== undefined ? { beginTime: iso(l.beginTime) } : {}),
    ...(l.endTime !== undefined ? { endTime: iso(l.endTime) } : {}),
    tags: l.tags,
    context: l.context,
    allowDisabled: l.allowDisabled,
    release: l.release,
  };
}

function leaseStatus(s: LeaseRecord["status"]) {
  return {
    ...(s.exporter ? { exporterRef: { name: s.exporter } } : {}),
    ...(s.beginTime !== undefined ? { beginTime: iso(s.beginTime) } : {}),
    ...(s.endTime !== undefined ? { endTime: iso(s.endTime) } : {}),
    ended: s.ended,
    priority: s.priority,
    spotAccess: s.spotAccess,
    conditions: conditionsTo(s.conditions),
  };
}

function policyOf(o: Obj): AccessPolicyRecord {
  const spec = o.spec ?? {};
  return present({
    namespace: o.metadata.namespace,
    name: o.metadata.name,
    exporterSelector: selectorOf(spec.exporterSelector),
    policies: ((spec.policies ?? []) as Record<string, unknown>[]).map((p) =>
      present({
        description: (p.description as string) || undefined,
        priority: Number(p.priority ?? 0),
        from: ((p.from ?? []) as Record<string, unknown>[]).map((f) => ({
          clientSelector: selectorOf(f.clientSelector),
        })),
        maximumDurationMs: p.maximumDuration === undefined
          ? undefined
          : parseGoDuration(p.maximumDuration),
        spotAccess: p.spotAccess === true,
      })
    ),
  });
}

/** How to reach the API server. */
export interface KubernetesStoreOptions {
  /** Kubeconfig YAML text; in-cluster (service account) or ~/.kube/config when absent. */
  kubeconfig?: string;
  /** The namespace the controller manages. */
  namespace: string;
}

// Queue order across writers: milliseconds, then a per-process counter.
let seqCounter = 0;
function nextSeq(): number {
  seqCounter = (seqCounter + 1) % 1000;
  return Date.now() * 1000 + seqCounter;
}

/**
 * The store on a Kubernetes API server.
 *
 * @example
 * ```ts
 * const store = KubernetesStore.connect({ namespace: "jumpstarter-lab" });
 * await store.listExporters("jumpstarter-lab");
 * ```
 */
export class KubernetesStore implements Store {
  readonly namespace: string;
  readonly #r: Resources;

  readonly #config: k8s.KubeConfig;
  readonly #watches = new Set<AbortController>();
  #closed = false;

  private constructor(config: k8s.KubeConfig, namespace: string) {
    this.#config = config;
    this.#r = new Resources(config.makeApiClient(k8s.CustomObjectsApi));
    this.namespace = namespace;
  }

  /** A store on the cluster the options name. */
  static connect(options: KubernetesStoreOptions): KubernetesStore {
    const config = new k8s.KubeConfig();
    if (options.kubeconfig !== undefined) config.loadFromString(options.kubeconfig);
    else config.loadFromDefault();
    return new KubernetesStore(config, options.namespace);
  }

  /**
   * Calls `onChange` whenever a lease, exporter or client of `namespace` changes (whoever did),
   * following watches that are started again when the server ends them. Returns the stop.
   */
  watch(namespace: string, onChange: () => void): () => void {
    const watcher = new k8s.Watch(this.#config);
    let stopped = false;
    const follow = (plural: Plural) => {
      if (stopped || this.#closed) return;
      const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${plural}`;
      watcher.watch(path, {}, () => onChange(), () => {
        // Ended (server timeout, a gap in history, the connection): watch again shortly.
        if (!stopped) setTimeout(() => follow(plural), 500);
      }).then((abort) => {
        if (stopped) abort.abort();
        else this.#watches.add(abort);
      }, () => {
        if (!stopped) setTimeout(() => follow(plural), 1000);
      });
    };
    follow("leases");
    follow("exporters");
    follow("clients");
    return () => {
      stopped = true;
      for (const abort of this.#watches) abort.abort();
      this.#watches.clear();
    };
  }

  async createClient(record: Omit<ClientRecord, "uid" | "createdAt">): Promise<ClientRecord> {
    return clientOf(
      await this.#r.create("clients", {
        metadata: {
          namespace: record.namespace,
          name: record.name,
          labels: record.labels,
          annotations: { [CREATED_ANNOTATION]: String(Date.now()) },
        },
        spec: record.username ? { username: record.username } : {},
      }),
    );
  }

  async getClient(namespace: string, name: string): Promise<ClientRecord | undefined> {
    const o = await this.#r.get("clients", namespace, name);
    return o && clientOf(o);
  }

  async listClients(namespace: string): Promise<ClientRecord[]> {
    return byName((await this.#r.list("clients", namespace)).map(clientOf));
  }

  async deleteClient(namespace: string, name: string): Promise<void> {
    if (!(await this.#r.get("clients", namespace, name))) {
      throw new NotFoundError("client", namespace, name);
    }
    for (const lease of await this.listLeases(namespace, { client: name })) {
      await this.#endReleased(lease, `client ${namespace}/${name} was deleted`);
    }
    await this.#r.delete("clients", namespace, name);
  }

  async createExporter(
    record: Pick<ExporterRecord, "namespace" | "name" | "labels"> & { enabled?: boolean },
  ): Promise<ExporterRecord> {
    return exporterOf(
      await this.#r.create("exporters", {
        metadata: {
          namespace: record.namespace,
          name: record.name,
          labels: record.labels,
          annotations: { [CREATED_ANNOTATION]: String(Date.now()) },
        },
        spec: { enabled: record.enabled ?? true },
      }),
    );
  }

  async getExporter(namespace: string, name: string): Promise<ExporterRecord | undefined> {
    const o = await this.#r.get("exporters", namespace, name);
    return o && exporterOf(o);
  }

  async listExporters(namespace: string): Promise<ExporterRecord[]> {
    return byName((await this.#r.list("exporters", namespace)).map(exporterOf));
  }

  updateExporter(
    namespace: string,
    name: string,
    patch: Parameters<Store["updateExporter"]>[2],
  ): Promise<ExporterRecord> {
    return retryOnConflict(async () => {
      let o = await this.#must("exporters", namespace, name, "exporter");
      const main = patch.labels !== undefined || patch.enabled !== undefined ||
        patch.version !== undefined;
      if (main) {
        if (patch.labels !== undefined) o.metadata.labels = patch.labels;
        if (patch.enabled !== undefined) o.spec = { ...o.spec, enabled: patch.enabled };
        if (patch.version !== undefined) {
          o.metadata.annotations = {
            ...o.metadata.annotations,
            [VERSION_ANNOTATION]: patch.version,
          };
        }
        o = await this.#r.replace("exporters", o);
      }
      const status: Record<string, unknown> = {};
      if (patch.devices !== undefined) {
        status.devices = patch.devices?.map((d) => ({
          uuid: d.uuid,
          ...(d.parentUuid ? { parent_uuid: d.parentUuid } : {}),
          labels: d.labels,
        }));
      }
      if (patch.lastSeen !== undefined) status.lastSeen = iso(patch.lastSeen ?? undefined);
      if (patch.status !== undefined) status.exporterStatus = patch.status;
      if (patch.statusMessage !== undefined) status.statusMessage = patch.statusMessage;
      if (Object.keys(status).length) {
        o = await this.#r.replace(
          "exporters",
          { ...o, status: { ...o.status, ...status } },
          "status",
        );
      }
      return exporterOf(o);
    });
  }

  async deleteExporter(namespace: string, name: string): Promise<void> {
    if (!(await this.#r.get("exporters", namespace, name))) {
      throw new NotFoundError("exporter", namespace, name);
    }
    const active = await this.activeLeaseOf(namespace, name);
    if (active) await this.#endReleased(active, `exporter ${namespace}/${name} was deleted`);
    await this.#r.delete("exporters", namespace, name);
  }

  async createLease(
    record: Omit<LeaseRecord, "seq" | "createdAt" | "status">,
  ): Promise<LeaseRecord> {
    return leaseOf(
      await this.#r.create("leases", {
        metadata: {
          namespace: record.namespace,
          name: record.name,
          // Upstream copies the selector's matchLabels onto the lease, for filtering.
          labels: { ...record.selector.matchLabels },
          annotations: {
            [SEQ_ANNOTATION]: String(nextSeq()),
            [CREATED_ANNOTATION]: String(Date.now()),
          },
        },
        spec: leaseSpec(record),
        status: leaseStatus({ ended: false, priority: 0, spotAccess: false, conditions: [] }),
      }),
    );
  }

  async getLease(namespace: string, name: string): Promise<LeaseRecord | undefined> {
    const o = await this.#r.get("leases", namespace, name);
    return o && leaseOf(o);
  }

  async listLeases(
    namespace: string,
    options: { includeEnded?: boolean; client?: string } = {},
  ): Promise<LeaseRecord[]> {
    const objects = await this.#r.list(
      "leases",
      namespace,
      options.includeEnded ? undefined : `!${LEASE_ENDED_LABEL}`,
    );
    return objects.map(leaseOf)
      .filter((l) => options.includeEnded || !l.status.ended)
      .filter((l) => options.client === undefined || l.client === options.client)
      .sort((a, b) => a.seq - b.seq || a.name.localeCompare(b.name));
  }

  async activeLeaseOf(namespace: string, exporter: string): Promise<LeaseRecord | undefined> {
    const o = await this.#r.get("exporters", namespace, exporter);
    const lock = o && lockOf(o);
    if (!lock) return undefined;
    const lease = await this.getLease(namespace, lock.lease);
    return lease && lease.status.exporter === exporter && !lease.status.ended ? lease : undefined;
  }

  updateLeaseSpec(
    namespace: string,
    name: string,
    patch: Parameters<Store["updateLeaseSpec"]>[2],
  ): Promise<LeaseRecord> {
    return retryOnConflict(async () => {
      const o = await this.#must("leases", namespace, name, "lease");
      const lease = { ...leaseOf(o), ...present(patch) };
      let written = await this.#r.replace("leases", {
        ...o,
        spec: { ...o.spec, ...leaseSpec(lease) },
      });
      const granted = lease.status.exporter !== undefined && !lease.status.ended;
      if (granted && (patch.durationMs !== undefined || patch.endTime !== undefined)) {
        const endTime = lease.endTime ?? lease.status.beginTime! + lease.durationMs;
        written = await this.#r.replace(
          "leases",
          { ...written, status: { ...written.status, endTime: iso(endTime) } },
          "status",
        );
      }
      return leaseOf(written);
    });
  }

  setLeaseConditions(namespace: string, name: string, conditions: Condition[]): Promise<void> {
    return retryOnConflict(async () => {
      const o = await this.#must("leases", namespace, name, "lease");
      const lease = leaseOf(o);
      // A verdict computed before a grant or an end must not overwrite theirs.
      if (lease.status.exporter || lease.status.ended) return;
      await this.#r.replace(
        "leases",
        { ...o, status: { ...o.status, conditions: conditionsTo(conditions) } },
        "status",
      );
    });
  }

  async grantLease(
    namespace: string,
    name: string,
    exporter: string,
    grant: { now: number; priority: number; spotAccess: boolean; conditions: Condition[] },
  ): Promise<boolean> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const [leaseObj, exporterObj] = await Promise.all([
        this.#r.get("leases", namespace, name),
        this.#r.get("exporters", namespace, exporter),
      ]);
      if (!leaseObj || !exporterObj) return false;
      const lease = leaseOf(leaseObj);
      if (lease.status.ended || lease.status.exporter) return false;
      const lock = lockOf(exporterObj);
      if (lock && lock.lease !== name && (await this.#holds(namespace, exporter, lock))) {
        return false;
      }
      // 1. The lock, written as of the exporter version just read.
      exporterObj.metadata.annotations = {
        ...exporterObj.metadata.annotations,
        [LOCK_ANNOTATION]: JSON.stringify({ lease: name, at: Date.now() }),
      };
      try {
        await this.#r.replace("exporters", exporterObj);
      } catch (err) {
        if (err instanceof ConflictError) continue;
        throw err;
      }
      // 2. The lease, as of the version read before the lock; if it moved on, give the lock back.
      try {
        await this.#r.replace("leases", {
          ...leaseObj,
          status: leaseStatus({
            exporter,
            beginTime: grant.now,
            endTime: lease.endTime ?? grant.now + lease.durationMs,
            ended: false,
            priority: grant.priority,
            spotAccess: grant.spotAccess,
            conditions: grant.conditions,
          }),
        }, "status");
      } catch (err) {
        await this.#unlock(namespace, exporter, name);
        if (err instanceof ConflictError) continue;
        throw err;
      }
      await this.#mirrorLeaseRef(namespace, exporter, name);
      return true;
    }
    return false;
  }

  endLease(
    namespace: string,
    name: string,
    end: { now: number; conditions: Condition[] },
  ): Promise<boolean> {
    return retryOnConflict(async () => {
      const o = await this.#must("leases", namespace, name, "lease");
      const lease = leaseOf(o);
      if (lease.status.ended) return false;
      // Status first (ended is what counts), then the label that list filters use.
      const written = await this.#r.replace("leases", {
        ...o,
        status: leaseStatus({
          ...lease.status,
          ended: true,
          endTime: end.now,
          conditions: end.conditions,
        }),
      }, "status");
      await retryOnConflict(async () => {
        const latest = (await this.#r.get("leases", namespace, name)) ?? written;
        latest.metadata.labels = { ...latest.metadata.labels, [LEASE_ENDED_LABEL]: "true" };
        await this.#r.replace("leases", latest);
      });
      if (lease.status.exporter) await this.#unlock(namespace, lease.status.exporter, name);
      return true;
    });
  }

  async putAccessPolicy(record: AccessPolicyRecord): Promise<void> {
    const spec = {
      exporterSelector: record.exporterSelector,
      policies: record.policies.map((p) => ({
        ...(p.description ? { description: p.description } : {}),
        priority: p.priority,
        from: p.from,
        ...(p.maximumDurationMs !== undefined
          ? { maximumDuration: goDuration(p.maximumDurationMs) }
          : {}),
        spotAccess: p.spotAccess,
      })),
    };
    await retryOnConflict(async () => {
      const existing = await this.#r.get("exporteraccesspolicies", record.namespace, record.name);
      if (existing) {
        await this.#r.replace("exporteraccesspolicies", { ...existing, spec });
      } else {
        await this.#r.create("exporteraccesspolicies", {
          metadata: { namespace: record.namespace, name: record.name },
          spec,
        }).catch((err) => {
          // Created by someone else meanwhile: replace it on the next round.
          throw err instanceof AlreadyExistsError ? new ConflictError() : err;
        });
      }
    });
  }

  async listAccessPolicies(namespace: string): Promise<AccessPolicyRecord[]> {
    return byName((await this.#r.list("exporteraccesspolicies", namespace)).map(policyOf));
  }

  async deleteAccessPolicy(namespace: string, name: string): Promise<void> {
    await this.#r.delete("exporteraccesspolicies", namespace, name);
  }

  /** Namespaces holding a client, exporter or lease (cluster-wide lists, where allowed). */
  async listNamespaces(): Promise<string[]> {
    const found = new Set<string>();
    for (const plural of ["clients", "exporters", "leases"] as const) {
      const objects = await this.#r.listAll(plural);
      if (objects === undefined) return [this.namespace]; // no cluster-wide permission
      for (const o of objects) found.add(o.metadata.namespace);
    }
    return [...found].sort();
  }

  close(): Promise<void> {
    this.#closed = true;
    for (const abort of this.#watches) abort.abort();
    this.#watches.clear();
    return Promise.resolve();
  }

  async #must(plural: Plural, namespace: string, name: string, kind: string): Promise<Obj> {
    const o = await this.#r.get(plural, namespace, name);
    if (!o) throw new NotFoundError(kind, namespace, name);
    return o;
  }

  // Whether `lock` still keeps the exporter: its lease holds it, or its grant may be under way.
  async #holds(namespace: string, exporter: string, lock: Lock): Promise<boolean> {
    const lease = await this.getLease(namespace, lock.lease);
    if (!lease || lease.status.ended) return false;
    if (lease.status.exporter === exporter) return true;
    return Date.now() - lock.at < STALE_LOCK_MS;
  }

  // Clears the exporter's lock (and upstream's leaseRef) if they still name `lease` and `lease`
  // does not hold the exporter: two attempts to grant one lease write the same lock, and the one
  // that lost the lease write must not take the winner's lock away (the exporter would look free
  // while it is leased).
  async #unlock(namespace: string, exporter: string, lease: string): Promise<void> {
    const unlocked = await retryOnConflict(async () => {
      const o = await this.#r.get("exporters", namespace, exporter);
      if (!o || lockOf(o)?.lease !== lease) return false;
      const held = await this.getLease(namespace, lease);
      if (held && !held.status.ended && held.status.exporter === exporter) return false;
      const { [LOCK_ANNOTATION]: _, ...annotations } = o.metadata.annotations ?? {};
      o.metadata.annotations = annotations;
      await this.#r.replace("exporters", o);
      return true;
    });
    if (unlocked) await this.#mirrorLeaseRef(namespace, exporter, undefined, lease);
  }

  // Upstream's `status.leaseRef`, for upstream tooling: set to `lease`, or cleared if it names
  // `previous`. Informational: the lock annotation is what counts.
  async #mirrorLeaseRef(
    namespace: string,
    exporter: string,
    lease: string | undefined,
    previous?: string,
  ): Promise<void> {
    await retryOnConflict(async () => {
      const o = await this.#r.get("exporters", namespace, exporter);
      if (!o) return;
      const { leaseRef, ...status } = o.status ?? {};
      if (lease === undefined && leaseRef?.name !== previous) return;
      await this.#r.replace(
        "exporters",
        { ...o, status: lease ? { ...status, leaseRef: { name: lease } } : status },
        "status",
      );
    });
  }

  async #endReleased(lease: LeaseRecord, message: string): Promise<void> {
    const now = Date.now();
    const released: Condition = {
      type: "Ready",
      status: "False",
      reason: "Released",
      message,
      lastTransitionTime: now,
    };
    // Only the Ready condition changes: a pending lease keeps saying why it was waiting.
    const conditions = [...lease.status.conditions.filter((c) => c.type !== "Ready"), released];
    await this.endLease(lease.namespace, lease.name, { now, conditions });
  }
}

interface Lock {
  lease: string;
  at: number;
}

function lockOf(o: Obj): Lock | undefined {
  const text = o.metadata.annotations?.[LOCK_ANNOTATION];
  if (!text) return undefined;
  try {
    const lock = JSON.parse(text);
    return typeof lock.lease === "string"
      ? { lease: lock.lease, at: Number(lock.at) || 0 }
      : undefined;
  } catch {
    return undefined;
  }
}

function byName<T extends { name: string }>(records: T[]): T[] {
  return records.sort((a, b) => a.name.localeCompare(b.name));
}
