// Random grant and end traffic against a store, and the invariant that must hold after every
// step; shared by the in-process property tests and the worker processes.

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
      const grant = { now: at, priority: 0, spotAccess: false, conditions: [ready(at)] };
      if (await store.grantLease(NS, lease, exporter, grant)) worker.granted(lease, exporter, at);
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

function ready(at: number): Condition {
  return { type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: at };
}
