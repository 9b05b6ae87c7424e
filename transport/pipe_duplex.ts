// Joins a byte stream to a local duplex (a TCP or Unix socket, a tty): bytes flow both ways
// with backpressure, an end on either side half-closes the other, and an error tears down both.
// The network, serial and port-forward paths all go through here.

import type { Duplex } from "node:stream";
import type { ByteStream } from "./byte_stream.ts";

/** How a pipe ended, per direction. */
export interface PipeResult {
  /** Bytes that went from the duplex into the byte stream. */
  sent: number;
  /** Bytes that came from the byte stream into the duplex. */
  received: number;
}

function waitDrain(duplex: Duplex): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      duplex.off("drain", done);
      duplex.off("close", done);
      resolve();
    };
    duplex.on("drain", done);
    duplex.on("close", done);
  });
}

/**
 * Copies `duplex` → `stream` and `stream` → `duplex` until both directions have ended. The end
 * of the duplex's input closes the stream's sending side (GOAWAY); the stream's GOAWAY ends the
 * duplex's output. Rejects with the first error, after destroying the duplex; aborting `signal`
 * does the same.
 *
 * @example
 * ```ts
 * const socket = net.connect(22, "192.168.1.10");
 * await pipeDuplex(stream, socket);
 * ```
 */
export async function pipeDuplex(
  stream: ByteStream,
  duplex: Duplex,
  options: {
    signal?: AbortSignal;
    /**
     * The duplex never ends its input by itself (a tty): when the stream's peer says it is done,
     * the duplex is closed and the stream too.
     */
    endWithStream?: boolean;
  } = {},
): Promise<PipeResult> {
  const result: PipeResult = { sent: 0, received: 0 };
  const onAbort = () => duplex.destroy(options.signal?.reason ?? new Error("cancelled"));
  options.signal?.addEventListener("abort", onAbort, { once: true });

  let streamEnded = false;
  const outbound = (async () => {
    // A plain for-await would destroy the duplex when its input ends, cutting off the output
    // that the other direction is still writing.
    for await (const chunk of duplex.iterator({ destroyOnReturn: false })) {
      result.sent += (chunk as Uint8Array).length;
      await stream.send(chunk as Uint8Array);
    }
    await stream.close();
  })();
  const inbound = (async () => {
    for await (const chunk of stream) {
      result.received += chunk.length;
      if (!duplex.write(chunk)) await waitDrain(duplex);
      if (duplex.destroyed) break;
    }
    if (options.endWithStream) {
      streamEnded = true;
      duplex.destroy();
    } else if (!duplex.destroyed) duplex.end();
  })();

  try {
    // The first failure wins; the other direction is ended by destroying the duplex.
    await Promise.all([
      outbound.catch(async (err) => {
        duplex.destroy();
        // Closed on purpose after the peer ended: the stream still gets its GOAWAY.
        if (streamEnded) return await stream.close();
        throw err;
      }),
      inbound.catch((err) => {
        duplex.destroy();
        throw err;
      }),
    ]);
  } finally {
    options.signal?.removeEventListener("abort", onAbort);
  }
  return result;
}
