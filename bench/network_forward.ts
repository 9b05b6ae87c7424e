// The network-forwarding part of `deno task bench`: bytes and round trips through
// `NetworkClient.forward` and a real exporter's TcpNetwork driver, next to the same over a
// direct loopback connection, on Deno and on Bun.

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { runtimeCommand, startExporter } from "./exporter_peer.ts";
import { freePort } from "./peer_args.ts";

/** One runtime's forwarding figures (medians over runs). */
export interface ForwardRow {
  runtime: string;
  direct_mb_per_s: number;
  forward_mb_per_s: number;
  direct_p50_ms: number;
  forward_p50_ms: number;
  forward_p99_ms: number;
  runs: Record<string, number>[];
}

async function runPeer(command: string[], args: string[]): Promise<Record<string, number>> {
  const [cmd, ...rest] = command;
  const child = spawn(cmd, [...rest, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`the forward peer exited with ${code}`);
  return JSON.parse(out.trim().split("\n").pop()!);
}

/** Measures forwarding `runs` times per runtime with `mib` MiB and `calls` round trips. */
export async function measureForwarding(
  options: { dir: string; bun: string; runs: number; mib: number; calls: number },
): Promise<ForwardRow[]> {
  const rows: ForwardRow[] = [];
  for (const runtime of ["deno", "bun"] as const) {
    process.stderr.write(`tcp: forward through the exporter on ${runtime} ...`);
    const sinkPort = await freePort();
    const echoPort = await freePort();
    const config = join(options.dir, `forward-${runtime}.yaml`);
    writeFileSync(
      config,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: bench}\n" +
        `export:\n  sink: {type: TcpNetwork, config: {port: ${sinkPort}}}\n` +
        `  echo: {type: TcpNetwork, config: {port: ${echoPort}}}\n`,
    );
    const socket = join(options.dir, `forward-${runtime}.sock`);
    const stop = await startExporter(
      runtimeCommand(runtime, options.bun, "cli/jmp-exporter.ts"),
      config,
      socket,
    );
    const runs: Record<string, number>[] = [];
    try {
      for (let i = 0; i < options.runs; i++) {
        runs.push(
          await runPeer(runtimeCommand(runtime, options.bun, "bench/peer_forward.ts"), [
            ...["--target", `unix:${socket}`, "--sink-port", String(sinkPort)],
            ...["--echo-port", String(echoPort), "--mib", String(options.mib)],
            ...["--calls", String(options.calls)],
          ]),
        );
      }
    } finally {
      await stop();
    }
    const median = (key: string) => runs.map((r) => r[key]).sort((a, b) => a - b)[runs.length >> 1];
    const row: ForwardRow = {
      runtime,
      direct_mb_per_s: median("direct_mb_per_s"),
      forward_mb_per_s: median("forward_mb_per_s"),
      direct_p50_ms: median("direct_p50_ms"),
      forward_p50_ms: median("forward_p50_ms"),
      forward_p99_ms: median("forward_p99_ms"),
      runs,
    };
    process.stderr.write(` ${row.forward_mb_per_s.toFixed(0)} MB/s\n`);
    rows.push(row);
  }
  return rows;
}
