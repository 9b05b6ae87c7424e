// Collects the log lines of drivers and of the exporter itself, and hands them to every
// LogStream subscriber (a client inside `jmp shell --exporter-logs`, a test) and to a local sink.

import { LogSource } from "../proto/mod.ts";
import type { DriverLog } from "../drivers/framework/mod.ts";

/** Severity names as upstream sends them (Python's level names). */
export type Severity = "DEBUG" | "INFO" | "WARNING" | "ERROR";

/** One log line. */
export interface LogEntry {
  /** The driver's uuid, or the exporter's for its own lines. */
  uuid: string;
  severity: Severity;
  message: string;
  source: LogSource;
  timestamp: Date;
  /** The export name of the driver, for local output. */
  name?: string;
}

/** How many lines a slow subscriber may fall behind before the oldest are dropped. */
const SUBSCRIBER_QUEUE = 256;

// Lease hook lines are kept for the current lease and replayed to new subscribers: a client
// usually connects while (or after) its beforeLease hook runs, and should see what it said.
const HOOK_SOURCES = new Set([LogSource.BEFORE_LEASE_HOOK, LogSource.AFTER_LEASE_HOOK]);

/**
 * A fan-out of log entries. A subscriber that does not keep up loses its oldest lines, never
 * blocks the drivers.
 *
 * @example
 * ```ts
 * const hub = new LogHub((e) => console.error(e.message));
 * const log = hub.logFor(uuid, "power");
 * log.info("power on");
 * ```
 */
export class LogHub {
  readonly #subscribers = new Set<{ queue: LogEntry[]; wake: () => void }>();
  readonly #sink: ((entry: LogEntry) => void) | undefined;
  #hookLines: LogEntry[] = [];

  /** `sink` sees every entry (e.g. the exporter's own stderr). */
  constructor(sink?: (entry: LogEntry) => void) {
    this.#sink = sink;
  }

  /** Forgets the hook lines kept so far (a new lease begins). */
  clearHookLines(): void {
    this.#hookLines = [];
  }

  /** Publishes one entry. */
  publish(entry: LogEntry): void {
    this.#sink?.(entry);
    if (HOOK_SOURCES.has(entry.source)) {
      this.#hookLines.push(entry);
      if (this.#hookLines.length > SUBSCRIBER_QUEUE) this.#hookLines.shift();
    }
    for (const subscriber of this.#subscribers) {
      subscriber.queue.push(entry);
      if (subscriber.queue.length > SUBSCRIBER_QUEUE) subscriber.queue.shift();
      subscriber.wake();
    }
  }

  /** A DriverLog that publishes as `uuid`. */
  logFor(uuid: string, name?: string, source: LogSource = LogSource.DRIVER): DriverLog {
    const write = (severity: Severity) => (message: string) =>
      this.publish({ uuid, severity, message, source, timestamp: new Date(), name });
    return {
      debug: write("DEBUG"),
      info: write("INFO"),
      warn: write("WARNING"),
      error: write("ERROR"),
    };
  }

  /** The current lease's hook lines so far, then entries published from now on, until `signal` aborts. */
  async *subscribe(signal: AbortSignal): AsyncGenerator<LogEntry> {
    const subscriber = { queue: [...this.#hookLines], wake: () => {} };
    this.#subscribers.add(subscriber);
    const aborted = new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    try {
      while (!signal.aborted) {
        if (subscriber.queue.length === 0) {
          await Promise.race([
            new Promise<void>((resolve) => (subscriber.wake = resolve)),
            aborted,
          ]);
          continue;
        }
        yield subscriber.queue.shift()!;
      }
    } finally {
      this.#subscribers.delete(subscriber);
    }
  }
}
