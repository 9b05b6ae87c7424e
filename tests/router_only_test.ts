// `jmp-controller run --router-only`: the router in its own process, sharing the controller's
// data folder (token keys, CA); the controller sends clients and exporters to it.

import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connectExporter, ControllerConnection } from "../client/mod.ts";
import { loadClientConfig } from "../config/mod.ts";
import { runToEnd, startUntil } from "./fixtures/processes_io.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";
import { cliCommand, freePort } from "./fixtures/cli_processes.ts";

Deno.test(
  "a router in its own process carries the leased connections the controller sends to it",
  withTempDir(async (dir) => {
    const env = { ...process.env, HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "xdg") };
    const data = join(dir, "data");
    const routerPort = await freePort();
    const controller = await startUntil(
      cliCommand("jmp-controller.ts", [
        ...["run", "--data-dir", data, "--listen", "127.0.0.1:0", "--no-metrics"],
        ...["--router-listen", "127.0.0.1:0", "--router-endpoint", `127.0.0.1:${routerPort}`],
      ]),
      env,
      "stdout",
      "advertised endpoint",
    );
    const router = await startUntil(
      cliCommand("jmp-controller.ts", [
        ...["run", "--router-only", "--data-dir", data],
        ...["--router-listen", `127.0.0.1:${routerPort}`],
      ]),
      env,
      "stdout",
      "router listening on",
    );
    let exporter: Awaited<ReturnType<typeof startUntil>> | undefined;
    try {
      const make = async (args: string[]) => {
        const run = await runToEnd(
          cliCommand("jmp.ts", ["admin", "create", ...args, "--data-dir", data]),
          env,
        );
        assert.equal(run.code, 0, run.stderr);
      };
      const exporterFile = join(dir, "bench.yaml");
      await make(["exporter", "bench", "-l", "board=rpi4", "--out", exporterFile]);
      writeFileSync(
        exporterFile,
        readFileSync(exporterFile, "utf8").replace(
          /^export:.*$/m,
          "export:\n  power: {type: MockPower}",
        ),
      );
      await make(["client", "alice", "--out", join(dir, "alice.yaml")]);
      exporter = await startUntil(
        cliCommand("jmp-exporter.ts", ["run", "-c", exporterFile]),
        env,
        "stderr",
        "registered with the controller",
      );
      using alice = new ControllerConnection(await loadClientConfig(join(dir, "alice.yaml")));
      const asked = await alice.createLease({ selector: "board=rpi4", durationMs: 60_000 });
      const lease = await alice.waitForLease(asked.name, { timeoutMs: 20_000 });
      const dial = await alice.controller.dial({ leaseName: lease.name }, {
        headers: alice.headers,
      });
      assert.equal(dial.routerEndpoint, `127.0.0.1:${routerPort}`);
      await using tunnel = await alice.openTunnel(lease.name);
      await using board = await connectExporter(`unix:${tunnel.socket}`);
      await board.root.child("power").call("on");
    } finally {
      await exporter?.stop();
      await router.stop();
      await controller.stop();
    }
  }),
);
