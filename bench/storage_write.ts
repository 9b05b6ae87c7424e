// The storage part of `deno task bench`: an image written through a real exporter's StorageMux
// (resource stream, SHA-256 on both sides, fsync) next to a plain copy of the same file on the
// same disk.

import { closeSync, copyFileSync, fsyncSync, openSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { connectExporter } from "../client/mod.ts";
import type { StorageMuxClient } from "../drivers/storage/mod.ts";
import { runtimeCommand, startExporter } from "./exporter_peer.ts";

/** One runtime's storage figures. */
export interface StorageRow {
  runtime: string;
  exporter_mb_per_s: number;
  copy_mb_per_s: number;
}

/** Writes an `mib` MiB image through the exporter on Deno and on Bun, and copies it plainly. */
export async function measureStorageWrite(
  options: { dir: string; bun: string; mib: number },
): Promise<StorageRow[]> {
  const bytes = options.mib * 1024 * 1024;
  const source = join(options.dir, "bench-image.img");
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 4096) data[i] = i & 0xff;
  writeFileSync(source, data);
  const target = join(options.dir, "bench-target.img");

  // The baseline: the same bytes copied on the same disk, flushed.
  const t0 = performance.now();
  copyFileSync(source, target);
  const fd = openSync(target, "r+");
  fsyncSync(fd);
  closeSync(fd);
  const copy = bytes / ((performance.now() - t0) / 1000) / 1e6;
  rmSync(target);

  const rows: StorageRow[] = [];
  for (const runtime of ["deno", "bun"] as const) {
    process.stderr.write(`disk: storage write through the exporter on ${runtime} ...`);
    const config = join(options.dir, `storage-${runtime}.yaml`);
    writeFileSync(
      config,
      "apiVersion: jumpstarter.dev/v1alpha1\nkind: ExporterConfig\nmetadata: {name: bench}\n" +
        `export:\n  storage: {type: StorageMux, config: {path: ${target}}}\n`,
    );
    const socket = join(options.dir, `storage-${runtime}.sock`);
    const stop = await startExporter(
      runtimeCommand(runtime, options.bun, "cli/jmp-exporter.ts"),
      config,
      socket,
    );
    try {
      const exporter = await connectExporter(`unix:${socket}`);
      const storage = exporter.root.child("storage") as StorageMuxClient;
      await storage.host();
      const t1 = performance.now();
      const result = await storage.write(source);
      const rate = result.bytes / ((performance.now() - t1) / 1000) / 1e6;
      exporter.close();
      rows.push({ runtime, exporter_mb_per_s: rate, copy_mb_per_s: copy });
      process.stderr.write(` ${rate.toFixed(0)} MB/s\n`);
    } finally {
      await stop();
      rmSync(target, { force: true });
    }
  }
  rmSync(source, { force: true });
  return rows;
}
