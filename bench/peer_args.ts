// Command-line handling shared by the benchmark peers: `serve --listen ADDR` or
// `client --target ADDR --mib N --chunk-kib N --unary N`, and the result line they print.

import { Buffer } from "node:buffer";
import * as net from "node:net";
import { parseArgs } from "node:util";

/** What a peer was asked to do. */
export type PeerCommand =
  | { mode: "serve"; listen: string }
  | { mode: "client"; target: string; mib: number; chunkKib: number; unary: number };

/** One client run's result, the same JSON shape every peer prints. */
export interface PeerResult {
  bytes: number;
  seconds: number;
  mb_per_s: number;
  unary_p50_ms: number | null;
  unary_p99_ms: number | null;
  /** Every byte came back, in order. */
  intact: boolean;
}

/** Parses a peer's arguments; exits with a usage line on bad input. */
export function parsePeerArgs(args: string[], name: string): PeerCommand {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      listen: { type: "string" },
      target: { type: "string" },
      mib: { type: "string", default: "64" },
      "chunk-kib": { type: "string", default: "32" },
      unary: { type: "string", default: "2000" },
    },
  });
  const usage = `usage: ${name} serve --listen ADDR | client --target ADDR [--mib 64] ` +
    `[--chunk-kib 32] [--unary 2000]`;
  if (positionals[0] === "serve" && values.listen) return { mode: "serve", listen: values.listen };
  if (positionals[0] === "client" && values.target) {
    return {
      mode: "client",
      target: values.target,
      mib: Number(values.mib),
      chunkKib: Number(values["chunk-kib"]),
      unary: Number(values.unary),
    };
  }
  console.error(usage);
  process.exit(2);
}

function percentiles(samples: number[]): { p50: number | null; p99: number | null } {
  if (samples.length === 0) return { p50: null, p99: null };
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { p50: at(0.5), p99: at(0.99) };
}

/**
 * Checks an echo as it arrives: each received piece is compared with the bytes sent at the
 * same offset (a native memcmp, as the Python peer does), so the check costs little inside the
 * timed part and nothing received is kept.
 */
export class EchoCheck {
  readonly #sent: Buffer;
  #bytes = 0;
  #intact = true;

  constructor(sent: Uint8Array) {
    this.#sent = Buffer.from(sent.buffer, sent.byteOffset, sent.byteLength);
  }

  /** Takes one received piece. */
  update(piece: Uint8Array): void {
    const end = this.#bytes + piece.length;
    if (
      end > this.#sent.length ||
      !this.#sent.subarray(this.#bytes, end).equals(
        Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength),
      )
    ) {
      this.#intact = false;
    }
    this.#bytes = end;
  }

  /** The run's result line. */
  result(seconds: number, latenciesMs: number[]): PeerResult {
    const { p50, p99 } = percentiles(latenciesMs);
    return {
      bytes: this.#bytes,
      seconds,
      mb_per_s: this.#bytes / seconds / 1e6,
      unary_p50_ms: p50,
      unary_p99_ms: p99,
      intact: this.#intact && this.#bytes === this.#sent.length,
    };
  }
}

/**
 * Every client first echoes this many MiB, untimed, on the same connection: the figures are
 * steady-state throughput, not JIT and window warm-up.
 */
export const WARMUP_MIB = 16;

/**
 * Runs the untimed warm-up echo, then the timed one of all of `data`, through `echo`.
 *
 * @example
 * ```ts
 * const { check, seconds } = await measureEcho(data, (bytes, check) => myEcho(bytes, check));
 * ```
 */
export async function measureEcho(
  data: Uint8Array,
  echo: (bytes: Uint8Array, check: EchoCheck) => Promise<void>,
): Promise<{ check: EchoCheck; seconds: number }> {
  const warmup = data.subarray(0, WARMUP_MIB * 1024 * 1024);
  await echo(warmup, new EchoCheck(warmup));
  const check = new EchoCheck(data);
  const started = performance.now();
  await echo(data, check);
  return { check, seconds: (performance.now() - started) / 1000 };
}

/** Times `count` sequential round trips after 50 untimed ones; returns milliseconds each. */
export async function measureLatencies(
  count: number,
  roundTrip: () => Promise<unknown>,
): Promise<number[]> {
  const latencies: number[] = [];
  for (let i = 0; i < count + 50; i++) {
    const t0 = performance.now();
    await roundTrip();
    if (i >= 50) latencies.push(performance.now() - t0);
  }
  return latencies;
}

/** Bulk test data: pseudo-random, so nothing along the way can shortcut constant bytes. */
export function bulkData(mib: number): Uint8Array {
  const data = new Uint8Array(mib * 1024 * 1024);
  let x = 0x9e3779b9;
  const view = new Uint32Array(data.buffer);
  for (let i = 0; i < view.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view[i] = x >>> 0;
  }
  return data;
}

/** Tells the parent the server listens, then waits for SIGTERM or SIGINT. */
export async function announceAndWait(stop: () => Promise<void>): Promise<void> {
  console.log("ready");
  await new Promise<void>((resolve) => {
    process.on("SIGTERM", resolve);
    process.on("SIGINT", resolve);
  });
  await stop();
  process.exit(0);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const port = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
