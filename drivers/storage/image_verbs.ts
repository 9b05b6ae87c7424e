// The `j` verbs that move images (`j storage write IMAGE`, `j flasher dump FILE`): option parsing,
// a progress line on a terminal, and a one-line report of what was verified.

import process from "node:process";
import { parseArgs } from "node:util";
import type { Verb, VerbIo } from "../framework/mod.ts";
import type { UploadOptions, UploadResult } from "./image_transfer.ts";
import { formatBytes, Progress } from "./progress.ts";
import type { WriteResult } from "./storage_mux.ts";

/** Options of the verbs beyond their own: `--partition` for flashers. */
export interface VerbExtras {
  partition?: boolean;
}

const FILE_ERRORS: Record<string, string> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EISDIR: "is a folder, not a file",
};

const QUIET = { flags: "-q, --quiet", summary: "no progress line" };
const PARTITION = { flags: "--partition NAME", summary: "the partition to use (driver-specific)" };

function parse(args: string[], extras: VerbExtras) {
  return parseArgs({
    args,
    options: {
      quiet: { type: "boolean", short: "q", default: false },
      "no-bmap": { type: "boolean", default: false },
      bmap: { type: "string" },
      ...(extras.partition ? { partition: { type: "string" } } : {}),
    } as const,
    allowPositionals: true,
  });
}

function progressLine(label: string, quiet: boolean, io: VerbIo) {
  return !quiet && process.stderr.isTTY
    ? (total?: number) => new Progress(label, total, (text) => io.stderr(text))
    : undefined;
}

/** A verb that uploads an image file with `upload`. */
export function writeVerb(
  name: string,
  summary: string,
  upload: (image: string, options: UploadOptions, partition?: string) => Promise<UploadResult>,
  extras: VerbExtras = {},
): Verb {
  return {
    name,
    summary,
    usage: "IMAGE",
    options: [
      QUIET,
      { flags: "--bmap FILE", summary: "the block map to use (default: IMAGE.bmap if present)" },
      { flags: "--no-bmap", summary: "write every block, even with a block map beside IMAGE" },
      ...(extras.partition ? [PARTITION] : []),
    ],
    run: async (args, io) => {
      const { values, positionals } = parse(args, extras);
      const [image] = positionals;
      if (!image) throw new Error(`${name}: which IMAGE? give its path`);
      const open = progressLine(name, values.quiet, io);
      let progress: Progress | undefined;
      const result = await upload(image, {
        bmap: values["no-bmap"] ? false : values.bmap,
        onProgress: (done, total) => (progress ??= open?.(total))?.update(done),
      }, values.partition as string | undefined).catch((err) => {
        const { code, path } = err as NodeJS.ErrnoException;
        const why = code && FILE_ERRORS[code];
        throw why ? new Error(`${name}: ${path ?? image}: ${why}`) : err;
      });
      progress?.done();
      io.stdout(`${describeUpload(result)}\n`);
    },
  };
}

/** A verb that downloads into a local file with `download`. */
export function readVerb(
  name: string,
  summary: string,
  download: (
    file: string,
    options: { onProgress: (bytes: number) => void },
    partition?: string,
  ) => Promise<WriteResult>,
  extras: VerbExtras = {},
): Verb {
  return {
    name,
    summary,
    usage: "FILE",
    options: [QUIET, ...(extras.partition ? [PARTITION] : [])],
    run: async (args, io) => {
      const { values, positionals } = parse(args, extras);
      const [file] = positionals;
      if (!file) throw new Error(`${name}: into which FILE? give its path`);
      const progress = progressLine(name, values.quiet, io)?.(undefined);
      const result = await download(
        file,
        { onProgress: (b) => progress?.update(b) },
        values.partition as string | undefined,
      );
      progress?.done();
      io.stdout(`read ${result.bytes} bytes into ${file}, sha256 ${result.sha256} (verified)\n`);
    },
  };
}

/** One line on what an upload did and what was verified. */
export function describeUpload(result: UploadResult): string {
  const verified = `sha256 ${result.sha256} (verified)`;
  switch (result.route) {
    case "bmap":
      return `wrote the ${formatBytes(result.bytes)} image's mapped blocks ` +
        `(${formatBytes(result.bytes - (result.skipped ?? 0))}), the rest left as it was; ` +
        `${verified} over the mapped blocks`;
    case "compressed":
      return `wrote ${result.bytes} bytes (sent ${
        formatBytes(result.sent)
      } compressed), ${verified}`;
    default: {
      const empty = result.bytes > result.sent
        ? ` (${Math.round((100 * (result.bytes - result.sent)) / result.bytes)}% empty, not sent)`
        : "";
      return `wrote ${result.bytes} bytes${empty}, ${verified}`;
    }
  }
}
