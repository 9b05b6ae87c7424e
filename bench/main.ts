// `deno task bench`: byte-stream throughput and unary round trips over our transport, next to a
// raw node:http2 stream copy and Python grpcio (upstream's runtime), each side in its own
// process, then the exporter, router, lease and start-up sections, all in one run. Prints one
// table, each figure next to its reference and target (table.ts), and writes bench/results.json.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import process from "node:process";
import { freePort, type PeerResult, WARMUP_MIB } from "./peer_args.ts";
import { locateBun, pinnedBunVersion } from "../build/compile.ts";
import { measureDriverCalls } from "./driver_calls.ts";
import { measureForwarding } from "./network_forward.ts";
import { measureSerialEcho } from "./serial_echo.ts";
import { measureStorageWrite } from "./storage_write.ts";
import { type LeaseRouterRow, measureLeaseRouter } from "./lease_router.ts";
import { measureStartup } from "./startup.ts";
import {
  type BenchFigures,
  buildTable,
  formatTable,
  type ScenarioRow,
  tallyTargets,
} from "./table.ts";

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

interface Row extends ScenarioRow {
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
Each server and client runs in its own process; figures are medians of --runs client runs. Then
DriverCall, network forward, storage write and serial echo through a real exporter, leases and
streams through the router (controller and exporters on Deno, then on Bun as the binaries run
them), and the compiled binaries' start-up and idle memory (--only unix|tcp skips what does not
run on that transport).

Prints one table: each figure, the reference it is compared to measured in the same run, their
ratio, the project's target for it if any and whether it is met; then a count of targets met and
missed. A missed target does not fail the run; failed runs and mismatched data do (exit 1).
Writes it all to bench/results.json ("table", and the detailed sections).`);
  process.exit(0);
}
if (opts.only && opts.only !== "unix" && opts.only !== "tcp") {
  console.error(`error: --only: "${opts.only}" is neither unix nor tcp`);
  process.exit(2);
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

let failed = false;

// Notes a failed run or section on stderr; the bench then exits non-zero.
function fail(message: string): void {
  failed = true;
  process.stderr.write(` ${message}\n`);
}

// Runs one section's measurement if it is wanted; a failure is noted and leaves it out.
async function section<T>(wanted: boolean, measure: () => Promise<T>): Promise<T | undefined> {
  if (!wanted) return undefined;
  try {
    return await measure();
  } catch (err) {
    fail(`FAILED: ${(err as Error).message}`);
    return undefined;
  }
}

// One scenario's server, and `runs` client runs against it; undefined when none succeeded.
async function measureScenario(
  transport: string,
  scenario: Scenario,
  dir: string,
): Promise<Row | undefined> {
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
  if (problem || results.length === 0) fail(`FAILED: ${problem ?? "no result"}`);
  if (results.length === 0) return undefined;
  if (results.some((r) => !r.intact)) fail("DATA MISMATCH");
  const row: Row = {
    scenario: label,
    server: scenario.server,
    client: scenario.client,
    transport,
    mb_per_s: median(results.map((r) => r.mb_per_s)),
    unary_p50_ms: medianOrNull(results.map((r) => r.unary_p50_ms)),
    unary_p99_ms: medianOrNull(results.map((r) => r.unary_p99_ms)),
    runs: results,
  };
  process.stderr.write(` ${row.mb_per_s.toFixed(0)} MB/s\n`);
  return row;
}

const dir = mkdtempSync(join(tmpdir(), "jmp-bench-"));
const rows: Row[] = [];
let figures: BenchFigures;
try {
  for (const transport of opts.only ? [opts.only] : ["unix", "tcp"]) {
    for (const scenario of scenarios) {
      const row = await measureScenario(transport, scenario, dir);
      if (row) rows.push(row);
    }
  }
  const [unixToo, tcpToo, all] = [opts.only !== "tcp", opts.only !== "unix", !opts.only];
  const driverCalls = await section(
    unixToo,
    () => measureDriverCalls({ dir, bun: BUN, runs, calls: unary }),
  );
  const storage = await section(all, () => measureStorageWrite({ dir, bun: BUN, mib }));
  const serial = await section(
    all,
    () => measureSerialEcho({ dir, bun: BUN, calls: Math.min(unary, 1000) }),
  );
  const startup = await section(all, () => measureStartup({ dir, runs: 20 }));
  // As developed (Deno) and as the binaries run (Bun); the clients are this process.
  const leaseRouters: LeaseRouterRow[] = [];
  for (const servers of ["deno", "bun"] as const) {
    const row = await section(
      all,
      () => measureLeaseRouter({ dir, clients: 100, calls: unary, mib, servers, bun: BUN }),
    );
    if (row) leaseRouters.push(row);
  }
  const forwarding = await section(
    tcpToo,
    () => measureForwarding({ dir, bun: BUN, runs, mib, calls: unary }),
  );
  figures = {
    scenarios: rows,
    driverCalls: driverCalls ?? [],
    forwarding: forwarding ?? [],
    storage: storage ?? [],
    serial,
    leaseRouters,
    startup,
  };
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const table = buildTable(figures);
console.log(`\n${formatTable(table)}\n\n${tallyTargets(table)}`);

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
  table,
  rows,
  driver_calls: figures.driverCalls,
  network_forward: figures.forwarding,
  serial_echo: figures.serial ?? null,
  storage_write: figures.storage,
  lease_router: figures.leaseRouters,
  startup: figures.startup ?? null,
};
writeFileSync(join(HERE, "results.json"), JSON.stringify(results, null, 2) + "\n");
console.log(`\nwrote ${join("bench", "results.json")}`);
if (failed) {
  console.error("error: some runs failed or echoed data that did not match (see above)");
  process.exit(1);
}
