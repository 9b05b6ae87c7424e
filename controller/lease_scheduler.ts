// Decides what happens to leases, one namespace at a time, as upstream's lease reconciler does:
// released and expired leases end; pending ones are granted, in order of arrival, an exporter that
// matches, is enabled, allowed by the access policies, online and free. Grants go through the
// store's atomic grantLease, so two schedulers (or a restart) can never grant an exporter twice.

import { formatSelector, isEmptySelector, matchesSelector } from "./selector.ts";
import type {
  AccessPolicyRecord,
  ClientRecord,
  Condition,
  ExporterRecord,
  LeaseRecord,
  Store,
} from "./store/mod.ts";

/** An exporter unseen for this long is offline (upstream: one minute). */
export const OFFLINE_AFTER_MS = 60_000;

/** What happened to a lease, for whoever must act on it (exporters, router, waiting clients). */
export type LeaseEvent =
  | { kind: "granted"; lease: LeaseRecord }
  | { kind: "ended"; lease: LeaseRecord }
  | { kind: "pending"; lease: LeaseRecord };

/** Options of the scheduler. */
export interface SchedulerOptions {
  now?: () => number;
  /** Told about every grant, end and change of a pending lease's conditions. */
  onEvent?: (event: LeaseEvent) => void;
  /** Whether the exporter is connected right now (a Status stream is open). */
  isConnected?: (exporter: ExporterRecord) => boolean;
  /**
   * When a lease counts as abandoned by its client (a session that stopped being heard from),
   * and why; undefined for leases that do not depend on their client being there.
   */
  abandonedAt?: (lease: LeaseRecord) => { at: number; why: string } | undefined;
}

function condition(
  type: Condition["type"],
  status: Condition["status"],
  reason: string,
  message: string,
  now: number,
): Condition {
  return { type, status, reason, message, lastTransitionTime: now };
}

/** Whether an exporter can take a lease now: registered, recently seen, not shutting down. */
export function isOnline(exporter: ExporterRecord, now: number, connected = true): boolean {
  return exporter.devices !== null && exporter.lastSeen !== null && connected &&
    now - exporter.lastSeen < OFFLINE_AFTER_MS && exporter.status !== "Offline";
}

/**
 * When a granted lease ends: its requested end time, else its grant plus its duration. Computed
 * from the spec each time, so that extending a lease (a longer duration) moves its end.
 */
export function plannedEnd(lease: LeaseRecord): number | undefined {
  if (lease.endTime !== undefined) return lease.endTime;
  const begin = lease.status.beginTime;
  return begin === undefined ? undefined : begin + lease.durationMs;
}

/**
 * Runs the lease rules on demand and at the next moment something is due (an expiry).
 *
 * @example
 * ```ts
 * const scheduler = new LeaseScheduler(store, { onEvent: (e) => notify(e) });
 * await scheduler.reconcile("default");
 * ```
 */
export class LeaseScheduler {
  readonly #store: Store;
  readonly #options: SchedulerOptions;
  readonly #now: () => number;
  // One pass at a time per namespace; a request during a pass runs one more pass after it.
  readonly #running = new Map<string, Promise<void>>();
  readonly #again = new Set<string>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #closed = false;

  constructor(store: Store, options: SchedulerOptions = {}) {
    this.#store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Applies the rules to `namespace` now; resolves when a pass that saw the call is done. */
  reconcile(namespace: string): Promise<void> {
    const running = this.#running.get(namespace);
    if (running) {
      this.#again.add(namespace);
      return running;
    }
    const pass = (async () => {
      try {
        do {
          this.#again.delete(namespace);
          await this.#pass(namespace);
        } while (this.#again.has(namespace) && !this.#closed);
      } finally {
        this.#running.delete(namespace);
      }
    })();
    this.#running.set(namespace, pass);
    return pass;
  }

  /** Stops the timers. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
  }

  async #pass(namespace: string): Promise<void> {
    const store = this.#store;
    const now = this.#now();
    const [leases, exporters, policies, clients] = await Promise.all([
      store.listLeases(namespace),
      store.listExporters(namespace),
      store.listAccessPolicies(namespace),
      store.listClients(namespace),
    ]);
    const busy = new Set(
      leases.filter((l) => l.status.exporter && !l.status.ended).map((l) => l.status.exporter!),
    );
    let nextWake = Infinity;
    // Ends first: an exporter freed in this pass goes to the oldest waiting lease, even one
    // that comes before the freed lease in the queue (a scheduled start, say).
    const waiting: LeaseRecord[] = [];
    for (const lease of leases) {
      const abandoned = this.#options.abandonedAt?.(lease);
      if (abandoned && abandoned.at <= now) {
        await this.#end(lease, "Released", abandoned.why, now);
        if (lease.status.exporter) busy.delete(lease.status.exporter);
        continue;
      }
      if (abandoned) nextWake = Math.min(nextWake, abandoned.at);
      if (lease.release) {
        await this.#end(lease, "Released", "released by its holder", now);
        if (lease.status.exporter) busy.delete(lease.status.exporter);
        continue;
      }
      if (lease.status.exporter) {
        const end = plannedEnd(lease) ?? Infinity;
        if (end <= now) {
          await this.#end(lease, "Expired", `expired at ${new Date(end).toISOString()}`, now);
          busy.delete(lease.status.exporter);
        } else {
          nextWake = Math.min(nextWake, end);
        }
        continue;
      }
      waiting.push(lease);
    }
    // The online exporters each lease left waiting hoped for: the queue ahead of a later lease
    // is the earlier ones that want one of the same exporters.
    const queue: Set<string>[] = [];
    for (const lease of waiting) {
      if (lease.beginTime !== undefined && lease.beginTime > now) {
        nextWake = Math.min(nextWake, lease.beginTime);
        await this.#pending(lease, "NotStarted", `begins at ${iso(lease.beginTime)}`, now);
        continue;
      }
      if (lease.endTime !== undefined && lease.endTime <= now) {
        await this.#end(lease, "Expired", `its end time ${iso(lease.endTime)} passed`, now);
        continue;
      }
      // A wait that outlasts its end time must end then, not at the next unrelated pass.
      if (lease.endTime !== undefined) nextWake = Math.min(nextWake, lease.endTime);
      const verdict = choose(lease, exporters, policies, clients, busy, now, this.#options);
      if ("unsatisfiable" in verdict) {
        await this.#end(lease, verdict.unsatisfiable, verdict.message, now, verdict.invalid);
        continue;
      }
      let granted = false;
      let decidedElsewhere = false;
      for (const candidate of verdict.candidates) {
        granted = await store.grantLease(namespace, lease.name, candidate.exporter.name, {
          now,
          priority: candidate.priority,
          spotAccess: candidate.spotAccess,
          conditions: [
            condition("Ready", "True", "Ready", `granted ${candidate.exporter.name}`, now),
          ],
        });
        if (granted) {
          busy.add(candidate.exporter.name);
          const fresh = await store.getLease(namespace, lease.name);
          if (fresh) {
            this.#options.onEvent?.({ kind: "granted", lease: fresh });
            nextWake = Math.min(nextWake, plannedEnd(fresh) ?? Infinity);
          }
          break;
        }
        // Refused: another scheduler (or a restart) got there first. If it took this lease,
        // the lease is decided; if it took the exporter, the exporter is out of this pass for
        // the later leases too, or one could jump the queue should it free before they ask.
        const current = await store.getLease(namespace, lease.name);
        if (!current || current.status.ended || current.status.exporter !== undefined) {
          decidedElsewhere = true;
          break;
        }
        busy.add(candidate.exporter.name);
      }
      if (!granted && !decidedElsewhere) {
        const ahead = queue.filter((names) => verdict.online.some((n) => names.has(n))).length;
        queue.push(new Set(verdict.online));
        await this.#pending(lease, verdict.reason, verdict.message(ahead), now);
      }
    }
    this.#wakeAt(namespace, nextWake);
  }

  async #end(
    lease: LeaseRecord,
    reason: string,
    message: string,
    now: number,
    invalid = false,
  ): Promise<void> {
    const type = lease.status.exporter || reason === "Released" || reason === "Expired"
      ? "Ready"
      : invalid
      ? "Invalid"
      : "Unsatisfiable";
    const status = type === "Ready" ? "False" : "True";
    const ended = await this.#store.endLease(lease.namespace, lease.name, {
      now,
      conditions: [condition(type, status, reason, message, now)],
    });
    if (!ended) return;
    const fresh = await this.#store.getLease(lease.namespace, lease.name);
    if (fresh) this.#options.onEvent?.({ kind: "ended", lease: fresh });
  }

  async #pending(lease: LeaseRecord, reason: string, message: string, now: number) {
    const current = lease.status.conditions.find((c) => c.type === "Pending");
    if (current?.reason === reason && current.message === message) return;
    const conditions = [condition("Pending", "True", reason, message, now)];
    await this.#store.setLeaseConditions(lease.namespace, lease.name, conditions);
    this.#options.onEvent?.({
      kind: "pending",
      lease: { ...lease, status: { ...lease.status, conditions } },
    });
  }

  #wakeAt(namespace: string, at: number): void {
    clearTimeout(this.#timers.get(namespace));
    this.#timers.delete(namespace);
    if (!Number.isFinite(at) || this.#closed) return;
    // Timers beyond ~24 days overflow; a pass in between just sets the next one.
    const delay = Math.min(Math.max(0, at - this.#now()) + 5, 2 ** 31 - 1);
    const timer = setTimeout(() => {
      this.#timers.delete(namespace);
      this.reconcile(namespace).catch(() => {});
    }, delay);
    (timer as { unref?: () => void }).unref?.();
    this.#timers.set(namespace, timer);
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

interface Candidate {
  exporter: ExporterRecord;
  priority: number;
  spotAccess: boolean;
}

type Verdict =
  | { unsatisfiable: string; message: string; invalid?: boolean }
  | {
    candidates: Candidate[];
    /** The approved exporters online now, free or not. */
    online: string[];
    reason: string;
    message: (ahead: number) => string;
  };

// Which exporters lease `lease` may get now, best first; or why it never can.
function choose(
  lease: LeaseRecord,
  exporters: ExporterRecord[],
  policies: AccessPolicyRecord[],
  clients: ClientRecord[],
  busy: Set<string>,
  now: number,
  options: SchedulerOptions,
): Verdict {
  const wanted = lease.exporterName
    ? `exporter ${lease.exporterName}`
    : `an exporter matching ${formatSelector(lease.selector)}`;
  if (isEmptySelector(lease.selector) && !lease.exporterName) {
    return {
      unsatisfiable: "InvalidSelector",
      message: "a lease needs a selector or an exporter name",
      invalid: true,
    };
  }
  let matching: ExporterRecord[];
  if (lease.exporterName) {
    const named = exporters.find((e) => e.name === lease.exporterName);
    if (!named) return { unsatisfiable: "ExporterNotFound", message: `no ${wanted}` };
    if (!matchesSelector(lease.selector, named.labels)) {
      return {
        unsatisfiable: "SelectorMismatch",
        message: `exporter ${named.name} does not match ${formatSelector(lease.selector)}`,
      };
    }
    if (!named.enabled && !lease.allowDisabled) {
      return { unsatisfiable: "ExporterDisabled", message: `exporter ${named.name} is disabled` };
    }
    matching = [named];
  } else {
    matching = exporters.filter((e) => matchesSelector(lease.selector, e.labels));
    if (matching.length === 0) {
      return { unsatisfiable: "NoExporter", message: `there is no ${wanted.slice(3)}` };
    }
    if (!lease.allowDisabled) {
      matching = matching.filter((e) => e.enabled);
      if (matching.length === 0) {
        return { unsatisfiable: "AllDisabled", message: `every ${wanted.slice(3)} is disabled` };
      }
    }
  }
  const client = clients.find((c) => c.name === lease.client);
  const approved = matching.flatMap((exporter) => {
    const access = accessFor(exporter, client, lease, policies);
    return access ? [{ exporter, ...access }] : [];
  });
  if (approved.length === 0) {
    return {
      unsatisfiable: "NoAccess",
      message: `client ${lease.client} may not lease ${wanted} for ${lease.durationMs / 1000} s`,
    };
  }
  const online = approved.filter((c) =>
    isOnline(c.exporter, now, options.isConnected?.(c.exporter) ?? true)
  );
  if (online.length === 0) {
    return {
      candidates: [],
      online: [],
      reason: "Offline",
      message: () => `${capital(wanted)} is offline`,
    };
  }
  const unleased = online.filter((c) => !busy.has(c.exporter.name));
  const free = unleased
    .filter((c) => ["Available", "Unspecified"].includes(c.exporter.status))
    .sort((a, b) =>
      Number(a.spotAccess) - Number(b.spotAccess) || b.priority - a.priority ||
      a.exporter.name.localeCompare(b.exporter.name)
    );
  if (free[0]?.spotAccess && !free.some((c) => !c.spotAccess)) {
    // Spot access only: upstream refuses rather than hand out a preemptible grant.
    return { unsatisfiable: "SpotAccess", message: `only spot access to ${wanted}` };
  }
  // Upstream's NotReady: not leased, but still busy with the last lease (hooks) or so.
  const notReady = free.length === 0 && unleased.length > 0;
  const statuses = [...new Set(unleased.map((c) => c.exporter.status))].join(", ");
  return {
    candidates: free,
    online: online.map((c) => c.exporter.name),
    reason: notReady ? "NotReady" : "NotAvailable",
    message: (ahead) =>
      `waiting for ${wanted}: ` +
      (notReady
        ? `${unleased.length} free but not ready (${statuses})`
        : `all ${online.length} in use`) +
      (ahead > 0 ? `, ${ahead} lease${ahead === 1 ? "" : "s"} ahead in the queue` : ""),
  };
}

function capital(text: string): string {
  return text[0].toUpperCase() + text.slice(1);
}

// The access policies' verdict for one exporter: none governing it → allowed at priority 0.
function accessFor(
  exporter: ExporterRecord,
  client: ClientRecord | undefined,
  lease: LeaseRecord,
  policies: AccessPolicyRecord[],
): { priority: number; spotAccess: boolean } | undefined {
  const governing = policies.filter((p) => matchesSelector(p.exporterSelector, exporter.labels));
  if (policies.length === 0) return { priority: 0, spotAccess: false };
  let best: { priority: number; spotAccess: boolean } | undefined;
  for (const policy of governing) {
    for (const rule of policy.policies) {
      const admitted = rule.from.some((f) =>
        matchesSelector(f.clientSelector, client?.labels ?? {})
      );
      const withinDuration = rule.maximumDurationMs === undefined ||
        lease.durationMs <= rule.maximumDurationMs;
      // As upstream orders them: a full (non-spot) rule before a spot one, then priority.
      const better = !best || (best.spotAccess && !rule.spotAccess) ||
        (best.spotAccess === rule.spotAccess && rule.priority > best.priority);
      if (admitted && withinDuration && better) {
        best = { priority: rule.priority, spotAccess: rule.spotAccess };
      }
    }
  }
  return best;
}
