// The embedded controller's data folder as the CLIs see it: where it is by default, the
// controller.json that `jmp-controller run` leaves there for `jmp admin`, and opening the state
// and token keys from another process (the state database allows several at once).

import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";
import process from "node:process";
import { PRIVATE_FILE_MODE, writeFileAtomic } from "../config/mod.ts";
import {
  AlreadyExistsError,
  dataPaths,
  NotFoundError,
  SqliteStore,
  SqliteStoreError,
  type Store,
  TokenIssuer,
} from "../controller/mod.ts";
import { CliError } from "./command.ts";
import { configStep } from "./config_args.ts";

/** Moves the default data folder (containers, packaging, tests). */
export const DATA_DIR_ENV = "JMP_CONTROLLER_DATA_DIR";
/** The data folder of a controller run by root (a system service). */
export const SYSTEM_DATA_DIR = "/var/lib/jumpstarter/controller";
/** The file `jmp-controller run` writes into the data folder. */
export const CONTROLLER_INFO_FILE = "controller.json";

/** How clients and exporters reach the controller, as `jmp-controller run` advertised it. */
export interface ControllerInfo {
  /** `host:port` (TLS) or `http://host:port` (plaintext). */
  endpoint: string;
  /** The router address given to clients and exporters, same convention. */
  routerEndpoint: string;
  /** The CA (PEM) clients must trust; null when plaintext or when the system's CAs do. */
  ca: string | null;
  plaintext: boolean;
}

/**
 * The data folder used when none is given: `$JMP_CONTROLLER_DATA_DIR`, else
 * `/var/lib/jumpstarter/controller` for root, else `$XDG_DATA_HOME/jumpstarter/controller`
 * (`~/.local/share/jumpstarter/controller`).
 *
 * @example
 * ```ts
 * defaultDataDir({ HOME: "/home/ada" }, 1000); // "/home/ada/.local/share/jumpstarter/controller"
 * ```
 */
export function defaultDataDir(
  env: Record<string, string | undefined> = process.env,
  uid: number | undefined = process.getuid?.(),
): string {
  if (env[DATA_DIR_ENV]) return env[DATA_DIR_ENV];
  if (uid === 0) return SYSTEM_DATA_DIR;
  // The XDG spec says to ignore a relative XDG_DATA_HOME.
  const xdg = env.XDG_DATA_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), ".local", "share");
  return join(base, "jumpstarter", "controller");
}

/**
 * Writes controller.json into `dataDir`, atomically and private to the owner.
 *
 * @example
 * ```ts
 * writeControllerInfo(dir, { endpoint: "lab:8082", routerEndpoint: "lab:8083", ca, plaintext: false });
 * ```
 */
export async function writeControllerInfo(dataDir: string, info: ControllerInfo): Promise<void> {
  const text = `${JSON.stringify(info, null, 2)}\n`;
  await configStep(() =>
    writeFileAtomic(join(dataDir, CONTROLLER_INFO_FILE), text, { mode: PRIVATE_FILE_MODE })
  );
}

/**
 * Reads controller.json from `dataDir`; a CliError says to start the controller first when the
 * file is missing, or what is wrong with it.
 *
 * @example
 * ```ts
 * const { endpoint, ca } = readControllerInfo(defaultDataDir());
 * ```
 */
export function readControllerInfo(dataDir: string): ControllerInfo {
  const file = join(dataDir, CONTROLLER_INFO_FILE);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") {
      throw new CliError(
        `no controller in ${dataDir} (${CONTROLLER_INFO_FILE} is missing): ` +
          "run `jmp-controller run` with this data folder first, or pass --data-dir",
      );
    }
    throw new CliError(`${file}: cannot read: ${(err as Error).message}`);
  }
  return parseControllerInfo(text, file);
}

function parseControllerInfo(text: string, file: string): ControllerInfo {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new CliError(`${file}: not valid JSON; restart \`jmp-controller run\` to rewrite it`);
  }
  const info = (value ?? {}) as Partial<Record<keyof ControllerInfo, unknown>>;
  const valid = typeof info.endpoint === "string" && info.endpoint !== "" &&
    typeof info.routerEndpoint === "string" &&
    (info.ca === null || typeof info.ca === "string") &&
    typeof info.plaintext === "boolean";
  if (!valid) {
    throw new CliError(
      `${file}: expected {endpoint, routerEndpoint, ca, plaintext}; ` +
        "restart `jmp-controller run` to rewrite it",
    );
  }
  return info as ControllerInfo;
}

/** What admin commands work on: the advertised endpoint, the state and the token keys. */
export interface ControllerData extends AsyncDisposable {
  readonly info: ControllerInfo;
  readonly store: Store;
  readonly issuer: TokenIssuer;
}

/** The text of the kubeconfig file `--kubeconfig` names (undefined: in-cluster or default). */
export function readKubeconfig(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(`--kubeconfig ${file}: ${(err as { code?: string }).code ?? err}`);
  }
}

/** Where a controller keeps its state: a data folder, or a Kubernetes namespace. */
export interface ControllerSource {
  dataDir: string;
  kubernetes?: { namespace: string; kubeconfig?: string };
}

/**
 * Opens the data folder of a controller that ran (or runs) there. Close it with `await using`.
 *
 * @example
 * ```ts
 * await using data = await openControllerData(defaultDataDir());
 * const clients = await data.store.listClients("default");
 * ```
 */
export async function openControllerData(source: ControllerSource): Promise<ControllerData> {
  if (source.kubernetes) return await openKubernetesData(source.kubernetes);
  const dataDir = source.dataDir;
  const info = readControllerInfo(dataDir);
  const paths = dataPaths(dataDir);
  // Fresh keys made here would sign tokens the running controller refuses.
  if (!existsSync(paths.keys)) {
    throw new CliError(
      `${paths.keys} is missing: tokens cannot be issued; restart \`jmp-controller run\``,
    );
  }
  const issuer = await loadIssuer(paths.keys);
  const store = await storeStep(() => SqliteStore.open(paths.db));
  return {
    info,
    store,
    issuer,
    async [Symbol.asyncDispose]() {
      await store.close();
    },
  };
}

// The state of a controller on Kubernetes: its custom resources, the token keys it shares in a
// Secret (or CONTROLLER_KEY/ROUTER_KEY), and the endpoints it keeps in its info Secret.
async function openKubernetesData(
  kubernetes: NonNullable<ControllerSource["kubernetes"]>,
): Promise<ControllerData> {
  const backend = await import("../controller/kubernetes_backend.ts");
  const text = await storeStep(() => backend.loadControllerInfoSecret(kubernetes));
  if (text === undefined) {
    throw new CliError(
      `no controller in Kubernetes namespace ${kubernetes.namespace} (Secret ` +
        `${backend.INFO_SECRET} is missing): start \`jmp-controller run --store kubernetes\` there first`,
    );
  }
  const info = parseControllerInfo(text, `Secret ${kubernetes.namespace}/${backend.INFO_SECRET}`);
  const { store, issuer } = await storeStep(() =>
    backend.openKubernetesBackend({ ...kubernetes, identity: "jmp-admin" })
  );
  return { info, store, issuer, [Symbol.asyncDispose]: () => store.close() };
}

async function loadIssuer(file: string): Promise<TokenIssuer> {
  try {
    return await TokenIssuer.loadOrCreate(file);
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split("\n")[0];
    throw new CliError(`cannot load the token keys ${file}: ${message}`);
  }
}

/**
 * Runs a store operation; its refusals (unknown or taken names) and failures of the database
 * itself (damaged, unreadable, locked too long) become one-line CliErrors: they are for the
 * operator to act on, not bugs.
 *
 * @example
 * ```ts
 * await storeStep(() => data.store.deleteClient("default", "alice"));
 * ```
 */
export async function storeStep<T>(step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (
      err instanceof SqliteStoreError || err instanceof NotFoundError ||
      err instanceof AlreadyExistsError || (err as Error)?.name === "KubernetesStoreError"
    ) {
      throw new CliError((err as Error).message);
    }
    throw err;
  }
}
