// The distributed part of `deno task bench`: `jmp-controller run` and an exporter registered with
// it (`jmp-exporter run`), each in its own process on Deno or Bun, and clients here. Measures
// how fast a released exporter goes to the next of 100 waiting clients, and DriverCall round
// trips and byte-stream throughput through the router next to the same exporter served directly
// on a Unix socket.

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connectExporter, ControllerConnection } from "../client/mod.ts";
import { parseClientConfig } from "../config/mod.ts";
import { dataPaths, SqliteStore, TokenIssuer } from "../controller/mod.ts";
import type { DriverClient } from "../drivers/framework/mod.ts";
import { ROOT, runtimeCommand, startExporter } from "./exporter_peer.ts";
import { measureLatencies } from "./peer_args.ts";
import type { SerialClient } from "../drivers/serial/mod.ts";
import { openRawTty, startPtyPair } from "../tests/fixtures/pty_pair.ts";

/** The figures of one run. */
export interface LeaseRouterRow {
  /** The runtime of the controller and the exporters (the clients are this process, Deno). */
  servers: "deno" | "bun";
  waiting_clients: number;
  handover_p50_ms: number;
  handover_p99_ms: number;
  router_call_p50_ms: number;
  router_call_p99_ms: number;
  direct_call_p50_ms: number;
  direct_call_p99_ms: number;
  router_mb_per_s: number;
  direct_mb_per_s: number;
  /** A line echoed by a socat pty loop through the serial driver, over the lease. */
  router_serial_p50_ms: number;
  router_serial_p99_ms: number;
}

const NAMESPACE = "bench";
const EXPORT = "export:\n  power: {type: MockPower}\n  echo: {type: EchoNetwork}\n";

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// Echoes `mib` MiB through the driver's byte stream; MB/s, after checking every byte came back.
async function echoThroughput(echo: DriverClient, mib: number): Promise<number> {
  const call = await echo.openStream("connect");
  const block = new Uint8Array(32 * 1024).map((_, i) => (i * 31) & 0xff);
  const total = mib * 1024 * 1024;
  const sent = createHash("sha256");
  const received = createHash("sha256");
  const started = performance.now();
  const sending = (async () => {
    for (let done = 0; done < total; done += block.length) {
      sent.update(block);
      await call.stream.send(block);
    }
    await call.stream.close();
  })();
  let count = 0;
  for await (const chunk of call.stream) {
    received.update(chunk);
    count += chunk.length;
  }
  await sending;
  const seconds = (performance.now() - started) / 1000;
  if (count !== total || sent.digest("hex") !== received.digest("hex")) {
    throw new Error(
      `echo through the byte stream came back different (${count} of ${total} bytes)`,
    );
  }
  return total / 1e6 / seconds;
}

/** Runs the measurements once with `clients` waiting clients. */
export async function measureLeaseRouter(
  options: {
    dir: string;
    clients: number;
    calls: number;
    mib: number;
    /** The runtime of the controller and exporter processes, and where Bun is. */
    servers: "deno" | "bun";
    bun: string;
  },
): Promise<LeaseRouterRow> {
  process.stderr.write(
    `controller on ${options.servers}: ${options.clients} waiting clients, router vs direct ...`,
  );
  const serverCommand = (script: string) => runtimeCommand(options.servers, options.bun, script);
  // The controller and its router run in their own process, as deployed; identities are made
  // here on its data folder, as `jmp admin` makes them.
  const dataDir = join(options.dir, `controller-${options.servers}`);
  const controller = await startControllerProcess(serverCommand("cli/jmp-controller.ts"), dataDir);
  const endpoint = `http://${controller.address}`;
  const paths = dataPaths(dataDir);
  const store = SqliteStore.open(paths.db);
  const issuer = await TokenIssuer.loadOrCreate(paths.keys);
  const stops: (() => Promise<void>)[] = [controller.stop, () => store.close()];
  const connections: ControllerConnection[] = [];
  try {
    const exporter = await store.createExporter({
      namespace: NAMESPACE,
      name: "bench",
      labels: { rig: "bench" },
    });
    const token = await issuer.issueIdentityToken({
      kind: "exporter",
      namespace: NAMESPACE,
      name: "bench",
      uid: exporter.uid,
    });
    const registered = join(options.dir, "registered.yaml");
    // The registered exporter also has a serial port: a pty whose far end echoes every byte.
    const pair = await startPtyPair(options.dir);
    const board = openRawTty(pair.board);
    board.input.on("data", (d) => board.output.write(d));
    stops.push(async () => {
      board.close();
      await pair.stop();
    });
    writeFileSync(
      registered,
      `apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {namespace: ${NAMESPACE}, name: bench}\n` +
        `endpoint: "${endpoint}"\ntoken: ${token}\n${EXPORT}` +
        `  serial: {type: PySerial, config: {url: ${pair.device}}}\n`,
    );
    const local = join(options.dir, "local.yaml");
    writeFileSync(
      local,
      `apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: bench}\n${EXPORT}`,
    );
    stops.push(startRegistered(serverCommand("cli/jmp-exporter.ts"), registered));
    const socket = join(options.dir, "direct.sock");
    stops.push(
      await startExporter(serverCommand("cli/jmp-exporter.ts"), local, socket),
    );
    for (let i = 0; i < 400; i++) {
      if ((await store.getExporter(NAMESPACE, "bench"))?.status === "Available") break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    for (let i = 0; i < options.clients; i++) {
      const record = await store.createClient({ namespace: NAMESPACE, name: `c${i}`, labels: {} });
      const clientToken = await issuer.issueIdentityToken({
        kind: "client",
        namespace: NAMESPACE,
        name: `c${i}`,
        uid: record.uid,
      });
      connections.push(
        new ControllerConnection(parseClientConfig(
          `metadata: {namespace: ${NAMESPACE}, name: c${i}}\nendpoint: "${endpoint}"\ntoken: ${clientToken}\n`,
          join(options.dir, `c${i}.yaml`),
        )),
      );
    }
    const leases = [];
    for (const connection of connections) {
      leases.push(await connection.createLease({ selector: "rig=bench", durationMs: 3_600_000 }));
    }
    // The first client's lease is granted: measure through it, then hand the exporter down.
    const first = await connections[0].waitForLease(leases[0].name, { timeoutMs: 30_000 });
    const viaRouter = await measureExporter(connections[0], first.name, options);
    const direct = await measureDirect(`unix:${socket}`, options);
    const handovers: number[] = [];
    for (let i = 0; i + 1 < connections.length; i++) {
      const started = performance.now();
      await connections[i].releaseLease(leases[i].name);
      while ((await connections[i + 1].getLease(leases[i + 1].name)).state !== "Ready") {
        // Polled as fast as the controller answers.
      }
      handovers.push(performance.now() - started);
    }
    process.stderr.write(" done\n");
    return {
      servers: options.servers,
      waiting_clients: options.clients,
      handover_p50_ms: quantile(handovers, 0.5),
      handover_p99_ms: quantile(handovers, 0.99),
      router_call_p50_ms: viaRouter.p50,
      router_call_p99_ms: viaRouter.p99,
      direct_call_p50_ms: direct.p50,
      direct_call_p99_ms: direct.p99,
      router_mb_per_s: viaRouter.mbPerS,
      direct_mb_per_s: direct.mbPerS,
      router_serial_p50_ms: viaRouter.serial!.p50,
      router_serial_p99_ms: viaRouter.serial!.p99,
    };
  } finally {
    for (const connection of connections) connection[Symbol.dispose]();
    // Last started, first stopped: the exporters let go of the pty before it goes away.
    for (const stop of stops.reverse()) await stop();
  }
}

async function measureExporter(
  connection: ControllerConnection,
  lease: string,
  options: { calls: number; mib: number },
) {
  await using tunnel = await connection.openTunnel(lease);
  const figures = await measureDirect(`unix:${tunnel.socket}`, options);
  await using exporter = await connectExporter(`unix:${tunnel.socket}`);
  const console = await (exporter.root.child("serial") as SerialClient).open();
  const echoes = await measureLatencies(Math.min(options.calls, 500), async () => {
    await console.send("ping\n");
    await console.expect("ping\n", { timeoutMs: 5000 });
  });
  await console.close();
  return { ...figures, serial: { p50: quantile(echoes, 0.5), p99: quantile(echoes, 0.99) } };
}

async function measureDirect(target: string, options: { calls: number; mib: number }) {
  await using exporter = await connectExporter(target);
  const power = exporter.root.child("power");
  const latencies = await measureLatencies(options.calls, () => power.call("on"));
  const mbPerS = await echoThroughput(exporter.root.child("echo"), options.mib);
  return { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), mbPerS };
}

// `jmp-exporter run` on a registered config; returns its stop.
function startRegistered(command: string[], config: string): () => Promise<void> {
  const [cmd, ...args] = command;
  const child = spawn(cmd, [...args, "run", "-c", config, "--log-level", "error"], {
    stdio: ["ignore", "ignore", "inherit"],
    cwd: ROOT,
  });
  return async () => {
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGTERM");
    await exited;
  };
}

// `jmp-controller run` (plaintext, loopback) on `dataDir`; its address and its stop.
async function startControllerProcess(command: string[], dataDir: string) {
  const [cmd, ...args] = command;
  const child = spawn(cmd, [
    ...args,
    ...["run", "--data-dir", dataDir, "--insecure-plaintext", "--no-metrics"],
    ...["--listen", "127.0.0.1:0", "--router-listen", "127.0.0.1:0", "--log-level", "error"],
  ], { stdio: ["ignore", "pipe", "inherit"], cwd: ROOT });
  const address = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const found = /controller listening on (\S+),/.exec(out);
      if (found && out.includes("advertised endpoint")) resolve(found[1]);
    });
    child.once("exit", (code) => reject(new Error(`the controller exited with ${code}`)));
  });
  return {
    address,
    async stop() {
      child.removeAllListeners("exit");
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}
