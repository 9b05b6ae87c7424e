// Content encodings of resource streams (upstream's `x_jmp_content_encoding`): a compressed image
// may travel compressed and be unpacked by the receiver, which saves the wire its size.

import { pipeline, Readable } from "node:stream";
import process from "node:process";
import * as zlib from "node:zlib";
import xz from "xz-decompress";

/** The encodings this side can decode, by upstream's names. */
export type ContentEncoding = "gzip" | "zstd" | "xz";

/** An encoding named on the wire that this side cannot decode. */
export class UnsupportedEncodingError extends Error {
  /** Creates the error. */
  constructor(encoding: string) {
    super(`content encoding ${JSON.stringify(encoding)} is not supported (gzip, zstd, xz are)`);
    this.name = "UnsupportedEncodingError";
  }
}

type ZstdZlib = { createZstdDecompress(): NodeJS.ReadWriteStream };

// A node:zlib decoder fed from `source`; pipeline() carries an error of either side to the reader.
function throughZlib(
  source: AsyncIterable<Uint8Array>,
  decoder: NodeJS.ReadWriteStream,
): AsyncIterable<Uint8Array> {
  return pipeline(
    Readable.from(source),
    decoder,
    () => {/* surfaces through the iteration */},
  ) as AsyncIterable<Uint8Array>;
}

// Each decoder turns an encoded byte sequence into the plain one, with constant memory.
const DECODERS: Record<
  ContentEncoding,
  (source: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>
> = {
  gzip: (source) => throughZlib(source, zlib.createGunzip()),
  zstd: (source) => throughZlib(source, (zlib as unknown as ZstdZlib).createZstdDecompress()),
  xz: (source) =>
    new xz.XzReadableStream(ReadableStream.from(source)) as unknown as AsyncIterable<Uint8Array>,
};

const SUFFIXES: Record<string, ContentEncoding> = { ".gz": "gzip", ".zst": "zstd", ".xz": "xz" };

/** Whether `encoding` is one this side decodes. */
export function isContentEncoding(encoding: unknown): encoding is ContentEncoding {
  return typeof encoding === "string" && Object.hasOwn(DECODERS, encoding);
}

/** The encoding a file name's suffix says (`disk.img.xz` → xz), if any. */
export function encodingOfPath(path: string): ContentEncoding | undefined {
  const suffix = Object.keys(SUFFIXES).find((s) => path.endsWith(s));
  return suffix ? SUFFIXES[suffix] : undefined;
}

/** The file name without its compression suffix (`disk.img.xz` → `disk.img`). */
export function stripEncodingSuffix(path: string): string {
  const suffix = Object.keys(SUFFIXES).find((s) => path.endsWith(s));
  return suffix ? path.slice(0, -suffix.length) : path;
}

/** Whether compressed transfers are turned off (`JMP_DISABLE_COMPRESSION=1`, as upstream). */
export function compressionDisabled(): boolean {
  return /^(1|true|yes)$/i.test(process.env.JMP_DISABLE_COMPRESSION ?? "");
}

/**
 * The plain bytes of `source`, encoded with `encoding`. Corrupt input fails the iteration that
 * meets it, with the decoder's message; an error of `source` itself comes through unchanged.
 */
export async function* decodeContent(
  encoding: ContentEncoding,
  source: AsyncIterable<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const decoder = DECODERS[encoding];
  if (!decoder) throw new UnsupportedEncodingError(encoding);
  // Only errors of the source's own reads count as its failure: a decoder that fails also
  // tears the source down, which must not be mistaken for one.
  let sourceFailed: { error: unknown } | undefined;
  const iterator = source[Symbol.asyncIterator]();
  const watched: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        try {
          return await iterator.next();
        } catch (error) {
          sourceFailed = { error };
          throw error;
        }
      },
      return: async () => (await iterator.return?.()) ?? { done: true, value: undefined },
    }),
  };
  try {
    for await (const chunk of decoder(watched)) yield chunk;
  } catch (err) {
    if (sourceFailed) throw sourceFailed.error;
    throw new Error(`${encoding} data: ${(err as Error).message}`);
  }
}
