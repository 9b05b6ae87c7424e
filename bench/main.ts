// `deno task bench`: byte-stream throughput and unary round trips over our transport, next to a
// raw node:http2 stream copy and Python grpcio (upstream's runtime), each side in its own
// process, all in one run. Prints a table and ratios and writes bench/results.json.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import process from "node:process";
import { freePort, type PeerResult, WARMUP_MIB } from "./peer_args.ts";
import { locateBun, pinnedBunVersion } from "../build/compile.ts";
import { type DriverCallRow, measureDriverCalls } from "./driver_calls.ts";
import { type ForwardRow, measureForwarding } from "./network_forward.ts";
import { measureSerialEcho, type SerialRow } from "./serial_echo.ts";
import { measureStorageWrite, type StorageRow } from "./storage_write.ts";
import { type LeaseRouterRow, measureLeaseRouter } from "./lease_router.ts";
import { measureStartup, type StartupRow } from "./startup.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const PYTHON = "/usr/bin/python3";

interface Peer {
  name: string;
  command: (mode: "serve" | "client") => string[];
}

const BUN = await locateBun();

function denoPeer(script: string, extra: string[] = []): Peer["command"] {
  return (mode) => [process.execPath, "run", "-A", join(HERE, script), mode, ...extra];
}

function bunPeer(script: string): Peer["command"] {
  return (mode) => [BUN, "run", join(HERE, script), mode];
}

// Our code runs on Deno in development and on Bun in the compiled binaries: both are measured.
const PEERS = {
  ours: { name: "ours on Deno: lean byte path", command: denoPeer("peer_ours.ts") },
  oursBun: { name: "ours on Bun (binaries): lean byte path", command: bunPeer("peer_ours.ts") },
  grpcio: {
    name: "Python grpcio",
    command: (mode: "serve" | "client") => [PYTHON, join(HERE, "grpcio_peer.py"), mode],
  },
  raw: { name: "raw node:http2 copy on Deno", command: denoPeer("peer_raw_http2.ts") },
  rawBun: { name: "raw node:http2 copy on Bun", command: bunPeer("peer_raw_http2.ts") },
  generic: {
    name: "ours on Deno: connect-es generic path",
    command: denoPeer("peer_ours.ts", ["--generic"]),
  },
} satisfies Record<string, Peer>;
type PeerName = keyof typeof PEERS;

interface Scenario {
  server: PeerName;
  client: PeerName;
}

const SCENARIOS: Scenario[] = [
  { server: "ours", client: "ours" },
  { server: "oursBun", client: "oursBun" },
  { server: "grpcio", client: "grpcio" },
  { server: "raw", client: "raw" },
  { server: "rawBun", client: "rawBun" },
  { server: "generic", client: "generic" },
  { server: "oursBun", client: "grpcio" },
];

interface Row {
  scenario: string;
  transport: string;
  mb_per_s: number;
  unary_p50_ms: number | null;
  unary_p99_ms: number | null;
  runs: PeerResult[];
}

async function startServer(peer: Peer, listen: string) {
  const [cmd, ...args] = peer.command("serve");
  const child = spawn(cmd, [...args, "--listen", listen], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${peer.name} server exited with ${code}`)));
  });
  let crashed: string | undefined;
  child.once("exit", (code, signal) => (crashed = `exited early (${signal ?? `code ${code}`})`));
  return {
    /** Stops the server; returns how it failed if it died before being asked to stop. */
    async stop(): Promise<string | undefined> {
      if (child.exitCode !== null || child.signalCode !== null) return crashed;
      child.removeAllListeners("exit");
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      return undefined;
    },
  };
}

async function runClient(peer: Peer, target: string, mib: number, unary: number) {
  const [cmd, ...args] = peer.command("client");
  const child = spawn(cmd, [
    ...args,
    "--target",
    target,
    "--mib",
    String(mib),
    "--chunk-kib",
    "32",
    "--unary",
    String(unary),
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`${peer.name} client exited with ${code}`);
  return JSON.parse(out.trim().split("\n").pop()!) as PeerResult;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function medianOrNull(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length ? median(present) : null;
}

const { values: opts } = parseArgs({
  args: process.argv.slice(2),
  options: {
    runs: { type: "string", default: "5" },
    mib: { type: "string", default: "256" },
    unary: { type: "string", default: "2000" },
    only: { type: "string" },
    peers: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (opts.help) {
  console.log(`usage: deno task bench [--runs 5] [--mib 256] [--unary 2000] [--only unix|tcp]
                       [--peers ours,oursBun,grpcio,raw,rawBun,generic]

Measures a 256 MiB bidi echo in 32 KiB messages (after an untimed 16 MiB warm-up echo on the same
connection; each piece checked against what was sent) and unary round trips for: our lean byte
path on Deno and on Bun, Python grpcio, raw node:http2, our connect-es generic path, and a grpcio
client against our server (--peers keeps the scenarios whose server and client are both listed).
Each server and client runs in its own process; figures are medians of
--runs client runs. Results: bench/results.json.`);
  process.exit(0);
}
const runs = Number(opts.runs);
const mib = Number(opts.mib);
const unary = Number(opts.unary);
const peers = opts.peers?.split(",").map((p) => p.trim());
const unknownPeer = peers?.find((p) => !(p in PEERS));
if (unknownPeer) {
  console.error(
    `error: --peers: unknown peer "${unknownPeer}" (known: ${Object.keys(PEERS).join(", ")})`,
  );
  process.exit(2);
}
const scenarios = SCENARIOS.filter((s) =>
  !peers || (peers.includes(s.server) && peers.includes(s.client))
);

const dir = mkdtempSync(join(tmpdir(), "jmp-bench-"));
const rows: Row[] = [];
let driverCalls: DriverCallRow[] = [];
let forwarding: ForwardRow[] = [];
let serial: SerialRow | undefined;
let storage: StorageRow[] = [];
let leaseRouter: LeaseRouterRow | undefined;
let startup: StartupRow | undefined;
let failed = false;
try {
  for (const transport of opts.only ? [opts.only] : ["unix", "tcp"]) {
    for (const scenario of scenarios) {
      const server = PEERS[scenario.server];
      const client = PEERS[scenario.client];
      const listen = transport === "unix"
        ? `unix:${join(dir, `${scenario.server}.sock`)}`
        : `127.0.0.1:${await freePort()}`;
      const label = scenario.server === scenario.client
        ? server.name
        : `${client.name} client -> ${server.name} server`;
      process.stderr.write(`${transport}: ${label} ...`);
      const running = await startServer(server, listen);
      const results: PeerResult[] = [];
      let problem: string | undefined;
      try {
        for (let i = 0; i < runs; i++) results.push(await runClient(client, listen, mib, unary));
      } catch (err) {
        problem = (err as Error).message;
      } finally {
        const crash = await running.stop();
        if (crash) problem = `${problem ? `${problem}; ` : ""}server ${crash}`;
      }
      if (problem || results.length === 0) {
        failed = true;
        process.stderr.write(` FAILED: ${problem ?? "no result"}\n`);
        if (results.length === 0) continue;
      }
      if (results.some((r) => !r.intact)) {
        failed = true;
        process.stderr.write(" DATA MISMATCH\n");
      }
      const row: Row = {
        scenario: label,
        transport,
        mb_per_s: median(results.map((r) => r.mb_per_s)),
        unary_p50_ms: medianOrNull(results.map((r) => r.unary_p50_ms)),
        unary_p99_ms: medianOrNull(results.map((r) => r.unary_p99_ms)),
        runs: results,
      };
      process.stderr.write(` ${row.mb_per_s.toFixed(0)} MB/s\n`);
      rows.push(row);
    }
  }
  if (!opts.only || opts.only === "unix") {
    try {
      driverCalls = await measureDriverCalls({ dir, bun: BUN, runs, calls: unary });
    } catch (err) {
      failed = true;
      process.stderr.write(` FAILED: ${(err as Error).message}\n`);
    }
  }
  if (!opts.only) {
    try {
      storage = await measureStorageWrite({ dir, bun: BUN, mib });
    } catch (err) {
      failed = true;
      process.stderr.write(` FAILED: ${(err as Error).message}\n`);
    }
    try {
      serial = await measureSerialEcho({ dir, bun: BUN, calls: Math.min(unary, 1000) });
    } catch (err) {
      failed = true;
      process.stderr.write(` FAILED: ${(err as Error).message}\n`);
    }
    try {
      startup = await measureStartup({ dir, runs: 20 });
    } catch (err) {
      failed = true;
      process.stderr.write(` FAILED: ${(err as Error).message}\n`);
    }
    try {
      leaseRouter = await measureLeaseRouter({ dir, clients: 100, calls: unary, mib });
    } catch (err) {
      failed = true;
      process.stderr.write(` FAILED: ${(err as Error).message}\n`);
    }
  }
  if (!opts.only || opts.only === "tcp") {
    try {
      forwarding = await measureForwarding({ dir, bun: BUN, runs, mib, calls: unary });
    } catch (err) {
      failed = true;
      process.stderr.write(` FAILED: ${(err as Error).message}\n`);
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const ms = (v: number | null) => (v === null ? "-" : v.toFixed(3));
console.log(
  `\n${"scenario".padEnd(72)} ${"via".padEnd(5)} ${"MB/s".padStart(7)} ${"p50 ms".padStart(8)} ${
    "p99 ms".padStart(8)
  }`,
);
for (const row of rows) {
  console.log(
    `${row.scenario.padEnd(72)} ${row.transport.padEnd(5)} ${row.mb_per_s.toFixed(1).padStart(7)} ${
      ms(row.unary_p50_ms).padStart(8)
    } ${ms(row.unary_p99_ms).padStart(8)}`,
  );
}

for (const row of driverCalls) {
  console.log(
    `${`DriverCall power.on via the client library, exporter on ${row.runtime}`.padEnd(72)} ${
      "unix".padEnd(5)
    } ${"-".padStart(7)} ${ms(row.p50_ms).padStart(8)} ${ms(row.p99_ms).padStart(8)}`,
  );
}

for (const row of forwarding) {
  console.log(
    `network forward on ${row.runtime}: ${row.forward_mb_per_s.toFixed(0)} MB/s vs ` +
      `${row.direct_mb_per_s.toFixed(0)} MB/s direct (${
        (row.forward_mb_per_s / row.direct_mb_per_s).toFixed(2)
      }x); round trip p50 ${row.forward_p50_ms.toFixed(3)} ms vs ${
        row.direct_p50_ms.toFixed(3)
      } ms direct, p99 ${row.forward_p99_ms.toFixed(3)} ms`,
  );
}

for (const row of storage) {
  console.log(
    `storage write through the exporter on ${row.runtime}: ${
      row.exporter_mb_per_s.toFixed(0)
    } MB/s vs a plain copy ${row.copy_mb_per_s.toFixed(0)} MB/s (${
      (row.exporter_mb_per_s / row.copy_mb_per_s).toFixed(2)
    }x)`,
  );
}
if (serial) {
  console.log(
    `serial echo through the exporter (Deno): p50 ${serial.exporter_p50_ms.toFixed(3)} ms, p99 ${
      serial.exporter_p99_ms.toFixed(3)
    } ms; direct on the pty p50 ${serial.direct_p50_ms.toFixed(3)} ms (${
      (serial.exporter_p50_ms / serial.direct_p50_ms).toFixed(1)
    }x)`,
  );
}

if (startup) {
  console.log(
    `start-up: compiled jmp --help ${startup.jmp_help_p50_ms.toFixed(1)} ms (node -e 0: ${
      startup.node_p50_ms.toFixed(1)
    } ms); idle compiled exporter ${startup.exporter_idle_rss_mb.toFixed(1)} MB resident`,
  );
}
if (leaseRouter) {
  const r = leaseRouter;
  console.log(
    `leases: an exporter released goes to the next of ${r.waiting_clients} waiting clients in ` +
      `p50 ${r.handover_p50_ms.toFixed(1)} ms, p99 ${r.handover_p99_ms.toFixed(1)} ms`,
  );
  console.log(
    `through the router (Deno): DriverCall p50 ${r.router_call_p50_ms.toFixed(3)} ms, p99 ${
      r.router_call_p99_ms.toFixed(3)
    } ms vs direct ${r.direct_call_p50_ms.toFixed(3)} / ${r.direct_call_p99_ms.toFixed(3)} ms; ` +
      `byte stream ${r.router_mb_per_s.toFixed(0)} MB/s vs direct ${
        r.direct_mb_per_s.toFixed(0)
      } MB/s (${(r.router_mb_per_s / r.direct_mb_per_s).toFixed(2)}x); serial echo p50 ${
        r.router_serial_p50_ms.toFixed(3)
      } ms, p99 ${r.router_serial_p99_ms.toFixed(3)} ms`,
  );
}

const find = (server: PeerName, client: PeerName, transport: string) =>
  rows.find((r) =>
    r.transport === transport &&
    r.scenario === (server === client
        ? PEERS[server].name
        : `${PEERS[client].name} client -> ${PEERS[server].name} server`)
  );
const ratios: Record<string, Record<string, number | null>> = {};
console.log("");
for (const transport of opts.only ? [opts.only] : ["unix", "tcp"]) {
  const grpcio = find("grpcio", "grpcio", transport);
  if (!grpcio) continue;
  for (
    const [ours, raw, runtime] of [["ours", "raw", "deno"], ["oursBun", "rawBun", "bun"]] as const
  ) {
    const mine = find(ours, ours, transport);
    const baseline = find(raw, raw, transport);
    if (!mine || !baseline) continue;
    const r = {
      throughput_vs_grpcio: mine.mb_per_s / grpcio.mb_per_s,
      throughput_vs_raw_http2: mine.mb_per_s / baseline.mb_per_s,
      unary_p50_vs_grpcio: mine.unary_p50_ms && grpcio.unary_p50_ms
        ? mine.unary_p50_ms / grpcio.unary_p50_ms
        : null,
    };
    ratios[`${transport}/${runtime}`] = r;
    console.log(
      `${transport}, ${runtime}: byte stream ${r.throughput_vs_grpcio.toFixed(2)}x grpcio's, ` +
        `${r.throughput_vs_raw_http2.toFixed(2)}x raw node:http2 on ${runtime}; unary p50 ` +
        `${r.unary_p50_vs_grpcio?.toFixed(2) ?? "-"}x grpcio's (lower is better)`,
    );
  }
  const generic = find("generic", "generic", transport);
  const mine = find("ours", "ours", transport);
  if (generic && mine) {
    ratios[`${transport}/deno`].throughput_vs_connect_generic = mine.mb_per_s / generic.mb_per_s;
    console.log(
      `${transport}: the lean byte path is ${
        (mine.mb_per_s / generic.mb_per_s).toFixed(1)
      }x the connect-es generic path`,
    );
  }
}

const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, platform: process.platform },
  runtime: { deno: process.versions.deno ?? null, bun: pinnedBunVersion() },
  settings: {
    mib,
    chunk_kib: 32,
    warmup_mib: WARMUP_MIB,
    unary_calls: unary,
    runs_per_scenario: runs,
  },
  rows,
  driver_calls: driverCalls,
  network_forward: forwarding,
  serial_echo: serial ?? null,
  storage_write: storage,
  lease_router: leaseRouter ?? null,
  startup: startup ?? null,
  ratios,
};
writeFileSync(join(HERE, "results.json"), JSON.stringify(results, null, 2) + "\n");
console.log(`\nwrote ${join("bench", "results.json")}`);
if (failed) {
  console.error("error: some runs failed or echoed data that did not match (see above)");
  process.exit(1);
}
