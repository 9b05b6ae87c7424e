// The embedded controller as one process: state in SQLite and token keys under a data folder,
// the controller services on one address and the router on another (upstream's 8082 and 8083).

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { formatAddress, type GrpcServer, serve, type ServerTlsOptions } from "../transport/mod.ts";
import { Router } from "../router/mod.ts";
import { Controller } from "./controller.ts";
import type { KubernetesBackendOptions } from "./kubernetes_backend.ts";
import { type MetricsServer, serveMetrics } from "./metrics.ts";
import { SqliteStore } from "./store/mod.ts";
import { OidcVerifier, type OidcVerifierOptions, TokenIssuer } from "./tokens.ts";

/** Upstream's default ports. */
export const CONTROLLER_PORT = 8082;
export const ROUTER_PORT = 8083;

/** How to run the controller. */
export interface ControllerServerOptions {
  /** Holds state.db and keys.json (created, mode 0700). */
  dataDir: string;
  /** `host:port` of the controller services. */
  listen: string;
  /** `host:port` of the router. */
  routerListen: string;
  /** The router address given to clients and exporters (default: the bound router address). */
  routerEndpoint?: string;
  /** TLS for both listeners; plaintext when absent. */
  tls?: ServerTlsOptions;
  /** The `iss` of identity tokens. */
  issuer?: string;
  /** `host:port` of the HTTP listener for /metrics, /healthz and /readyz; none when absent. */
  metricsListen?: string;
  /** External OIDC issuers trusted for clients. */
  oidc?: OidcVerifierOptions[];
  /** Keep the state in Kubernetes custom resources instead of SQLite in `dataDir`. */
  kubernetes?: Omit<KubernetesBackendOptions, "issuer">;
}

/** A running controller. */
export interface ControllerServer {
  readonly controller: Controller;
  readonly router: Router;
  readonly server: GrpcServer;
  readonly routerServer: GrpcServer;
  readonly metrics?: MetricsServer;
  /** Whether this replica leads (always true without an election). */
  isLeader(): boolean;
  /** Stops; `releaseLeadership: false` leaves the election lease to go stale, as a crash would. */
  close(options?: { releaseLeadership?: boolean }): Promise<void>;
}

/** Paths inside a data folder. */
export function dataPaths(dataDir: string) {
  return { db: join(dataDir, "state.db"), keys: join(dataDir, "keys.json") };
}

/** A router running on its own (`jmp-controller run --router-only`). */
export interface RouterServer {
  readonly router: Router;
  readonly server: GrpcServer;
  close(): Promise<void>;
}

// A router that accepts the router tokens of `issuer`.
function routerFor(issuer: TokenIssuer): Router {
  return new Router({
    verify: async (token) => {
      const claims = await issuer.verifyRouterToken(token);
      return {
        streamId: claims.streamId,
        namespace: claims.namespace ?? "",
        lease: claims.lease ?? "",
        expiresAt: claims.expiresAt,
      };
    },
  });
}

/**
 * Serves only the router, with the token keys of the controller's data folder (shared with the
 * controller that issues the tokens): for a router on another process or host. Leases that end
 * are cut by their exporters, which stop serving them.
 */
export async function startRouterServer(
  options: Pick<ControllerServerOptions, "dataDir" | "routerListen" | "tls">,
): Promise<RouterServer> {
  const issuer = await TokenIssuer.loadOrCreate(dataPaths(options.dataDir).keys);
  const router = routerFor(issuer);
  const server = await serve({
    address: options.routerListen,
    routes: () => {},
    byteStream: router.handle,
    tls: options.tls,
    maxMessageBytes: ROUTER_MAX_MESSAGE_BYTES,
  });
  return { router, server, close: () => server.close() };
}

// The router carries whole HTTP/2 frames of inner connections, up to the exporter's own limit.
const ROUTER_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

// The store and token keys: SQLite and a key file in the data folder, or Kubernetes.
async function openBackend(options: ControllerServerOptions) {
  if (options.kubernetes) {
    // Loaded only when asked for: the Kubernetes client is large and warns on load.
    const { openKubernetesBackend } = await import("./kubernetes_backend.ts");
    return await openKubernetesBackend({ ...options.kubernetes, issuer: options.issuer });
  }
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
  const paths = dataPaths(options.dataDir);
  const store = SqliteStore.open(paths.db);
  try {
    const issuer = await TokenIssuer.loadOrCreate(paths.keys, { issuer: options.issuer });
    return { store, issuer, elector: undefined, housekeeping: undefined };
  } catch (err) {
    await store.close();
    throw err;
  }
}

/**
 * Opens the state and keys in `dataDir` and serves. Leases and their timers pick up where a
 * previous run left them.
 */
export async function startControllerServer(
  options: ControllerServerOptions,
): Promise<ControllerServer> {
  const { store, issuer, elector, housekeeping } = await openBackend(options);
  const router = routerFor(issuer);
  let routerServer: GrpcServer | undefined;
  let server: GrpcServer | undefined;
  let metrics: MetricsServer | undefined;
  try {
    routerServer = await serve({
      address: options.routerListen,
      routes: () => {},
      byteStream: router.handle,
      tls: options.tls,
      maxMessageBytes: ROUTER_MAX_MESSAGE_BYTES,
    });
    const controller = new Controller({
      store,
      issuer,
      // A plaintext router says so with its scheme, for clients that default to TLS.
      routerEndpoint: options.routerEndpoint ??
        `${options.tls ? "" : "http://"}${formatAddress(routerServer.address)}`,
      onLeaseEnded: (lease) => router.cutLease(lease.namespace, lease.name),
      oidc: (options.oidc ?? []).map((o) => new OidcVerifier(o)),
      ...(elector
        ? {
          isLeader: () => elector.isLeader,
          pollMs: 5000,
          watchNamespaces: options.kubernetes ? [options.kubernetes.namespace] : [],
          onLeaderRound: housekeeping,
        }
        : {}),
    });
    // A new leader catches up at once on what happened while it was not deciding.
    elector?.onChange((leader) => leader && controller.pollSoon());
    elector?.start();
    server = await serve({
      address: options.listen,
      routes: controller.routes,
      tls: options.tls,
      keepalive: { intervalMs: 20_000, timeoutMs: 20_000 },
    });
    await controller.reconcileAll(await store.listNamespaces());
    metrics = options.metricsListen
      ? await serveMetrics(options.metricsListen, {
        store,
        grantLatency: controller.grantLatency,
        connectedExporters: () => controller.connectedCount,
        waitingStreams: () => router.waitingCount,
        serving: elector ? () => elector.isLeader : undefined,
      })
      : undefined;
    const started = { controller, router, server, routerServer, metrics };
    return {
      ...started,
      isLeader: () => elector?.isLeader ?? true,
      async close({ releaseLeadership = true } = {}) {
        await elector?.stop(releaseLeadership);
        controller.close();
        await Promise.all([
          started.server.close(),
          started.routerServer.close(),
          started.metrics?.close(),
        ]);
        await store.close();
      },
    };
  } catch (err) {
    await metrics?.close();
    await server?.close();
    await routerServer?.close();
    await store.close();
    throw err;
  }
}
