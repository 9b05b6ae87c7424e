// What `jmp-controller run --store kubernetes` runs on: the store on custom resources, the token
// keys in a Secret every replica shares (or upstream's CONTROLLER_KEY/ROUTER_KEY), and a leader
// election so that one replica at a time schedules leases.

import { Buffer } from "node:buffer";
import { hostname } from "node:os";
import process from "node:process";
import "./quiet_deprecations.ts";
import * as k8s from "@kubernetes/client-node";
import { issueMissingCredentials } from "./kubernetes_credentials.ts";
import { LeaderElector } from "./leader_election.ts";
import { KubernetesStore } from "./store/kubernetes.ts";
import { TokenIssuer } from "./tokens.ts";

/** The Secret that holds the controller's token keys, key `keys.json`. */
export const KEYS_SECRET = "jumpstarter-controller-keys";
/** The coordination Lease of the leader election. */
export const ELECTION_LEASE = "jumpstarter-controller";

/** Where the backend runs. */
export interface KubernetesBackendOptions {
  namespace: string;
  /** Kubeconfig YAML; in-cluster or ~/.kube/config when absent. */
  kubeconfig?: string;
  /** This replica's name in the election (default: the pod's host name and process id). */
  identity?: string;
  /** The `iss` of identity tokens. */
  issuer?: string;
  /** Leader election timing (tests shorten it). */
  election?: { leaseDurationMs: number; retryMs: number };
}

/** The opened backend. */
export interface KubernetesBackend {
  store: KubernetesStore;
  issuer: TokenIssuer;
  elector: LeaderElector;
  /** What the leader does on each round beyond leases: credentials for new identities. */
  housekeeping: () => Promise<void>;
}

function kubeConfig(kubeconfig: string | undefined): k8s.KubeConfig {
  const config = new k8s.KubeConfig();
  if (kubeconfig !== undefined) config.loadFromString(kubeconfig);
  else config.loadFromDefault();
  return config;
}

/** Opens the store, loads (or creates) the shared keys, and prepares the election. */
export async function openKubernetesBackend(
  options: KubernetesBackendOptions,
): Promise<KubernetesBackend> {
  const config = kubeConfig(options.kubeconfig);
  const store = KubernetesStore.connect({
    kubeconfig: options.kubeconfig,
    namespace: options.namespace,
  });
  const issuer = await sharedIssuer(config.makeApiClient(k8s.CoreV1Api), options);
  const elector = new LeaderElector({
    api: config.makeApiClient(k8s.CoordinationV1Api),
    namespace: options.namespace,
    name: ELECTION_LEASE,
    identity: options.identity ?? `${hostname()}-${process.pid}`,
    ...options.election,
  });
  const housekeeping = async () => {
    const info = await loadControllerInfoSecret(options).catch(() => undefined);
    await issueMissingCredentials({
      config,
      namespace: options.namespace,
      issuer,
      endpoint: info ? JSON.parse(info).endpoint : undefined,
    });
  };
  return { store, issuer, elector, housekeeping };
}

// Upstream's environment variables when set; otherwise keys in a Secret, made by whichever
// replica starts first (the others read them).
async function sharedIssuer(
  core: k8s.CoreV1Api,
  options: KubernetesBackendOptions,
): Promise<TokenIssuer> {
  const { CONTROLLER_KEY, ROUTER_KEY } = process.env;
  if (CONTROLLER_KEY && ROUTER_KEY) {
    return TokenIssuer.fromSecrets({ controllerKey: CONTROLLER_KEY, routerKey: ROUTER_KEY }, {
      issuer: options.issuer,
    });
  }
  const namespace = options.namespace;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const secret = await core.readNamespacedSecret({ name: KEYS_SECRET, namespace });
      const text = Buffer.from(secret.data?.["keys.json"] ?? "", "base64").toString("utf8");
      return TokenIssuer.fromJSON(JSON.parse(text), { issuer: options.issuer });
    } catch (err) {
      if ((err as { code?: number }).code !== 404) throw err;
    }
    const fresh = TokenIssuer.generate({ issuer: options.issuer });
    try {
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: KEYS_SECRET, namespace },
          type: "Opaque",
          data: { "keys.json": Buffer.from(JSON.stringify(fresh.toJSON())).toString("base64") },
        },
      });
      return fresh;
    } catch (err) {
      // Another replica created it first: read theirs on the next round.
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  throw new Error(`cannot read or create Secret ${namespace}/${KEYS_SECRET}`);
}

/** The Secret holding what `jmp admin` needs to write configs (endpoints, CA), key `controller.json`. */
export const INFO_SECRET = "jumpstarter-controller-info";

/** Keeps `text` (controller.json) in the info Secret, replacing what was there. */
export async function saveControllerInfoSecret(
  options: Pick<KubernetesBackendOptions, "namespace" | "kubeconfig">,
  text: string,
): Promise<void> {
  const core = kubeConfig(options.kubeconfig).makeApiClient(k8s.CoreV1Api);
  const body = {
    metadata: { name: INFO_SECRET, namespace: options.namespace },
    type: "Opaque",
    data: { "controller.json": Buffer.from(text).toString("base64") },
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const current = await core.readNamespacedSecret({
        name: INFO_SECRET,
        namespace: options.namespace,
      });
      await core.replaceNamespacedSecret({
        name: INFO_SECRET,
        namespace: options.namespace,
        body: {
          ...body,
          metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion },
        },
      });
      return;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 404) {
        try {
          await core.createNamespacedSecret({ namespace: options.namespace, body });
          return;
        } catch (created) {
          if ((created as { code?: number }).code !== 409) throw created;
        }
      } else if (code !== 409) {
        throw err;
      }
    }
  }
}

/** controller.json from the info Secret, or undefined when no controller wrote it yet. */
export async function loadControllerInfoSecret(
  options: Pick<KubernetesBackendOptions, "namespace" | "kubeconfig">,
): Promise<string | undefined> {
  const core = kubeConfig(options.kubeconfig).makeApiClient(k8s.CoreV1Api);
  try {
    const secret = await core.readNamespacedSecret({
      name: INFO_SECRET,
      namespace: options.namespace,
    });
    return Buffer.from(secret.data?.["controller.json"] ?? "", "base64").toString("utf8");
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}
