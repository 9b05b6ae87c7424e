// The SQLite store: records round-trip, survive a reopen, and a lease is never granted twice
// nor an exporter given two active leases, whoever races for them.

import { strict as assert } from "node:assert";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { DatabaseSync } from "node:sqlite";
import { fileURLToPath } from "node:url";
import { runToEnd } from "../../tests/fixtures/processes_io.ts";
import { withTempDir } from "../../tests/fixtures/temp_dir.ts";
import { openSqliteStore, SCHEMA_VERSION, type SqliteStore, SqliteStoreError } from "./sqlite.ts";
import {
  assertOneActiveLeasePerExporter,
  NS,
  runRaceWorker,
  seeded,
  seedRace,
} from "./testdata/race.ts";
import {
  type AccessPolicyRecord,
  AlreadyExistsError,
  type Condition,
  type DeviceRecord,
  type LeaseRecord,
  NotFoundError,
} from "./types.ts";

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "testdata", "grant_worker.ts");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** A test body with a fresh in-memory store, closed afterwards. */
function withStore(fn: (store: SqliteStore) => Promise<void>): () => Promise<void> {
  return async () => {
    const store = openSqliteStore(":memory:");
    try {
      await fn(store);
    } finally {
      await store.close();
    }
  };
}

function condition(
  type: Condition["type"],
  status: Condition["status"],
  reason: string,
  at: number,
): Condition {
  return { type, status, reason, message: `${type} ${reason}`, lastTransitionTime: at };
}

function leaseSpec(
  name: string,
  fields: Partial<Omit<LeaseRecord, "seq" | "createdAt" | "status">> = {},
): Omit<LeaseRecord, "seq" | "createdAt" | "status"> {
  return {
    namespace: NS,
    name,
    client: "alice",
    selector: {
      matchLabels: { board: "rpi4" },
      matchExpressions: [{ key: "site", operator: "In", values: ["lab-a", "lab-b"] }],
    },
    durationMs: 30_000,
    tags: { team: "kernel" },
    context: { ci: "job-17" },
    allowDisabled: false,
    release: false,
    ...fields,
  };
}

function grantAt(now: number) {
  return {
    now,
    priority: 3,
    spotAccess: true,
    conditions: [condition("Ready", "True", "Ready", now)],
  };
}

const POLICY: AccessPolicyRecord = {
  namespace: NS,
  name: "boards",
  exporterSelector: { matchLabels: { board: "rpi4" }, matchExpressions: [] },
  policies: [{
    description: "CI first",
    priority: 10,
    from: [{
      clientSelector: {
        matchLabels: { role: "ci" },
        matchExpressions: [{ key: "team", operator: "Exists", values: [] }],
      },
    }],
    maximumDurationMs: 3_600_000,
    spotAccess: false,
  }, { priority: 0, from: [], spotAccess: true }],
};

Deno.test(
  "clients: create assigns a uid and createdAt, get/list/delete round-trip, duplicates and unknown names are refused",
  withStore(async (store) => {
    const before = Date.now();
    const alice = await store.createClient({
      namespace: NS,
      name: "alice",
      labels: { role: "ci", "team.example.com/name": "kernel" },
      username: "oidc:alice@example.com",
    });
    const bob = await store.createClient({ namespace: NS, name: "bob", labels: {} });
    await store.createClient({ namespace: "elsewhere", name: "carol", labels: {} });

    assert.match(alice.uid, UUID);
    assert.notEqual(alice.uid, bob.uid);
    assert.ok(alice.createdAt >= before && alice.createdAt <= Date.now());
    assert.deepEqual(await store.getClient(NS, "alice"), alice);
    assert.equal(alice.username, "oidc:alice@example.com");
    assert.equal("username" in bob, false);
    assert.deepEqual((await store.listClients(NS)).map((c) => c.name), ["alice", "bob"]);

    await assert.rejects(
      store.createClient({ namespace: NS, name: "alice", labels: {} }),
      AlreadyExistsError,
    );
    await assert.rejects(store.deleteClient(NS, "nobody"), NotFoundError);
    assert.equal(await store.getClient(NS, "nobody"), undefined);

    await store.deleteClient(NS, "alice");
    assert.equal(await store.getClient(NS, "alice"), undefined);
    const again = await store.createClient({ namespace: NS, name: "alice", labels: {} });
    assert.notEqual(again.uid, alice.uid, "a re-created client must not reuse the old uid");
  }),
);

Deno.test(
  "exporters: created enabled and offline, updateExporter applies only the given fields, unknown names are refused",
  withStore(async (store) => {
    const created = await store.createExporter({ namespace: NS, name: "rpi", labels: { a: "1" } });
    assert.match(created.uid, UUID);
    assert.equal(created.enabled, true);
    assert.equal(created.status, "Offline");
    assert.equal(created.devices, null);
    assert.equal(created.lastSeen, null);
    const disabled = await store.createExporter({
      namespace: NS,
      name: "spare",
      labels: {},
      enabled: false,
    });
    assert.equal(disabled.enabled, false);

    const devices: DeviceRecord[] = [
      { uuid: "root", labels: { "jumpstarter.dev/client": "Composite" } },
      { uuid: "serial", parentUuid: "root", labels: { "jumpstarter.dev/name": "serial" } },
    ];
    const registered = await store.updateExporter(NS, "rpi", {
      devices,
      lastSeen: 1234,
      status: "Available",
      statusMessage: "ready",
      version: "0.7.0",
    });
    assert.deepEqual(registered, {
      ...created,
      devices,
      lastSeen: 1234,
      status: "Available",
      statusMessage: "ready",
      version: "0.7.0",
    });
    const relabelled = await store.updateExporter(NS, "rpi", {
      labels: { a: "2" },
      version: undefined,
    });
    assert.deepEqual(relabelled, { ...registered, labels: { a: "2" } });
    assert.deepEqual(await store.getExporter(NS, "rpi"), relabelled);
    assert.deepEqual((await store.listExporters(NS)).map((e) => e.name), ["rpi", "spare"]);

    await assert.rejects(store.updateExporter(NS, "gone", { enabled: false }), NotFoundError);
    await assert.rejects(store.deleteExporter(NS, "gone"), NotFoundError);
    await assert.rejects(
      store.createExporter({ namespace: NS, name: "rpi", labels: {} }),
      AlreadyExistsError,
    );
    await store.deleteExporter(NS, "spare");
    assert.equal(await store.getExporter(NS, "spare"), undefined);
  }),
);

Deno.test(
  "leases: queued in seq order with a pending status, spec fields round-trip, listLeases filters by client and ended",
  withStore(async (store) => {
    const first = await store.createLease(leaseSpec("first"));
    const second = await store.createLease(
      leaseSpec("second", { client: "bob", exporterName: "rpi", beginTime: 10, endTime: 20 }),
    );
    const third = await store.createLease(leaseSpec("third", { allowDisabled: true }));

    assert.ok(first.seq < second.seq && second.seq < third.seq);
    assert.deepEqual(first.status, {
      ended: false,
      priority: 0,
      spotAccess: false,
      conditions: [],
    });
    assert.deepEqual(await store.getLease(NS, "second"), second);
    assert.deepEqual(second.selector, leaseSpec("x").selector);
    assert.equal(second.exporterName, "rpi");
    assert.equal(second.endTime, 20);
    assert.equal("exporterName" in first, false);
    assert.equal(third.allowDisabled, true);
    await assert.rejects(store.createLease(leaseSpec("first")), AlreadyExistsError);

    const names = async (options?: { includeEnded?: boolean; client?: string }) =>
      (await store.listLeases(NS, options)).map((lease) => lease.name);
    assert.deepEqual(await names(), ["first", "second", "third"]);
    assert.deepEqual(await names({ client: "alice" }), ["first", "third"]);
    assert.equal(await store.endLease(NS, "first", { now: 5, conditions: [] }), true);
    assert.deepEqual(await names(), ["second", "third"]);
    assert.deepEqual(await names({ includeEnded: true, client: "alice" }), ["first", "third"]);
    assert.deepEqual(await store.listLeases("elsewhere"), []);

    const updated = await store.updateLeaseSpec(NS, "third", { durationMs: 90_000, release: true });
    assert.deepEqual(updated, { ...third, durationMs: 90_000, release: true });
    assert.deepEqual(await store.getLease(NS, "third"), updated);

    const pending = [condition("Pending", "True", "NoExporter", 7)];
    await store.setLeaseConditions(NS, "third", pending);
    assert.deepEqual((await store.getLease(NS, "third"))?.status.conditions, pending);

    await assert.rejects(store.updateLeaseSpec(NS, "gone", { release: true }), NotFoundError);
    await assert.rejects(store.setLeaseConditions(NS, "gone", []), NotFoundError);
    await assert.rejects(store.endLease(NS, "gone", { now: 1, conditions: [] }), NotFoundError);
    assert.equal(await store.getLease(NS, "gone"), undefined);
  }),
);

Deno.test(
  "access policies: put inserts and replaces, list round-trips selectors and rules, delete refuses unknown names",
  withStore(async (store) => {
    await store.putAccessPolicy(POLICY);
    await store.putAccessPolicy({ ...POLICY, name: "all", policies: [] });
    assert.deepEqual(await store.listAccessPolicies(NS), [
      { ...POLICY, name: "all", policies: [] },
      POLICY,
    ]);

    const replaced = { ...POLICY, policies: [{ priority: 1, from: [], spotAccess: false }] };
    await store.putAccessPolicy(replaced);
    assert.deepEqual(
      (await store.listAccessPolicies(NS)).find((p) => p.name === "boards"),
      replaced,
    );

    await store.deleteAccessPolicy(NS, "all");
    assert.deepEqual(await store.listAccessPolicies(NS), [replaced]);
    await assert.rejects(store.deleteAccessPolicy(NS, "all"), NotFoundError);
  }),
);

Deno.test(
  "a reopened database file still holds every record, grants included",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    const first = openSqliteStore(path);
    const client = await first.createClient({ namespace: NS, name: "alice", labels: { x: "y" } });
    await first.createExporter({ namespace: NS, name: "rpi", labels: { board: "rpi4" } });
    const exporter = await first.updateExporter(NS, "rpi", { devices: [], lastSeen: 99 });
    await first.createLease(leaseSpec("granted"));
    await first.createLease(leaseSpec("waiting"));
    await first.putAccessPolicy(POLICY);
    assert.equal(await first.grantLease(NS, "granted", "rpi", grantAt(1000)), true);
    const leases = await first.listLeases(NS);
    await first.close();

    const second = openSqliteStore(path);
    try {
      assert.deepEqual(await second.getClient(NS, "alice"), client);
      assert.deepEqual(await second.getExporter(NS, "rpi"), exporter);
      assert.deepEqual(await second.listLeases(NS), leases);
      assert.equal((await second.activeLeaseOf(NS, "rpi"))?.name, "granted");
      assert.deepEqual(await second.listAccessPolicies(NS), [POLICY]);
      assert.equal(await second.grantLease(NS, "waiting", "rpi", grantAt(2000)), false);
      const next = await second.createLease(leaseSpec("next"));
      assert.ok(next.seq > leases[1].seq, "the queue continues after a reopen");
    } finally {
      await second.close();
    }
  }),
);

Deno.test(
  "a new database file is journaled in WAL mode and carries the schema version",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    await openSqliteStore(path).close();
    const db = new DatabaseSync(path);
    try {
      assert.deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
      assert.deepEqual({ ...db.prepare("PRAGMA user_version").get() }, {
        user_version: SCHEMA_VERSION,
      });
    } finally {
      db.close();
    }
  }),
);

Deno.test(
  "grantLease refuses a busy exporter, an ended lease and a lease already granted; endLease frees the exporter",
  withStore(async (store) => {
    for (const name of ["rpi", "jetson"]) {
      await store.createExporter({ namespace: NS, name, labels: {} });
    }
    for (const name of ["a", "b", "c"]) await store.createLease(leaseSpec(name));
    await store.createLease(leaseSpec("fixed-end", { endTime: 5000 }));

    assert.equal(await store.grantLease(NS, "a", "rpi", grantAt(1000)), true);
    const granted = await store.getLease(NS, "a");
    assert.deepEqual(granted?.status, {
      exporter: "rpi",
      beginTime: 1000,
      endTime: 1000 + 30_000,
      ended: false,
      priority: 3,
      spotAccess: true,
      conditions: grantAt(1000).conditions,
    });
    assert.deepEqual(await store.activeLeaseOf(NS, "rpi"), granted);
    assert.equal(await store.activeLeaseOf(NS, "jetson"), undefined);

    assert.equal(await store.grantLease(NS, "b", "rpi", grantAt(1100)), false, "busy exporter");
    assert.equal(await store.grantLease(NS, "a", "jetson", grantAt(1100)), false, "granted");
    assert.equal(await store.grantLease(NS, "a", "rpi", grantAt(1100)), false, "granted");
    assert.equal(await store.grantLease(NS, "b", "nope", grantAt(1100)), false, "no exporter");
    assert.equal(await store.grantLease(NS, "nope", "jetson", grantAt(1100)), false, "no lease");
    assert.equal((await store.getLease(NS, "b"))?.status.exporter, undefined);
    assert.deepEqual(await store.getLease(NS, "a"), granted, "a refused grant changes nothing");

    assert.equal(await store.endLease(NS, "c", { now: 1200, conditions: [] }), true);
    assert.equal(await store.grantLease(NS, "c", "jetson", grantAt(1300)), false, "ended lease");

    const released = [condition("Ready", "False", "Released", 1400)];
    assert.equal(await store.endLease(NS, "a", { now: 1400, conditions: released }), true);
    assert.equal(await store.endLease(NS, "a", { now: 1500, conditions: [] }), false);
    const ended = await store.getLease(NS, "a");
    assert.deepEqual(ended?.status, {
      ...granted!.status,
      ended: true,
      endTime: 1400,
      conditions: released,
    });
    assert.equal(await store.activeLeaseOf(NS, "rpi"), undefined);
    assert.equal(await store.grantLease(NS, "a", "rpi", grantAt(1600)), false, "ended lease");
    assert.equal(await store.grantLease(NS, "b", "rpi", grantAt(1600)), true, "exporter freed");

    assert.equal(await store.grantLease(NS, "fixed-end", "jetson", grantAt(1700)), true);
    assert.equal((await store.getLease(NS, "fixed-end"))?.status.endTime, 5000);
  }),
);

Deno.test(
  "a granted lease: its end follows spec updates, and a late pending verdict does not overwrite its conditions",
  withStore(async (store) => {
    await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
    await store.createLease(leaseSpec("a"));
    await store.grantLease(NS, "a", "rpi", grantAt(1000));

    const extended = await store.updateLeaseSpec(NS, "a", { durationMs: 60_000 });
    assert.equal(extended.status.endTime, 61_000);
    const pinned = await store.updateLeaseSpec(NS, "a", { endTime: 7000 });
    assert.equal(pinned.status.endTime, 7000);
    assert.deepEqual(await store.getLease(NS, "a"), pinned);

    await store.setLeaseConditions(NS, "a", [condition("Pending", "True", "NoExporter", 2000)]);
    assert.deepEqual((await store.getLease(NS, "a"))?.status.conditions, grantAt(1000).conditions);
  }),
);

Deno.test(
  "deleting a client ends its leases, granted or pending, with reason Released",
  withStore(async (store) => {
    await store.createClient({ namespace: NS, name: "alice", labels: {} });
    await store.createClient({ namespace: NS, name: "bob", labels: {} });
    await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
    await store.createLease(leaseSpec("granted"));
    await store.createLease(leaseSpec("pending"));
    await store.createLease(leaseSpec("bobs", { client: "bob" }));
    await store.grantLease(NS, "granted", "rpi", grantAt(1000));

    const before = Date.now();
    await store.deleteClient(NS, "alice");

    assert.equal(await store.getClient(NS, "alice"), undefined);
    assert.equal(await store.activeLeaseOf(NS, "rpi"), undefined);
    for (const name of ["granted", "pending"]) {
      const lease = (await store.getLease(NS, name))!;
      assert.equal(lease.status.ended, true, name);
      assert.ok(lease.status.endTime! >= before, name);
      const ready = lease.status.conditions.filter((c) => c.type === "Ready");
      assert.equal(ready.length, 1, name);
      assert.equal(ready[0].status, "False");
      assert.equal(ready[0].reason, "Released");
      assert.match(ready[0].message, /client lab\/alice was deleted/);
    }
    assert.deepEqual((await store.listLeases(NS)).map((lease) => lease.name), ["bobs"]);
    assert.equal(await store.grantLease(NS, "bobs", "rpi", grantAt(2000)), true);
  }),
);

Deno.test(
  "deleting an exporter ends its active lease with reason Released and leaves the others",
  withStore(async (store) => {
    await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
    await store.createExporter({ namespace: NS, name: "jetson", labels: {} });
    await store.createLease(leaseSpec("on-rpi"));
    await store.createLease(leaseSpec("on-jetson"));
    await store.grantLease(NS, "on-rpi", "rpi", grantAt(1000));
    await store.grantLease(NS, "on-jetson", "jetson", grantAt(1000));

    await store.deleteExporter(NS, "rpi");

    const ended = (await store.getLease(NS, "on-rpi"))!;
    assert.equal(ended.status.ended, true);
    assert.deepEqual(
      ended.status.conditions.map((c) => [c.type, c.status, c.reason]),
      [["Ready", "False", "Released"]],
    );
    assert.match(ended.status.conditions[0].message, /exporter lab\/rpi was deleted/);
    assert.equal((await store.activeLeaseOf(NS, "jetson"))?.name, "on-jetson");
  }),
);

Deno.test(
  "the database itself refuses a second active lease on an exporter, even written behind grantLease's back",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    const store = openSqliteStore(path);
    await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
    await store.createLease(leaseSpec("a"));
    await store.createLease(leaseSpec("b"));
    await store.grantLease(NS, "a", "rpi", grantAt(1000));
    await store.close();

    const db = new DatabaseSync(path);
    try {
      const sneak = db.prepare("UPDATE leases SET status_exporter = 'rpi' WHERE name = 'b'");
      assert.throws(() => sneak.run(), /UNIQUE constraint failed/);
      db.exec("UPDATE leases SET ended = 1 WHERE name = 'a'");
      assert.equal(sneak.run().changes, 1, "once the first lease ended the exporter is free");
    } finally {
      db.close();
    }
  }),
);

/**
 * Remembers every grant: the ones grantLease answered true for, and the ones seen in the store,
 * so that a lease whose grant changes, disappears or repeats is caught.
 */
class GrantLedger {
  readonly won = new Map<string, { exporter: string; at: number }>();
  readonly #seen = new Map<string, { exporter: string; at: number }>();
  readonly #ended = new Set<string>();

  granted = (lease: string, exporter: string, at: number): void => {
    assert.equal(this.won.get(lease), undefined, `${lease} was granted twice`);
    this.won.set(lease, { exporter, at });
  };

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
    const inStore = leases
      .filter((lease) => lease.status.exporter !== undefined)
      .map((
        lease,
      ) => [lease.name, { exporter: lease.status.exporter!, at: lease.status.beginTime! }]);
    assert.deepEqual(new Map(inStore as [string, { exporter: string; at: number }][]), this.won);
  }
}

/**
 * Eight workers interleave random grants and ends over `stores` (all on one database), each
 * checking the invariant after every step through another store than the one it writes with.
 */
async function race(stores: SqliteStore[], seed: number): Promise<void> {
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
async function assertRefusalsWereNeeded(
  store: SqliteStore,
  exporters: string[],
  leases: LeaseRecord[],
): Promise<void> {
  const busy = new Set(leases.filter((l) => !l.status.ended).map((l) => l.status.exporter));
  const free = exporters.filter((exporter) => !busy.has(exporter));
  const pending = leases.filter((l) => !l.status.ended && l.status.exporter === undefined);
  assert.ok(pending.length >= free.length, "too few pending leases left to check liveness");
  for (const [i, exporter] of free.entries()) {
    const lease = pending[i].name;
    assert.equal(await store.grantLease(NS, lease, exporter, grantAt(9e9)), true, lease);
  }
  await assertOneActiveLeasePerExporter(store);
}

Deno.test(
  "property: eight workers granting and ending concurrently on one store never give an exporter two leases nor a lease two grants",
  async () => {
    for (const seed of [1, 1001, 2002]) await withStore((store) => race([store], seed))();
  },
);

Deno.test(
  "property: two stores on one database file, granting interleaved, never give an exporter two leases nor a lease two grants",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    const stores = [openSqliteStore(path), openSqliteStore(path)];
    try {
      await race(stores, 7);
    } finally {
      for (const store of stores) await store.close();
    }
  }),
);

Deno.test(
  "property: grant workers in three processes on one database file never grant a lease twice",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    const setup = openSqliteStore(path);
    const { exporters } = await seedRace(setup, 10, 200);
    await setup.close();

    const runs = await Promise.all([11, 22, 33].map((seed) =>
      runToEnd(
        [process.execPath, "run", "-A", WORKER, path, String(seed), "150"],
        process.env,
      )
    ));
    for (const run of runs) assert.equal(run.code, 0, run.stderr);
    const wins = runs.map((run) =>
      run.stdout.split("\n").filter(Boolean).map((line) =>
        JSON.parse(line) as { lease: string; exporter: string; at: number }
      )
    );
    assert.ok(wins.filter((won) => won.length > 0).length >= 2, "every grant went to one process");
    const all = wins.flat();
    const names = all.map((won) => won.lease);
    assert.equal(new Set(names).size, names.length, "a lease was granted more than once");

    const store = openSqliteStore(path);
    try {
      const leases = await assertOneActiveLeasePerExporter(store);
      const granted = leases.filter((lease) => lease.status.exporter !== undefined);
      assert.deepEqual(
        granted.map((l) => [l.name, l.status.exporter, l.status.beginTime]).sort(),
        all.map((won) => [won.lease, won.exporter, won.at]).sort(),
      );
      await assertRefusalsWereNeeded(store, exporters, leases);
    } finally {
      await store.close();
    }
  }),
);

Deno.test(
  "a database with a newer schema version is refused, naming the file and both versions",
  withTempDir(async (dir) => {
    const path = join(dir, "state.db");
    await openSqliteStore(path).close();
    const db = new DatabaseSync(path);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();

    assert.throws(() => openSqliteStore(path), (error: unknown) => {
      assert.ok(error instanceof SqliteStoreError);
      assert.equal(error.path, path);
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, new RegExp(`version ${SCHEMA_VERSION + 1} is newer`));
      assert.match(error.message, new RegExp(`\\(${SCHEMA_VERSION}\\)`));
      return true;
    });
  }),
);

Deno.test(
  "a file that is not a database, or cannot be opened, is refused with one line naming the file and the cause",
  withTempDir((dir) => {
    const garbage = join(dir, "state.db");
    writeFileSync(garbage, "this is not a database\n".repeat(200));
    const missing = join(dir, "no", "such", "dir", "state.db");
    for (
      const [path, cause] of [[garbage, /not a database/], [missing, /unable to open/]] as const
    ) {
      assert.throws(() => openSqliteStore(path), (error: unknown) => {
        assert.ok(error instanceof SqliteStoreError);
        assert.ok(error.message.startsWith(`cannot open state database ${path}: `), error.message);
        assert.match(error.message, cause);
        assert.equal(error.message.includes("\n"), false);
        return true;
      });
    }
  }),
);
