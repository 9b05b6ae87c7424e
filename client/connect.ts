// Connects to an exporter and builds its driver tree of clients from GetReport.

import { createClient } from "@connectrpc/connect";
import { ExporterService, type GetReportResponse } from "../proto/mod.ts";
import { type Channel, type ChannelOptions, createChannel } from "../transport/mod.ts";
import type { DriverClient } from "../drivers/framework/mod.ts";
import { AllowList } from "./allow_list.ts";
import { chooseClientClass } from "./client_classes.ts";

/** Options of {@linkcode connectExporter}. */
export interface ConnectOptions {
  /** Which client modules may be imported (default: built-in clients only). */
  allow?: AllowList;
  /** Told about drivers that got the generic client instead of their own. */
  onNotice?: (message: string) => void;
  /** Channel options (TLS, timeouts); a Unix socket needs none. */
  channel?: ChannelOptions;
}

/** A connected exporter. */
export interface ExporterConnection extends AsyncDisposable {
  /** The root of the driver tree; exports are its children. */
  readonly root: DriverClient;
  readonly report: GetReportResponse;
  readonly channel: Channel;
  /** Every client, root first. */
  readonly drivers: readonly DriverClient[];
  close(): void;
}

/**
 * Connects to the exporter at `address` (`unix:PATH`, a socket path, or `host:port`) and
 * builds its clients.
 *
 * @example
 * ```ts
 * await using exporter = await connectExporter("unix:/tmp/bench.sock");
 * await exporter.root.child("power").call("on");
 * ```
 */
export async function connectExporter(
  address: string,
  options: ConnectOptions = {},
): Promise<ExporterConnection> {
  const channel = createChannel(address, { tls: false, ...options.channel });
  try {
    const service = createClient(ExporterService, channel.transport);
    const report = await service.getReport({});
    const allow = options.allow ?? new AllowList();
    const byUuid = new Map<string, DriverClient>();
    const drivers: DriverClient[] = [];
    for (const driverReport of report.reports) {
      const label = driverReport.labels["jumpstarter.dev/client"] ?? "";
      const name = driverReport.labels["jumpstarter.dev/name"] ?? "root";
      const { cls, notice } = await chooseClientClass(name, label, allow);
      if (notice) options.onNotice?.(notice);
      const client = new cls({ channel, report: driverReport, service });
      byUuid.set(driverReport.uuid, client);
      drivers.push(client);
      const parent = driverReport.parentUuid ? byUuid.get(driverReport.parentUuid) : undefined;
      parent?.children.set(client.name, client);
    }
    const root = drivers.find((d) => !d.labels["jumpstarter.dev/name"]) ?? drivers[0];
    if (!root) throw new Error(`the exporter at ${address} reports no drivers`);
    return {
      root,
      report,
      channel,
      drivers,
      close: () => channel.close(),
      [Symbol.asyncDispose]: () => Promise.resolve(channel.close()),
    };
  } catch (err) {
    channel.close();
    throw err;
  }
}
