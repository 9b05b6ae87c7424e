// The exporter's lease state machine against the stuck states upstream's users hit: leases that
// never end, exporters stuck in LeaseReady, hooks that hang or fail, restarts mid-lease.

import { strict as assert } from "node:assert";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { HookConfig } from "../config/mod.ts";
import { ExporterStatus } from "../proto/mod.ts";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { LeaseLifecycle, type LifecycleOptions } from "./lease_lifecycle.ts";

function hook(script: string, extra: Partial<HookConfig> = {}): HookConfig {
  return { script, timeoutSeconds: 10, onFailure: "warn", ...extra };
}

// A lifecycle whose status changes, log lines, releases and exits are recorded.
function recorded(hooks: LifecycleOptions["hooks"]) {
  const statuses: string[] = [];
  const lines: string[] = [];
  const released: string[] = [];
  const exits: string[] = [];
  const lifecycle = new LeaseLifecycle({
    hooks,
    socket: "/nonexistent.sock",
    setStatus: (status, message) => {
      statuses.push(`${ExporterStatus[status]}: ${message}`);
    },
    hookLog: (which) => ({
      debug: (m) => lines.push(`${which} debug ${m}`),
      info: (m) => lines.push(`${which} ${m}`),
      warn: (m) => lines.push(`${which} warn ${m}`),
      error: (m) => lines.push(`${which} error ${m}`),
    }),
    releaseLease: (name) => {
      released.push(name);
      return Promise.resolve();
    },
    exit: (code, reason) => exits.push(`${code} ${reason}`),
  });
  return { lifecycle, statuses, lines, released, exits };
}

Deno.test("without hooks a lease goes straight to LeaseReady and back to Available", async () => {
  const { lifecycle, statuses } = recorded({});
  await lifecycle.begin("l1", "alice");
  assert.equal(lifecycle.phase, "ready");
  await lifecycle.end();
  assert.deepEqual(statuses, [
    "LEASE_READY: Ready for commands",
    "AVAILABLE: Available for new lease",
  ]);
  assert.equal(lifecycle.lease, undefined);
});

Deno.test(
  "hooks run with the lease's environment and their output reaches the log",
  withTempDir(async (dir) => {
    const out = join(dir, "env");
    const { lifecycle, statuses, lines } = recorded({
      beforeLease: hook(
        `echo "$LEASE_NAME $CLIENT_NAME $JMP_DRIVERS_ALLOW $TERM" > ${out}; echo hi`,
      ),
      afterLease: hook("echo bye >&2"),
    });
    await lifecycle.begin("l1", "alice");
    assert.equal(readFileSync(out, "utf8"), "l1 alice UNSAFE dumb\n");
    await lifecycle.end();
    assert.deepEqual(statuses, [
      "BEFORE_LEASE_HOOK: Running beforeLease hook",
      "LEASE_READY: Ready for commands",
      "AFTER_LEASE_HOOK: Running afterLease hook",
      "AVAILABLE: Available for new lease",
    ]);
    assert.deepEqual(lines, ["beforeLease hi", "afterLease warn bye"]);
  }),
);

Deno.test(
  "a lease that ends while its beforeLease hook hangs stops the hook and ends cleanly",
  withTempDir(async (dir) => {
    const marker = join(dir, "after-ran");
    const { lifecycle, statuses } = recorded({
      beforeLease: hook("sleep 30", { timeoutSeconds: 60 }),
      afterLease: hook(`touch ${marker}`),
    });
    const began = lifecycle.begin("l1", "alice");
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(lifecycle.phase, "beforeLease");
    const started = Date.now();
    await lifecycle.end();
    await began;
    assert.ok(Date.now() - started < 5000, "the hanging hook was stopped");
    assert.ok(existsSync(marker), "afterLease still ran");
    assert.equal(lifecycle.phase, "available");
    assert.ok(!statuses.some((s) => s.startsWith("LEASE_READY")), "never ready for a dead lease");
    assert.equal(statuses.at(-1), "AVAILABLE: Available for new lease");
  }),
);

Deno.test("a failing beforeLease hook: warn goes on, endLease releases, exit stops", async () => {
  const warn = recorded({ beforeLease: hook("exit 3") });
  await warn.lifecycle.begin("l1", "alice");
  assert.deepEqual(warn.statuses.slice(1), [
    "BEFORE_LEASE_HOOK_FAILED: beforeLease hook exited with code 3",
    "LEASE_READY: Ready for commands",
  ]);

  const end = recorded({ beforeLease: hook("exit 3", { onFailure: "endLease" }) });
  await end.lifecycle.begin("l2", "alice");
  assert.deepEqual(end.released, ["l2"]);
  assert.ok(!end.statuses.some((s) => s.startsWith("LEASE_READY")));
  // The controller then ends the lease: the exporter is free again.
  await end.lifecycle.end();
  assert.equal(end.statuses.at(-1), "AVAILABLE: Available for new lease");

  const exit = recorded({ beforeLease: hook("exit 3", { onFailure: "exit" }) });
  await exit.lifecycle.begin("l3", "alice");
  assert.deepEqual(exit.exits, ["1 beforeLease hook: beforeLease hook exited with code 3"]);
});

Deno.test("a hook that outlives its timeout fails with the timeout named", async () => {
  const { lifecycle, statuses } = recorded({
    beforeLease: hook("sleep 30", { timeoutSeconds: 0.3 }),
  });
  await lifecycle.begin("l1", "alice");
  assert.match(statuses[1], /^BEFORE_LEASE_HOOK_FAILED: beforeLease hook: timed out after 0\.3s/);
  assert.equal(lifecycle.phase, "ready", "onFailure warn: the lease goes on");
});

Deno.test("a failing afterLease hook still leaves the exporter available", async () => {
  const { lifecycle, statuses } = recorded({ afterLease: hook("exit 1") });
  await lifecycle.begin("l1", "alice");
  await lifecycle.end();
  assert.deepEqual(statuses.slice(-2), [
    "AFTER_LEASE_HOOK_FAILED: afterLease hook exited with code 1",
    "AVAILABLE: Available for new lease",
  ]);
});

Deno.test("the same lease announced again (a controller reconnect) changes nothing", async () => {
  const { lifecycle, statuses } = recorded({ beforeLease: hook("true") });
  await lifecycle.begin("l1", "alice");
  await lifecycle.begin("l1", "alice");
  await lifecycle.begin("l1", "alice");
  assert.equal(statuses.filter((s) => s.startsWith("BEFORE_LEASE_HOOK")).length, 1);
  assert.equal(lifecycle.phase, "ready");
});

Deno.test(
  "a new lease while the previous one's afterLease hook runs begins after it",
  withTempDir(async (dir) => {
    const log = join(dir, "order");
    const { lifecycle, statuses } = recorded({
      beforeLease: hook(`echo "before $LEASE_NAME" >> ${log}`),
      afterLease: hook(`sleep 0.3; echo "after $LEASE_NAME" >> ${log}`),
    });
    await lifecycle.begin("l1", "alice");
    const ending = lifecycle.end();
    const next = lifecycle.begin("l2", "bob");
    await Promise.all([ending, next]);
    assert.equal(readFileSync(log, "utf8"), "before l1\nafter l1\nbefore l2\n");
    assert.equal(lifecycle.lease, "l2");
    assert.equal(statuses.at(-1), "LEASE_READY: Ready for commands");
  }),
);

Deno.test("a lease replaced by another without an end in between is finished first", async () => {
  const { lifecycle, statuses } = recorded({ afterLease: hook("true") });
  await lifecycle.begin("l1", "alice");
  await lifecycle.begin("l2", "bob");
  assert.deepEqual(statuses, [
    "LEASE_READY: Ready for commands",
    "AFTER_LEASE_HOOK: Running afterLease hook",
    "AVAILABLE: Available for new lease",
    "LEASE_READY: Ready for commands",
  ]);
  assert.equal(lifecycle.lease, "l2");
});
