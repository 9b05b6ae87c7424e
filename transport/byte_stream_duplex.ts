// A byte stream seen as a node Duplex, so that an in-process HTTP/2 server can take a router
// stream as one of its connections without a socket in between: what the server writes is sent
// as DATA, what the peer sends is read, the peer's GOAWAY is the end of input.

import { Duplex } from "node:stream";
import type { ByteStream } from "./byte_stream.ts";

/**
 * Wraps `stream` in a Duplex. Ending or destroying the duplex without an error closes the
 * stream's sending side (GOAWAY); destroying it with an error leaves the stream to its owner.
 *
 * @example
 * ```ts
 * const connection = byteStreamDuplex(call.stream);
 * server.accept(connection);
 * await finished(connection);
 * ```
 */
export function byteStreamDuplex(stream: ByteStream): Duplex {
  const chunks = stream[Symbol.asyncIterator]();
  let reading = false;
  // Reads until the duplex's buffer is full; Node calls read() again once it drains. Once the
  // duplex is destroyed, what still arrives is read and dropped: bytes left unread would keep
  // the call from ever finishing.
  const pull = async (duplex: Duplex) => {
    reading = true;
    try {
      while (true) {
        const { value, done } = await chunks.next();
        if (done) {
          if (!duplex.destroyed) duplex.push(null);
          return;
        }
        if (duplex.destroyed) continue;
        if (!duplex.push(value)) return;
      }
    } catch (err) {
      duplex.destroy(err as Error);
    } finally {
      reading = false;
    }
  };
  return new Duplex({
    // As a socket of a server: the end of input ends the output too, which closes the session.
    allowHalfOpen: false,
    read() {
      if (!reading) void pull(this);
    },
    write(chunk: Uint8Array, _encoding, callback) {
      send(stream, [chunk]).then(() => callback(), callback);
    },
    writev(chunks: { chunk: Uint8Array }[], callback) {
      send(stream, chunks.map((c) => c.chunk)).then(() => callback(), callback);
    },
    final(callback) {
      stream.close().then(() => callback(), callback);
    },
    destroy(err, callback) {
      if (!reading) void pull(this);
      // A pending read ends when the stream does; its owner closes the call.
      if (err) return callback(err);
      stream.close().then(() => callback(null), callback);
    },
  });
}

// Resolves once the stream can take more; bytes of one call may travel in one message.
async function send(stream: ByteStream, chunks: Uint8Array[]): Promise<void> {
  let last: Promise<void> | undefined;
  for (const chunk of chunks) last = stream.send(chunk);
  await last;
}
