// The DriverCall part of `deno task bench`: a real exporter (`jmp-exporter serve` with the demo
// config) on a Unix socket, called through the client library, on Deno and on Bun.

import { spawn } from "node:child_process";
import { join } from "node:path";
import process from "node:process";
import { ROOT, runtimeCommand, startExporter } from "./exporter_peer.ts";

/** One runtime's DriverCall figures. */
export interface DriverCallRow {
  runtime: string;
  p50_ms: number;
  p99_ms: number;
  runs: { p50_ms: number; p99_ms: number; calls: number }[];
}

async function runClient(command: string[], socket: string, calls: number) {
  const [cmd, ...args] = command;
  const child = spawn(cmd, [...args, "--target", `unix:${socket}`, "--calls", String(calls)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  const code = await new Promise((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`the DriverCall client exited with ${code}`);
  return JSON.parse(out.trim().split("\n").pop()!) as DriverCallRow["runs"][number];
}

/**
 * Measures `calls` sequential DriverCall(power.on) round trips, `runs` times per runtime; each
 * runtime serves and calls itself.
 */
export async function measureDriverCalls(
  options: { dir: string; bun: string; runs: number; calls: number },
): Promise<DriverCallRow[]> {
  const rows: DriverCallRow[] = [];
  for (const runtime of ["deno", "bun"] as const) {
    process.stderr.write(`unix: DriverCall on ${runtime} ...`);
    const socket = join(options.dir, `driver-call-${runtime}.sock`);
    const stop = await startExporter(
      runtimeCommand(runtime, options.bun, "cli/jmp-exporter.ts"),
      join(ROOT, "examples/demo-exporter.yaml"),
      socket,
    );
    const runs = [];
    try {
      for (let i = 0; i < options.runs; i++) {
        runs.push(
          await runClient(
            runtimeCommand(runtime, options.bun, "bench/peer_driver_call.ts"),
            socket,
            options.calls,
          ),
        );
      }
    } finally {
      await stop();
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];
    const row = {
      runtime,
      p50_ms: median(runs.map((r) => r.p50_ms)),
      p99_ms: median(runs.map((r) => r.p99_ms)),
      runs,
    };
    process.stderr.write(` p50 ${row.p50_ms.toFixed(3)} ms\n`);
    rows.push(row);
  }
  return rows;
}
