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
import * as net from "node:net";
import type { PeerResult } from "./peer_args.ts";

const HERE = dirname(fileURLToPath(import.meta.url));
const PYTHON = "/usr/bin/python3";

interface Peer {
  name: string;
  command: (mode: "serve" | "client") => string[];
}

function denoPeer(script: string, extra: string[] = []): Peer["command"] {
  return (mode) => [process.execPath, "run", "-A", join(HERE, script), mode, ...extra];
}

const PEERS: Record<string, Peer> = {
  ours: { name: "ours: lean byte path (connect-es for unary)", command: denoPeer("peer_ours.ts") },
  generic: {
    name: "ours: connect-es generic path",
    command: denoPeer("peer_ours.ts", ["--generic"]),
  },
  raw: { name: "raw node:http2 stream copy", command: denoPeer("peer_raw_http2.ts") },
  grpcio: {
    name: "Python grpcio",
    command: (mode) => [PYTHON, join(HERE, "grpcio_peer.py"), mode],
  },
};

interface Scenario {
  server: keyof typeof PEERS;
  client: keyof typeof PEERS;
}

const SCENARIOS: Scenario[] = [
  { server: "ours", client: "ours" },
  { server: "grpcio", client: "grpcio" },
  { server: "raw", client: "raw" },
  { server: "generic", client: "generic" },
  { server: "ours", client: "grpcio" },
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
  const child = spawn(cmd, [...args, "--listen", listen], { stdio: ["pipe", "pipe", "inherit"] });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (out.includes("ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`${peer.name} server exited with ${code}`)));
  });
  return {
    async stop() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.stdin.end();
      child.kill("SIGTERM");
      await exited;
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

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
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
    runs: { type: "string", default: "3" },
    mib: { type: "string", default: "64" },
    unary: { type: "string", default: "2000" },
    only: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (opts.help) {
  console.log(`usage: deno task bench [--runs 3] [--mib 64] [--unary 2000] [--only unix|tcp]

Measures a 64 MiB bidi echo in 32 KiB messages and unary round trips for: our lean
byte path, Python grpcio, raw node:http2, our connect-es generic path, and a grpcio client
against our server. Each server and client runs in its own process. Results: bench/results.json.`);
  process.exit(0);
}
const runs = Number(opts.runs);
const mib = Number(opts.mib);
const unary = Number(opts.unary);

const dir = mkdtempSync(join(tmpdir(), "jmp-bench-"));
const rows: Row[] = [];
let failed = false;
try {
  for (const transport of opts.only ? [opts.only] : ["unix", "tcp"]) {
    for (const scenario of SCENARIOS) {
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
      try {
        for (let i = 0; i < runs; i++) results.push(await runClient(client, listen, mib, unary));
      } finally {
        await running.stop();
      }
      if (results.some((r) => !r.sha256_ok)) {
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

const find = (server: string, client: string, transport: string) =>
  rows.find((r) =>
    r.transport === transport &&
    r.scenario === (server === client
        ? PEERS[server].name
        : `${PEERS[client].name} client -> ${PEERS[server].name} server`)
  );
const ratios: Record<string, Record<string, number | null>> = {};
console.log("");
for (const transport of opts.only ? [opts.only] : ["unix", "tcp"]) {
  const ours = find("ours", "ours", transport);
  const grpcio = find("grpcio", "grpcio", transport);
  const raw = find("raw", "raw", transport);
  const generic = find("generic", "generic", transport);
  if (!ours || !grpcio || !raw || !generic) continue;
  const r = {
    throughput_vs_grpcio: ours.mb_per_s / grpcio.mb_per_s,
    throughput_vs_raw_http2: ours.mb_per_s / raw.mb_per_s,
    throughput_vs_connect_generic: ours.mb_per_s / generic.mb_per_s,
    unary_p50_vs_grpcio: ours.unary_p50_ms && grpcio.unary_p50_ms
      ? ours.unary_p50_ms / grpcio.unary_p50_ms
      : null,
  };
  ratios[transport] = r;
  console.log(
    `${transport}: byte stream ${r.throughput_vs_grpcio.toFixed(2)}x grpcio, ` +
      `${r.throughput_vs_raw_http2.toFixed(2)}x raw node:http2, ` +
      `${r.throughput_vs_connect_generic.toFixed(1)}x connect-es generic; unary p50 ` +
      `${r.unary_p50_vs_grpcio?.toFixed(2) ?? "-"}x grpcio's (lower is better)`,
  );
}

const results = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpu: cpus()[0]?.model, platform: process.platform },
  runtime: { deno: process.versions.deno ?? null, v8: process.versions.v8 },
  settings: { mib, chunk_kib: 32, unary_calls: unary, runs_per_scenario: runs },
  rows,
  ratios,
};
writeFileSync(join(HERE, "results.json"), JSON.stringify(results, null, 2) + "\n");
console.log(`\nwrote ${join("bench", "results.json")}`);
if (failed) {
  console.error("error: echoed data did not match what was sent");
  process.exit(1);
}
