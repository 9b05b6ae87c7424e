// Client of storage muxes (upstream's StorageMuxClient): switch the disk, write an image with
// constant memory, and check the exporter's SHA-256 of what arrived against the local one.

import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from "node:fs";
import { pipeline } from "node:stream";
import * as zlib from "node:zlib";
import process from "node:process";
import { parseArgs } from "node:util";
import { DriverClient, type Verb } from "../framework/mod.ts";
import { Progress } from "./progress.ts";
import { encodeSparse } from "./sparse_format.ts";
import type { WriteResult } from "./storage_mux.ts";

// Compressed images are written decompressed, unpacked on the fly here (constant memory).
const DECOMPRESSORS: Record<string, () => NodeJS.ReadWriteStream> = {
  ".gz": () => zlib.createGunzip(),
  ".zst": () =>
    (zlib as unknown as { createZstdDecompress(): NodeJS.ReadWriteStream })
      .createZstdDecompress(),
};

/**
 * The bytes of image file `path`, decompressed when its name says it is compressed. Nothing is
 * opened before the first read, and a corrupt file fails the read that meets it.
 */
export async function* openImage(path: string): AsyncGenerator<Uint8Array> {
  const file = createReadStream(path, { highWaterMark: 1024 * 1024 });
  const suffix = Object.keys(DECOMPRESSORS).find((s) => path.endsWith(s));
  const source = suffix
    ? pipeline(file, DECOMPRESSORS[suffix](), () => {/* surfaces through the iteration */})
    : file;
  for await (const chunk of source as AsyncIterable<Uint8Array>) yield chunk;
}

/** The exporter's checksum of what it wrote differs from the local one. */
export class ChecksumMismatchError extends Error {
  /** Creates the error. */
  constructor(local: string, remote: string) {
    super(`the written image's SHA-256 ${remote} differs from the local ${local}`);
    this.name = "ChecksumMismatchError";
  }
}

/**
 * A disk switched between the exporter host and the board.
 *
 * @example
 * ```ts
 * await storage.host();
 * await storage.write("disk.img");
 * await storage.dut();
 * ```
 */
export class StorageMuxClient extends DriverClient {
  /** Connects the disk to the exporter host. */
  async host(): Promise<void> {
    await this.call("host");
  }

  /** Connects the disk to the board. */
  async dut(): Promise<void> {
    await this.call("dut");
  }

  /** Disconnects the disk. */
  async off(): Promise<void> {
    await this.call("off");
  }

  /**
   * Writes `image` (a file path, `.gz`/`.zst` decompressed on the fly, or bytes as they come)
   * to the disk; resolves with what the exporter wrote once its SHA-256 matched the local one.
   */
  async write(
    image: string | AsyncIterable<Uint8Array>,
    options: {
      signal?: AbortSignal;
      onProgress?: (bytes: number) => void;
      /** Leave all-zero blocks out of the transfer when the exporter can (default true). */
      sparse?: boolean;
    } = {},
  ): Promise<WriteResult & { sent: number }> {
    const hash = createHash("sha256");
    const input = typeof image === "string" ? openImage(image) : image;
    let logical = 0;
    const count = (block: Uint8Array) => {
      hash.update(block);
      logical += block.length;
      options.onProgress?.(logical);
    };
    // Exporters that know `write_sparse` (ours) get only the blocks that are not all zero.
    const sparse = options.sparse !== false && "write_sparse" in this.methodsDescription;
    const body = sparse ? encodeSparse(input, count) : (async function* () {
      for await (const chunk of input) {
        count(chunk);
        yield chunk;
      }
    })();
    const resource = await this.sendResource(body, { signal: options.signal });
    let result: WriteResult;
    let sent: number;
    try {
      [result, sent] = await Promise.all([
        this.call(sparse ? "write_sparse" : "write", resource.handle) as Promise<
          unknown
        > as Promise<
          WriteResult
        >,
        resource.finished,
      ]);
    } catch (err) {
      resource.cancel();
      throw err;
    }
    const local = hash.digest("hex");
    if (result.sha256 !== local) throw new ChecksumMismatchError(local, result.sha256);
    return { ...result, sent };
  }

  /**
   * Reads the disk back into file `path` (written beside it and renamed when complete); resolves
   * once the local SHA-256 matched the exporter's.
   */
  async read(
    path: string,
    options: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
  ): Promise<WriteResult> {
    const resource = await this.receiveResource(options);
    const partial = `${path}.partial`;
    const hash = createHash("sha256");
    const saving = (async () => {
      const out = createWriteStream(partial);
      let bytes = 0;
      try {
        for await (const chunk of resource.data) {
          hash.update(chunk);
          bytes += chunk.length;
          options.onProgress?.(bytes);
          if (!out.write(chunk)) {
            await new Promise<void>((resolve) => out.once("drain", () => resolve()));
          }
        }
        await new Promise<void>((resolve, reject) =>
          out.end((err?: Error | null) => err ? reject(err) : resolve())
        );
      } catch (err) {
        out.destroy();
        rmSync(partial, { force: true });
        throw err;
      }
    })();
    let result: WriteResult;
    try {
      [result] = await Promise.all([
        this.call("read", resource.handle) as Promise<unknown> as Promise<WriteResult>,
        saving,
      ]);
    } catch (err) {
      resource.cancel();
      await saving.catch(() => {});
      throw err;
    }
    const local = hash.digest("hex");
    if (result.sha256 !== local) {
      rmSync(partial, { force: true });
      throw new ChecksumMismatchError(local, result.sha256);
    }
    renameSync(partial, path);
    return result;
  }

  override verbs(): Verb[] {
    const simple = (name: "host" | "dut" | "off", summary: string): Verb => ({
      name,
      summary: this.methodsDescription[name] ?? summary,
      usage: "",
      run: async (_args, io) => {
        await this[name]();
        io.stdout(`storage: ${name}\n`);
      },
    });
    return [
      simple("host", "Connect the disk to the exporter host"),
      simple("dut", "Connect the disk to the board"),
      simple("off", "Disconnect the disk"),
      {
        name: "read",
        summary: "Read the disk back into a local file (switch it to the host first)",
        usage: "FILE",
        run: async ([file], io) => {
          if (!file) throw new Error("read: into which FILE? give its path");
          const progress = process.stderr.isTTY
            ? new Progress("read", undefined, (t) => io.stderr(t))
            : undefined;
          const result = await this.read(file, { onProgress: (b) => progress?.update(b) });
          progress?.done();
          io.stdout(
            `read ${result.bytes} bytes into ${file}, sha256 ${result.sha256} (verified)\n`,
          );
        },
      },
      {
        name: "write",
        summary: "Write an image file to the disk (switch it to the host first)",
        usage: "IMAGE [--quiet]",
        options: [{ flags: "-q, --quiet", summary: "no progress line" }],
        run: async (args, io) => {
          const { values, positionals } = parseArgs({
            args,
            options: { quiet: { type: "boolean", short: "q", default: false } },
            allowPositionals: true,
          });
          const [image] = positionals;
          if (!image) throw new Error("write: which IMAGE? give its path");
          let size: number;
          try {
            size = statSync(image).size;
          } catch (err) {
            throw new Error(`write: ${image}: ${(err as NodeJS.ErrnoException).code ?? err}`);
          }
          const show = !values.quiet && process.stderr.isTTY;
          // The file's size is known; a compressed image's unpacked size is not.
          const total = /\.(gz|zst)$/.test(image) ? undefined : size;
          const progress = show ? new Progress("write", total, (t) => io.stderr(t)) : undefined;
          const result = await this.write(image, { onProgress: (b) => progress?.update(b) });
          progress?.done();
          const skipped = result.bytes > result.sent
            ? ` (${
              Math.round((100 * (result.bytes - result.sent)) / result.bytes)
            }% empty, not sent)`
            : "";
          io.stdout(`wrote ${result.bytes} bytes${skipped}, sha256 ${result.sha256} (verified)\n`);
        },
      },
    ];
  }
}
