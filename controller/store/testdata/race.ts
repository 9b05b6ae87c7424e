// Random grant and end traffic against stores, and the invariants that must hold after every
// step; shared by the conformance suite's property tests and the SQLite worker processes.

import { strict as assert } from "node:assert";
import type { Condition, LeaseRecord, Store } from "../types.ts";

/** The namespace the race runs in. */
export const NS = "lab";

/** A seeded generator (mulberry32) in [0, 1), so that a failing seed can be replayed. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** One element of `items`, chosen by `random`. */
export function pick<T>(items: readonly T[], random: () => number): T {
  return items[Math.floor(random() * items.length)];
}

/** What grantLease is given at `now`: a Ready condition, no priority, no spot access. */
export function grantAt(now: number): Parameters<Store["grantLease"]>[3] {
  return { now, priority: 0, spotAccess: false, conditions: [ready(now)] };
}

/** Creates exporters `ex-0`... and pending leases `lease-000`... in NS; returns their names. */
export async function seedRace(
  store: Store,
  exporterCount: number,
  leaseCount: number,
): Promise<{ exporters: string[]; leases: string[] }> {
  const exporters = Array.from({ length: exporterCount }, (_, i) => `ex-${i}`);
  const leases = Array.from(
    { length: leaseCount },
    (_, i) => `lease-${String(i).padStart(3, "0")}`,
  );
  await store.createClient({ namespace: NS, name: "racer", labels: {} });
  for (const name of exporters) await store.createExporter({ namespace: NS, name, labels: {} });
  for (const name of leases) {
    await store.createLease({
      namespace: NS,
      name,
      client: "racer",
      selector: { matchLabels: {}, matchExpressions: [] },
      durationMs: 60_000,
      tags: {},
      context: {},
      allowDisabled: false,
      release: false,
    });
  }
  return { exporters, leases };
}

/** What one worker does and how it reports. */
export interface RaceWorker {
  store: Store;
  exporters: readonly string[];
  leases: readonly string[];
  steps: number;
  random: () => number;
  /** A distinct time per grant, so that a lease's beginTime identifies the grant that set it. */
  clock: () => number;
  /** Called for every grantLease that answered true. */
  granted: (lease: string, exporter: string, at: number) => void;
  /** Run after every step. */
  check: () => Promise<void>;
}

/** Grants random (lease, exporter) pairs and ends random leases, mostly active ones. */
export async function runRaceWorker(worker: RaceWorker): Promise<void> {
  const { store, random } = worker;
  for (let step = 0; step < worker.steps; step++) {
    if (random() < 0.7) {
      const lease = pick(worker.leases, random);
      const exporter = pick(worker.exporters, random);
      const at = worker.clock();
      if (await store.grantLease(NS, lease, exporter, grantAt(at))) {
        worker.granted(lease, exporter, at);
      }
    } else {
      const active = (await store.listLeases(NS)).filter((lease) => lease.status.exporter);
      const target = active.length > 0 && random() < 0.8
        ? pick(active, random).name
        : pick(worker.leases, random);
      await store.endLease(NS, target, { now: worker.clock(), conditions: [] });
    }
    await worker.check();
  }
}

/**
 * Reads every lease in one query and asserts that no exporter holds two active leases;
 * returns the leases read.
 */
export async function assertOneActiveLeasePerExporter(store: Store): Promise<LeaseRecord[]> {
  const leases = await store.listLeases(NS, { includeEnded: true });
  const holders = new Map<string, string>();
  for (const lease of leases) {
    const exporter = lease.status.exporter;
    if (exporter === undefined || lease.status.ended) continue;
    const other = holders.get(exporter);
    assert.equal(other, undefined, `${exporter} holds ${other} and ${lease.name}`);
    holders.set(exporter, lease.name);
  }
  return leases;
}

interface Grant {
  exporter: string;
  at: number;
}

/**
 * Remembers every grant: the ones grantLease answered true for, and the ones seen in the store,
 * so that a lease whose grant changes, disappears or repeats, or that comes back after it
 * ended, is caught.
 */
export class GrantLedger {
  readonly won = new Map<string, Grant>();
  readonly #seen = new Map<string, Grant>();
  readonly #ended = new Set<string>();

  /** Records a grantLease that answered true; a second one for the same lease fails. */
  granted = (lease: string, exporter: string, at: number): void => {
    assert.equal(this.won.get(lease), undefined, `${lease} was granted twice`);
    this.won.set(lease, { exporter, at });
  };

  /** Checks a fresh read of every lease against everything read before. */
  observe(leases: LeaseRecord[]): void {
    for (const { name, status } of leases) {
      if (this.#ended.has(name)) assert.ok(status.ended, `${name} ended, then came back`);
      if (status.ended) this.#ended.add(name);
      if (status.exporter === undefined) {
        assert.equal(this.#seen.get(name), undefined, `${name} lost its grant`);
        continue;
      }
      const grant = { exporter: status.exporter, at: status.beginTime! };
      assert.deepEqual(grant, this.#seen.get(name) ?? grant, `${name} was granted twice`);
      this.#seen.set(name, grant);
    }
  }

  /** Once every worker is done: the store's grants are exactly those that answered true. */
  settle(leases: LeaseRecord[]): void {
    const inStore = new Map<string, Grant>();
    for (const { name, status } of leases) {
      if (status.exporter !== undefined) {
        inStore.set(name, { exporter: status.exporter, at: status.beginTime! });
      }
    }
    assert.deepEqual(inStore, this.won);
  }
}

/**
 * Eight workers interleave random grants and ends over `stores` (all on one state), each
 * checking the invariants after every step through another store than the one it writes with
 * (the same one when there is only one).
 */
export async function race(stores: readonly Store[], seed: number): Promise<void> {
  const { exporters, leases } = await seedRace(stores[0], 10, 200);
  const ledger = new GrantLedger();
  let tick = 1_000_000;
  await Promise.all(Array.from({ length: 8 }, (_, worker) =>
    runRaceWorker({
      store: stores[worker % stores.length],
      exporters,
      leases,
      steps: 60,
      random: seeded(seed + worker),
      clock: () => ++tick,
      granted: ledger.granted,
      check: async () => {
        const reader = stores[(worker + 1) % stores.length];
        ledger.observe(await assertOneActiveLeasePerExporter(reader));
      },
    })));
  const final = await assertOneActiveLeasePerExporter(stores[0]);
  ledger.observe(final);
  ledger.settle(final);
  assert.ok(ledger.won.size >= 20, `only ${ledger.won.size} grants: the race proved little`);
  await assertRefusalsWereNeeded(stores.at(-1)!, exporters, final);
}

/** Every exporter left free must still take a pending lease: the race refused only for cause. */
export async function assertRefusalsWereNeeded(
  store: Store,
  exporters: readonly string[],
  leases: readonly LeaseRecord[],
): Promise<void> {
  const busy = new Set(leases.filter((l) => !l.status.ended).map((l) => l.status.exporter));
  const free = exporters.filter((exporter) => !busy.has(exporter));
  const pending = leases.filter((l) => !l.status.ended && l.status.exporter === undefined);
  assert.ok(pending.length >= free.length, "too few pending leases left to check liveness");
  for (const [i, exporter] of free.entries()) {
    const lease = pending[i].name;
    assert.equal(await store.grantLease(NS, lease, exporter, grantAt(9e12)), true, lease);
  }
  await assertOneActiveLeasePerExporter(store);
}

function ready(at: number): Condition {
  return { type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: at };
}
