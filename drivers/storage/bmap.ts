// Block maps (bmaptool's `.bmap` files): which blocks of an image hold data. With one beside an
// image only those blocks travel and are written; the rest of the disk is left as it is, which
// is where flashing a mostly empty multi-GB image goes from minutes to seconds.

import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { stripEncodingSuffix } from "../../transport/mod.ts";

/** A run of mapped blocks, first to last inclusive, with its checksum when the map has one. */
export interface BmapRange {
  first: number;
  last: number;
  checksum?: string;
}

/** A parsed block map. */
export interface Bmap {
  /** The file it came from. */
  path: string;
  imageSize: number;
  blockSize: number;
  /** `sha1` or `sha256`: the algorithm of the file and range checksums. */
  checksumType: string;
  ranges: BmapRange[];
  /** Bytes in mapped blocks (the last block may be cut short by the image size). */
  mappedBytes: number;
}

/** A block map that cannot be used, with the file and the cause. */
export class BmapError extends Error {
  /** Creates the error. */
  constructor(path: string, cause: string) {
    super(`${path}: ${cause}`);
    this.name = "BmapError";
  }
}

function element(xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>\\s*([^<]*?)\\s*</${name}>`).exec(xml)?.[1];
}

function wholeNumber(path: string, xml: string, name: string): number {
  const text = element(xml, name);
  if (text === undefined) throw new BmapError(path, `<${name}> is missing`);
  if (!/^\d+$/.test(text)) throw new BmapError(path, `<${name}> is not a whole number: "${text}"`);
  return Number(text);
}

/**
 * Parses the block map in `xml` (read from `path`), versions 1.x and 2.x, and checks the file's
 * own checksum when it carries one.
 */
export function parseBmap(path: string, xml: string): Bmap {
  const version = /<bmap\s+version="(\d+)\.(\d+)"/.exec(xml);
  if (!version) throw new BmapError(path, "not a block map (no <bmap version=...>)");
  const major = Number(version[1]);
  if (major < 1 || major > 2) {
    throw new BmapError(path, `block map version ${version[1]}.${version[2]} is not supported`);
  }
  const blockSize = wholeNumber(path, xml, "BlockSize");
  if (blockSize === 0) throw new BmapError(path, "<BlockSize> is 0");
  const blocksCount = wholeNumber(path, xml, "BlocksCount");
  const imageSize = element(xml, "ImageSize") !== undefined
    ? wholeNumber(path, xml, "ImageSize")
    : blocksCount * blockSize;
  const checksumType = major === 1 ? "sha1" : element(xml, "ChecksumType") ?? "";
  if (checksumType !== "sha1" && checksumType !== "sha256") {
    throw new BmapError(path, `<ChecksumType> "${checksumType}" is not sha1 or sha256`);
  }
  const fileChecksum = element(xml, "BmapFileChecksum") ?? element(xml, "BmapFileSHA1");
  if (fileChecksum !== undefined) {
    const zeroed = xml.replace(fileChecksum, "0".repeat(fileChecksum.length));
    const actual = createHash(checksumType).update(zeroed).digest("hex");
    if (actual !== fileChecksum) {
      throw new BmapError(path, "the file's checksum does not match its contents (damaged?)");
    }
  }
  const ranges: BmapRange[] = [];
  let mappedBytes = 0;
  for (const match of xml.matchAll(/<Range([^>]*)>\s*(\d+)(?:\s*-\s*(\d+))?\s*<\/Range>/g)) {
    const first = Number(match[2]);
    const last = match[3] === undefined ? first : Number(match[3]);
    const previous = ranges.at(-1);
    if (last < first || (previous && first <= previous.last) || last >= blocksCount) {
      throw new BmapError(path, `range ${match[2]}-${match[3] ?? match[2]} is out of order`);
    }
    const checksum = /(?:chksum|sha1)="([0-9a-fA-F]+)"/.exec(match[1])?.[1]?.toLowerCase();
    ranges.push({ first, last, checksum });
    mappedBytes += Math.min((last + 1) * blockSize, imageSize) - first * blockSize;
  }
  return { path, imageSize, blockSize, checksumType, ranges, mappedBytes };
}

/**
 * The block map beside image `path`, as bmaptool looks for it: `disk.img.xz.bmap`, then
 * `disk.img.bmap`; undefined when there is none.
 */
export function findBmap(path: string): Bmap | undefined {
  for (const candidate of new Set([`${path}.bmap`, `${stripEncodingSuffix(path)}.bmap`])) {
    if (existsSync(candidate)) return parseBmap(candidate, readFileSync(candidate, "utf8"));
  }
  return undefined;
}

/** A mapped range of the image whose bytes differ from its checksum in the block map. */
export class BmapChecksumError extends Error {
  /** Creates the error. */
  constructor(bmap: Bmap, range: BmapRange) {
    super(
      `blocks ${range.first}-${range.last} of the image do not match their ${bmap.checksumType} ` +
        `in ${bmap.path}: the image or its block map is damaged, or they do not belong together`,
    );
    this.name = "BmapChecksumError";
  }
}

// Where range `range` starts and ends in the image, in bytes.
function span(bmap: Bmap, range: BmapRange): { start: number; end: number } {
  return {
    start: range.first * bmap.blockSize,
    end: Math.min((range.last + 1) * bmap.blockSize, bmap.imageSize),
  };
}

// Hashes one range's bytes as they pass and fails when they differ from the map's checksum.
class RangeCheck {
  readonly #hash;
  constructor(readonly bmap: Bmap, readonly range: BmapRange) {
    this.#hash = range.checksum ? createHash(bmap.checksumType) : undefined;
  }
  update(data: Uint8Array): void {
    this.#hash?.update(data);
  }
  finish(): void {
    if (this.#hash && this.#hash.digest("hex") !== this.range.checksum) {
      throw new BmapChecksumError(this.bmap, this.range);
    }
  }
}

/**
 * The mapped parts of an image as pieces at their offsets, each range checked against its
 * checksum. `image` is a plain file's path (only the mapped ranges are read) or the image's
 * plain bytes in order (unmapped bytes are read past, not kept).
 */
export async function* mappedPieces(
  bmap: Bmap,
  image: string | AsyncIterable<Uint8Array>,
): AsyncGenerator<{ offset: number; data: Uint8Array }> {
  if (typeof image === "string") {
    for (const range of bmap.ranges) {
      const { start, end } = span(bmap, range);
      const check = new RangeCheck(bmap, range);
      let position = start;
      const file = createReadStream(image, { start, end: end - 1, highWaterMark: 1024 * 1024 });
      for await (const data of file as AsyncIterable<Uint8Array>) {
        check.update(data);
        yield { offset: position, data };
        position += data.length;
      }
      if (position < end) throw imageTooShort(bmap, position);
      check.finish();
    }
    return;
  }
  let position = 0;
  let index = 0;
  let check: RangeCheck | undefined;
  for await (const chunk of image) {
    let at = 0;
    while (at < chunk.length && index < bmap.ranges.length) {
      const range = bmap.ranges[index];
      const { start, end } = span(bmap, range);
      if (position + (chunk.length - at) <= start) break;
      if (position < start) {
        at += start - position;
        position = start;
      }
      const take = Math.min(chunk.length - at, end - position);
      const data = chunk.subarray(at, at + take);
      (check ??= new RangeCheck(bmap, range)).update(data);
      yield { offset: position, data };
      at += take;
      position += take;
      if (position === end) {
        check.finish();
        check = undefined;
        index++;
      }
    }
    // Past the last mapped block nothing more is needed: stop reading (and decompressing).
    if (index === bmap.ranges.length) return;
    position += chunk.length - at;
  }
  if (index < bmap.ranges.length) throw imageTooShort(bmap, position);
}

function imageTooShort(bmap: Bmap, position: number): BmapError {
  return new BmapError(bmap.path, `the image ends at byte ${position}, before its mapped blocks`);
}
