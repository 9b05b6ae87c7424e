// `jmp-controller run`: the embedded controller as a daemon. TLS unless told otherwise (with a CA
// of its own made on the first start), and a controller.json in its data folder that tells
// `jmp admin` which endpoint and CA to put into the configs it hands out.

import { accessSync, constants, mkdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  CONTROLLER_PORT,
  type ControllerServer,
  dataPaths,
  type OidcVerifierOptions,
  ROUTER_PORT,
  SqliteStore,
  SqliteStoreError,
  startControllerServer,
  startRouterServer,
  TokenIssuer,
} from "../../controller/mod.ts";
import {
  formatAddress,
  parseAddress,
  type ServerTlsOptions,
  type TcpAddress,
  TransportError,
} from "../../transport/mod.ts";
import { CliError, type Command, type Context, parseCommandArgs, usageError } from "../command.ts";
import {
  type ControllerInfo,
  defaultDataDir,
  readKubeconfig,
  writeControllerInfo,
} from "../controller_data.ts";

const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;
type LogLevel = typeof LOG_LEVELS[number];

/** How the listeners are secured. */
export type TlsChoice =
  | { mode: "generated" }
  | { mode: "files"; cert: string; key: string }
  | { mode: "plaintext" };

/** The checked options of `run`. */
export interface RunSettings {
  dataDir: string;
  listen: TcpAddress;
  routerListen: TcpAddress;
  /** The host clients and exporters are told to use, when given. */
  advertise?: string;
  /** The router address clients and exporters are told to use, when given. */
  routerEndpoint?: string;
  tls: TlsChoice;
  logLevel: LogLevel;
  /** Where /metrics, /healthz and /readyz are served; none when undefined. */
  metricsListen?: TcpAddress;
  /** Serve only the router (tokens checked with the data folder's keys). */
  routerOnly: boolean;
  /** An external OIDC issuer trusted for clients. */
  oidc?: OidcVerifierOptions;
  /** State in Kubernetes custom resources of this namespace (kubeconfig text, or in-cluster). */
  kubernetes?: { namespace: string; kubeconfig?: string };
}

/** A started controller and what `run` reports about it. */
export interface StartedController {
  server: ControllerServer;
  info: ControllerInfo;
  /** The lines printed once it is ready. */
  banner: string;
}

/** Default port of /metrics, /healthz and /readyz (plain HTTP/1.1, for Prometheus and probes). */
export const METRICS_PORT = 8080;

const RUN_OPTIONS = {
  "data-dir": { type: "string" },
  listen: { type: "string", default: `0.0.0.0:${CONTROLLER_PORT}` },
  "router-listen": { type: "string", default: `0.0.0.0:${ROUTER_PORT}` },
  advertise: { type: "string" },
  "router-endpoint": { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "insecure-plaintext": { type: "boolean", default: false },
  "log-level": { type: "string", default: "info" },
  "metrics-listen": { type: "string" },
  "no-metrics": { type: "boolean", default: false },
  "router-only": { type: "boolean", default: false },
  store: { type: "string", default: "sqlite" },
  namespace: { type: "string" },
  kubeconfig: { type: "string" },
  "oidc-issuer": { type: "string" },
  "oidc-audience": { type: "string", default: "jumpstarter" },
  "oidc-username-claim": { type: "string", default: "sub" },
  "oidc-username-prefix": { type: "string", default: "" },
} as const;

/** Checks the arguments of `run` into settings; usage errors point at its help. */
export function parseRunArgs(args: string[], ctx: Context): RunSettings {
  const { values } = parseCommandArgs(
    { args, options: RUN_OPTIONS, allowPositionals: false, strict: true },
    ctx,
  );
  if (!(LOG_LEVELS as readonly string[]).includes(values["log-level"])) {
    throw usageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}`, ctx);
  }
  const routerListen = tcpAddress("--router-listen", values["router-listen"], ctx);
  const routerEndpoint = values["router-endpoint"];
  // The advertised router address needs its port before the router binds one.
  if (routerEndpoint === undefined && isWildcard(routerListen.host) && routerListen.port === 0) {
    throw usageError("a router on every interface with port 0 needs --router-endpoint", ctx);
  }
  if (routerEndpoint !== undefined) tcpAddress("--router-endpoint", routerEndpoint, ctx);
  return {
    dataDir: values["data-dir"] ?? defaultDataDir(),
    listen: tcpAddress("--listen", values.listen, ctx),
    routerListen,
    advertise: values.advertise === undefined ? undefined : advertiseHost(values.advertise, ctx),
    routerEndpoint,
    tls: tlsChoice(values, ctx),
    logLevel: values["log-level"] as LogLevel,
    routerOnly: values["router-only"],
    kubernetes: kubernetesChoice(values, ctx),
    oidc: values["oidc-issuer"] === undefined ? undefined : {
      issuer: values["oidc-issuer"],
      audience: values["oidc-audience"],
      usernameClaim: values["oidc-username-claim"],
      usernamePrefix: values["oidc-username-prefix"],
    },
    metricsListen: values["no-metrics"] || values["router-only"] ? undefined : tcpAddress(
      "--metrics-listen",
      // Beside the controller: same host, and an ephemeral port when the controller has one.
      values["metrics-listen"] ??
        `${listenHost(values.listen)}:${values.listen.endsWith(":0") ? 0 : METRICS_PORT}`,
      ctx,
    ),
  };
}

function kubernetesChoice(
  values: { store: string; namespace?: string; kubeconfig?: string },
  ctx: Context,
): RunSettings["kubernetes"] {
  if (values.store === "sqlite") {
    if (values.namespace || values.kubeconfig) {
      throw usageError("--namespace and --kubeconfig go with --store kubernetes", ctx);
    }
    return undefined;
  }
  if (values.store !== "kubernetes") {
    throw usageError(`--store must be sqlite or kubernetes, not "${values.store}"`, ctx);
  }
  const kubeconfig = readKubeconfig(values.kubeconfig);
  // In a pod the namespace comes from the downward API (NAMESPACE), as upstream's does.
  return { namespace: values.namespace ?? process.env.NAMESPACE ?? "default", kubeconfig };
}

function listenHost(listen: string): string {
  const host = listen.slice(0, listen.lastIndexOf(":"));
  return host || "0.0.0.0";
}

function tcpAddress(option: string, value: string, ctx: Context): TcpAddress {
  let address;
  try {
    address = parseAddress(value);
  } catch (err) {
    throw usageError(`${option}: ${(err as Error).message}`, ctx);
  }
  if (address.kind !== "tcp") throw usageError(`${option} must be HOST:PORT`, ctx);
  return address;
}

function advertiseHost(value: string, ctx: Context): string {
  const host = value.trim().replace(/^\[(.*)\]$/, "$1");
  // One colon is a port; IPv6 addresses have several.
  if (host === "" || host.split(":").length === 2 || /[\s/]/.test(host)) {
    throw usageError(
      `--advertise takes a host name or IP address without port, got "${value}"`,
      ctx,
    );
  }
  return host;
}

function tlsChoice(
  values: { "tls-cert"?: string; "tls-key"?: string; "insecure-plaintext": boolean },
  ctx: Context,
): TlsChoice {
  const cert = values["tls-cert"];
  const key = values["tls-key"];
  if ((cert === undefined) !== (key === undefined)) {
    throw usageError("--tls-cert and --tls-key go together", ctx);
  }
  if (values["insecure-plaintext"]) {
    if (cert !== undefined) {
      throw usageError("--insecure-plaintext cannot be used with --tls-cert/--tls-key", ctx);
    }
    return { mode: "plaintext" };
  }
  return cert === undefined ? { mode: "generated" } : { mode: "files", cert, key: key! };
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "";
}

/**
 * The host put into advertised endpoints: `--advertise`, else the listen host when it is a
 * specific one (a loopback-only controller is not reachable by the machine's name), else the
 * machine's name.
 */
export function advertisedHost(settings: RunSettings): string {
  if (settings.advertise !== undefined) return settings.advertise;
  return isWildcard(settings.listen.host) ? hostname() : settings.listen.host;
}

function schemeOf(settings: RunSettings): string {
  return settings.tls.mode === "plaintext" ? "http://" : "";
}

function withScheme(endpoint: string, settings: RunSettings): string {
  // A plaintext endpoint must say so, or clients would try TLS.
  return /^[a-z]+:\/\//.test(endpoint) ? endpoint : `${schemeOf(settings)}${endpoint}`;
}

/**
 * The router endpoint clients are told to use, when it can be known before binding: given, or
 * the advertised host with the router port when the router listens on every interface.
 * Undefined means "the bound address", right for a router bound to one specific address.
 */
function plannedRouterEndpoint(settings: RunSettings): string | undefined {
  if (settings.routerEndpoint !== undefined) {
    return withScheme(settings.routerEndpoint, settings);
  }
  const { host, port } = settings.routerListen;
  if (!isWildcard(host)) return undefined;
  const address = formatAddress({ kind: "tcp", host: advertisedHost(settings), port });
  return withScheme(address, settings);
}

// The names the generated server certificate must cover: every name clients may dial.
function certificateHosts(settings: RunSettings): string[] {
  const hosts = [advertisedHost(settings), settings.listen.host, settings.routerListen.host];
  if (settings.routerEndpoint !== undefined) {
    const router = parseAddress(settings.routerEndpoint);
    if (router.kind === "tcp") hosts.push(router.host);
  }
  // A machine name that is no DNS name cannot go into a certificate; it is only a default.
  const machine = hostname();
  if (/^[A-Za-z0-9_.-]+$/.test(machine)) hosts.push(machine);
  return [...new Set(hosts.filter((host) => !isWildcard(host)))];
}

interface ServerTls {
  options?: ServerTlsOptions;
  caPem: string | null;
  /** How the banner describes it. */
  note: string;
}

async function serverTls(settings: RunSettings): Promise<ServerTls> {
  const tls = settings.tls;
  if (tls.mode === "plaintext") return { caPem: null, note: "" };
  if (tls.mode === "files") {
    const options = {
      cert: readPemFile("--tls-cert", tls.cert),
      key: readPemFile("--tls-key", tls.key),
    };
    return { options, caPem: null, note: `TLS certificate: ${tls.cert}\n` };
  }
  // Loaded when needed: the certificate library is heavy to load for every command. Its
  // Reflect polyfill is loaded first, on its own: a bundle may otherwise evaluate it too late.
  await import("reflect-metadata");
  const { caFingerprint, ensureTlsMaterial } = await import("../../controller/tls_bootstrap.ts");
  let material;
  try {
    material = await ensureTlsMaterial(join(settings.dataDir, "tls"), {
      hosts: certificateHosts(settings),
    });
  } catch (err) {
    throw new CliError(firstLine(err));
  }
  const made = material.created ? " (new)" : "";
  return {
    options: { cert: material.certPem, key: material.keyPem },
    caPem: material.caPem,
    note: `CA${made}: ${material.caPath}, SHA-256 fingerprint ${caFingerprint(material.caPem)}\n`,
  };
}

function readPemFile(option: string, file: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason = code === "ENOENT" ? "no such file" : firstLine(err);
    throw new CliError(`${option} ${file}: cannot read: ${reason}`);
  }
  if (!text.includes("-----BEGIN ")) throw new CliError(`${option} ${file}: not a PEM file`);
  return text;
}

// Fails early with the folder's name: the server would otherwise report a bare EACCES.
function prepareDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason = code === "EACCES" || code === "EPERM" ? "permission denied" : firstLine(err);
    throw new CliError(`data folder ${dir}: not writable (${reason}); pass another --data-dir`);
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

// Failures of the address, the certificate, the stored state or the key file are the operator's
// to fix: one line. Anything else is a bug and keeps its stack for --debug.
function startupError(err: unknown, dataDir: string): unknown {
  if (err instanceof TransportError || err instanceof SqliteStoreError) {
    return new CliError(err.message);
  }
  const message = firstLine(err);
  // File system errors (EACCES, ENOSPC, ...) carry the path they failed on.
  if (typeof (err as { path?: unknown }).path === "string") return new CliError(message);
  if (message.startsWith("token keys")) {
    const file = dataPaths(dataDir).keys;
    return new CliError(message.includes(file) ? message : `${message} (${file})`);
  }
  return err;
}

/**
 * Starts the controller as `run` does, without waiting for a signal: data folder, TLS
 * material, listeners, controller.json. Close `server` when done.
 *
 * @example
 * ```ts
 * const { server, info } = await startFromSettings(parseRunArgs(args, ctx));
 * ```
 */
export async function startFromSettings(settings: RunSettings): Promise<StartedController> {
  return await startPrepared(settings, await prepareTls(settings));
}

/**
 * Sets up a data folder as `run` would (TLS material, token keys, state database, and
 * `controller.json` with the endpoints the given ports will have) without serving: what
 * `jmp install` does before a service manager starts the controller.
 */
export async function prepareController(settings: RunSettings): Promise<ControllerInfo> {
  if (settings.listen.port === 0 || settings.routerListen.port === 0) {
    throw new CliError("give fixed ports (--listen, --router-listen): clients must know them");
  }
  const tls = await prepareTls(settings);
  const paths = dataPaths(settings.dataDir);
  try {
    await TokenIssuer.loadOrCreate(paths.keys);
    await SqliteStore.open(paths.db).close();
  } catch (err) {
    throw startupError(err, settings.dataDir);
  }
  const info: ControllerInfo = {
    endpoint: withScheme(
      formatAddress({ kind: "tcp", host: advertisedHost(settings), port: settings.listen.port }),
      settings,
    ),
    routerEndpoint: plannedRouterEndpoint(settings) ??
      withScheme(formatAddress(settings.routerListen), settings),
    ca: tls.caPem,
    plaintext: settings.tls.mode === "plaintext",
  };
  await writeControllerInfo(settings.dataDir, info);
  return info;
}

// The router alone, for a controller elsewhere that shares this data folder's keys (and CA).
async function startRouterOnly(settings: RunSettings) {
  const tls = await prepareTls(settings);
  try {
    const server = await startRouterServer({
      dataDir: settings.dataDir,
      routerListen: formatAddress(settings.routerListen),
      tls: tls.options,
    });
    return {
      server,
      banner: `router listening on ${formatAddress(server.server.address)}\n${tls.note}`,
    };
  } catch (err) {
    throw startupError(err, settings.dataDir);
  }
}

async function prepareTls(settings: RunSettings): Promise<ServerTls> {
  prepareDataDir(settings.dataDir);
  return await serverTls(settings);
}

async function startPrepared(settings: RunSettings, tls: ServerTls): Promise<StartedController> {
  const routerEndpoint = plannedRouterEndpoint(settings);
  let server: ControllerServer;
  try {
    server = await startControllerServer({
      dataDir: settings.dataDir,
      listen: formatAddress(settings.listen),
      routerListen: formatAddress(settings.routerListen),
      routerEndpoint,
      tls: tls.options,
      metricsListen: settings.metricsListen && formatAddress(settings.metricsListen),
      oidc: settings.oidc ? [settings.oidc] : [],
      kubernetes: settings.kubernetes,
    });
  } catch (err) {
    throw startupError(err, settings.dataDir);
  }
  const info: ControllerInfo = {
    endpoint: withScheme(
      formatAddress({ kind: "tcp", host: advertisedHost(settings), port: boundPort(server) }),
      settings,
    ),
    routerEndpoint: routerEndpoint ??
      withScheme(formatAddress(server.routerServer.address), settings),
    ca: tls.caPem,
    plaintext: settings.tls.mode === "plaintext",
  };
  try {
    await writeControllerInfo(settings.dataDir, info);
    if (settings.kubernetes) {
      // Where `jmp admin --store kubernetes` finds the endpoints, from any machine.
      const { saveControllerInfoSecret } = await import("../../controller/kubernetes_backend.ts");
      await saveControllerInfoSecret(settings.kubernetes, JSON.stringify(info));
    }
  } catch (err) {
    await server.close();
    throw err;
  }
  const metrics = server.metrics && settings.metricsListen
    ? `metrics on ${settings.metricsListen.host}:${server.metrics.port} ` +
      "(/metrics, /healthz, /readyz)\n"
    : "";
  const state = settings.kubernetes
    ? `state: custom resources in Kubernetes namespace ${settings.kubernetes.namespace}\n`
    : `state: ${dataPaths(settings.dataDir).db}\n`;
  const banner = `controller listening on ${formatAddress(server.server.address)}, ` +
    `router on ${formatAddress(server.routerServer.address)}\n${metrics}${state}${tls.note}` +
    `advertised endpoint: ${info.endpoint} (router ${info.routerEndpoint})\n`;
  return { server, info, banner };
}

function boundPort(server: ControllerServer): number {
  const address = server.server.address;
  return address.kind === "tcp" ? address.port : 0;
}

/** The first SIGINT or SIGTERM; dispose of it to stop listening (or the process stays up). */
interface StopSignal extends Disposable {
  received: Promise<string>;
}

function stopSignal(): StopSignal {
  const signals = ["SIGINT", "SIGTERM"] as const;
  let stop = (_signal: string) => {};
  const received = new Promise<string>((resolve) => (stop = resolve));
  for (const s of signals) process.on(s, stop);
  return {
    received,
    [Symbol.dispose]() {
      for (const s of signals) process.off(s, stop);
    },
  };
}

/** `run [--data-dir DIR] [--listen HOST:PORT] ...`. */
export const controllerRunCommand: Command = {
  name: "run",
  summary: "Run the controller and its router (state in a data folder, TLS by default)",
  usage: "[--data-dir DIR] [--listen HOST:PORT] [--router-listen HOST:PORT] [--advertise HOST] " +
    "[--router-endpoint HOST:PORT] [--tls-cert FILE --tls-key FILE | --insecure-plaintext] " +
    "[--metrics-listen HOST:PORT | --no-metrics] [--router-only] [--oidc-issuer URL ...] " +
    "[--store sqlite|kubernetes [--namespace NS] [--kubeconfig FILE]] " +
    "[--log-level LEVEL]",
  options: [
    {
      flags: "    --data-dir DIR",
      summary: `state, token keys and TLS material (default $JMP_CONTROLLER_DATA_DIR, ` +
        `/var/lib/jumpstarter/controller as root, else ~/.local/share/jumpstarter/controller)`,
    },
    { flags: "    --listen HOST:PORT", summary: `controller services (default 0.0.0.0:8082)` },
    { flags: "    --router-listen HOST:PORT", summary: "the router (default 0.0.0.0:8083)" },
    {
      flags: "    --advertise HOST",
      summary:
        "the host clients and exporters dial (default: the listen host, or this machine's name)",
    },
    {
      flags: "    --router-endpoint HOST:PORT",
      summary: "the router address given to clients and exporters (default: advertise host + port)",
    },
    {
      flags: "    --tls-cert FILE",
      summary: "serve this certificate (PEM) instead of a generated one",
    },
    { flags: "    --tls-key FILE", summary: "the key of --tls-cert (PEM)" },
    { flags: "    --insecure-plaintext", summary: "no TLS: tokens travel in clear text" },
    {
      flags: "    --metrics-listen HOST:PORT",
      summary: "/metrics, /healthz, /readyz over HTTP/1.1 (default: the --listen host, port 8080)",
    },
    { flags: "    --no-metrics", summary: "no metrics or probe listener" },
    {
      flags: "    --store sqlite|kubernetes",
      summary: "where the state lives: SQLite in the data folder (default), or custom resources",
    },
    {
      flags: "    --namespace NS",
      summary: "with --store kubernetes: the namespace (default $NAMESPACE, else default)",
    },
    {
      flags: "    --kubeconfig FILE",
      summary: "with --store kubernetes: how to reach the API server (default: in-cluster, " +
        "else ~/.kube/config)",
    },
    {
      flags: "    --oidc-issuer URL",
      summary: "also accept client tokens of this OpenID Connect issuer (see --oidc-*)",
    },
    {
      flags: "    --oidc-audience AUD",
      summary: "the audience they must name (default jumpstarter)",
    },
    {
      flags: "    --oidc-username-claim C",
      summary: "the claim with the user name (default sub); clients map to it with " +
        "jmp admin create client --oidc-username",
    },
    { flags: "    --oidc-username-prefix P", summary: "put before that user name (e.g. dex:)" },
    {
      flags: "    --router-only",
      summary: "serve only the router (with the data folder's token keys); point the " +
        "controller's --router-endpoint at it",
    },
    { flags: "    --log-level LEVEL", summary: "debug, info (default), warning or error" },
  ],
  async run(args, ctx) {
    const settings = parseRunArgs(args, ctx);
    if (settings.tls.mode === "plaintext" && settings.logLevel !== "error") {
      ctx.io.stderr(
        "warning: serving without TLS (--insecure-plaintext): tokens are readable on the network\n",
      );
    }
    if (settings.logLevel === "debug") ctx.io.stderr(`data folder: ${settings.dataDir}\n`);
    // Listening before the ready line: a supervisor may stop us as soon as it sees it.
    using stop = stopSignal();
    const { server, banner } = settings.routerOnly
      ? await startRouterOnly(settings)
      : await startFromSettings(settings);
    ctx.io.stdout(banner);
    const signal = await stop.received;
    if (settings.logLevel === "debug") ctx.io.stderr(`${signal}: stopping\n`);
    await server.close();
    return 0;
  },
};
