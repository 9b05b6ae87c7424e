// The lease scheduler on a real SQLite store and a clock the tests move: selectors and pinned
// exporters, offline and disabled ones, FIFO order and queue positions, expiry, extension and
// scheduled starts, its own timer, access policies, its events; and a seeded race of 200 leases
// through one scheduler, then two schedulers on two connections to one database file, checking
// after every step that no exporter is ever granted twice and that grants and ends never change.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { isOnline, type LeaseEvent, LeaseScheduler, OFFLINE_AFTER_MS } from "./lease_scheduler.ts";
import { matchesSelector } from "./selector.ts";
import type {
  AccessPolicyRecord,
  Condition,
  ExporterRecord,
  LabelSelector,
  LeaseRecord,
  SelectorRequirement,
} from "./store/mod.ts";
import { SqliteStore } from "./store/mod.ts";
import { pick, seeded } from "./store/testdata/race.ts";

const NS = "lab";
const SEC = 1_000;
const MIN = 60 * SEC;
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

type NewLease = Omit<LeaseRecord, "seq" | "createdAt" | "status">;
type LeaseSpec = Partial<Omit<NewLease, "namespace" | "name">>;
type Rule = AccessPolicyRecord["policies"][number];

function sel(
  matchLabels: Record<string, string> = {},
  matchExpressions: SelectorRequirement[] = [],
): LabelSelector {
  return { matchLabels, matchExpressions };
}

function newLease(name: string, spec: LeaseSpec = {}): NewLease {
  return {
    namespace: NS,
    name,
    client: "alice",
    selector: sel(),
    durationMs: 10 * MIN,
    tags: {},
    context: {},
    allowDisabled: false,
    release: false,
    ...spec,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** One in-memory store, one scheduler on the lab's clock, and every event it told. */
class Lab {
  clock = T0;
  readonly events: LeaseEvent[] = [];
  /** Exporters whose Status stream is closed (isConnected answers false). */
  readonly disconnected = new Set<string>();
  readonly store = SqliteStore.open(":memory:");
  readonly scheduler = new LeaseScheduler(this.store, {
    now: () => this.clock,
    isConnected: (exporter) => !this.disconnected.has(exporter.name),
    onEvent: (event) => this.events.push(event),
  });

  /** Creates an exporter, online (registered, seen now, Available) unless told otherwise. */
  async exporter(
    name: string,
    labels: Record<string, string> = {},
    options: { enabled?: boolean; online?: boolean } = {},
  ): Promise<void> {
    await this.store.createExporter({ namespace: NS, name, labels, enabled: options.enabled });
    if (options.online ?? true) await this.heartbeat(name);
  }

  heartbeat(name: string): Promise<ExporterRecord> {
    return this.store.updateExporter(NS, name, {
      devices: [],
      lastSeen: this.clock,
      status: "Available",
    });
  }

  async client(name: string, labels: Record<string, string>): Promise<void> {
    await this.store.createClient({ namespace: NS, name, labels });
  }

  lease(name: string, spec: LeaseSpec = {}): Promise<LeaseRecord> {
    return this.store.createLease(newLease(name, spec));
  }

  reconcile(): Promise<void> {
    return this.scheduler.reconcile(NS);
  }

  async get(name: string): Promise<LeaseRecord> {
    const lease = await this.store.getLease(NS, name);
    assert.ok(lease, `lease ${name} exists`);
    return lease;
  }

  async release(name: string): Promise<void> {
    await this.store.updateLeaseSpec(NS, name, { release: true });
  }

  async close(): Promise<void> {
    this.scheduler.close();
    await this.store.close();
  }
}

function withLab(fn: (lab: Lab) => Promise<void>): () => Promise<void> {
  return async () => {
    const lab = new Lab();
    try {
      await fn(lab);
    } finally {
      await lab.close();
    }
  };
}

/** Asserts that the lease carries exactly one condition, with these fields. */
function assertCondition(
  lease: LeaseRecord,
  expected: Pick<Condition, "type" | "status" | "reason"> & { message?: string | RegExp },
): void {
  const conditions = lease.status.conditions;
  assert.equal(conditions.length, 1, `${lease.name}: ${JSON.stringify(conditions)}`);
  const [c] = conditions;
  const { message, ...fields } = expected;
  assert.deepEqual(
    { type: c.type, status: c.status, reason: c.reason },
    fields,
    `${lease.name}: ${JSON.stringify(c)}`,
  );
  if (typeof message === "string") assert.equal(c.message, message, lease.name);
  else if (message) assert.match(c.message, message, lease.name);
}

function assertGranted(lease: LeaseRecord, exporter: string, at: number): void {
  assert.equal(lease.status.exporter, exporter, `${lease.name} holds ${exporter}`);
  assert.equal(lease.status.ended, false, `${lease.name} is not ended`);
  assert.equal(lease.status.beginTime, at, `${lease.name} granted at ${iso(at)}`);
  assertCondition(lease, {
    type: "Ready",
    status: "True",
    reason: "Ready",
    message: `granted ${exporter}`,
  });
}

function assertPending(lease: LeaseRecord, reason: string, message?: string | RegExp): void {
  assert.equal(lease.status.exporter, undefined, `${lease.name} holds no exporter`);
  assert.equal(lease.status.ended, false, `${lease.name} is not ended`);
  assertCondition(lease, { type: "Pending", status: "True", reason, message });
}

/** A lease that ended before it was granted, at `at`, with `type`=True (Unsatisfiable/Invalid). */
function assertRefused(
  lease: LeaseRecord,
  type: "Unsatisfiable" | "Invalid",
  reason: string,
  message: string | RegExp,
  at: number,
): void {
  assert.equal(lease.status.exporter, undefined, `${lease.name} holds no exporter`);
  assert.equal(lease.status.ended, true, `${lease.name} ended`);
  assert.equal(lease.status.endTime, at);
  assertCondition(lease, { type, status: "True", reason, message });
}

/** A lease that ended with Ready=False `reason` at `at`. */
function assertEnded(
  lease: LeaseRecord,
  reason: "Released" | "Expired",
  message: string | RegExp,
  at: number,
): void {
  assert.equal(lease.status.ended, true, `${lease.name} ended`);
  assert.equal(lease.status.endTime, at, `${lease.name} ended at ${iso(at)}`);
  assertCondition(lease, { type: "Ready", status: "False", reason, message });
}

function policy(name: string, exporterSelector: LabelSelector, rules: Partial<Rule>[]) {
  return {
    namespace: NS,
    name,
    exporterSelector,
    policies: rules.map((rule) => ({ priority: 0, from: [], spotAccess: false, ...rule })),
  } satisfies AccessPolicyRecord;
}

function from(labels: Record<string, string>): Rule["from"] {
  return [{ clientSelector: sel(labels) }];
}

// ---------------------------------------------------------------------------------------
// Selectors and names

Deno.test(
  "scheduler: a selector gets a matching exporter (by name among equals), exporterName pins one",
  withLab(async (lab) => {
    await lab.exporter("rpi-1", { board: "rpi", site: "a" });
    await lab.exporter("rpi-2", { board: "rpi", site: "b" });
    await lab.exporter("imx-1", { board: "imx" });
    await lab.lease("any-rpi", { selector: sel({ board: "rpi" }) });
    await lab.lease("site-b-or-c", {
      selector: sel({}, [{ key: "site", operator: "In", values: ["b", "c"] }]),
    });
    await lab.lease("imx", { selector: sel({ board: "imx" }), durationMs: 5 * MIN });
    await lab.lease("pin-rpi-2", { exporterName: "rpi-2", selector: sel({ board: "rpi" }) });
    await lab.lease("pin-imx", { exporterName: "imx-1" });
    await lab.reconcile();

    assertGranted(await lab.get("any-rpi"), "rpi-1", T0);
    assertGranted(await lab.get("site-b-or-c"), "rpi-2", T0);
    const imx = await lab.get("imx");
    assertGranted(imx, "imx-1", T0);
    assert.equal(imx.status.endTime, T0 + 5 * MIN);
    assert.deepEqual([imx.status.priority, imx.status.spotAccess], [0, false]);
    assertPending(
      await lab.get("pin-rpi-2"),
      "NotAvailable",
      "waiting for exporter rpi-2: all 1 in use",
    );
    assertPending(
      await lab.get("pin-imx"),
      "NotAvailable",
      "waiting for exporter imx-1: all 1 in use",
    );

    // The pinned leases get exactly their exporter when it frees, never another one.
    lab.clock += MIN;
    await lab.heartbeat("rpi-1");
    await lab.heartbeat("rpi-2");
    await lab.release("any-rpi");
    await lab.reconcile();
    assertPending(await lab.get("pin-rpi-2"), "NotAvailable");
    assert.equal(await lab.store.activeLeaseOf(NS, "rpi-1"), undefined, "rpi-1 stays free");
    await lab.release("site-b-or-c");
    await lab.reconcile();
    assertGranted(await lab.get("pin-rpi-2"), "rpi-2", T0 + MIN);
  }),
);

Deno.test(
  "scheduler: unknown name, selector mismatch, empty request and no match end the lease at once",
  withLab(async (lab) => {
    await lab.exporter("rpi-1", { board: "rpi" });
    await lab.lease("ghost", { exporterName: "ghost-1" });
    await lab.lease("mismatch", { exporterName: "rpi-1", selector: sel({ board: "imx" }) });
    await lab.lease("empty");
    await lab.lease("nothing", { selector: sel({ board: "imx" }) });
    await lab.lease("nothing-expr", {
      selector: sel({ board: "rpi" }, [{ key: "site", operator: "Exists", values: [] }]),
    });
    await lab.reconcile();

    assertRefused(
      await lab.get("ghost"),
      "Unsatisfiable",
      "ExporterNotFound",
      "no exporter ghost-1",
      T0,
    );
    assertRefused(
      await lab.get("mismatch"),
      "Unsatisfiable",
      "SelectorMismatch",
      "exporter rpi-1 does not match board=imx",
      T0,
    );
    assertRefused(
      await lab.get("empty"),
      "Invalid",
      "InvalidSelector",
      "a lease needs a selector or an exporter name",
      T0,
    );
    assertRefused(
      await lab.get("nothing"),
      "Unsatisfiable",
      "NoExporter",
      "there is no exporter matching board=imx",
      T0,
    );
    assertRefused(
      await lab.get("nothing-expr"),
      "Unsatisfiable",
      "NoExporter",
      "there is no exporter matching board=rpi,site",
      T0,
    );
    assert.deepEqual(
      lab.events.map((e) => [e.kind, e.lease.name]),
      ["ghost", "mismatch", "empty", "nothing", "nothing-expr"].map((n) => ["ended", n]),
    );
    assert.equal(await lab.store.activeLeaseOf(NS, "rpi-1"), undefined);
    assert.deepEqual(await lab.store.listLeases(NS), [], "no lease is left pending");
  }),
);

Deno.test(
  "scheduler: disabled exporters give AllDisabled / ExporterDisabled unless allowDisabled",
  withLab(async (lab) => {
    await lab.exporter("a-old", { board: "old" }, { enabled: false });
    await lab.exporter("b-old", { board: "old" }, { enabled: false });
    await lab.exporter("a-mixed", { board: "mixed" }, { enabled: false });
    await lab.exporter("b-mixed", { board: "mixed" });
    await lab.lease("all-disabled", { selector: sel({ board: "old" }) });
    await lab.lease("pinned-disabled", { exporterName: "a-old" });
    await lab.lease("mixed", { selector: sel({ board: "mixed" }) });
    await lab.reconcile();
    assertRefused(
      await lab.get("all-disabled"),
      "Unsatisfiable",
      "AllDisabled",
      "every exporter matching board=old is disabled",
      T0,
    );
    assertRefused(
      await lab.get("pinned-disabled"),
      "Unsatisfiable",
      "ExporterDisabled",
      "exporter a-old is disabled",
      T0,
    );
    // The enabled one, though the disabled one comes first by name.
    assertGranted(await lab.get("mixed"), "b-mixed", T0);

    await lab.lease("allowed-selector", { selector: sel({ board: "old" }), allowDisabled: true });
    await lab.lease("allowed-pinned", { exporterName: "b-old", allowDisabled: true });
    await lab.reconcile();
    assertGranted(await lab.get("allowed-selector"), "a-old", T0);
    assertGranted(await lab.get("allowed-pinned"), "b-old", T0);
  }),
);

// ---------------------------------------------------------------------------------------
// Offline exporters

const OFFLINE_CASES: {
  what: string;
  goOffline: (lab: Lab) => Promise<unknown> | void;
  comeBack: (lab: Lab) => Promise<unknown> | void;
}[] = [
  {
    what: "never registered (devices null)",
    goOffline: (lab) => lab.store.updateExporter(NS, "e1", { devices: null }),
    comeBack: (lab) => lab.heartbeat("e1"),
  },
  {
    what: "unseen for 60 s",
    goOffline: (lab) => {
      lab.clock += OFFLINE_AFTER_MS;
    },
    comeBack: (lab) => lab.heartbeat("e1"),
  },
  {
    what: "status Offline",
    goOffline: (lab) => lab.store.updateExporter(NS, "e1", { status: "Offline" }),
    comeBack: (lab) => lab.heartbeat("e1"),
  },
  {
    what: "no Status stream (isConnected false)",
    goOffline: (lab) => {
      lab.disconnected.add("e1");
    },
    comeBack: (lab) => {
      lab.disconnected.delete("e1");
    },
  },
];

for (const { what, goOffline, comeBack } of OFFLINE_CASES) {
  Deno.test(
    `scheduler: an offline exporter (${what}) keeps leases Pending/Offline until it is back`,
    withLab(async (lab) => {
      await lab.exporter("e1", { board: "x" });
      await goOffline(lab);
      await lab.lease("by-selector", { selector: sel({ board: "x" }) });
      await lab.lease("by-name", { exporterName: "e1" });
      await lab.reconcile();
      assertPending(
        await lab.get("by-selector"),
        "Offline",
        "An exporter matching board=x is offline",
      );
      assertPending(await lab.get("by-name"), "Offline", "Exporter e1 is offline");

      await comeBack(lab);
      await lab.reconcile();
      assertGranted(await lab.get("by-selector"), "e1", lab.clock);
      assertPending(
        await lab.get("by-name"),
        "NotAvailable",
        "waiting for exporter e1: all 1 in use",
      );
    }),
  );
}

Deno.test(
  "scheduler: an online, unleased exporter still busy after a lease keeps leases Pending/NotReady",
  withLab(async (lab) => {
    await lab.exporter("e1", { board: "x" });
    await lab.store.updateExporter(NS, "e1", { status: "AfterLeaseHook" });
    await lab.lease("A", { selector: sel({ board: "x" }) });
    await lab.lease("B", { exporterName: "e1" });
    await lab.reconcile();
    assertPending(
      await lab.get("A"),
      "NotReady",
      "waiting for an exporter matching board=x: 1 free but not ready (AfterLeaseHook)",
    );
    assertPending(
      await lab.get("B"),
      "NotReady",
      "waiting for exporter e1: 1 free but not ready (AfterLeaseHook), 1 lease ahead in the queue",
    );
    await lab.heartbeat("e1"); // reports Available
    await lab.reconcile();
    assertGranted(await lab.get("A"), "e1", T0);
    assertPending(await lab.get("B"), "NotAvailable", "waiting for exporter e1: all 1 in use");
  }),
);

Deno.test("scheduler: an exporter is online until exactly 60 s after it was last seen", () => {
  const exporter: ExporterRecord = {
    namespace: NS,
    name: "e1",
    uid: "u",
    labels: {},
    enabled: true,
    devices: [],
    lastSeen: T0,
    status: "Available",
    statusMessage: "",
    createdAt: T0,
  };
  assert.equal(isOnline(exporter, T0 + OFFLINE_AFTER_MS - 1), true);
  assert.equal(isOnline(exporter, T0 + OFFLINE_AFTER_MS), false);
  assert.equal(isOnline(exporter, T0, false), false);
  assert.equal(isOnline({ ...exporter, lastSeen: null }, T0), false);
  assert.equal(isOnline({ ...exporter, status: "LeaseReady" }, T0), true);
});

// ---------------------------------------------------------------------------------------
// FIFO

Deno.test(
  "scheduler: FIFO — each release hands the exporter to the oldest waiting lease; messages count the queue",
  withLab(async (lab) => {
    await lab.exporter("only-1", { board: "x" });
    for (const name of ["A", "B", "C", "D"]) {
      await lab.lease(name, { selector: sel({ board: "x" }) });
    }
    await lab.reconcile();
    const waiting = "waiting for an exporter matching board=x: all 1 in use";
    assertGranted(await lab.get("A"), "only-1", T0);
    assertPending(await lab.get("B"), "NotAvailable", waiting);
    assertPending(await lab.get("C"), "NotAvailable", `${waiting}, 1 lease ahead in the queue`);
    assertPending(await lab.get("D"), "NotAvailable", `${waiting}, 2 leases ahead in the queue`);

    const order = ["A", "B", "C", "D"];
    for (let i = 0; i < order.length; i++) {
      lab.clock += MIN;
      await lab.heartbeat("only-1");
      await lab.release(order[i]);
      await lab.reconcile();
      assertEnded(await lab.get(order[i]), "Released", "released by its holder", lab.clock);
      if (i + 1 < order.length) assertGranted(await lab.get(order[i + 1]), "only-1", lab.clock);
      for (let j = i + 2; j < order.length; j++) {
        const ahead = j - i - 2;
        const suffix = ahead === 0
          ? ""
          : `, ${ahead} lease${ahead === 1 ? "" : "s"} ahead in the queue`;
        assertPending(await lab.get(order[j]), "NotAvailable", waiting + suffix);
      }
    }
    assert.equal(await lab.store.activeLeaseOf(NS, "only-1"), undefined);
  }),
);

Deno.test(
  "scheduler: a lease waiting for a busy exporter blocks neither later leases for free ones nor their queue position",
  withLab(async (lab) => {
    await lab.exporter("a-1", { pool: "a" });
    await lab.exporter("b-1", { pool: "b" });
    await lab.lease("hold-a", { selector: sel({ pool: "a" }) });
    await lab.lease("wait-a", { selector: sel({ pool: "a" }) });
    await lab.lease("want-b", { selector: sel({ pool: "b" }) });
    await lab.lease("wait-b", { selector: sel({ pool: "b" }) });
    await lab.lease("wait-any", {
      selector: sel({}, [{ key: "pool", operator: "In", values: ["a", "b"] }]),
    });
    await lab.lease("pin-a", { exporterName: "a-1" });
    await lab.reconcile();

    assertGranted(await lab.get("hold-a"), "a-1", T0);
    assertPending(
      await lab.get("wait-a"),
      "NotAvailable",
      "waiting for an exporter matching pool=a: all 1 in use",
    );
    assertGranted(await lab.get("want-b"), "b-1", T0);
    // wait-a is ahead in arrival but waits for another exporter: it is not ahead of wait-b.
    assertPending(
      await lab.get("wait-b"),
      "NotAvailable",
      "waiting for an exporter matching pool=b: all 1 in use",
    );
    assertPending(
      await lab.get("wait-any"),
      "NotAvailable",
      "waiting for an exporter matching pool in (a,b): all 2 in use, 2 leases ahead in the queue",
    );
    assertPending(
      await lab.get("pin-a"),
      "NotAvailable",
      "waiting for exporter a-1: all 1 in use, 2 leases ahead in the queue",
    );

    lab.clock += MIN;
    await lab.heartbeat("a-1");
    await lab.heartbeat("b-1");
    await lab.release("want-b");
    await lab.reconcile();
    assertGranted(await lab.get("wait-b"), "b-1", lab.clock);
    assertPending(
      await lab.get("wait-any"),
      "NotAvailable",
      "waiting for an exporter matching pool in (a,b): all 2 in use, 1 lease ahead in the queue",
    );
  }),
);

// ---------------------------------------------------------------------------------------
// Time: expiry, extension, end times, scheduled starts

Deno.test(
  "scheduler: a lease expires at grant + duration, later when extended, at spec.endTime if set",
  withLab(async (lab) => {
    for (const name of ["e1", "e2", "e3"]) await lab.exporter(name);
    await lab.lease("plain", { exporterName: "e1" });
    await lab.lease("extended", { exporterName: "e2" });
    await lab.lease("fixed-end", { exporterName: "e3", endTime: T0 + 3 * MIN });
    await lab.lease("late-window", { exporterName: "e1", endTime: T0 + 2 * MIN });
    await lab.reconcile();
    assert.equal((await lab.get("plain")).status.endTime, T0 + 10 * MIN);
    assert.equal((await lab.get("fixed-end")).status.endTime, T0 + 3 * MIN);
    assertPending(await lab.get("late-window"), "NotAvailable");

    // A lease still waiting when its end time comes never starts.
    lab.clock = T0 + 2 * MIN;
    await lab.reconcile();
    const late = await lab.get("late-window");
    assert.equal(late.status.exporter, undefined);
    assertEnded(late, "Expired", `its end time ${iso(T0 + 2 * MIN)} passed`, T0 + 2 * MIN);

    lab.clock = T0 + 3 * MIN - 1;
    await lab.reconcile();
    assertGranted(await lab.get("fixed-end"), "e3", T0);
    lab.clock = T0 + 3 * MIN;
    await lab.reconcile();
    assertEnded(
      await lab.get("fixed-end"),
      "Expired",
      `expired at ${iso(T0 + 3 * MIN)}`,
      lab.clock,
    );

    lab.clock = T0 + 5 * MIN;
    const extended = await lab.store.updateLeaseSpec(NS, "extended", { durationMs: 20 * MIN });
    assert.equal(extended.status.endTime, T0 + 20 * MIN);
    await lab.reconcile();

    lab.clock = T0 + 10 * MIN - 1;
    await lab.reconcile();
    assertGranted(await lab.get("plain"), "e1", T0);
    lab.clock = T0 + 10 * MIN;
    await lab.reconcile();
    assertEnded(await lab.get("plain"), "Expired", `expired at ${iso(T0 + 10 * MIN)}`, lab.clock);
    assertGranted(await lab.get("extended"), "e2", T0);

    lab.clock = T0 + 20 * MIN + 30 * SEC; // a late pass ends it at the pass's time
    await lab.reconcile();
    assertEnded(
      await lab.get("extended"),
      "Expired",
      `expired at ${iso(T0 + 20 * MIN)}`,
      T0 + 20 * MIN + 30 * SEC,
    );
    assert.deepEqual(
      lab.events.filter((e) => e.kind === "ended").map((e) => e.lease.name),
      ["late-window", "fixed-end", "plain", "extended"],
    );
  }),
);

Deno.test(
  "scheduler: a lease with a future beginTime waits Pending/NotStarted and is granted when it comes",
  withLab(async (lab) => {
    await lab.exporter("e1", { board: "x" });
    const begin = T0 + 5 * MIN;
    await lab.lease("scheduled", { selector: sel({ board: "x" }), beginTime: begin });
    await lab.reconcile();
    assertPending(await lab.get("scheduled"), "NotStarted", `begins at ${iso(begin)}`);
    assert.equal(await lab.store.activeLeaseOf(NS, "e1"), undefined, "the exporter stays free");

    lab.clock = begin - 1;
    await lab.heartbeat("e1");
    await lab.reconcile();
    assertPending(await lab.get("scheduled"), "NotStarted");

    lab.clock = begin;
    await lab.reconcile();
    const granted = await lab.get("scheduled");
    assertGranted(granted, "e1", begin);
    assert.equal(granted.status.endTime, begin + 10 * MIN);
  }),
);

for (const how of ["expires", "is released"] as const) {
  Deno.test(
    `scheduler: when a scheduled lease starts as the holder ${how}, it gets the exporter before later leases`,
    withLab(async (lab) => {
      await lab.exporter("e1", { board: "x" });
      const begin = T0 + 5 * MIN;
      await lab.lease("early", { selector: sel({ board: "x" }), beginTime: begin });
      const durationMs = how === "expires" ? 5 * MIN : 10 * MIN;
      await lab.lease("holder", { selector: sel({ board: "x" }), durationMs });
      await lab.reconcile();
      assertGranted(await lab.get("holder"), "e1", T0);
      lab.clock = T0 + MIN;
      await lab.heartbeat("e1");
      await lab.lease("late", { selector: sel({ board: "x" }) });
      await lab.reconcile();
      assertPending(
        await lab.get("late"),
        "NotAvailable",
        "waiting for an exporter matching board=x: all 1 in use",
      );

      lab.clock = how === "expires" ? begin : begin + 1;
      await lab.heartbeat("e1");
      if (how === "is released") await lab.release("holder");
      await lab.reconcile();
      assertEnded(
        await lab.get("holder"),
        how === "expires" ? "Expired" : "Released",
        how === "expires" ? `expired at ${iso(begin)}` : "released by its holder",
        lab.clock,
      );
      assertGranted(await lab.get("early"), "e1", lab.clock);
      assertPending(
        await lab.get("late"),
        "NotAvailable",
        "waiting for an exporter matching board=x: all 1 in use",
      );
    }),
  );
}

/** Polls until `done` holds (or `ms` pass), then returns whether it does. */
async function eventually(done: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return await done();
}

Deno.test(
  "scheduler: its own timer (real clock) ends leases and starts scheduled ones without another reconcile",
  async () => {
    const store = SqliteStore.open(":memory:");
    const events: LeaseEvent[] = [];
    const scheduler = new LeaseScheduler(store, {
      isConnected: () => true,
      onEvent: (event) => events.push(event),
    });
    try {
      for (const name of ["e1", "e2"]) {
        await store.createExporter({ namespace: NS, name, labels: {} });
        await store.updateExporter(NS, name, {
          devices: [],
          lastSeen: Date.now(),
          status: "Available",
        });
      }
      const start = Date.now();
      await store.createLease(newLease("short", { exporterName: "e1", durationMs: 300 }));
      // Waits for e1 behind "short", but its window closes first.
      await store.createLease(newLease("overdue", { exporterName: "e1", endTime: start + 150 }));
      await store.createLease(
        newLease("scheduled", { exporterName: "e2", beginTime: start + 400 }),
      );
      await scheduler.reconcile(NS);
      assert.equal((await store.getLease(NS, "short"))?.status.exporter, "e1");
      assertPending((await store.getLease(NS, "overdue"))!, "NotAvailable");
      assertPending((await store.getLease(NS, "scheduled"))!, "NotStarted");

      const ok = await eventually(async () => {
        const short = await store.getLease(NS, "short");
        const scheduled = await store.getLease(NS, "scheduled");
        return short!.status.ended && scheduled!.status.exporter === "e2";
      }, 1_000);
      assert.ok(ok, "within 1 s the timer ended 'short' and started 'scheduled'");
      const short = (await store.getLease(NS, "short"))!;
      assertEnded(short, "Expired", /^expired at /, short.status.endTime!);
      assert.ok(short.status.endTime! >= start + 300, "not before its end");
      assert.ok(short.status.endTime! < start + 1_000, "soon after its end");
      const scheduled = (await store.getLease(NS, "scheduled"))!;
      assert.ok(scheduled.status.beginTime! >= start + 400);
      const overdue = (await store.getLease(NS, "overdue"))!;
      assert.equal(overdue.status.exporter, undefined);
      assertEnded(overdue, "Expired", /its end time .* passed/, overdue.status.endTime!);
      assert.ok(
        overdue.status.endTime! < short.status.endTime!,
        "the overdue wait ended at its own end time, not when something else woke the scheduler",
      );
      assert.deepEqual(
        events.filter((e) => e.kind !== "pending").map((e) => [e.kind, e.lease.name]),
        [["granted", "short"], ["ended", "overdue"], ["ended", "short"], ["granted", "scheduled"]],
      );
    } finally {
      scheduler.close();
      await store.close();
    }
  },
);

// ---------------------------------------------------------------------------------------
// Access policies

Deno.test(
  "scheduler: with no access policy everyone may lease, known client or not",
  withLab(async (lab) => {
    await lab.exporter("e1", { board: "x" });
    await lab.client("alice", { team: "dev" });
    await lab.lease("known", { selector: sel({ board: "x" }) });
    await lab.lease("unknown", { selector: sel({ board: "x" }), client: "nobody" });
    await lab.lease("long", { selector: sel({ board: "x" }), durationMs: 1_000 * 60 * MIN });
    await lab.reconcile();
    assertGranted(await lab.get("known"), "e1", T0);
    assertPending(await lab.get("unknown"), "NotAvailable");
    assertPending(await lab.get("long"), "NotAvailable");
  }),
);

Deno.test(
  "scheduler: a policy admits clients by their labels; others (and ungoverned exporters) get NoAccess",
  withLab(async (lab) => {
    await lab.exporter("x-1", { board: "x" });
    await lab.exporter("y-1", { board: "y" });
    await lab.client("alice", { team: "dev" });
    await lab.client("bob", { team: "qa" });
    await lab.store.putAccessPolicy(
      policy("qa-only", sel({ board: "x" }), [{ priority: 5, from: from({ team: "qa" }) }]),
    );
    await lab.lease("alice-x", { selector: sel({ board: "x" }) });
    await lab.lease("alice-pinned", { exporterName: "x-1" });
    await lab.lease("bob-y", { selector: sel({ board: "y" }), client: "bob" });
    await lab.lease("bob-x", { selector: sel({ board: "x" }), client: "bob" });
    await lab.reconcile();
    assertRefused(
      await lab.get("alice-x"),
      "Unsatisfiable",
      "NoAccess",
      "client alice may not lease an exporter matching board=x for 600 s",
      T0,
    );
    assertRefused(
      await lab.get("alice-pinned"),
      "Unsatisfiable",
      "NoAccess",
      "client alice may not lease exporter x-1 for 600 s",
      T0,
    );
    // A policy exists, none governs y-1: as upstream, nobody is approved for it.
    assertRefused(await lab.get("bob-y"), "Unsatisfiable", "NoAccess", /client bob/, T0);
    const bob = await lab.get("bob-x");
    assertGranted(bob, "x-1", T0);
    assert.deepEqual([bob.status.priority, bob.status.spotAccess], [5, false]);
  }),
);

Deno.test(
  "scheduler: a lease longer than the rule's maximumDuration gets NoAccess",
  withLab(async (lab) => {
    await lab.exporter("x-1", { board: "x" });
    await lab.client("bob", { team: "qa" });
    await lab.store.putAccessPolicy(
      policy("short-only", sel({ board: "x" }), [
        { from: from({ team: "qa" }), maximumDurationMs: 30 * MIN },
      ]),
    );
    await lab.lease("too-long", { exporterName: "x-1", client: "bob", durationMs: 30 * MIN + 1 });
    await lab.lease("just-right", { exporterName: "x-1", client: "bob", durationMs: 30 * MIN });
    await lab.reconcile();
    assertRefused(
      await lab.get("too-long"),
      "Unsatisfiable",
      "NoAccess",
      "client bob may not lease exporter x-1 for 1800.001 s",
      T0,
    );
    assertGranted(await lab.get("just-right"), "x-1", T0);
  }),
);

Deno.test(
  "scheduler: the higher-priority rule wins, across exporters and for one exporter",
  withLab(async (lab) => {
    await lab.exporter("a-low", { board: "z", tier: "low" });
    await lab.exporter("b-high", { board: "z", tier: "high" });
    await lab.exporter("solo", { board: "s" });
    await lab.client("bob", { team: "qa" });
    await lab.client("carol", { team: "qa", level: "senior" });
    await lab.store.putAccessPolicy(
      policy("low", sel({ tier: "low" }), [{ priority: 1, from: from({ team: "qa" }) }]),
    );
    await lab.store.putAccessPolicy(
      policy("high", sel({ tier: "high" }), [{ priority: 10, from: from({ team: "qa" }) }]),
    );
    await lab.store.putAccessPolicy(
      policy("solo", sel({ board: "s" }), [
        { priority: 3, from: from({ team: "qa" }) },
        { priority: 7, from: from({ level: "senior" }) },
      ]),
    );
    await lab.lease("first", { selector: sel({ board: "z" }), client: "bob" });
    await lab.lease("second", { selector: sel({ board: "z" }), client: "bob" });
    await lab.lease("carol-solo", { exporterName: "solo", client: "carol" });
    await lab.reconcile();
    const first = await lab.get("first");
    assertGranted(first, "b-high", T0);
    assert.equal(first.status.priority, 10);
    const second = await lab.get("second");
    assertGranted(second, "a-low", T0);
    assert.equal(second.status.priority, 1);
    const solo = await lab.get("carol-solo");
    assertGranted(solo, "solo", T0);
    assert.equal(solo.status.priority, 7);

    // bob only matches the priority-3 rule of "solo".
    lab.clock += MIN;
    await lab.heartbeat("solo");
    await lab.release("carol-solo");
    await lab.lease("bob-solo", { exporterName: "solo", client: "bob" });
    await lab.reconcile();
    assert.equal((await lab.get("bob-solo")).status.priority, 3);
  }),
);

Deno.test(
  "scheduler: spot-only access gives SpotAccess; a non-spot rule or exporter is preferred to spot",
  withLab(async (lab) => {
    await lab.exporter("spot-1", { board: "spot" });
    await lab.exporter("both-1", { board: "both" });
    await lab.exporter("a-spot", { board: "mix", kind: "spot" });
    await lab.exporter("b-full", { board: "mix", kind: "full" });
    await lab.client("bob", { team: "qa" });
    const qa = from({ team: "qa" });
    await lab.store.putAccessPolicy(
      policy("spot", sel({ board: "spot" }), [{ priority: 4, from: qa, spotAccess: true }]),
    );
    // A spot rule of higher priority and a full rule of lower priority on the same exporter.
    await lab.store.putAccessPolicy(
      policy("both", sel({ board: "both" }), [
        { priority: 10, from: qa, spotAccess: true },
        { priority: 1, from: qa },
      ]),
    );
    await lab.store.putAccessPolicy(
      policy("mix-spot", sel({ kind: "spot" }), [{ priority: 10, from: qa, spotAccess: true }]),
    );
    await lab.store.putAccessPolicy(policy("mix-full", sel({ kind: "full" }), [{ from: qa }]));
    await lab.lease("spot-only", { selector: sel({ board: "spot" }), client: "bob" });
    await lab.lease("both", { exporterName: "both-1", client: "bob" });
    await lab.lease("mix", { selector: sel({ board: "mix" }), client: "bob" });
    await lab.reconcile();
    assertRefused(
      await lab.get("spot-only"),
      "Unsatisfiable",
      "SpotAccess",
      "only spot access to an exporter matching board=spot",
      T0,
    );
    const both = await lab.get("both");
    assertGranted(both, "both-1", T0);
    assert.deepEqual([both.status.spotAccess, both.status.priority], [false, 1]);
    const mix = await lab.get("mix");
    assertGranted(mix, "b-full", T0);
    assert.deepEqual([mix.status.spotAccess, mix.status.priority], [false, 0]);
  }),
);

// ---------------------------------------------------------------------------------------
// Events

Deno.test(
  "scheduler: onEvent tells grants, ends and pending changes with the records as stored",
  withLab(async (lab) => {
    await lab.exporter("e1", { board: "x" });
    await lab.lease("A", { selector: sel({ board: "x" }) });
    await lab.lease("B", { selector: sel({ board: "x" }) });
    await lab.lease("bad", { exporterName: "nope" });
    await lab.reconcile();

    const expectEvents = async (expected: [LeaseEvent["kind"], string][]) => {
      assert.deepEqual(lab.events.map((e) => [e.kind, e.lease.name]), expected);
      for (const event of lab.events) {
        assert.deepEqual(event.lease, await lab.get(event.lease.name), `${event.kind} record`);
      }
      lab.events.length = 0;
    };
    await expectEvents([["granted", "A"], ["pending", "B"], ["ended", "bad"]]);
    assert.equal(lab.events.length, 0);
    await lab.reconcile();
    await expectEvents([]); // nothing changed, nothing told

    await lab.lease("C", { selector: sel({ board: "x" }) });
    await lab.reconcile();
    await expectEvents([["pending", "C"]]);

    lab.clock += MIN;
    await lab.heartbeat("e1");
    await lab.release("A");
    await lab.reconcile();
    // C's position changed (1 ahead → none): a pending event with its new message.
    await expectEvents([["ended", "A"], ["granted", "B"], ["pending", "C"]]);
    const [ended, granted] = [await lab.get("A"), await lab.get("B")];
    assert.equal(ended.status.exporter, "e1");
    assert.equal(granted.status.exporter, "e1");
  }),
);

// ---------------------------------------------------------------------------------------
// The race: 200 leases from 20 clients, concurrent reconciles, releases and clock jumps

const RACE_LEASES = 200;
const RACE_EXPORTERS = 10;
const RACE_CLIENTS = 20;

interface RaceExporter {
  name: string;
  labels: Record<string, string>;
}

function raceExporters(): RaceExporter[] {
  return Array.from({ length: RACE_EXPORTERS }, (_, i) => ({
    name: `ex-${i}`,
    labels: { pool: i < RACE_EXPORTERS / 2 ? "a" : "b", slot: String(i) },
  }));
}

function matches(lease: LeaseRecord, exporter: RaceExporter): boolean {
  return (!lease.exporterName || lease.exporterName === exporter.name) &&
    matchesSelector(lease.selector, exporter.labels);
}

function randomLease(random: () => number, index: number, clock: number): NewLease {
  const r = random();
  const spec: LeaseSpec = r < 0.4
    ? { selector: sel({ pool: "a" }) }
    : r < 0.7
    ? { selector: sel({ pool: "b" }) }
    : r < 0.9
    ? { exporterName: `ex-${Math.floor(random() * RACE_EXPORTERS)}` }
    : { selector: sel({}, [{ key: "pool", operator: "In", values: ["a", "b"] }]) };
  spec.client = `client-${String(Math.floor(random() * RACE_CLIENTS)).padStart(2, "0")}`;
  spec.durationMs = (1 + Math.floor(random() * 10)) * MIN;
  // Whole minutes and multiples of 10 s everywhere: the scheduler's own timers (set in real
  // milliseconds from the fake clock) are then at least 10 s away and never fire in the test.
  if (random() < 0.1) spec.beginTime = clock + (1 + Math.floor(random() * 20)) * MIN;
  return newLease(`lease-${String(index).padStart(3, "0")}`, spec);
}

function describe(lease: NewLease): string {
  const begins = lease.beginTime === undefined ? "" : ` from ${(lease.beginTime - T0) / SEC}s`;
  const wants = lease.exporterName ?? JSON.stringify(lease.selector);
  return `wants ${wants} for ${lease.durationMs / MIN} min${begins}`;
}

function shuffle<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** What a lease looked like when last checked: a grant and an end must never change. */
interface Seen {
  exporter?: string;
  beginTime?: number;
  ended: boolean;
}

async function race(path: string, seed: number, schedulerCount: 1 | 2): Promise<void> {
  const random = seeded(seed);
  const stores = Array.from({ length: schedulerCount }, () => SqliteStore.open(path));
  const observer = SqliteStore.open(path);
  let clock = T0;
  const grants = new Map<string, number>();
  const grantsBy: number[] = new Array(schedulerCount).fill(0);
  // What happened, for the failure message: the lines that name the leases involved.
  const trace: string[] = [];
  const schedulers = stores.map((store, index) =>
    new LeaseScheduler(store, {
      now: () => clock,
      isConnected: () => true,
      onEvent: (event) => {
        const { name, status } = event.lease;
        const c = status.conditions[0];
        trace.push(
          `${(clock - T0) / SEC}s S${index} ${event.kind} ${name} ${status.exporter ?? ""} ` +
            `${c?.reason}: ${c?.message}`,
        );
        if (event.kind === "granted") {
          grantsBy[index]++;
          grants.set(event.lease.name, (grants.get(event.lease.name) ?? 0) + 1);
        }
      },
    })
  );
  const exporters = raceExporters();
  const seen = new Map<string, Seen>();
  const cancelled = new Set<string>();
  let created = 0;
  let maxWaiting = 0;
  let where = "setup";
  const fail = (message: string, ...names: string[]): never => {
    const words = (line: string) => line.split(" ");
    const lines = trace.filter((line) => names.some((n) => words(line).includes(n)));
    throw new assert.AssertionError({
      message: `seed ${seed}, ${schedulerCount} scheduler(s), ${where}: ${message}\n` +
        lines.slice(-40).join("\n"),
    });
  };
  const someStore = () => pick(stores, random);
  const someScheduler = () => pick(schedulers, random);
  const heartbeatAll = async (store = stores[0]) => {
    for (const e of exporters) {
      await store.updateExporter(NS, e.name, { devices: [], lastSeen: clock, status: "Available" });
    }
  };
  // A few microtask turns, so that concurrent operations start at different points.
  const jitter = async () => {
    for (let i = Math.floor(random() * 12); i > 0; i--) await Promise.resolve();
  };

  /**
   * The invariants that hold at every moment, read fresh from the database. Checks run one
   * after the other even when called concurrently, so each compares its snapshot with the
   * one before it.
   */
  let checks: Promise<unknown> = Promise.resolve();
  const check = (quiet = false): Promise<LeaseRecord[]> => {
    const next = checks.then(() => checkNow(quiet));
    checks = next.catch(() => {});
    return next;
  };
  const checkNow = async (quiet: boolean): Promise<LeaseRecord[]> => {
    const leases = await observer.listLeases(NS, { includeEnded: true });
    if (quiet ? leases.length !== created : leases.length > created) {
      fail(`${leases.length} leases stored, ${created} created`);
    }
    const waiting = leases.filter((l) => !l.status.ended && l.status.exporter === undefined);
    maxWaiting = Math.max(maxWaiting, waiting.length);
    const holders = new Map<string, string>();
    let lastSeq = -Infinity;
    for (const lease of leases) {
      if (lease.seq <= lastSeq) fail(`leases out of seq order at ${lease.name}`);
      lastSeq = lease.seq;
      const { exporter, ended, beginTime } = lease.status;
      if ((grants.get(lease.name) ?? 0) > 1) fail(`${lease.name} granted more than once`);
      if (exporter !== undefined && !ended) {
        const other = holders.get(exporter);
        if (other) {
          fail(`${exporter} has two active leases: ${other} and ${lease.name}`, other, lease.name);
        }
        holders.set(exporter, lease.name);
      }
      if (exporter !== undefined) {
        const e = exporters.find((x) => x.name === exporter);
        if (!e || !matches(lease, e)) {
          fail(`${lease.name} got ${exporter}, which it did not ask for`);
        }
        if (lease.beginTime !== undefined && beginTime! < lease.beginTime) {
          fail(`${lease.name} granted before its beginTime`);
        }
      }
      const before = seen.get(lease.name);
      if (before?.exporter !== undefined) {
        if (exporter !== before.exporter || beginTime !== before.beginTime) {
          fail(`${lease.name}'s grant changed: ${before.exporter} → ${exporter}`, lease.name);
        }
      }
      if (before?.ended && !ended) fail(`${lease.name} was ended and is not any more`);
      seen.set(lease.name, { exporter, beginTime, ended });
    }
    return leases;
  };

  /**
   * After one more full pass of every scheduler with nothing else going on: no waiting lease
   * could have had a free exporter (work conservation), and no lease holds an exporter that an
   * older lease, already startable when it was granted, still waits for (FIFO).
   */
  const settleAndCheckFifo = async () => {
    await heartbeatAll();
    for (const scheduler of schedulers) await scheduler.reconcile(NS);
    const leases = await check(true);
    const active = leases.filter((l) => l.status.exporter !== undefined && !l.status.ended);
    const busy = new Set(active.map((l) => l.status.exporter));
    const pending = leases.filter((l) => l.status.exporter === undefined && !l.status.ended);
    for (const p of pending) {
      const startable = p.beginTime === undefined || p.beginTime <= clock;
      if (startable) {
        const free = exporters.find((e) => matches(p, e) && !busy.has(e.name));
        if (free) fail(`${p.name} waits while ${free.name} is free`, p.name, free.name);
      }
      for (const g of active) {
        const e = exporters.find((x) => x.name === g.status.exporter)!;
        const pStartable = p.beginTime === undefined || p.beginTime <= g.status.beginTime!;
        if (g.seq > p.seq && pStartable && matches(p, e)) {
          fail(
            `${g.name} got ${e.name} while the older ${p.name} waited for it`,
            g.name,
            p.name,
            e.name,
          );
        }
      }
    }
    return leases;
  };

  try {
    for (const store of stores) {
      // Both connections must see the same database: create through one, read through all.
      assert.equal((await store.listExporters(NS)).length, 0);
    }
    for (const e of exporters) {
      await stores[0].createExporter({ namespace: NS, name: e.name, labels: e.labels });
    }
    for (let i = 0; i < RACE_CLIENTS; i++) {
      const name = `client-${String(i).padStart(2, "0")}`;
      await someStore().createClient({ namespace: NS, name, labels: {} });
    }
    await heartbeatAll();

    // Random phase: every round is a batch of concurrent creations (a burst of 60 first),
    // releases, cancellations, extensions, clock jumps and reconciles through random
    // schedulers; every operation checks the invariants once it is done.
    for (let round = 1; created < RACE_LEASES; round++) {
      where = `round ${round}`;
      const current = await observer.listLeases(NS);
      const active = current.filter((l) => l.status.exporter !== undefined);
      const waiting = current.filter((l) => l.status.exporter === undefined);
      const ops: (() => Promise<unknown>)[] = [];
      const burst = round === 1 ? 60 : Math.floor(random() * 21);
      const creations = Math.min(RACE_LEASES - created, burst);
      for (let i = 0; i < creations; i++) {
        const lease = randomLease(random, created++, clock);
        const [store, scheduler] = [someStore(), someScheduler()];
        ops.push(async () => {
          await store.createLease(lease);
          trace.push(`${(clock - T0) / SEC}s created ${lease.name} ${describe(lease)}`);
          await scheduler.reconcile(NS);
        });
      }
      for (const lease of shuffle([...active], random).slice(0, Math.floor(random() * 6))) {
        const [store, scheduler] = [someStore(), someScheduler()];
        ops.push(async () => {
          await store.updateLeaseSpec(NS, lease.name, { release: true });
          trace.push(`${(clock - T0) / SEC}s release ${lease.name}`);
          await scheduler.reconcile(NS);
        });
      }
      if (waiting.length > 0 && random() < 0.15) {
        const lease = pick(waiting, random);
        cancelled.add(lease.name);
        const [store, scheduler] = [someStore(), someScheduler()];
        ops.push(async () => {
          await store.updateLeaseSpec(NS, lease.name, { release: true });
          trace.push(`${(clock - T0) / SEC}s release ${lease.name}`);
          await scheduler.reconcile(NS);
        });
      }
      if (active.length > 0 && random() < 0.2) {
        const lease = pick(active, random);
        const durationMs = lease.durationMs + (1 + Math.floor(random() * 5)) * MIN;
        const store = someStore();
        ops.push(() => store.updateLeaseSpec(NS, lease.name, { durationMs }));
      }
      for (let i = Math.floor(random() * 3); i > 0; i--) {
        const jump = (1 + Math.floor(random() * 30)) * 10 * SEC;
        const [store, scheduler] = [someStore(), someScheduler()];
        ops.push(async () => {
          clock += jump;
          await heartbeatAll(store);
          await scheduler.reconcile(NS);
        });
      }
      for (let i = Math.floor(random() * 3); i > 0; i--) {
        const scheduler = someScheduler();
        ops.push(() => scheduler.reconcile(NS));
      }
      await Promise.all(
        shuffle(ops, random).map(async (op) => {
          await jitter();
          await op();
          await check();
        }),
      );
      await settleAndCheckFifo();
    }

    // Drain: release every granted lease, round after round, until the queue is empty; each
    // round must hand the freed exporters to the oldest waiting leases.
    for (let round = 1;; round++) {
      where = `drain round ${round}`;
      if (round > 2 * RACE_LEASES) fail("the queue does not drain");
      const open = await observer.listLeases(NS);
      if (open.length === 0) break;
      const active = open.filter((l) => l.status.exporter !== undefined);
      if (active.length === 0) {
        // Only scheduled leases are left: let their time come.
        clock += 10 * MIN;
        await heartbeatAll();
      }
      await Promise.all(
        shuffle(active, random).map(async (lease) => {
          const [store, scheduler] = [someStore(), someScheduler()];
          await jitter();
          await store.updateLeaseSpec(NS, lease.name, { release: true });
          await scheduler.reconcile(NS);
          await check();
        }),
      );
      await settleAndCheckFifo();
    }

    where = "the end";
    const all = await check(true);
    assert.equal(all.length, RACE_LEASES);
    let granted = 0;
    for (const lease of all) {
      if (!lease.status.ended) fail(`${lease.name} did not end`);
      const times = grants.get(lease.name) ?? 0;
      if (lease.status.exporter !== undefined) {
        granted++;
        if (times !== 1) fail(`${lease.name} holds a grant told ${times} times`);
        const [c] = lease.status.conditions;
        if (
          c.type !== "Ready" || c.status !== "False" || !["Released", "Expired"].includes(c.reason)
        ) {
          fail(`${lease.name} ended with ${JSON.stringify(lease.status.conditions)}`);
        }
      } else {
        // Never granted: only a lease we cancelled while it waited.
        if (!cancelled.has(lease.name)) fail(`${lease.name} ended without ever being granted`);
        if (times !== 0) fail(`${lease.name} was told granted but holds nothing`);
        assertCondition(lease, { type: "Ready", status: "False", reason: "Released" });
      }
    }
    assert.ok(granted >= RACE_LEASES - cancelled.size);
    // Not a degenerate run: a real queue formed, leases expired as well as being released,
    // and with two schedulers both granted a fair share.
    const reasons = new Set(all.map((l) => l.status.conditions[0].reason));
    assert.ok(maxWaiting >= 30, `the queue peaked at ${maxWaiting}`);
    assert.ok(reasons.has("Expired") && reasons.has("Released"), [...reasons].join());
    for (const count of grantsBy) assert.ok(count >= 20, `grants per scheduler: ${grantsBy}`);
  } finally {
    for (const scheduler of schedulers) scheduler.close();
    for (const store of stores) await store.close();
    await observer.close();
  }
}

Deno.test(
  "scheduler race: 200 concurrent leases on 10 exporters through one scheduler keep every invariant",
  withTempDir(async (dir) => {
    await race(join(dir, "state.db"), 0x5eed_0001, 1);
  }),
);

Deno.test(
  "scheduler race: two schedulers on two stores sharing one database file never grant an exporter twice",
  withTempDir(async (dir) => {
    await race(join(dir, "state.db"), 0x5eed_0002, 2);
  }),
);
