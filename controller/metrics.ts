// Prometheus metrics and health probes of the controller, on a plain HTTP/1.1 listener (what
// Prometheus and Kubernetes probes speak): leases by state, exporters online, the queue of
// waiting leases, and how long grants take.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { parseAddress } from "../transport/mod.ts";
import type { Store } from "./store/mod.ts";

/** Upper bounds (seconds) of the grant latency histogram. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Counts grants by how long the lease waited. */
export class GrantLatency {
  readonly #counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  #sum = 0;
  #count = 0;

  observe(seconds: number): void {
    this.#sum += seconds;
    this.#count++;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.#counts[i]++;
    });
  }

  /** The histogram in the Prometheus text format. */
  render(name: string): string {
    const lines = [`# HELP ${name} Time from a lease's request to its grant.`];
    lines.push(`# TYPE ${name} histogram`);
    LATENCY_BUCKETS.forEach((bound, i) => {
      lines.push(`${name}_bucket{le="${bound}"} ${this.#counts[i]}`);
    });
    lines.push(`${name}_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`${name}_sum ${this.#sum}`, `${name}_count ${this.#count}`);
    return lines.join("\n");
  }
}

/** What the metrics are computed from. */
export interface MetricsSource {
  store: Store;
  grantLatency: GrantLatency;
  /** Exporters with an open Status stream. */
  connectedExporters(): number;
  /** Router streams waiting for their partner. */
  waitingStreams(): number;
  /**
   * Whether this replica should get traffic; with several replicas only the leader does, since
   * lease streams (Listen, Status, router pairs) live in one process. Always, when absent.
   */
  serving?(): boolean;
}

/** The metrics page, computed from the store now. */
export async function renderMetrics(source: MetricsSource): Promise<string> {
  const byState = new Map<string, number>();
  let pending = 0;
  let exporters = 0;
  for (const namespace of await source.store.listNamespaces()) {
    for (const lease of await source.store.listLeases(namespace)) {
      const state = lease.status.exporter ? "active" : "pending";
      byState.set(state, (byState.get(state) ?? 0) + 1);
      if (!lease.status.exporter) pending++;
    }
    exporters += (await source.store.listExporters(namespace)).length;
  }
  const gauge = (name: string, help: string, samples: [string, number][]) =>
    [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} gauge`,
      ...samples.map(([labels, value]) => `${name}${labels} ${value}`),
    ].join("\n");
  return [
    gauge("jumpstarter_leases", "Leases that have not ended, by state.", [
      ['{state="active"}', byState.get("active") ?? 0],
      ['{state="pending"}', byState.get("pending") ?? 0],
    ]),
    gauge("jumpstarter_lease_queue_length", "Leases waiting for an exporter.", [["", pending]]),
    gauge("jumpstarter_exporters", "Registered exporters.", [["", exporters]]),
    gauge("jumpstarter_exporters_online", "Exporters connected to this controller.", [
      ["", source.connectedExporters()],
    ]),
    gauge("jumpstarter_router_waiting_streams", "Router streams waiting for their partner.", [
      ["", source.waitingStreams()],
    ]),
    source.grantLatency.render("jumpstarter_lease_grant_seconds"),
  ].join("\n\n") + "\n";
}

/** A running metrics listener. */
export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves `/metrics` (Prometheus text), `/healthz` (the process answers) and `/readyz` (the store
 * answers) on `address` (`host:port`).
 */
export async function serveMetrics(address: string, source: MetricsSource): Promise<MetricsServer> {
  const parsed = parseAddress(address);
  if (parsed.kind !== "tcp") throw new Error(`metrics: ${address}: give host:port`);
  const server = http.createServer((req, res) => {
    const reply = (code: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(code, { "content-type": type });
      res.end(body);
    };
    const path = (req.url ?? "").split("?")[0];
    if (req.method !== "GET") return reply(405, "only GET\n");
    if (path === "/healthz") return reply(200, "ok\n");
    if (path === "/readyz") {
      if (source.serving?.() === false) return reply(503, "standby: another replica leads\n");
      source.store.listNamespaces().then(
        () => reply(200, "ok\n"),
        (err) => reply(503, `store unavailable: ${err instanceof Error ? err.message : err}\n`),
      );
      return;
    }
    if (path === "/metrics") {
      renderMetrics(source).then(
        (text) => reply(200, text, "text/plain; version=0.0.4; charset=utf-8"),
        (err) => reply(500, `${err instanceof Error ? err.message : err}\n`),
      );
      return;
    }
    reply(404, "not found: try /metrics, /healthz or /readyz\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(parsed.port, parsed.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
