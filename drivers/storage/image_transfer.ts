// Moving disk images between a local file and a driver that writes or reads them (storage muxes,
// flashers), with constant memory and a checksum compared at the end. An image goes the
// cheapest way the exporter allows: only its mapped blocks when a block map sits beside it,
// compressed as it is when it is compressed, without its all-zero blocks, or whole.

import { createHash } from "node:crypto";
import {
  createReadStream,
  createWriteStream,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import {
  compressionDisabled,
  type ContentEncoding,
  decodeContent,
  encodingOfPath,
  stripEncodingSuffix,
} from "../../transport/mod.ts";
import type { DriverClient, JsonValue } from "../framework/mod.ts";
import { type Bmap, findBmap, mappedPieces, parseBmap } from "./bmap.ts";
import { encodeSparse, nonZeroPieces, type SparsePiece } from "./sparse_format.ts";
import type { WriteResult } from "./storage_mux.ts";

const CHUNK = 1024 * 1024;

/** How an image travels: see the module comment. */
export type Route = "bmap" | "compressed" | "sparse" | "plain";

/**
 * The plain bytes of image file `path`, decompressed when its name says it is compressed
 * (`.gz`, `.zst`, `.xz`). Nothing is opened before the first read, and a corrupt file fails the
 * read that meets it.
 */
export function openImage(path: string): AsyncIterable<Uint8Array> {
  const file = createReadStream(path, { highWaterMark: CHUNK }) as AsyncIterable<Uint8Array>;
  const encoding = encodingOfPath(path);
  return encoding ? decodeContent(encoding, file) : file;
}

/** The exporter's checksum of what it wrote differs from the local one. */
export class ChecksumMismatchError extends Error {
  /** Creates the error. */
  constructor(local: string, remote: string) {
    super(`the written image's SHA-256 ${remote} differs from the local ${local}`);
    this.name = "ChecksumMismatchError";
  }
}

/** Options of an upload. */
export interface UploadOptions {
  signal?: AbortSignal;
  /** Bytes done so far, of `total` when known (file bytes, or mapped bytes with a block map). */
  onProgress?: (done: number, total: number | undefined) => void;
  /** Leave all-zero blocks out when the driver can (default true). */
  sparse?: boolean;
  /** A block map to use, or false to ignore the one beside the image (default: look for it). */
  bmap?: string | false;
  /** Send a compressed image compressed when the exporter accepts it (default true). */
  compress?: boolean;
}

/** What an upload did: the driver's result, the bytes sent and the way they went. */
export interface UploadResult extends WriteResult {
  sent: number;
  route: Route;
}

/**
 * Uploads `image` (a file path, or plain bytes as they come) through `client`: `consume` calls
 * the driver method for the route taken with the resource handle (e.g. `write(handle)`), and
 * `routes` says which routes beyond "plain" and "compressed" the driver offers. Resolves once
 * the driver's SHA-256 matched the local one.
 */
export async function uploadImage(
  client: DriverClient,
  image: string | AsyncIterable<Uint8Array>,
  routes: { sparse: boolean },
  consume: (route: Route, handle: JsonValue) => Promise<JsonValue>,
  options: UploadOptions = {},
): Promise<UploadResult> {
  const sparse = routes.sparse && options.sparse !== false;
  const progress = options.onProgress ?? (() => {});
  const hash = createHash("sha256");
  let expected = () => Promise.resolve(hash.digest("hex"));
  let route: Route;
  let body: AsyncIterable<Uint8Array>;
  let encoding: ContentEncoding | undefined;
  if (typeof image === "string") {
    const size = statSync(image).size;
    const bmap = sparse ? blockMap(image, options.bmap) : undefined;
    encoding = options.compress === false || compressionDisabled()
      ? undefined
      : encodingOfPath(image);
    if (bmap) {
      // Only the mapped blocks, checked against the map; the hash covers just them.
      route = "bmap";
      body = encodeSparse(bmapPieces(bmap, image, hash, progress));
      encoding = undefined;
    } else if (encoding) {
      // The file as it is; the plain bytes are hashed here from a second read.
      route = "compressed";
      let done = 0;
      body = tap(createReadStream(image, { highWaterMark: CHUNK }), (chunk) => {
        done += chunk.length;
        progress(done, size);
      });
      const local = digest(openImage(image));
      local.catch(() => {});
      expected = () => local;
    } else {
      const total = encodingOfPath(image) ? undefined : size;
      [route, body] = plainOrSparse(openImage(image), sparse, hash, (n) => progress(n, total));
    }
  } else {
    [route, body] = plainOrSparse(image, sparse, hash, (n) => progress(n, undefined));
  }
  const resource = await client.sendResource(body, { signal: options.signal, encoding });
  // An exporter that did not accept the encoding gets the plain bytes: still one `write`.
  let result: WriteResult;
  let sent: number;
  try {
    const consumed = consume(route, resource.handle) as Promise<unknown> as Promise<WriteResult>;
    [result, sent] = await Promise.all([consumed, resource.finished]);
  } catch (err) {
    resource.cancel();
    throw err;
  }
  const local = await expected();
  if (result.sha256 !== local) throw new ChecksumMismatchError(local, result.sha256);
  return { ...result, sent, route };
}

/**
 * Reads an image from the driver into file `path` (written beside it and renamed when
 * complete): `produce` calls the driver method with the resource handle (e.g. `read(handle)`).
 * Resolves once the local SHA-256 matched the driver's.
 */
export async function downloadImage(
  client: DriverClient,
  path: string,
  produce: (handle: JsonValue) => Promise<JsonValue>,
  options: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {},
): Promise<WriteResult> {
  const resource = await client.receiveResource(options);
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
      produce(resource.handle) as Promise<unknown> as Promise<WriteResult>,
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

// The block map to use for `image`: the one named, or the one beside it.
function blockMap(image: string, named: string | false | undefined): Bmap | undefined {
  if (named === false) return undefined;
  if (named !== undefined) return parseBmap(named, readFileSync(named, "utf8"));
  return findBmap(image);
}

// The mapped pieces of `image`, hashed and counted, then its size. A plain file is read only
// where it is mapped; a compressed one is decompressed up to its last mapped block.
async function* bmapPieces(
  bmap: Bmap,
  image: string,
  hash: ReturnType<typeof createHash>,
  progress: (done: number, total: number) => void,
): AsyncGenerator<SparsePiece> {
  const source = stripEncodingSuffix(image) === image ? image : openImage(image);
  let done = 0;
  for await (const piece of mappedPieces(bmap, source)) {
    hash.update(piece.data);
    done += piece.data.length;
    progress(done, bmap.mappedBytes);
    yield piece;
  }
  yield { size: bmap.imageSize };
}

// The bytes of `input` for `write` (plain) or `write_sparse`, hashed and counted as they go.
function plainOrSparse(
  input: AsyncIterable<Uint8Array>,
  sparse: boolean,
  hash: ReturnType<typeof createHash>,
  progress: (done: number) => void,
): [Route, AsyncIterable<Uint8Array>] {
  let done = 0;
  const count = (block: Uint8Array) => {
    hash.update(block);
    done += block.length;
    progress(done);
  };
  if (sparse) return ["sparse", encodeSparse(nonZeroPieces(input, count))];
  return ["plain", tap(input, count)];
}

// `input` passed through, each chunk shown to `each` first.
async function* tap(
  input: AsyncIterable<Uint8Array>,
  each: (chunk: Uint8Array) => void,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of input) {
    each(chunk);
    yield chunk;
  }
}

async function digest(source: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of source) hash.update(chunk);
  return hash.digest("hex");
}
