// The client side of a driver: calls its methods over ExporterService, opens its byte streams,
// and offers `j` verbs. Typed clients (PowerClient, ShellClient, ...) extend it.

import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { type DriverInstanceReport, ExporterService } from "../../proto/mod.ts";
import process from "node:process";
import { Duplex } from "node:stream";
import {
  callUnary,
  type Channel,
  type ClientByteStream,
  compressionDisabled,
  type ContentEncoding,
  decodeContent,
  openByteStream,
  pipeDuplex,
} from "../../transport/mod.ts";
import { fromValue, type JsonValue, toValue } from "./value.ts";

/** Report label naming the client class. */
export const CLIENT_LABEL = "jumpstarter.dev/client";
/** Report label naming the export. */
export const NAME_LABEL = "jumpstarter.dev/name";

/** A failed driver call as the client sees it: which call, which gRPC code, what happened. */
export class DriverCallError extends Error {
  readonly code: Code;
  /** `power.on` */
  readonly call: string;

  /** Wraps the status of a failed call. */
  constructor(call: string, code: Code, message: string) {
    super(`${call}: ${message}`);
    this.name = "DriverCallError";
    this.call = call;
    this.code = code;
  }
}

/** Where a `j` verb writes. */
export interface VerbIo {
  stdout(text: string | Uint8Array): void;
  stderr(text: string | Uint8Array): void;
}

/** One `j` verb of a driver (`j power cycle --wait 3`). */
export interface Verb {
  readonly name: string;
  readonly summary: string;
  /** What follows the verb in its usage line. */
  readonly usage: string;
  readonly options?: readonly { flags: string; summary: string }[];
  /** Runs with the words after the verb; returns the exit code. */
  run(args: string[], io: VerbIo): Promise<number | void>;
}

/** What every client is built from. */
export interface DriverClientInit {
  readonly channel: Channel;
  readonly report: DriverInstanceReport;
  /** The service client shared by all drivers of a connection. */
  readonly service?: Client<typeof ExporterService>;
}

/**
 * Any driver, called by method name. Typed clients add methods named as upstream's.
 *
 * @example
 * ```ts
 * await driver.call("on");
 * for await (const reading of driver.streamingCall("read")) console.log(reading);
 * ```
 */
export class DriverClient {
  readonly uuid: string;
  /** The export name (`power`); empty for the root. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly description: string | undefined;
  readonly methodsDescription: Readonly<Record<string, string>>;
  /** Child clients by export name, in report order. */
  readonly children = new Map<string, DriverClient>();
  readonly channel: Channel;
  readonly #service: Client<typeof ExporterService>;

  /** Creates the client of one reported driver. */
  constructor(init: DriverClientInit) {
    this.uuid = init.report.uuid;
    this.labels = init.report.labels;
    this.name = init.report.labels[NAME_LABEL] ?? "";
    this.description = init.report.description;
    this.methodsDescription = init.report.methodsDescription;
    this.channel = init.channel;
    this.#service = init.service ?? createClient(ExporterService, init.channel.transport);
  }

  /** The client class name the exporter reported. */
  get clientName(): string {
    return this.labels[CLIENT_LABEL] ?? "";
  }

  /** A child by export name; throws naming the known ones when absent. */
  child(name: string): DriverClient {
    const child = this.children.get(name);
    if (!child) {
      throw new Error(
        `${this.name || "the exporter"} has no driver "${name}" (it has: ${
          [...this.children.keys()].join(", ") || "none"
        })`,
      );
    }
    return child;
  }

  /** Calls a unary method with positional arguments. */
  async call(method: string, ...args: unknown[]): Promise<JsonValue> {
    try {
      const res = await callUnary(this.channel, ExporterService.method.driverCall, {
        uuid: this.uuid,
        method,
        args: args.map((a) => toValue(a)),
      });
      return fromValue(res.result);
    } catch (err) {
      throw this.callError(method, err);
    }
  }

  /** Calls a streaming method; yields each result. */
  async *streamingCall(
    method: string,
    args: unknown[] = [],
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<JsonValue> {
    try {
      const responses = this.#service.streamingDriverCall(
        { uuid: this.uuid, method, args: args.map((a) => toValue(a)) },
        { signal: options.signal },
      );
      for await (const res of responses) yield fromValue(res.result);
    } catch (err) {
      throw this.callError(method, err);
    }
  }

  /** Opens the byte stream of `method` (e.g. `connect`). */
  async openStream(
    method: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<ClientByteStream> {
    const request = JSON.stringify({ kind: "driver", uuid: this.uuid, method });
    const call = await openByteStream(this.channel, {
      metadata: { request },
      signal: options.signal,
    });
    try {
      await call.headers;
    } catch (err) {
      throw this.callError(method, err);
    }
    // The call's outcome names the driver method too; awaiting it is up to the caller.
    const done = call.done.catch((err) => {
      throw this.callError(method, err);
    });
    done.catch(() => {});
    return { ...call, done };
  }

  /**
   * Pipes a local duplex (a socket, stdin/stdout) through the byte stream of `method` until
   * both sides end; failures come back as DriverCallErrors of `method`.
   */
  async pipe(
    method: string,
    duplex: Duplex,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    const call = await this.openStream(method, options);
    try {
      await pipeDuplex(call.stream, duplex, options);
      await call.done;
    } catch (err) {
      throw this.callError(method, err);
    }
  }

  /**
   * Streams `source` to the exporter as a resource for this driver (a disk image, a firmware
   * file) and returns its handle, the argument to pass to the method that consumes it (e.g.
   * `write(handle)`). `finished` settles when the exporter has read every byte (with the count
   * sent). With `encoding`, `source` is compressed that way: it travels so when the exporter
   * accepts the encoding (then `encoding` is returned), and is decoded here when it does not.
   */
  async sendResource(
    source: AsyncIterable<Uint8Array>,
    options: {
      signal?: AbortSignal;
      onProgress?: (bytes: number) => void;
      encoding?: ContentEncoding;
    } = {},
  ): Promise<
    {
      handle: JsonValue;
      finished: Promise<number>;
      cancel(): void;
      encoding: ContentEncoding | null;
    }
  > {
    const asked = options.encoding && !compressionDisabled() ? options.encoding : null;
    const { call, handle, accepted } = await this.#openResource(options.signal, asked);
    const encoding = asked !== null && accepted === asked ? asked : null;
    const body = options.encoding && !encoding ? decodeContent(options.encoding, source) : source;
    const finished = (async () => {
      let sent = 0;
      try {
        for await (const chunk of body) {
          await call.stream.send(chunk);
          sent += chunk.length;
          options.onProgress?.(sent);
        }
        await call.stream.close();
        for await (const _ of call.stream) { /* the exporter answers with its own end */ }
        await call.done;
      } catch (err) {
        call.cancel();
        throw this.callError("resource", err);
      }
      return sent;
    })();
    finished.catch(() => {});
    return { handle, finished, cancel: () => call.cancel(), encoding };
  }

  /**
   * Opens a resource the exporter fills (e.g. for `read(dst)`): returns its handle, to pass to
   * the method, and `data`, the bytes as they arrive; `data` fails if the transfer is cut short.
   */
  async receiveResource(
    options: { signal?: AbortSignal } = {},
  ): Promise<{ handle: JsonValue; data: AsyncIterable<Uint8Array>; cancel(): void }> {
    const { call, handle } = await this.#openResource(options.signal);
    // Nothing to send: say so at once.
    await call.stream.close();
    const callError = (err: unknown) => this.callError("resource", err);
    const data = (async function* () {
      try {
        yield* call.stream.completeData();
        await call.done;
      } catch (err) {
        call.cancel();
        throw callError(err);
      }
    })();
    return { handle, data, cancel: () => call.cancel() };
  }

  /** The `j` verbs; the generic client offers `call` and `stream`. */
  verbs(): Verb[] {
    const parse = (word: string): JsonValue => {
      try {
        return JSON.parse(word);
      } catch {
        return word;
      }
    };
    const print = (io: VerbIo, value: JsonValue) =>
      io.stdout(`${typeof value === "string" ? value : JSON.stringify(value)}\n`);
    const methods = Object.keys(this.methodsDescription);
    const known = methods.length ? ` (methods: ${methods.join(", ")})` : "";
    return [
      {
        name: "call",
        summary: `Call a method and print its result${known}`,
        usage: "METHOD [ARG...]   (arguments are JSON, or text)",
        run: async ([method, ...args], io) => {
          if (!method) throw new Error("call: which method? give its name");
          const result = await this.call(method, ...args.map(parse));
          if (result !== null) print(io, result);
        },
      },
      {
        name: "stream",
        summary: "Call a streaming method and print each result",
        usage: "METHOD [ARG...]",
        run: async ([method, ...args], io) => {
          if (!method) throw new Error("stream: which method? give its name");
          for await (const item of this.streamingCall(method, args.map(parse))) print(io, item);
        },
      },
    ];
  }

  // A resource stream for this driver, with the handle the exporter announced and the content
  // encoding it accepted, if any.
  async #openResource(signal: AbortSignal | undefined, encoding: ContentEncoding | null = null) {
    const request = JSON.stringify({
      kind: "resource",
      uuid: this.uuid,
      x_jmp_content_encoding: encoding,
    });
    const call = await openByteStream(this.channel, { metadata: { request }, signal });
    let handle: JsonValue;
    let headers: Headers;
    try {
      headers = await call.headers;
      handle = JSON.parse(headers.get("resource") ?? "null");
    } catch (err) {
      throw this.callError("resource", err);
    }
    if (handle === null) throw new Error(`${this.name}: the exporter returned no resource handle`);
    return { call, handle, accepted: headers.get("x_jmp_accept_encoding") };
  }

  /** `err` from a call of `method`, as the DriverCallError a user sees (others pass through). */
  callError(method: string, err: unknown): Error {
    const call = `${this.name || "root"}.${method}`;
    if (err instanceof ConnectError) return new DriverCallError(call, err.code, err.rawMessage);
    return err instanceof Error ? err : new Error(String(err));
  }
}

/** A client class: what a driver module exports for its client label. */
export type DriverClientClass = new (init: DriverClientInit) => DriverClient;

/** This process's standard input and output as one duplex, for `pipe` verbs. */
export function stdioDuplex(): Duplex {
  // Node's Duplex.from pairs two node streams; its typings only name web streams.
  return Duplex.from(
    { readable: process.stdin, writable: process.stdout } as unknown as Parameters<
      typeof Duplex.from
    >[0],
  );
}
