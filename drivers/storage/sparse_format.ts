// The sparse transfer format of `write_sparse`: only some pieces of an image travel (the blocks
// that are not all zero, or the blocks a block map lists), each as a record
// `[offset u64][length u64][bytes]`; a last record with length 0 gives the image's size. The
// exporter turns the gaps into holes (files) or zeros (devices), or leaves them as they are on a
// device when asked to, so an image that is mostly empty moves in a fraction of its size.

/** Blocks of this size that are all zero are not sent. */
export const SPARSE_BLOCK = 64 * 1024;
const HEADER = 16;

function isZero(block: Uint8Array): boolean {
  // Four bytes at a time where alignment allows (BigInt words would be slower).
  const words = block.byteOffset % 4 === 0
    ? new Uint32Array(block.buffer, block.byteOffset, block.length >> 2)
    : undefined;
  if (!words) return block.every((b) => b === 0);
  for (let i = 0; i < words.length; i++) if (words[i] !== 0) return false;
  for (let i = words.length * 4; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

function header(offset: number, length: number): Uint8Array {
  const bytes = new Uint8Array(HEADER);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(offset));
  view.setBigUint64(8, BigInt(length));
  return bytes;
}

/** One piece of a sparse image: bytes at an offset, or (last) the image's size. */
export type SparsePiece = { offset: number; data: Uint8Array } | { size: number };

/**
 * The blocks of `image` that are not all zero, as pieces, then its size; `onBlock` sees every
 * block (zero or not), in order, for hashing and progress.
 */
export async function* nonZeroPieces(
  image: AsyncIterable<Uint8Array>,
  onBlock: (block: Uint8Array) => void = () => {},
): AsyncGenerator<SparsePiece> {
  let offset = 0;
  let pending: Uint8Array = new Uint8Array(0);
  const flushBlocks = function* (data: Uint8Array, final: boolean) {
    let at = 0;
    while (data.length - at >= SPARSE_BLOCK || (final && at < data.length)) {
      const block = data.subarray(at, Math.min(at + SPARSE_BLOCK, data.length));
      onBlock(block);
      if (!isZero(block)) yield { offset, data: block };
      offset += block.length;
      at += block.length;
    }
    return data.subarray(at);
  };
  for await (const chunk of image) {
    const data = pending.length ? concat(pending, chunk) : chunk;
    pending = new Uint8Array(yield* flushBlocks(data, false));
  }
  yield* flushBlocks(pending, true);
  yield { size: offset };
}

/** The `write_sparse` records of `pieces` (in increasing offsets, the size last). */
export async function* encodeSparse(
  pieces: AsyncIterable<SparsePiece>,
): AsyncGenerator<Uint8Array> {
  for await (const piece of pieces) {
    if ("size" in piece) {
      yield header(piece.size, 0);
      return;
    }
    yield header(piece.offset, piece.data.length);
    yield piece.data;
  }
  throw new Error("sparse image: the pieces ended without the image's size");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/**
 * Decodes the `write_sparse` format. Fails on records that go backwards or a stream that ends
 * without its size record.
 */
export async function* decodeSparse(
  stream: AsyncIterable<Uint8Array>,
): AsyncGenerator<SparsePiece> {
  let buffered: Uint8Array = new Uint8Array(0);
  let end = 0;
  let need: { offset: number; length: number } | undefined;
  for await (const chunk of stream) {
    buffered = buffered.length ? concat(buffered, chunk) : chunk;
    while (true) {
      if (!need) {
        if (buffered.length < HEADER) break;
        const view = new DataView(buffered.buffer, buffered.byteOffset, HEADER);
        const offset = Number(view.getBigUint64(0));
        const length = Number(view.getBigUint64(8));
        buffered = buffered.subarray(HEADER);
        if (offset < end) {
          throw new Error(`sparse image: record at ${offset} goes back before ${end}`);
        }
        if (length === 0) {
          if (buffered.length) throw new Error("sparse image: data after the size record");
          yield { size: offset };
          // Read the stream to its end, so that its end-of-data mark is seen.
          for await (const rest of stream) {
            if (rest.length) throw new Error("sparse image: data after the size record");
          }
          return;
        }
        need = { offset, length };
      }
      if (buffered.length < need.length) break;
      yield { offset: need.offset, data: buffered.subarray(0, need.length) };
      end = need.offset + need.length;
      buffered = buffered.subarray(need.length);
      need = undefined;
    }
  }
  throw new Error("sparse image: the stream ended before the size record");
}
