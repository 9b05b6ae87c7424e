// A network partition between an exporter and its controller, made by a TCP proxy that stops
// passing bytes: keepalive pings notice the dead link, the exporter reconnects once the network
// heals, and the controller sees it online again.

import { strict as assert } from "node:assert";
import { join } from "node:path";
import { parseExporterConfig } from "../../config/mod.ts";
import { runRegisteredExporter } from "../../exporter/mod.ts";
import { parseAddress } from "../../transport/mod.ts";
import { withLab } from "../fixtures/lab.ts";
import { startTcpProxy } from "../fixtures/tcp_proxy.ts";
import { until } from "../fixtures/wait.ts";

Deno.test("a stalled link is noticed by keepalive, and the exporter comes back when it heals", async () => {
  await withLab(async (lab) => {
    const address = parseAddress(lab.endpoint);
    assert.equal(address.kind, "tcp");
    if (address.kind !== "tcp") return;
    const proxy = await startTcpProxy(address.host, address.port);
    const token = await lab.exporterToken("bench", { board: "rpi4" });
    const config = parseExporterConfig(
      `apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\n` +
        `metadata: {namespace: lab, name: bench}\nendpoint: "http://127.0.0.1:${proxy.port}"\n` +
        `token: ${token}\ngrpcOptions: {grpc.keepalive_time_ms: 300, grpc.keepalive_timeout_ms: 300}\n` +
        `export:\n  power: {type: MockPower}\n`,
      join(lab.dir, "bench.yaml"),
    );
    const states: string[] = [];
    const stop = new AbortController();
    const running = runRegisteredExporter(config, {
      signal: stop.signal,
      backoff: { initialMs: 100, maxMs: 500 },
      onState: (message) => states.push(message),
    });
    const online = () => lab.controller.controller.isConnected("lab", "bench");
    try {
      await until(
        "registration",
        () => states.includes("registered with the controller") && online(),
      );
      proxy.stall();
      const stalledAt = Date.now();
      await until(
        "the exporter noticing",
        () => states.some((s) => /controller unreachable/.test(s)),
        { ms: 5000 },
      );
      assert.ok(Date.now() - stalledAt < 3000, "noticed within a few keepalive rounds");
      proxy.heal();
      const before = states.filter((s) => s === "registered with the controller").length;
      await until(
        "registering again",
        () =>
          states.filter((s) => s === "registered with the controller").length > before && online(),
        { ms: 8000 },
      );
    } finally {
      stop.abort();
      await running.catch(() => {});
      await proxy.close();
    }
  });
});
