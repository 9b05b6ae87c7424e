// What every `Store` backend must do, as one suite of Deno tests: each backend's test file calls
// `storeConformance` with a harness that opens its stores, so SQLite and Kubernetes hold the
// controller to the same facts.

import { strict as assert } from "node:assert";
import { GrantLedger, NS, race } from "./testdata/race.ts";
import {
  type AccessPolicyRecord,
  AlreadyExistsError,
  type Condition,
  type DeviceRecord,
  type LeaseRecord,
  type LeaseStatus,
  NotFoundError,
  type Store,
} from "./types.ts";

/**
 * Opens the stores of one conformance test. The suite makes one harness per test (and per
 * property-test seed), calls `open` once on it, then `openSibling` as often as the test needs.
 */
export interface StoreHarness {
  /** A fresh, empty store. */
  open(): Promise<Store>;
  /** A second store on the same underlying state as the last opened one (another process, a restart); undefined when the backend cannot. */
  openSibling?(): Promise<Store>;
  /**
   * Cleans up: removes what the harness made (files, namespaces). The suite has closed every
   * store it got before, each exactly once.
   */
  close(): Promise<void>;
}

/**
 * Registers the conformance tests, named `${backend} store: <behaviour>`, each with a harness
 * from `makeHarness`. Tests that need sibling stores report a step as ignored when the harness
 * has no `openSibling`.
 *
 * @example
 * ```ts
 * import { openSqliteStore } from "./sqlite.ts";
 *
 * storeConformance("sqlite in memory", () =>
 *   Promise.resolve({
 *     open: () => Promise.resolve(openSqliteStore(":memory:")),
 *     close: () => Promise.resolve(),
 *   }));
 * ```
 */
export function storeConformance(
  backend: string,
  makeHarness: () => Promise<StoreHarness>,
): void {
  const test = (behaviour: string, body: TestBody) =>
    Deno.test(`${backend} store: ${behaviour}`, (t) => withStores(makeHarness, body, t));

  test(
    "clients: createClient assigns a uid and createdAt; get and list (in name order) return the record as created",
    async (store) => {
      const before = Date.now();
      const bob = await store.createClient({ namespace: NS, name: "bob", labels: {} });
      const alice = await store.createClient({
        namespace: NS,
        name: "alice",
        labels: { role: "ci", "team.example.com/name": "kernel", empty: "" },
        username: "oidc:alice@example.com",
      });
      await store.createClient({ namespace: OTHER, name: "carol", labels: {} });
      const after = Date.now();

      assert.deepEqual(alice, {
        namespace: NS,
        name: "alice",
        labels: { role: "ci", "team.example.com/name": "kernel", empty: "" },
        username: "oidc:alice@example.com",
        uid: alice.uid,
        createdAt: alice.createdAt,
      });
      assert.match(alice.uid, UUID);
      assert.notEqual(alice.uid, bob.uid);
      assertAbout(alice.createdAt, before, after, "createdAt");
      assert.equal("username" in bob, false, "a client without a user name has none");
      assert.deepEqual(await store.getClient(NS, "alice"), alice);
      assert.deepEqual(await store.getClient(NS, "bob"), bob);
      assert.deepEqual(await store.listClients(NS), [alice, bob]);
      assert.deepEqual((await store.listClients(OTHER)).map((c) => c.name), ["carol"]);
      assert.deepEqual(await store.listClients("empty"), []);
    },
  );

  test(
    "clients: a taken name is refused with AlreadyExistsError; an unknown one reads as undefined and deleting it is a NotFoundError",
    async (store) => {
      const alice = await store.createClient({ namespace: NS, name: "alice", labels: { a: "1" } });
      await assert.rejects(
        store.createClient({ namespace: NS, name: "alice", labels: { a: "2" } }),
        AlreadyExistsError,
      );
      assert.deepEqual(await store.getClient(NS, "alice"), alice, "a refused create changed it");
      assert.equal(await store.getClient(NS, "nobody"), undefined);
      assert.equal(await store.getClient(OTHER, "alice"), undefined);
      await assert.rejects(store.deleteClient(NS, "nobody"), NotFoundError);
      await assert.rejects(store.deleteClient(OTHER, "alice"), NotFoundError);
      assert.deepEqual(await store.listClients(NS), [alice]);
    },
  );

  test(
    "clients: a deleted client is gone, and a re-created one gets a new uid, so its old tokens stop working",
    async (store) => {
      const alice = await store.createClient({ namespace: NS, name: "alice", labels: {} });
      await store.deleteClient(NS, "alice");
      assert.equal(await store.getClient(NS, "alice"), undefined);
      assert.deepEqual(await store.listClients(NS), []);
      const again = await store.createClient({ namespace: NS, name: "alice", labels: {} });
      assert.match(again.uid, UUID);
      assert.notEqual(again.uid, alice.uid, "a re-created client must not reuse the old uid");
    },
  );

  test(
    "exporters: createExporter makes an enabled (unless told otherwise), offline, never registered nor seen exporter",
    async (store) => {
      const before = Date.now();
      const rpi = await store.createExporter({
        namespace: NS,
        name: "rpi",
        labels: { board: "rpi4", "example.com/site": "lab-a" },
      });
      const spare = await store.createExporter({
        namespace: NS,
        name: "spare",
        labels: {},
        enabled: false,
      });
      const after = Date.now();
      assert.deepEqual(rpi, {
        namespace: NS,
        name: "rpi",
        uid: rpi.uid,
        labels: { board: "rpi4", "example.com/site": "lab-a" },
        enabled: true,
        devices: null,
        lastSeen: null,
        status: "Offline",
        statusMessage: "",
        createdAt: rpi.createdAt,
      });
      assert.match(rpi.uid, UUID);
      assertAbout(rpi.createdAt, before, after, "createdAt");
      assert.equal(spare.enabled, false);
      assert.notEqual(spare.uid, rpi.uid);
      assert.deepEqual(await store.getExporter(NS, "rpi"), rpi);
      assert.deepEqual(await store.listExporters(NS), [rpi, spare]);
      assert.deepEqual(await store.listExporters(OTHER), []);
    },
  );

  test(
    "exporters: updateExporter applies only the fields given (undefined leaves a field as is) and returns what get then reads",
    async (store) => {
      const created = await store.createExporter({
        namespace: NS,
        name: "rpi",
        labels: { a: "1" },
      });
      const devices: DeviceRecord[] = [
        { uuid: "root", labels: { "jumpstarter.dev/client": "Composite" } },
        { uuid: "serial", parentUuid: "root", labels: { "jumpstarter.dev/name": "serial" } },
      ];
      const registered = await store.updateExporter(NS, "rpi", {
        devices,
        lastSeen: T + 1_234,
        status: "Available",
        statusMessage: "Exporter registered",
        version: "0.7.0",
      });
      assert.deepEqual(registered, {
        ...created,
        devices,
        lastSeen: T + 1_234,
        status: "Available",
        statusMessage: "Exporter registered",
        version: "0.7.0",
      });
      assert.equal("parentUuid" in registered.devices![0], false);
      assert.deepEqual(await store.getExporter(NS, "rpi"), registered);

      const relabelled = await store.updateExporter(NS, "rpi", {
        labels: { a: "2", b: "3" },
        version: undefined,
      });
      assert.deepEqual(relabelled, { ...registered, labels: { a: "2", b: "3" } });
      const seen = await store.updateExporter(NS, "rpi", { lastSeen: T + 5_000, enabled: false });
      assert.deepEqual(seen, { ...relabelled, lastSeen: T + 5_000, enabled: false });
      const leasing = await store.updateExporter(NS, "rpi", {
        status: "LeaseReady",
        statusMessage: "",
      });
      assert.deepEqual(leasing, { ...seen, status: "LeaseReady", statusMessage: "" });
      assert.deepEqual(await store.getExporter(NS, "rpi"), leasing);
      assert.deepEqual(await store.listExporters(NS), [leasing]);
    },
  );

  test(
    "exporters: taken and unknown names are refused, and a re-created exporter gets a new uid",
    async (store) => {
      const rpi = await store.createExporter({ namespace: NS, name: "rpi", labels: { a: "1" } });
      await assert.rejects(
        store.createExporter({ namespace: NS, name: "rpi", labels: { a: "2" } }),
        AlreadyExistsError,
      );
      assert.deepEqual(await store.getExporter(NS, "rpi"), rpi, "a refused create changed it");
      assert.equal(await store.getExporter(NS, "gone"), undefined);
      assert.equal(await store.getExporter(OTHER, "rpi"), undefined);
      await assert.rejects(store.updateExporter(NS, "gone", { enabled: false }), NotFoundError);
      await assert.rejects(store.updateExporter(OTHER, "rpi", { enabled: false }), NotFoundError);
      await assert.rejects(store.deleteExporter(NS, "gone"), NotFoundError);

      await store.deleteExporter(NS, "rpi");
      assert.equal(await store.getExporter(NS, "rpi"), undefined);
      assert.deepEqual(await store.listExporters(NS), []);
      await assert.rejects(store.updateExporter(NS, "rpi", { lastSeen: T }), NotFoundError);
      const again = await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      assert.notEqual(again.uid, rpi.uid, "a re-created exporter must not reuse the old uid");
    },
  );

  test(
    "leases: createLease queues in increasing seq with a pending status; listLeases is in queue order, not name order",
    async (store) => {
      const before = Date.now();
      const zulu = await store.createLease(leaseSpec("zulu"));
      const yankee = await store.createLease(leaseSpec("yankee"));
      const xray = await store.createLease(leaseSpec("xray"));
      const after = Date.now();

      assert.ok(zulu.seq < yankee.seq && yankee.seq < xray.seq, "seq grows with each lease");
      for (const lease of [zulu, yankee, xray]) {
        assert.deepEqual(lease.status, PENDING, lease.name);
        assertAbout(lease.createdAt, before, after, `${lease.name} createdAt`);
      }
      assert.deepEqual(await store.listLeases(NS), [zulu, yankee, xray]);
    },
  );

  test(
    "leases: every spec field round-trips (selector expressions, tags, context); unset optional fields stay absent",
    async (store) => {
      const full = leaseSpec("full", {
        client: "bob",
        exporterName: "rpi",
        beginTime: T + 10,
        endTime: T + 20_001,
        durationMs: 12_345,
        tags: { team: "kernel", "example.com/ci": "nightly" },
        context: { job: "job-17", url: "https://ci.example.com/17" },
        allowDisabled: true,
        release: true,
      });
      const created = await store.createLease(full);
      assert.deepEqual(created, {
        ...full,
        seq: created.seq,
        createdAt: created.createdAt,
        status: PENDING,
      });
      assert.deepEqual(await store.getLease(NS, "full"), created);

      const bare = await store.createLease(leaseSpec("bare", { tags: {}, context: {} }));
      for (const field of ["exporterName", "beginTime", "endTime"]) {
        assert.equal(field in bare, false, `${field} was never set`);
      }
      for (const field of ["exporter", "beginTime", "endTime"]) {
        assert.equal(field in bare.status, false, `status.${field} was never set`);
      }
      assert.deepEqual(await store.getLease(NS, "bare"), bare);
    },
  );

  test("leases: concurrent creates get distinct seqs and list in seq order", async (store, {
    stores,
  }) => {
    const writers = stores.hasSiblings ? [store, await stores.sibling()] : [store];
    const names = Array.from({ length: 20 }, (_, i) => `c-${String(i).padStart(2, "0")}`);
    const created = await Promise.all(
      names.map((name, i) => writers[i % writers.length].createLease(leaseSpec(name))),
    );
    const seqs = created.map((lease) => lease.seq);
    assert.equal(new Set(seqs).size, seqs.length, `two leases share a seq: ${seqs}`);
    const listed = await store.listLeases(NS);
    assert.deepEqual(listed, [...created].sort((a, b) => a.seq - b.seq));
  });

  test(
    "leases: listLeases leaves ended leases out unless includeEnded, filters by client, and stays within its namespace",
    async (store) => {
      await store.createLease(leaseSpec("zulu"));
      await store.createLease(leaseSpec("yankee", { client: "bob" }));
      await store.createLease(leaseSpec("xray"));
      await store.createLease(leaseSpec("zulu", { namespace: OTHER }));
      const names = async (options?: { includeEnded?: boolean; client?: string }) =>
        (await store.listLeases(NS, options)).map((lease) => lease.name);

      assert.deepEqual(await names(), ["zulu", "yankee", "xray"]);
      assert.deepEqual(await names({ client: "alice" }), ["zulu", "xray"]);
      assert.deepEqual(await names({ client: "nobody" }), []);
      assert.equal(await store.endLease(NS, "zulu", { now: T, conditions: [] }), true);
      assert.deepEqual(await names(), ["yankee", "xray"]);
      assert.deepEqual(await names({ includeEnded: false }), ["yankee", "xray"]);
      assert.deepEqual(await names({ includeEnded: true }), ["zulu", "yankee", "xray"]);
      assert.deepEqual(await names({ includeEnded: true, client: "alice" }), ["zulu", "xray"]);
      assert.deepEqual(await names({ client: "alice" }), ["xray"]);

      const elsewhere = await store.listLeases(OTHER);
      assert.deepEqual(elsewhere.map((l) => [l.namespace, l.name, l.status.ended]), [
        [OTHER, "zulu", false],
      ]);
      assert.deepEqual(await store.listLeases("empty", { includeEnded: true }), []);
    },
  );

  test(
    "leases: a taken name is refused; unknown names read as undefined and updateLeaseSpec, setLeaseConditions and endLease refuse them",
    async (store) => {
      const zulu = await store.createLease(leaseSpec("zulu"));
      await assert.rejects(
        store.createLease(leaseSpec("zulu", { client: "bob" })),
        AlreadyExistsError,
      );
      assert.deepEqual(await store.getLease(NS, "zulu"), zulu, "a refused create changed it");
      assert.equal(await store.getLease(NS, "gone"), undefined);
      assert.equal(await store.getLease(OTHER, "zulu"), undefined);
      assert.equal(await store.activeLeaseOf(NS, "nobody"), undefined);
      await assert.rejects(store.updateLeaseSpec(NS, "gone", { release: true }), NotFoundError);
      await assert.rejects(store.setLeaseConditions(NS, "gone", []), NotFoundError);
      await assert.rejects(store.endLease(NS, "gone", { now: T, conditions: [] }), NotFoundError);
      await assert.rejects(
        store.endLease(OTHER, "zulu", { now: T, conditions: [] }),
        NotFoundError,
      );
      assert.deepEqual(await store.listLeases(NS, { includeEnded: true }), [zulu]);
    },
  );

  test(
    "leases: updateLeaseSpec applies only the fields given, and a new client moves the lease to that client's listing",
    async (store) => {
      const lease = await store.createLease(leaseSpec("zulu", { endTime: T + 50_000 }));
      const released = await store.updateLeaseSpec(NS, "zulu", {
        durationMs: 90_000,
        release: true,
        endTime: undefined,
      });
      assert.deepEqual(released, { ...lease, durationMs: 90_000, release: true });
      assert.deepEqual(await store.getLease(NS, "zulu"), released);

      const moved = await store.updateLeaseSpec(NS, "zulu", {
        client: "bob",
        beginTime: T + 5_000,
        endTime: T + 60_000,
      });
      assert.deepEqual(moved, {
        ...released,
        client: "bob",
        beginTime: T + 5_000,
        endTime: T + 60_000,
      });
      assert.deepEqual(await store.getLease(NS, "zulu"), moved);
      assert.deepEqual(await store.listLeases(NS, { client: "bob" }), [moved]);
      assert.deepEqual(await store.listLeases(NS, { client: "alice" }), []);
    },
  );

  test(
    "leases: setLeaseConditions replaces a pending lease's conditions and leaves a granted or ended lease's alone",
    async (store) => {
      await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      for (const name of ["pending", "granted", "ended"]) await store.createLease(leaseSpec(name));
      await store.grantLease(NS, "granted", "rpi", grant(T));
      await store.endLease(NS, "ended", { now: T, conditions: [condition("Invalid", "True", T)] });

      const waiting = [condition("Pending", "True", T + 1)];
      await store.setLeaseConditions(NS, "pending", waiting);
      assert.deepEqual((await store.getLease(NS, "pending"))?.status, {
        ...PENDING,
        conditions: waiting,
      });
      const later = [
        condition("Pending", "True", T + 2, "NotStarted"),
        condition("Unsatisfiable", "False", T + 2),
      ];
      await store.setLeaseConditions(NS, "pending", later);
      assert.deepEqual((await store.getLease(NS, "pending"))?.status.conditions, later);

      for (const name of ["granted", "ended"]) {
        const before = await store.getLease(NS, name);
        await store.setLeaseConditions(NS, name, [condition("Pending", "True", T + 3)]);
        assert.deepEqual(await store.getLease(NS, name), before, `${name} lease changed`);
      }
    },
  );

  test(
    "grants: grantLease sets exporter, beginTime, endTime (duration later, or the spec's end), priority, spotAccess and conditions",
    async (store) => {
      for (const name of ["rpi", "jetson"]) {
        await store.createExporter({ namespace: NS, name, labels: {} });
      }
      const byDuration = await store.createLease(leaseSpec("by-duration", { durationMs: 30_000 }));
      await store.createLease(leaseSpec("by-end", { durationMs: 30_000, endTime: T + 5_000 }));
      await store.setLeaseConditions(NS, "by-duration", [condition("Pending", "True", T)]);

      assert.equal(await store.grantLease(NS, "by-duration", "rpi", grant(T + 1_000)), true);
      const granted = (await store.getLease(NS, "by-duration"))!;
      assert.deepEqual(granted, {
        ...byDuration,
        status: {
          exporter: "rpi",
          beginTime: T + 1_000,
          endTime: T + 31_000,
          ended: false,
          priority: 3,
          spotAccess: true,
          conditions: grant(T + 1_000).conditions,
        },
      });
      assert.deepEqual(await store.activeLeaseOf(NS, "rpi"), granted);
      assert.equal(await store.activeLeaseOf(NS, "jetson"), undefined);

      const plain = { ...grant(T + 1_000), priority: 0, spotAccess: false };
      assert.equal(await store.grantLease(NS, "by-end", "jetson", plain), true);
      const byEnd = await store.activeLeaseOf(NS, "jetson");
      assert.deepEqual(byEnd?.status, {
        exporter: "jetson",
        beginTime: T + 1_000,
        endTime: T + 5_000,
        ended: false,
        priority: 0,
        spotAccess: false,
        conditions: plain.conditions,
      });
      assert.deepEqual((await store.listLeases(NS)).map((l) => l.name), ["by-duration", "by-end"]);
    },
  );

  test(
    "grants: grantLease refuses a busy exporter, a lease already granted or ended, and unknown leases or exporters, changing nothing",
    async (store) => {
      for (const name of ["rpi", "jetson"]) {
        await store.createExporter({ namespace: NS, name, labels: {} });
      }
      for (const name of ["a", "b", "c"]) await store.createLease(leaseSpec(name));
      assert.equal(await store.grantLease(NS, "a", "rpi", grant(T)), true);
      assert.equal(await store.endLease(NS, "c", { now: T, conditions: [] }), true);
      const snapshot = await store.listLeases(NS, { includeEnded: true });

      assert.equal(await store.grantLease(NS, "b", "rpi", grant(T + 1)), false, "busy exporter");
      assert.equal(await store.grantLease(NS, "a", "jetson", grant(T + 1)), false, "granted");
      assert.equal(await store.grantLease(NS, "a", "rpi", grant(T + 1)), false, "granted");
      assert.equal(await store.grantLease(NS, "c", "jetson", grant(T + 1)), false, "ended");
      assert.equal(await store.grantLease(NS, "b", "nope", grant(T + 1)), false, "no exporter");
      assert.equal(await store.grantLease(NS, "nope", "jetson", grant(T + 1)), false, "no lease");
      assert.deepEqual(await store.listLeases(NS, { includeEnded: true }), snapshot);
      assert.equal(await store.activeLeaseOf(NS, "jetson"), undefined);
      assert.equal(await store.getLease(NS, "nope"), undefined);

      assert.equal(await store.grantLease(NS, "b", "jetson", grant(T + 2)), true, "jetson free");
    },
  );

  test(
    "grants: endLease ends a granted or pending lease once, keeps its grant and frees the exporter",
    async (store) => {
      await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      for (const name of ["a", "b", "pending"]) await store.createLease(leaseSpec(name));
      await store.grantLease(NS, "a", "rpi", grant(T));
      const granted = (await store.getLease(NS, "a"))!;

      const released = [condition("Ready", "False", T + 1_400, "Released")];
      assert.equal(await store.endLease(NS, "a", { now: T + 1_400, conditions: released }), true);
      const ended = (await store.getLease(NS, "a"))!;
      assert.deepEqual(ended, {
        ...granted,
        status: { ...granted.status, ended: true, endTime: T + 1_400, conditions: released },
      });
      assert.equal(await store.activeLeaseOf(NS, "rpi"), undefined);
      assert.equal(await store.endLease(NS, "a", { now: T + 1_500, conditions: [] }), false);
      assert.deepEqual(await store.getLease(NS, "a"), ended, "a second end changed it");

      const refused = [condition("Unsatisfiable", "True", T + 1_600, "NoAccess")];
      assert.equal(
        await store.endLease(NS, "pending", { now: T + 1_600, conditions: refused }),
        true,
      );
      assert.deepEqual((await store.getLease(NS, "pending"))?.status, {
        ...PENDING,
        ended: true,
        endTime: T + 1_600,
        conditions: refused,
      });

      assert.equal(await store.grantLease(NS, "b", "rpi", grant(T + 1_700)), true, "rpi freed");
      assert.equal((await store.activeLeaseOf(NS, "rpi"))?.name, "b");
    },
  );

  test(
    "grants: a granted lease's end follows updateLeaseSpec; a pending or ended lease's status does not move",
    async (store) => {
      await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      await store.createLease(leaseSpec("a", { durationMs: 30_000 }));
      await store.createLease(leaseSpec("pending"));
      await store.grantLease(NS, "a", "rpi", grant(T));

      const extended = await store.updateLeaseSpec(NS, "a", { durationMs: 60_000 });
      assert.equal(extended.status.endTime, T + 60_000);
      assert.deepEqual(await store.getLease(NS, "a"), extended);
      const pinned = await store.updateLeaseSpec(NS, "a", { endTime: T + 7_000 });
      assert.equal(pinned.status.endTime, T + 7_000);
      const stillPinned = await store.updateLeaseSpec(NS, "a", { durationMs: 90_000 });
      assert.equal(stillPinned.status.endTime, T + 7_000, "the spec's end time wins");
      assert.deepEqual(await store.getLease(NS, "a"), stillPinned);
      assert.equal(stillPinned.status.beginTime, T, "the grant's begin does not move");

      const pending = await store.updateLeaseSpec(NS, "pending", { durationMs: 1_000 });
      assert.deepEqual(pending.status, PENDING);

      await store.endLease(NS, "a", { now: T + 6_000, conditions: [] });
      const ended = await store.updateLeaseSpec(NS, "a", { durationMs: 120_000 });
      assert.equal(ended.status.endTime, T + 6_000, "an ended lease keeps the time it ended");
      assert.equal(ended.status.ended, true);
    },
  );

  test(
    "grants: the same lease granted several times at once to one exporter keeps it busy for the others",
    async (store) => {
      await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      for (let round = 0; round < 20; round++) {
        const [twin, other] = [`twin-${round}`, `other-${round}`];
        await store.createLease(leaseSpec(twin));
        await store.createLease(leaseSpec(other));
        // Four at once, so that one attempt's retry lands between another's two writes.
        const answers = await Promise.all(
          Array.from({ length: 4 }, () => store.grantLease(NS, twin, "rpi", grant(T + round))),
        );
        assert.equal(answers.filter(Boolean).length, 1, "one of them wins");
        assert.equal(
          await store.grantLease(NS, other, "rpi", grant(T + round)),
          false,
          `round ${round}: the exporter is busy with ${twin}`,
        );
        assert.equal((await store.activeLeaseOf(NS, "rpi"))?.name, twin);
        assert.equal(await store.endLease(NS, twin, { now: T + round, conditions: [] }), true);
        assert.equal(await store.endLease(NS, other, { now: T + round, conditions: [] }), true);
      }
    },
  );

  test("grants: an exporter is busy only within its own namespace", async (store) => {
    await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
    await store.createExporter({ namespace: NS, name: "jetson", labels: {} });
    await store.createExporter({ namespace: OTHER, name: "rpi", labels: {} });
    for (const namespace of [NS, OTHER]) {
      await store.createLease(leaseSpec("a", { namespace }));
      await store.createLease(leaseSpec("b", { namespace }));
    }

    assert.equal(await store.grantLease(NS, "a", "rpi", grant(T)), true);
    assert.equal(await store.grantLease(OTHER, "a", "rpi", grant(T)), true, "busy elsewhere only");
    assert.equal(await store.grantLease(OTHER, "b", "jetson", grant(T)), false, "not in OTHER");
    assert.deepEqual(
      [
        (await store.activeLeaseOf(NS, "rpi"))?.namespace,
        (await store.activeLeaseOf(OTHER, "rpi"))
          ?.namespace,
      ],
      [NS, OTHER],
    );
    assert.equal(await store.endLease(OTHER, "a", { now: T + 1, conditions: [] }), true);
    assert.equal((await store.activeLeaseOf(NS, "rpi"))?.name, "a", "an end elsewhere freed it");
    assert.equal(await store.grantLease(NS, "b", "rpi", grant(T + 2)), false);
  });

  test(
    "deleting a client ends its granted and pending leases with reason Released, leaving ended and other clients' leases alone",
    async (store) => {
      await store.createClient({ namespace: NS, name: "alice", labels: {} });
      const bob = await store.createClient({ namespace: NS, name: "bob", labels: {} });
      await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      for (const name of ["granted", "pending", "done"]) await store.createLease(leaseSpec(name));
      await store.createLease(leaseSpec("bobs", { client: "bob" }));
      await store.grantLease(NS, "granted", "rpi", grant(T));
      await store.setLeaseConditions(NS, "pending", [condition("Pending", "True", T)]);
      const expired = [condition("Ready", "False", T + 100, "Expired")];
      await store.endLease(NS, "done", { now: T + 100, conditions: expired });
      const untouched = await Promise.all(["done", "bobs"].map((n) => store.getLease(NS, n)));
      const wasGranted = (await store.getLease(NS, "granted"))!;

      const before = Date.now();
      await store.deleteClient(NS, "alice");
      const after = Date.now();

      assert.equal(await store.getClient(NS, "alice"), undefined);
      assert.deepEqual(await store.listClients(NS), [bob]);
      assert.equal(await store.activeLeaseOf(NS, "rpi"), undefined);
      for (const name of ["granted", "pending"]) {
        const lease = (await store.getLease(NS, name))!;
        assert.equal(lease.status.ended, true, name);
        assertWithin(lease.status.endTime, before, after, `${name} endTime`);
        assertReleased(lease, "alice", before, after);
      }
      const granted = (await store.getLease(NS, "granted"))!;
      assert.equal(granted.status.exporter, "rpi", "the ended lease still says what it held");
      assert.equal(granted.status.beginTime, wasGranted.status.beginTime);
      assert.deepEqual(
        await Promise.all(["done", "bobs"].map((n) => store.getLease(NS, n))),
        untouched,
      );
      assert.deepEqual((await store.listLeases(NS)).map((lease) => lease.name), ["bobs"]);
      assert.equal(await store.grantLease(NS, "bobs", "rpi", grant(T + 2_000)), true);
    },
  );

  test("deleting an unknown client is refused and ends none of the leases in its name", async (store) => {
    const orphan = await store.createLease(leaseSpec("orphan", { client: "ghost" }));
    await assert.rejects(store.deleteClient(NS, "ghost"), NotFoundError);
    assert.deepEqual(await store.listLeases(NS, { includeEnded: true }), [orphan]);
  });

  test(
    "deleting an exporter ends its active lease with reason Released, leaving pending leases and other exporters' leases alone",
    async (store) => {
      await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      await store.createExporter({ namespace: NS, name: "jetson", labels: {} });
      await store.createLease(leaseSpec("on-rpi"));
      await store.createLease(leaseSpec("on-jetson"));
      await store.createLease(leaseSpec("wants-rpi", { exporterName: "rpi" }));
      await store.grantLease(NS, "on-rpi", "rpi", grant(T));
      await store.grantLease(NS, "on-jetson", "jetson", grant(T));
      await store.setLeaseConditions(NS, "wants-rpi", [condition("Pending", "True", T)]);
      const untouched = await Promise.all(
        ["on-jetson", "wants-rpi"].map((n) => store.getLease(NS, n)),
      );

      const before = Date.now();
      await store.deleteExporter(NS, "rpi");
      const after = Date.now();

      assert.equal(await store.getExporter(NS, "rpi"), undefined);
      const ended = (await store.getLease(NS, "on-rpi"))!;
      assert.equal(ended.status.ended, true);
      assertWithin(ended.status.endTime, before, after, "endTime");
      assert.deepEqual(
        ended.status.conditions.map((c) => [c.type, c.status, c.reason]),
        [["Ready", "False", "Released"]],
        "the Released condition replaces the grant's Ready",
      );
      assertReleased(ended, "rpi", before, after);
      assert.equal(await store.activeLeaseOf(NS, "rpi"), undefined);
      assert.deepEqual(
        await Promise.all(["on-jetson", "wants-rpi"].map((n) => store.getLease(NS, n))),
        untouched,
      );
      assert.deepEqual(await store.activeLeaseOf(NS, "jetson"), untouched[0]);
      assert.equal(await store.grantLease(NS, "wants-rpi", "rpi", grant(T + 1)), false, "gone");
    },
  );

  test(
    "access policies: put inserts, list returns them in name order with selectors and rules (maximumDurationMs, spotAccess) intact",
    async (store) => {
      const all: AccessPolicyRecord = { ...POLICY, name: "all", policies: [] };
      await store.putAccessPolicy(POLICY);
      await store.putAccessPolicy(all);
      assert.deepEqual(await store.listAccessPolicies(NS), [all, POLICY]);
      assert.deepEqual(await store.listAccessPolicies(OTHER), []);
    },
  );

  test(
    "access policies: put replaces the whole record, delete removes it and refuses unknown names, namespaces stay apart",
    async (store) => {
      await store.putAccessPolicy(POLICY);
      await store.putAccessPolicy({ ...POLICY, name: "all", policies: [] });
      const replaced: AccessPolicyRecord = {
        ...POLICY,
        exporterSelector: { matchLabels: {}, matchExpressions: [] },
        policies: [{ priority: 1, from: [], spotAccess: false }],
      };
      await store.putAccessPolicy(replaced);
      const listed = await store.listAccessPolicies(NS);
      assert.deepEqual(listed.find((p) => p.name === "boards"), replaced);
      assert.equal("maximumDurationMs" in listed[1].policies[0], false, "nothing is merged");
      assert.equal(listed.length, 2);

      const elsewhere = { ...POLICY, namespace: OTHER };
      await store.putAccessPolicy(elsewhere);
      await store.deleteAccessPolicy(NS, "all");
      assert.deepEqual(await store.listAccessPolicies(NS), [replaced]);
      assert.deepEqual(await store.listAccessPolicies(OTHER), [elsewhere]);
      await assert.rejects(store.deleteAccessPolicy(NS, "all"), NotFoundError);
      await assert.rejects(store.deleteAccessPolicy(OTHER, "all"), NotFoundError);
      await store.deleteAccessPolicy(OTHER, "boards");
      assert.deepEqual(await store.listAccessPolicies(OTHER), []);
      assert.deepEqual(await store.listAccessPolicies(NS), [replaced]);
    },
  );

  test(
    "listNamespaces: none in a fresh store; then every namespace holding a client, exporter or lease, once",
    async (store) => {
      assert.deepEqual(await store.listNamespaces(), []);
      await store.createClient({ namespace: NS, name: "alice", labels: {} });
      await store.createExporter({ namespace: NS, name: "rpi", labels: {} });
      await store.createLease(leaseSpec("a"));
      await store.createClient({ namespace: "only-clients", name: "alice", labels: {} });
      await store.createExporter({ namespace: "only-exporters", name: "rpi", labels: {} });
      await store.createLease(leaseSpec("a", { namespace: "only-leases" }));
      assert.deepEqual((await store.listNamespaces()).sort(), [
        NS,
        "only-clients",
        "only-exporters",
        "only-leases",
      ]);
    },
  );

  test(
    "siblings: a store opened after a restart holds every record, grants included, and continues the queue",
    async (first, { stores, t }) => {
      await siblingStep(t, stores, "restart", async () => {
        const client = await first.createClient({
          namespace: NS,
          name: "alice",
          labels: { x: "y" },
          username: "alice@example.com",
        });
        await first.createExporter({ namespace: NS, name: "rpi", labels: { board: "rpi4" } });
        const exporter = await first.updateExporter(NS, "rpi", { devices: [], lastSeen: T });
        for (const name of ["granted", "waiting", "ended"]) {
          await first.createLease(leaseSpec(name));
        }
        await first.putAccessPolicy(POLICY);
        assert.equal(await first.grantLease(NS, "granted", "rpi", grant(T)), true);
        await first.endLease(NS, "ended", { now: T, conditions: [condition("Ready", "False", T)] });
        const leases = await first.listLeases(NS, { includeEnded: true });
        await stores.close(first);

        const second = await stores.sibling();
        assert.deepEqual(await second.getClient(NS, "alice"), client);
        assert.deepEqual(await second.getExporter(NS, "rpi"), exporter);
        assert.deepEqual(await second.listLeases(NS, { includeEnded: true }), leases);
        assert.equal((await second.activeLeaseOf(NS, "rpi"))?.name, "granted");
        assert.deepEqual(await second.listAccessPolicies(NS), [POLICY]);
        assert.deepEqual((await second.listNamespaces()).sort(), [NS]);
        assert.equal(await second.grantLease(NS, "waiting", "rpi", grant(T + 1)), false, "busy");
        const next = await second.createLease(leaseSpec("next"));
        assert.ok(next.seq > Math.max(...leases.map((l) => l.seq)), "the queue continues");
      });
    },
  );

  test(
    "siblings: what one store writes the other reads at once, and a grant through one is refused through the other",
    async (one, { stores, t }) => {
      await siblingStep(t, stores, "two stores", async () => {
        const other = await stores.sibling();
        const rpi = await one.createExporter({ namespace: NS, name: "rpi", labels: {} });
        assert.deepEqual(await other.getExporter(NS, "rpi"), rpi);
        await assert.rejects(
          other.createExporter({ namespace: NS, name: "rpi", labels: {} }),
          AlreadyExistsError,
        );
        const a = await other.createLease(leaseSpec("a"));
        const b = await one.createLease(leaseSpec("b"));
        assert.ok(a.seq < b.seq, "one queue across both stores");

        assert.equal(await one.grantLease(NS, "a", "rpi", grant(T)), true);
        assert.equal(await other.grantLease(NS, "a", "rpi", grant(T + 1)), false, "granted");
        assert.equal(await other.grantLease(NS, "b", "rpi", grant(T + 1)), false, "busy");
        assert.equal((await other.activeLeaseOf(NS, "rpi"))?.name, "a");
        assert.equal(await other.endLease(NS, "a", { now: T + 2, conditions: [] }), true);
        assert.equal(await one.endLease(NS, "a", { now: T + 3, conditions: [] }), false);
        assert.equal(await one.grantLease(NS, "b", "rpi", grant(T + 4)), true);
        assert.equal((await other.activeLeaseOf(NS, "rpi"))?.name, "b");
      });
    },
  );

  test(
    "property: concurrent grants and ends never give an exporter two active leases nor a lease two grants, and ended leases stay ended",
    async (store, { stores, t }) => {
      // The ledger must catch what it is for, or a passing race proves nothing.
      assertLedgerCatches();
      await t.step("one store, seed 1", () => race([store], 1));
      for (const seed of [1001, 2002]) {
        await t.step(
          `another fresh store, seed ${seed}`,
          (step) => withStores(makeHarness, (one) => race([one], seed), step),
        );
      }
      await siblingStep(
        t,
        stores,
        "two sibling stores interleaved, seed 7",
        (step) =>
          withStores(makeHarness, async (first, { stores }) => {
            await race([first, await stores.sibling()], 7);
          }, step),
      );
    },
  );
}

/** Runs `body` with a fresh store from a new harness; closes every store, then the harness. */
async function withStores(
  makeHarness: () => Promise<StoreHarness>,
  body: TestBody,
  t: Deno.TestContext,
): Promise<void> {
  const stores = new OpenedStores(await makeHarness());
  try {
    await body(await stores.fresh(), { stores, t });
  } finally {
    await stores.closeAll();
  }
}

type TestBody = (
  store: Store,
  context: { stores: OpenedStores; t: Deno.TestContext },
) => Promise<void>;

/** The stores one test opened through its harness; closes them, then the harness. */
class OpenedStores {
  readonly #harness: StoreHarness;
  readonly #open = new Set<Store>();

  constructor(harness: StoreHarness) {
    this.#harness = harness;
  }

  get hasSiblings(): boolean {
    return this.#harness.openSibling !== undefined;
  }

  async fresh(): Promise<Store> {
    return this.#track(await this.#harness.open());
  }

  async sibling(): Promise<Store> {
    if (!this.#harness.openSibling) throw new Error("this backend has no sibling stores");
    return this.#track(await this.#harness.openSibling());
  }

  /** Closes `store` now (a restart); closeAll then leaves it alone. */
  async close(store: Store): Promise<void> {
    this.#open.delete(store);
    await store.close();
  }

  async closeAll(): Promise<void> {
    try {
      for (const store of [...this.#open]) await this.close(store);
    } finally {
      await this.#harness.close();
    }
  }

  #track(store: Store): Store {
    this.#open.add(store);
    return store;
  }
}

/** Runs `fn` as a step, reported as ignored when the backend cannot open sibling stores. */
async function siblingStep(
  t: Deno.TestContext,
  stores: OpenedStores,
  name: string,
  fn: (t: Deno.TestContext) => Promise<void>,
): Promise<void> {
  await t.step({ name, ignore: !stores.hasSiblings, fn });
}

/** A second namespace, to show that names are kept apart by namespace. */
const OTHER = "elsewhere";
/** A moment with milliseconds: times are milliseconds since the epoch and must round-trip so. */
const T = Date.UTC(2025, 5, 1, 12, 0, 0, 123);
/** Any UUID version: upstream's uids are Kubernetes metadata.uid values. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** The status of a lease that was just created. */
const PENDING: LeaseStatus = { ended: false, priority: 0, spotAccess: false, conditions: [] };

type LeaseSpec = Omit<LeaseRecord, "seq" | "createdAt" | "status">;

function leaseSpec(name: string, fields: Partial<LeaseSpec> = {}): LeaseSpec {
  return {
    namespace: NS,
    name,
    client: "alice",
    selector: {
      matchLabels: { board: "rpi4" },
      matchExpressions: [
        { key: "site", operator: "In", values: ["lab-a", "lab-b"] },
        { key: "broken", operator: "NotIn", values: ["yes"] },
        { key: "example.com/usb", operator: "Exists", values: [] },
        { key: "reserved", operator: "DoesNotExist", values: [] },
      ],
    },
    durationMs: 30_000,
    tags: { team: "kernel" },
    context: { ci: "job-17" },
    allowDisabled: false,
    release: false,
    ...fields,
  };
}

function condition(
  type: Condition["type"],
  status: Condition["status"],
  at: number,
  reason: string = type,
): Condition {
  return { type, status, reason, message: `${type} ${reason}`, lastTransitionTime: at };
}

function grant(now: number): Parameters<Store["grantLease"]>[3] {
  return { now, priority: 3, spotAccess: true, conditions: [condition("Ready", "True", now)] };
}

const POLICY: AccessPolicyRecord = {
  namespace: NS,
  name: "boards",
  exporterSelector: {
    matchLabels: { board: "rpi4" },
    matchExpressions: [{ key: "site", operator: "NotIn", values: ["lab-c"] }],
  },
  policies: [{
    description: "CI first",
    priority: 10,
    from: [{
      clientSelector: {
        matchLabels: { role: "ci" },
        matchExpressions: [{ key: "team", operator: "Exists", values: [] }],
      },
    }, { clientSelector: { matchLabels: { role: "dev" }, matchExpressions: [] } }],
    maximumDurationMs: 3_600_000,
    spotAccess: false,
  }, { priority: 0, from: [], spotAccess: true }],
};

/** Store-stamped creation times: within a second of the call (a cluster may keep seconds). */
function assertAbout(time: number, before: number, after: number, what: string): void {
  assert.ok(time >= before - 1_000 && time <= after + 1_000, `${what} ${time} not near now`);
}

function assertWithin(time: number | undefined, before: number, after: number, what: string) {
  assert.ok(time !== undefined && time >= before && time <= after, `${what} ${time} not now`);
}

/** One Ready condition, False with reason Released, stamped now and naming what went away. */
function assertReleased(lease: LeaseRecord, gone: string, before: number, after: number): void {
  const ready = lease.status.conditions.filter((c) => c.type === "Ready");
  assert.equal(ready.length, 1, `${lease.name}: ${JSON.stringify(ready)}`);
  assert.equal(ready[0].status, "False");
  assert.equal(ready[0].reason, "Released");
  assert.ok(ready[0].message.includes(gone), `"${ready[0].message}" does not name ${gone}`);
  assertWithin(ready[0].lastTransitionTime, before, after, "lastTransitionTime");
}

/** The property's checker refuses a second grant, a changed grant and an end undone. */
function assertLedgerCatches(): void {
  const lease = (name: string, status: Partial<LeaseStatus>): LeaseRecord => ({
    ...leaseSpec(name),
    seq: 1,
    createdAt: T,
    status: { ...PENDING, ...status },
  });
  const twice = new GrantLedger();
  twice.granted("a", "rpi", T);
  assert.throws(() => twice.granted("a", "jetson", T + 1), /granted twice/);
  const moved = new GrantLedger();
  moved.observe([lease("a", { exporter: "rpi", beginTime: T })]);
  assert.throws(
    () => moved.observe([lease("a", { exporter: "jetson", beginTime: T + 1 })]),
    /granted twice/,
  );
  const revived = new GrantLedger();
  revived.observe([lease("a", { ended: true })]);
  assert.throws(() => revived.observe([lease("a", {})]), /came back/);
}
