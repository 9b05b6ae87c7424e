// The serial part of `deno task bench`: round trips of a short line through a real exporter's
// serial driver to a socat pty loop whose far end echoes, next to the same round trip on the
// pty directly (no exporter), in this process.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connectExporter } from "../client/mod.ts";
import type { SerialClient } from "../drivers/serial/mod.ts";
import { openRawTty, startPtyPair } from "../tests/fixtures/pty_pair.ts";
import { runtimeCommand, startExporter } from "./exporter_peer.ts";
import { measureLatencies } from "./peer_args.ts";

/** Serial round-trip figures. */
export interface SerialRow {
  direct_p50_ms: number;
  exporter_p50_ms: number;
  exporter_p99_ms: number;
  calls: number;
}

const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** Measures `calls` line round trips, directly on the pty and through the exporter (on Deno). */
export async function measureSerialEcho(
  options: { dir: string; bun: string; calls: number },
): Promise<SerialRow> {
  process.stderr.write("pty: serial echo round trips ...");
  const pair = await startPtyPair(options.dir);
  const board = openRawTty(pair.board);
  board.input.on("data", (d) => board.output.write(d)); // the loop: everything comes back
  try {
    // Direct: this process on the device end of the pty.
    const device = openRawTty(pair.device);
    let waiting: (() => void) | undefined;
    device.input.on("data", (d) => {
      if (String(d).includes("\n")) waiting?.();
    });
    const direct = (await measureLatencies(options.calls, () =>
      new Promise<void>((resolve) => {
        waiting = resolve;
        device.output.write("ping\n");
      }))).sort((a, b) => a - b);
    device.close();

    const config = join(options.dir, "serial-bench.yaml");
    writeFileSync(
      config,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: bench}\n" +
        `export:\n  serial: {type: PySerial, config: {url: ${pair.device}}}\n`,
    );
    const socket = join(options.dir, "serial-bench.sock");
    const stop = await startExporter(
      runtimeCommand("deno", options.bun, "cli/jmp-exporter.ts"),
      config,
      socket,
    );
    let viaExporter: number[];
    try {
      const exporter = await connectExporter(`unix:${socket}`);
      const console = await (exporter.root.child("serial") as SerialClient).open();
      viaExporter = (await measureLatencies(options.calls, async () => {
        await console.send("ping\n");
        await console.expect("ping\n", { timeoutMs: 5000 });
      })).sort((a, b) => a - b);
      await console.close();
      exporter.close();
    } finally {
      await stop();
    }
    const row = {
      direct_p50_ms: percentile(direct, 0.5),
      exporter_p50_ms: percentile(viaExporter, 0.5),
      exporter_p99_ms: percentile(viaExporter, 0.99),
      calls: options.calls,
    };
    process.stderr.write(` p50 ${row.exporter_p50_ms.toFixed(3)} ms\n`);
    return row;
  } finally {
    board.close();
    await pair.stop();
  }
}
