// A client that vanishes: a lease made by a session (`jmp shell`) goes back after its grace
// period once nobody asks about it, instead of holding the exporter until it expires.

import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { ControllerConnection } from "../../client/mod.ts";
import { ROOT } from "../fixtures/cli_processes.ts";
import { withLab } from "../fixtures/lab.ts";
import { runToEnd } from "../fixtures/processes_io.ts";
import { until } from "../fixtures/wait.ts";

Deno.test("a session lease is released once its client is silent for the grace period", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    using alice = new ControllerConnection(await lab.client("alice"));
    const session = await alice.createLease({
      selector: "board=rpi4",
      durationMs: 600_000,
      sessionGraceSeconds: 1,
    });
    await alice.waitForLease(session.name, { timeoutMs: 10_000 });
    // Asking about it keeps it.
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal((await alice.getLease(session.name)).state, "Ready", `still held at ${i}`);
    }
    // Silence: released after the grace period, the exporter free for the next.
    const silentSince = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const ended = await alice.getLease(session.name);
    assert.equal(ended.state, "Released");
    assert.match(ended.message, /its client alice went away \(not heard from for 1 s\)/);
    assert.ok(Date.now() - silentSince < 4000);
    // A lease made without a session is not released by silence.
    const kept = await alice.createLease({ selector: "board=rpi4", durationMs: 600_000 });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal((await alice.getLease(kept.name)).state, "Ready");
  });
});

Deno.test("a jmp shell killed with SIGKILL gives its lease back after the grace period", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    const config = await lab.client("alice");
    const shell = spawn(process.execPath, [
      ...["run", "-A", "--config", join(ROOT, "deno.json"), join(ROOT, "cli/jmp.ts")],
      ...["shell", "--client-config", config.file!, "-l", "board=rpi4", "--session-grace", "1s"],
      ...["--", "sleep", "60"],
    ], { stdio: ["ignore", "ignore", "pipe"], detached: true });
    let stderr = "";
    shell.stderr.on("data", (d) => (stderr += d));
    using alice = new ControllerConnection(config);
    await until("the shell's lease", () => /on exporter bench/.test(stderr), { everyMs: 100 });
    const [lease] = await alice.listLeases();
    assert.equal(lease.state, "Ready");
    const exited = new Promise((resolve) => shell.once("exit", resolve));
    // The whole group: jmp shell and the command it runs die at once, as in a crash.
    process.kill(-shell.pid!, "SIGKILL");
    await exited;
    // Watched from the store: asking as alice would count as alice still being there.
    const store = lab.controller.controller.store;
    await until(
      "the lease released",
      async () => (await store.getLease("lab", lease.name))?.status.ended === true,
      { ms: 6000, everyMs: 100 },
    );
    const ended = await store.getLease("lab", lease.name);
    assert.match(ended!.status.conditions[0].message, /its client alice went away/);
  });
});

Deno.test("a live jmp shell keeps its session lease however short the grace period", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench", { board: "rpi4" });
    const config = await lab.client("alice");
    const run = await runToEnd([
      process.execPath,
      ...["run", "-A", "--config", join(ROOT, "deno.json"), join(ROOT, "cli/jmp.ts")],
      ...["shell", "--client-config", config.file!, "-l", "board=rpi4", "--session-grace", "1s"],
      ...["--", "sh", "-c", "sleep 3 && j power on"],
    ], process.env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, "power on\n");
  });
});
