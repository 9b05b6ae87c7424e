// Leader election on a coordination.k8s.io/v1 Lease, as Kubernetes controllers do it: the holder
// renews the Lease well within its duration; another replica takes it over only once it has
// gone stale. Every write carries the resourceVersion read, so two replicas never both win.
// Only the leader runs the lease scheduler; every replica serves calls.

import "./quiet_deprecations.ts";
import * as k8s from "@kubernetes/client-node";

/** Options of an elector. */
export interface LeaderElectionOptions {
  api: k8s.CoordinationV1Api;
  namespace: string;
  /** The Lease object's name. */
  name: string;
  /** This replica (e.g. the pod name). */
  identity: string;
  /** How long a holder's claim lasts without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** How often the holder renews, and others retry (default 2 s). */
  retryMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
}

/**
 * Takes part in an election until stopped.
 *
 * @example
 * ```ts
 * const elector = new LeaderElector({ api, namespace, name: "jumpstarter-controller", identity });
 * elector.start();
 * elector.isLeader; // true while this replica leads
 * ```
 */
export class LeaderElector {
  readonly #options:
    & Required<Omit<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading">>
    & LeaderElectionOptions;
  #leader = false;
  readonly #listeners = new Set<(leader: boolean) => void>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#options = { leaseDurationMs: 15_000, retryMs: 2_000, ...options };
  }

  /** Calls `listener` whenever this replica starts or stops leading. */
  onChange(listener: (leader: boolean) => void): void {
    this.#listeners.add(listener);
  }

  /** Whether this replica leads now. */
  get isLeader(): boolean {
    return this.#leader;
  }

  /** Starts trying (and, once leading, renewing) every `retryMs`. */
  start(): void {
    const tick = async () => {
      if (this.#stopped) return;
      this.#running = this.tryOnce().then(() => {}, () => {
        this.#setLeader(false);
      });
      await this.#running;
      if (!this.#stopped) this.#timer = setTimeout(tick, this.#options.retryMs);
    };
    tick();
  }

  /**
   * Stops taking part; a leader gives the Lease up so that another takes over at once (unless
   * `release` is false: then the others wait for it to go stale, as after a crash).
   */
  async stop(release = true): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    if (this.#leader && release) {
      await this.#write((lease) => {
        lease.spec!.holderIdentity = undefined;
        lease.spec!.renewTime = undefined;
      }).catch(() => {});
    }
    this.#setLeader(false);
  }

  /** One round: acquire or renew; returns whether this replica leads afterwards. */
  async tryOnce(): Promise<boolean> {
    const { api, namespace, name, identity } = this.#options;
    // The API server wants microseconds in a Lease's times (MicroTime).
    const now = new k8s.V1MicroTime();
    let lease: k8s.V1Lease | undefined;
    try {
      lease = await api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000),
      renewTime: now,
    };
    if (!lease) {
      try {
        await api.createNamespacedLease({
          namespace,
          body: { metadata: { name, namespace }, spec: { ...spec, acquireTime: now } },
        });
        return this.#setLeader(true);
      } catch {
        return this.#setLeader(false); // another replica created it first
      }
    }
    const held = lease.spec?.holderIdentity;
    const renewed = lease.spec?.renewTime ? new Date(lease.spec.renewTime).getTime() : 0;
    const duration = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
    const fresh = held && now.getTime() - renewed < duration;
    if (fresh && held !== identity) return this.#setLeader(false);
    try {
      await this.#write((current) => {
        const takeover = current.spec?.holderIdentity !== identity;
        current.spec = {
          ...current.spec,
          ...spec,
          ...(takeover
            ? {
              acquireTime: now,
              leaseTransitions: (current.spec?.leaseTransitions ?? 0) + 1,
            }
            : {}),
        };
      }, lease);
      return this.#setLeader(true);
    } catch {
      return this.#setLeader(false); // someone else wrote in between: they lead
    }
  }

  // Writes `lease` (or the current one) changed by `change`, as of its resourceVersion.
  async #write(change: (lease: k8s.V1Lease) => void, lease?: k8s.V1Lease): Promise<void> {
    const { api, namespace, name } = this.#options;
    const current = lease ?? await api.readNamespacedLease({ name, namespace });
    current.spec ??= {};
    change(current);
    await api.replaceNamespacedLease({ name, namespace, body: current });
  }

  #setLeader(leader: boolean): boolean {
    if (leader !== this.#leader) {
      this.#leader = leader;
      (leader ? this.#options.onStartedLeading : this.#options.onStoppedLeading)?.();
      for (const listener of this.#listeners) listener(leader);
    }
    return leader;
  }
}
