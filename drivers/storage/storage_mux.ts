// Storage muxes (upstream's jumpstarter_driver_opendal storage mux family): a disk that is
// switched between the exporter host and the board, and written with an image the client
// streams. The written bytes are hashed as they go, so the client can check what arrived.

import { createHash } from "node:crypto";
import {
  closeSync,
  createReadStream,
  fsyncSync,
  ftruncateSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { join, resolve } from "node:path";
import type { Fields } from "../../config/mod.ts";
import {
  Args,
  type CallContext,
  type Driver,
  type DriverContext,
  DriverError,
  InvalidArgumentError,
  unary,
} from "../framework/mod.ts";
import { runToCompletion } from "../shell/mod.ts";
import { decodeSparse, type SparsePiece } from "./sparse_format.ts";

/** The client class name upstream reports for storage muxes. */
export const STORAGE_MUX_CLIENT = "jumpstarter_driver_opendal.client.StorageMuxClient";
/** ... and for storage muxes that also flash (host, write, dut in one step). */
export const STORAGE_MUX_FLASHER_CLIENT =
  "jumpstarter_driver_opendal.client.StorageMuxFlasherClient";

/** Where the disk is connected. */
export type MuxState = "host" | "dut" | "off";

/**
 * What `write` answers: the image's size and the SHA-256 the client compares with its own. The
 * hash covers the whole image, gaps as zeros, except when the gaps were kept (`skipped` bytes, a
 * block-mapped write): then it covers the written pieces only, in order.
 */
export interface WriteResult {
  bytes: number;
  sha256: string;
  skipped?: number;
}

/**
 * Streams an image into `target`. A regular file is written beside it and renamed into place
 * only when complete, so a failed or cancelled transfer never leaves a truncated image under the
 * real name; a block device is written in place (and says so when it fails). Gaps between the
 * pieces of a sparse image become holes in a file, and zeros on a device unless `keepGaps`
 * (then a device's blocks there are left as they are, and the hash leaves the gaps out).
 */
export async function writeImage(
  target: string,
  pieces: AsyncIterable<SparsePiece>,
  options: { keepGaps?: boolean } = {},
): Promise<WriteResult> {
  let isDevice = false;
  try {
    isDevice = statSync(target).isBlockDevice();
  } catch {
    // Does not exist yet: a file.
  }
  const keepGaps = options.keepGaps === true;
  const path = isDevice ? target : `${target}.partial`;
  const hash = createHash("sha256");
  const zeros = new Uint8Array(1024 * 1024);
  let written = 0;
  let skipped = 0;
  const fd = openSync(path, isDevice ? "r+" : "w");
  const writeAt = (data: Uint8Array, position: number) => {
    for (let done = 0; done < data.length;) {
      done += writeSync(fd, data, done, data.length - done, position + done);
    }
  };
  const fillTo = (offset: number) => {
    if (keepGaps) {
      skipped += offset - written;
      written = offset;
    }
    while (written < offset) {
      const gap = zeros.subarray(0, Math.min(zeros.length, offset - written));
      hash.update(gap);
      if (isDevice) writeAt(gap, written);
      written += gap.length;
    }
  };
  try {
    for await (const piece of pieces) {
      if ("size" in piece) {
        fillTo(piece.size);
        if (!isDevice) ftruncateSync(fd, piece.size);
        // No break: the source is read to its end, so that its end-of-data mark is seen.
        continue;
      }
      fillTo(piece.offset);
      writeAt(piece.data, piece.offset);
      hash.update(piece.data);
      written = piece.offset + piece.data.length;
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    if (!isDevice) rmSync(path, { force: true });
    const where = isDevice ? `${target} holds an incomplete image` : `${target} was left as it was`;
    throw new DriverError(
      `write failed after ${written} bytes (${where}): ${(err as Error).message}`,
    );
  }
  closeSync(fd);
  if (!isDevice) renameSync(path, target);
  return { bytes: written, sha256: hash.digest("hex"), ...(keepGaps ? { skipped } : {}) };
}

/**
 * Sends the bytes of `source` (a file or device) to the resource `dst` names; answers with their
 * count and SHA-256, as `read` and `dump` do.
 */
export async function readImage(
  source: string,
  dst: unknown,
  call: CallContext,
): Promise<WriteResult> {
  if (!call.resourceWriter) throw new DriverError("this exporter cannot send resources");
  const sink = call.resourceWriter(dst);
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(source, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Uint8Array);
    bytes += (chunk as Uint8Array).length;
    await sink.send(chunk as Uint8Array);
  }
  await sink.end();
  return { bytes, sha256: hash.digest("hex") };
}

/** A plain image as pieces: its bytes in order, then its size. */
export async function* sequential(source: AsyncIterable<Uint8Array>): AsyncGenerator<SparsePiece> {
  let offset = 0;
  for await (const data of source) {
    yield { offset, data };
    offset += data.length;
  }
  yield { size: offset };
}

function storageMuxDriver(
  description: string,
  target: () => string,
  setState: (state: MuxState, call: CallContext) => Promise<void> | void,
  client = STORAGE_MUX_CLIENT,
): Driver {
  let state: MuxState = "off";
  const writeResource = async (
    name: string,
    src: unknown,
    call: CallContext,
    decode: (bytes: AsyncIterable<Uint8Array>) => AsyncIterable<SparsePiece>,
    keepGaps = false,
  ): Promise<WriteResult> => {
    if (state !== "host") {
      throw new InvalidArgumentError(
        `${name}: the disk is connected to ${state}; call host() first`,
      );
    }
    if (!call.resource) throw new DriverError(`${name}: this exporter cannot receive resources`);
    const result = await writeImage(target(), decode(call.resource(src)), { keepGaps });
    call.log.info(`wrote ${result.bytes} bytes, sha256 ${result.sha256}`);
    return result;
  };
  const switchTo = (next: MuxState) =>
    unary(
      `Connect the disk to ${
        next === "dut" ? "the board" : next === "host" ? "the exporter host" : "nothing"
      }`,
      async (args, call) => {
        new Args(next, args, 0);
        await setState(next, call);
        state = next;
        call.log.info(`storage: ${next}`);
      },
    );
  return {
    client,
    description,
    methods: {
      host: switchTo("host"),
      dut: switchTo("dut"),
      off: switchTo("off"),
      read: unary("Read the disk back into a resource: read(dst)", (args, call) => {
        const dst = new Args("read", args, 1).raw(0);
        if (state !== "host") {
          throw new InvalidArgumentError(
            `read: the disk is connected to ${state}; call host() first`,
          );
        }
        return readImage(target(), dst, call);
      }),
      write: unary("Write a streamed image to the disk: write(src)", (args, call) => {
        const src = new Args("write", args, 1).raw(0);
        return writeResource("write", src, call, sequential);
      }),
      write_sparse: unary(
        "Write an image sent without its empty blocks: write_sparse(src, keep_gaps=false); " +
          "with keep_gaps a device's blocks between the pieces are left as they are",
        (args, call) => {
          const a = new Args("write_sparse", args, 2);
          const keepGaps = a.boolean(1, "keep_gaps", false);
          return writeResource("write_sparse", a.raw(0), call, decodeSparse, keepGaps);
        },
      ),
    },
  };
}

/** `type: MockStorageMux`: a disk image in a temporary file. */
export function createMockStorageMux(_config: Fields, ctx: DriverContext): Driver {
  const file = join(tmpdir(), `jmp-mock-storage-${process.pid}-${ctx.name}.img`);
  return {
    ...storageMuxDriver("Mock storage mux (a temporary file)", () => file, () => {}),
    close: () => rmSync(file, { force: true }),
  };
}

/** `type: MockStorageMuxFlasher`: a MockStorageMux whose client also offers `flash`. */
export function createMockStorageMuxFlasher(config: Fields, ctx: DriverContext): Driver {
  return { ...createMockStorageMux(config, ctx), client: STORAGE_MUX_FLASHER_CLIENT };
}

/**
 * `type: StorageMux`: `path` (an image file or a block device such as /dev/sda), and `host`,
 * `dut`, `off` (optional commands that switch the mux, e.g. an sd-mux-ctrl call).
 */
export function createStorageMux(config: Fields, ctx: DriverContext): Driver {
  const path = resolve(ctx.baseDir, config.string("path", { nonEmpty: true }));
  const commands = {
    host: config.optionalString("host"),
    dut: config.optionalString("dut"),
    off: config.optionalString("off"),
  };
  const timeoutSeconds = config.number("timeout", { default: 30, min: 0 });
  return storageMuxDriver(`Storage mux writing ${path}`, () => path, async (state, call) => {
    const command = commands[state];
    if (!command) return;
    const result = await runToCompletion(["sh", "-c", command], {
      name: state,
      timeoutSeconds,
      signal: call.signal,
    });
    if (result.code !== 0) {
      throw new DriverError(
        `${state}: command exited with ${result.code}: ${result.stderr.trim()}`,
      );
    }
  });
}
