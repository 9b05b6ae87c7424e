// The acceptance scenario of distributed mode around a crash: `jmp-controller run` (TLS, state in
// its data folder) is killed with SIGKILL mid-lease and started again; the lease is still there,
// the exporter (`jmp-exporter run`, its own process) registers again by itself, and the client
// reaches the board through the same lease.

import { strict as assert } from "node:assert";
import { readFileSync, writeFileSync } from "node:fs";
import * as net from "node:net";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { connectExporter, ControllerConnection } from "../client/mod.ts";
import { loadClientConfig } from "../config/mod.ts";
import { runToEnd, startUntil } from "./fixtures/processes_io.ts";
import { withTempDir } from "./fixtures/temp_dir.ts";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

function command(entry: string, args: string[]): string[] {
  return [
    process.execPath,
    "run",
    "-A",
    "--config",
    join(ROOT, "deno.json"),
    join(ROOT, "cli", entry),
    ...args,
  ];
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function eventually<T>(what: string, attempt: () => Promise<T | undefined>, ms = 20_000) {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} did not happen within ${ms / 1000} s (last error: ${last})`);
}

Deno.test(
  "a controller killed mid-lease and restarted keeps the lease; the exporter comes back by itself",
  withTempDir(async (dir) => {
    const env = { ...process.env, HOME: join(dir, "home"), XDG_CONFIG_HOME: join(dir, "xdg") };
    const data = join(dir, "data");
    const [port, routerPort] = [await freePort(), await freePort()];
    const controllerArgs = [
      "run",
      ...["--data-dir", data, "--listen", `127.0.0.1:${port}`],
      ...["--router-listen", `127.0.0.1:${routerPort}`, "--no-metrics"],
    ];
    const startController = () =>
      startUntil(
        command("jmp-controller.ts", controllerArgs),
        env,
        "stdout",
        "advertised endpoint",
      );
    let controller = await startController();
    let exporter: Awaited<ReturnType<typeof startUntil>> | undefined;
    try {
      const exporterFile = join(dir, "bench.yaml");
      const clientFile = join(dir, "alice.yaml");
      for (
        const [kind, name, file, extra] of [
          ["exporter", "bench", exporterFile, ["-l", "board=rpi4"]],
          ["client", "alice", clientFile, ["--unsafe"]],
        ] as const
      ) {
        const made = await runToEnd(
          command("jmp.ts", [
            "admin",
            "create",
            kind,
            name,
            ...extra,
            "--data-dir",
            data,
            "--out",
            file,
          ]),
          env,
        );
        assert.equal(made.code, 0, made.stderr);
      }
      writeFileSync(
        exporterFile,
        readFileSync(exporterFile, "utf8").replace(
          /^export:.*$/m,
          "export:\n  power: {type: MockPower}",
        ),
      );
      exporter = await startUntil(
        command("jmp-exporter.ts", ["run", "-c", exporterFile]),
        env,
        "stderr",
        "registered with the controller",
      );

      using alice = new ControllerConnection(await loadClientConfig(clientFile));
      const asked = await alice.createLease({ selector: "board=rpi4", durationMs: 600_000 });
      const lease = await alice.waitForLease(asked.name, { timeoutMs: 20_000 });
      await using tunnel = await alice.openTunnel(lease.name);
      {
        await using board = await connectExporter(`unix:${tunnel.socket}`);
        await board.root.child("power").call("on");
      }

      controller.child.kill("SIGKILL");
      await new Promise((resolve) => controller.child.once("close", resolve));
      controller = await startController();

      const kept = await eventually("the controller answering", () => alice.getLease(lease.name));
      assert.equal(kept.state, "Ready");
      assert.equal(kept.exporter, "bench");
      await eventually("the exporter registering again", async () => {
        const [bench] = await alice.listExporters();
        return bench?.online ? bench : undefined;
      });
      await eventually("the board answering through the same lease", async () => {
        await using board = await connectExporter(`unix:${tunnel.socket}`);
        await board.root.child("power").call("off");
        return true;
      });

      // A bad token is refused by the restarted controller too.
      const forged = await loadClientConfig(clientFile);
      using mallory = new ControllerConnection({
        ...forged,
        token: `${forged.token!.slice(0, -6)}AAAAAA`,
      });
      const refused = await mallory.listLeases().catch((e) => e);
      assert.match(String(refused?.message), /token refused/);
    } finally {
      await exporter?.stop();
      await controller.stop();
    }
  }),
);
