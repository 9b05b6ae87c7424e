// Distributed mode on loopback: a controller, exporters registered with it, clients leasing them
// by label and reaching their drivers through the router.

import { strict as assert } from "node:assert";
import { connectExporter, ControllerConnection } from "../client/mod.ts";
import type { PowerClient } from "../drivers/power/client.ts";
import { withLab } from "./fixtures/lab.ts";

Deno.test("a client leases an exporter by label and drives it through the router", async () => {
  await withLab(async (lab) => {
    await lab.exporter("bench-1", { board: "rpi4" });
    await lab.exporter("bench-2", { board: "imx8" });
    using alice = new ControllerConnection(await lab.client("alice"));
    const asked = await alice.createLease({ selector: "board=imx8", durationMs: 60_000 });
    const lease = await alice.waitForLease(asked.name, { timeoutMs: 10_000 });
    assert.equal(lease.exporter, "bench-2");
    await using tunnel = await alice.openTunnel(lease.name);
    await using exporter = await connectExporter(`unix:${tunnel.socket}`);
    const power = exporter.root.child("power") as PowerClient;
    await power.on();
    const readings = [];
    for await (const r of power.streamingCall("read")) readings.push(r);
    assert.deepEqual(readings, [{ voltage: 0, current: 0 }, { voltage: 5, current: 2 }]);
    await alice.releaseLease(lease.name);
    const ended = await alice.getLease(lease.name);
    assert.equal(ended.state, "Released");
  });
});
