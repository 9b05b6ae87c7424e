// Resources: files a client streams to a driver (an image for a storage mux or a flasher). The
// client opens RouterService.Stream with `request: {"kind":"resource",...}`, gets a handle in
// the response headers, and passes the handle as a method argument; the driver then reads the
// bytes from here, as upstream's exporter does.

import { randomUUID } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { InvalidArgumentError } from "../drivers/framework/mod.ts";
import {
  type ByteStreamCall,
  compressionDisabled,
  type ContentEncoding,
  decodeContent,
  isContentEncoding,
  TransferCutError,
} from "../transport/mod.ts";

/** The handle a client passes to a method, as upstream writes it. */
export interface ClientStreamHandle {
  kind: "client_stream";
  uuid: string;
  x_jmp_content_encoding: string | null;
}

interface Pending {
  call: ByteStreamCall;
  /** What the client sends the bytes in, when it was accepted; they are decoded on reading. */
  encoding: ContentEncoding | null;
  taken: boolean;
  finished: (error?: unknown) => void;
}

/**
 * The resources open in one session.
 *
 * @example
 * ```ts
 * // in the byte-stream handler: await resources.serve(call);
 * // in a driver method: for await (const chunk of ctx.resource(handle)) ...
 * ```
 */
export class ResourceTable {
  readonly #pending = new Map<string, Pending>();

  /**
   * Serves one resource stream: announces its handle, then keeps the call open until a driver
   * has read it to the end (or failed), or the client goes away. A content encoding the client
   * asks for is accepted when this side decodes it (`x_jmp_accept_encoding` says so); otherwise
   * the client sends the plain bytes, as upstream's client does.
   */
  async serve(call: ByteStreamCall, header: Record<string, unknown>): Promise<void> {
    const asked = header.x_jmp_content_encoding;
    const encoding = isContentEncoding(asked) && !compressionDisabled() ? asked : null;
    const handle: ClientStreamHandle = {
      kind: "client_stream",
      uuid: randomUUID(),
      x_jmp_content_encoding: encoding,
    };
    const finished = new Promise<unknown>((resolve) => {
      this.#pending.set(handle.uuid, { call, encoding, taken: false, finished: resolve });
    });
    call.sendHeaders({
      resource: JSON.stringify(handle),
      ...(encoding ? { x_jmp_accept_encoding: encoding } : {}),
    });
    const aborted = new Promise<unknown>((resolve) =>
      call.signal.addEventListener("abort", () => resolve(new Error("cancelled")), { once: true })
    );
    try {
      const error = await Promise.race([finished, aborted]);
      if (error) {
        throw error instanceof ConnectError
          ? error
          : new ConnectError((error as Error).message ?? String(error), Code.Aborted);
      }
      await call.stream.close();
    } finally {
      this.#pending.delete(handle.uuid);
    }
  }

  /**
   * A sink for the resource `handle` names, for a driver method that sends data to the client
   * (`read(dst)`): `send` the bytes, then `end()`. Fails like `read` for an unknown handle.
   */
  writer(handle: unknown): { send(chunk: Uint8Array): Promise<void>; end(): Promise<void> } {
    const pending = this.#claim(handle);
    return {
      send: (chunk) => pending.call.stream.send(chunk),
      end: async () => {
        await pending.call.stream.close();
        pending.finished();
      },
    };
  }

  /**
   * The bytes of the resource `handle` names, decoded when they travel compressed, for a driver
   * method. Fails with InvalidArgumentError for an unknown or already used handle, and with
   * TransferCutError when the client's stream ends without its end-of-data mark.
   */
  async *read(handle: unknown): AsyncGenerator<Uint8Array> {
    const pending = this.#claim(handle);
    const uuid = (handle as { uuid: string }).uuid;
    let complete = false;
    try {
      const data = pending.call.stream.completeData();
      yield* pending.encoding ? decodeContent(pending.encoding, data) : data;
      complete = true;
      pending.finished();
    } catch (err) {
      pending.finished(err);
      throw err instanceof TransferCutError
        ? new TransferCutError(`resource ${uuid}: ${err.message}`)
        : err;
    } finally {
      if (!complete) {
        pending.finished(new TransferCutError(`resource ${uuid}: not read to the end`));
      }
    }
  }

  #claim(handle: unknown): Pending {
    const uuid = typeof handle === "object" && handle !== null
      ? (handle as { uuid?: unknown }).uuid
      : undefined;
    const pending = typeof uuid === "string" ? this.#pending.get(uuid) : undefined;
    if (!pending || (handle as { kind?: unknown }).kind !== "client_stream") {
      throw new InvalidArgumentError(
        `no open resource ${JSON.stringify(handle)}: open it with a resource stream first`,
      );
    }
    if (pending.taken) throw new InvalidArgumentError(`resource ${uuid} is already in use`);
    pending.taken = true;
    return pending;
  }
}
