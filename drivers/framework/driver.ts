// What a driver is: the methods it offers (unary, server-streaming or byte-stream), its
// children, its description and the client class that drives it from the other side.

import type { ByteStream } from "../../transport/mod.ts";
import type { JsonValue } from "./value.ts";

/** Log lines a driver writes; they reach the exporter's log and the client's LogStream. */
export interface DriverLog {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** What one call of a driver method knows besides its arguments. */
export interface CallContext {
  /** Aborted when the caller cancels or goes away: long operations stop early. */
  readonly signal: AbortSignal;
  /** The driver's log. */
  readonly log: DriverLog;
  /**
   * Byte streams only: says the device is open, so the client's open call returns. A failure
   * before it reaches the client as the open call's error; the first bytes sent also count.
   */
  readonly ready?: () => void;
  /**
   * The bytes of a resource the client streamed (its handle is a method argument, e.g.
   * `write(src)`). Ends only when the client marked the end; a transfer cut short throws.
   */
  readonly resource?: (handle: unknown) => AsyncIterable<Uint8Array>;
  /** A sink for a resource the client reads (e.g. `read(dst)`): send bytes, then end. */
  readonly resourceWriter?: (
    handle: unknown,
  ) => { send(chunk: Uint8Array): Promise<void>; end(): Promise<void> };
}

/** A method answered with one result (DriverCall). */
export interface UnaryMethod {
  readonly kind: "unary";
  readonly description?: string;
  /** Runs the call; the result is sent as a google.protobuf.Value. */
  call(args: JsonValue[], ctx: CallContext): unknown | Promise<unknown>;
}

/** A method answered with a stream of results (StreamingDriverCall). */
export interface StreamingMethod {
  readonly kind: "streaming";
  readonly description?: string;
  /** Yields the results one by one; returning ends the stream. */
  call(args: JsonValue[], ctx: CallContext): AsyncIterable<unknown>;
}

/** A method that carries bytes both ways (RouterService.Stream with `kind: driver`). */
export interface ByteStreamMethod {
  readonly kind: "bytestream";
  readonly description?: string;
  /** Pipes the device to and from `stream` until either side ends. */
  connect(stream: ByteStream, ctx: CallContext): Promise<void>;
}

/** Any driver method. */
export type DriverMethod = UnaryMethod | StreamingMethod | ByteStreamMethod;

/**
 * A driver instance as the exporter serves it.
 *
 * @example
 * ```ts
 * const lamp: Driver = {
 *   client: "jumpstarter_driver_power.client.PowerClient",
 *   methods: { on: unary("Turn on", () => light(true)), off: unary("Turn off", () => light(false)) },
 * };
 * ```
 */
export interface Driver {
  /** The client class name reported as label `jumpstarter.dev/client`. */
  readonly client: string;
  /** One line on what the driver controls. */
  readonly description?: string;
  /** The methods a client may call, by name. */
  readonly methods: Readonly<Record<string, DriverMethod>>;
  /**
   * Help texts reported in `methods_description` besides those of `methods`, e.g. a shell
   * driver's configured commands, which clients offer as verbs of their own.
   */
  readonly methodsDescription?: Readonly<Record<string, string>>;
  /** Child drivers by export name (composites). */
  readonly children?: Readonly<Record<string, Driver>>;
  /** Puts the device back in its initial state (ExporterService.Reset, end of a lease). */
  reset?(): void | Promise<void>;
  /** Releases what the driver holds when the exporter stops. */
  close?(): void | Promise<void>;
}

/** Declares a unary method. */
export function unary(description: string, call: UnaryMethod["call"]): UnaryMethod {
  return { kind: "unary", description, call };
}

/** Declares a server-streaming method. */
export function streaming(description: string, call: StreamingMethod["call"]): StreamingMethod {
  return { kind: "streaming", description, call };
}

/** Declares a byte-stream method. */
export function byteStream(
  description: string,
  connect: ByteStreamMethod["connect"],
): ByteStreamMethod {
  return { kind: "bytestream", description, connect };
}
