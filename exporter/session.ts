// One exporter session: the driver tree served as ExporterService, plus the byte streams
// clients open on RouterService.Stream with a `request` header naming a driver method.

import { randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import {
  type DriverCallRequest,
  ExporterService,
  ExporterStatus,
  LogSource,
} from "../proto/mod.ts";
import {
  type CallContext,
  type DriverMethod,
  fromValue,
  toDriverStatus,
  toValue,
} from "../drivers/framework/mod.ts";
import {
  type ByteStreamHandler,
  FrameDecodeError,
  FrameTooLargeError,
  leanUnary,
  type LeanUnaryMethod,
  toConnectError,
} from "../transport/mod.ts";
import type { DriverNode, DriverTree } from "./driver_tree.ts";
import type { LogHub } from "./log_hub.ts";
import { ResourceTable } from "./resources.ts";

// Driver calls are served only in these states, as upstream does.
const CALLABLE = new Set([
  ExporterStatus.LEASE_READY,
  ExporterStatus.BEFORE_LEASE_HOOK,
  ExporterStatus.AFTER_LEASE_HOOK,
]);

/** What a session serves besides its drivers. */
export interface SessionOptions {
  /** Exporter labels reported by GetReport. */
  labels: Record<string, string>;
  motd?: string;
  /** Initial status; a local session starts LEASE_READY. */
  status: ExporterStatus;
}

/** A byte-stream request header as upstream's client writes it. */
interface StreamRequestHeader {
  kind: string;
  uuid?: string;
  method?: string;
}

/**
 * Serves a driver tree.
 *
 * @example
 * ```ts
 * const session = new Session(tree, logs, { labels: {}, status: ExporterStatus.LEASE_READY });
 * await serve({ address: "unix:/tmp/e.sock", routes: session.routes, byteStream: session.byteStream });
 * ```
 */
export class Session {
  readonly tree: DriverTree;
  readonly logs: LogHub;
  readonly #options: SessionOptions;
  #status: ExporterStatus;
  #previousStatus: ExporterStatus | undefined;
  #statusMessage = "";
  #statusVersion = 0n;
  readonly #log;
  readonly #resources = new ResourceTable();

  /** Creates a session over `tree`; its drivers log into `logs`. */
  constructor(tree: DriverTree, logs: LogHub, options: SessionOptions) {
    this.tree = tree;
    this.logs = logs;
    this.#options = options;
    this.#status = options.status;
    this.#log = logs.logFor(tree.root.uuid, undefined, LogSource.SYSTEM);
  }

  /** The current status. */
  get status(): ExporterStatus {
    return this.#status;
  }

  /** Moves to `status` (a lease begins or ends, a hook runs). */
  setStatus(status: ExporterStatus, message = ""): void {
    if (status === this.#status && message === this.#statusMessage) return;
    this.#previousStatus = this.#status;
    this.#status = status;
    this.#statusMessage = message;
    this.#statusVersion++;
  }

  /** Registers ExporterService (RouterService.Stream goes through {@linkcode byteStream}). */
  readonly routes = (router: ConnectRouter): void => {
    router.service(ExporterService, this.#service());
  };

  /** Serves byte streams of driver methods (`request: {"kind":"driver",...}`). */
  readonly byteStream: ByteStreamHandler = async (call) => {
    const header = parseRequestHeader(call.metadata.get("request"));
    if (header.kind === "resource") {
      this.#requireCallable();
      this.#node(header.uuid ?? "");
      return await this.#resources.serve(call, header as unknown as Record<string, unknown>);
    }
    if (header.kind !== "driver") {
      throw new ConnectError(
        `byte streams of kind ${quote(header.kind)} are not supported by this exporter`,
        Code.Unimplemented,
      );
    }
    this.#requireCallable();
    const node = this.#node(header.uuid ?? "");
    const method = this.#method(node, header.method ?? "", "bytestream");
    try {
      await method.connect(call.stream, {
        ...this.#context(node, call.signal),
        ready: () => call.sendHeaders(),
      });
    } catch (err) {
      // Frames the caller got wrong are its fault, not the driver's: the transport's codes
      // (INVALID_ARGUMENT, RESOURCE_EXHAUSTED), not UNKNOWN.
      if (err instanceof FrameDecodeError || err instanceof FrameTooLargeError) {
        throw toConnectError(err);
      }
      throw this.#failure(node, header.method ?? "", err);
    }
    await call.stream.close();
  };

  /** DriverCall on the lean unary path; connect-es serves it for the requests that path leaves. */
  readonly unary: LeanUnaryMethod[] = [
    leanUnary(ExporterService.method.driverCall, (req, call) => this.#driverCall(req, call.signal)),
  ];

  async #driverCall(req: DriverCallRequest, signal: AbortSignal) {
    this.#requireCallable();
    const node = this.#node(req.uuid);
    const method = this.#method(node, req.method, "unary");
    try {
      const result = await method.call(req.args.map(fromValue), this.#context(node, signal));
      return { uuid: randomUUID(), result: toValue(result) };
    } catch (err) {
      throw this.#failure(node, req.method, err);
    }
  }

  #service(): ServiceImpl<typeof ExporterService> {
    // Generator methods have their own `this`.
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      getReport: () => ({
        uuid: this.tree.root.uuid,
        labels: { ...this.#options.labels },
        reports: this.tree.reports(),
        motd: this.#options.motd ?? "",
      }),
      driverCall: (req, ctx) => this.#driverCall(req, ctx.signal),
      async *streamingDriverCall(req, ctx) {
        self.#requireCallable();
        const node = self.#node(req.uuid);
        const method = self.#method(node, req.method, "streaming");
        try {
          for await (
            const item of method.call(req.args.map(fromValue), self.#context(node, ctx.signal))
          ) {
            yield { uuid: randomUUID(), result: toValue(item) };
          }
        } catch (err) {
          throw self.#failure(node, req.method, err);
        }
      },
      async *logStream(_req, ctx) {
        for await (const entry of self.logs.subscribe(ctx.signal)) {
          yield {
            uuid: entry.uuid,
            severity: entry.severity,
            message: entry.message,
            source: entry.source,
            timestamp: timestampFromDate(entry.timestamp),
          };
        }
      },
      reset: async () => {
        for (const node of [...this.tree.nodes].reverse()) {
          try {
            await node.driver.reset?.();
          } catch (err) {
            throw this.#failure(node, "reset", err);
          }
        }
        return {};
      },
      getStatus: () => ({
        status: this.#status,
        message: this.#statusMessage,
        statusVersion: this.#statusVersion,
        previousStatus: this.#previousStatus,
      }),
      endSession: () => ({ success: true, message: "session ended" }),
    };
  }

  #requireCallable(): void {
    if (!CALLABLE.has(this.#status)) {
      throw new ConnectError(
        `Exporter not ready for driver calls (status: ${ExporterStatus[this.#status]})`,
        Code.FailedPrecondition,
      );
    }
  }

  #node(uuid: string): DriverNode {
    const node = this.tree.get(uuid);
    if (!node) throw new ConnectError(`no driver with uuid ${quote(uuid)}`, Code.NotFound);
    return node;
  }

  #method<K extends DriverMethod["kind"]>(
    node: DriverNode,
    name: string,
    kind: K,
  ): Extract<DriverMethod, { kind: K }> {
    const label = node.name ?? "root";
    const method = Object.hasOwn(node.driver.methods, name) ? node.driver.methods[name] : undefined;
    if (!method) {
      const known = Object.keys(node.driver.methods);
      throw new ConnectError(
        `method ${quote(name)} not found on driver ${label}${
          known.length ? ` (it has: ${known.join(", ")})` : " (it has no methods)"
        }`,
        Code.NotFound,
      );
    }
    if (method.kind !== kind) {
      const how = {
        unary: "DriverCall",
        streaming: "StreamingDriverCall",
        bytestream: "a byte stream",
      };
      throw new ConnectError(
        `method ${quote(name)} of driver ${label} is called with ${how[method.kind]}, not ${
          how[kind]
        }`,
        Code.NotFound,
      );
    }
    return method as Extract<DriverMethod, { kind: K }>;
  }

  #context(node: DriverNode, signal: AbortSignal): CallContext {
    return {
      signal,
      log: this.logs.logFor(node.uuid, node.name),
      resource: (handle) => this.#resources.read(handle),
      resourceWriter: (handle) => this.#resources.writer(handle),
    };
  }

  // A driver's failure goes to the caller; one that is not a deliberate driver error is also
  // logged here, since it is likely a bug in the driver.
  #failure(node: DriverNode, method: string, err: unknown): ConnectError {
    const status = toDriverStatus(err);
    if (status.code === Code.Unknown || status.code === Code.Internal) {
      this.#log.warn(`${node.name ?? "root"}.${method} failed: ${status.rawMessage}`);
    }
    return status;
  }
}

// A name the caller sent, quoted for a status message, which must stay one line (JSON escapes
// control characters but leaves U+2028 and U+2029 as they are) and short: the status travels in
// a header, and HTTP/2 resets a stream whose headers are too large.
function quote(text: string): string {
  const shown = text.length > 200 ? `${text.slice(0, 200)}...` : text;
  return JSON.stringify(shown).replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029");
}

function parseRequestHeader(text: string | null): StreamRequestHeader {
  if (text === null) {
    throw new ConnectError(
      'missing "request" metadata naming the driver and method of the stream',
      Code.InvalidArgument,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConnectError(
      `"request" metadata is not JSON: ${text.slice(0, 80)}`,
      Code.InvalidArgument,
    );
  }
  if (
    typeof parsed !== "object" || parsed === null ||
    typeof (parsed as { kind?: unknown }).kind !== "string"
  ) {
    throw new ConnectError(
      '"request" metadata must be an object with a "kind"',
      Code.InvalidArgument,
    );
  }
  return parsed as StreamRequestHeader;
}
