// Serves an exporter config on one address without a controller: the process behind
// `jmp shell --exporter-config` (on a private Unix socket) and `jmp-exporter serve`.

import type { ExporterConfig } from "../config/mod.ts";
import { ExporterStatus } from "../proto/mod.ts";
import { type GrpcServer, serve, type ServerTlsOptions } from "../transport/mod.ts";
import { NAME_LABEL } from "../drivers/framework/mod.ts";
import { buildDriverTree } from "./driver_tree.ts";
import { type LogEntry, LogHub } from "./log_hub.ts";
import { Session } from "./session.ts";

/** How to serve. */
export interface LocalExporterOptions {
  /** `unix:PATH`, a socket path or `host:port`. */
  address: string;
  tls?: ServerTlsOptions;
  /** Sees every log line (e.g. prints it); nothing is printed without it. */
  onLog?: (entry: LogEntry) => void;
}

/** A running local exporter. */
export interface LocalExporter {
  readonly session: Session;
  readonly server: GrpcServer;
  /** Stops serving and closes every driver. */
  close(): Promise<void>;
}

// Byte streams may carry whole disk images: allow large messages, as upstream's exporter does.
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Builds the drivers of `config` and serves them, ready for driver calls at once (a local
 * session has no lease to wait for).
 *
 * @example
 * ```ts
 * const exporter = await startLocalExporter(config, { address: "unix:/tmp/bench.sock" });
 * await exporter.close();
 * ```
 */
export async function startLocalExporter(
  config: ExporterConfig,
  options: LocalExporterOptions,
): Promise<LocalExporter> {
  const logs = new LogHub(options.onLog);
  const tree = await buildDriverTree(config, logs);
  const session = new Session(tree, logs, {
    labels: { [NAME_LABEL]: config.metadata.name },
    motd: config.motd,
    status: ExporterStatus.LEASE_READY,
  });
  let server: GrpcServer;
  try {
    server = await serve({
      address: options.address,
      routes: session.routes,
      byteStream: session.byteStream,
      unary: session.unary,
      tls: options.tls,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      onHandlerError: (method, error) =>
        logs.logFor(tree.root.uuid).error(
          `${method}: ${error instanceof Error ? error.message : error}`,
        ),
    });
  } catch (err) {
    await tree.close();
    throw err;
  }
  return {
    session,
    server,
    async close() {
      await server.close({ graceMs: 500 });
      await tree.close();
    },
  };
}
