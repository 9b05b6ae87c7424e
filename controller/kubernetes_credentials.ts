// Credentials as upstream's controller hands them out on Kubernetes: a Client or Exporter made
// by any tool (kubectl, upstream's `jmp admin`) gets its token in a Secret `<name>-client` /
// `<name>-exporter` (key `token`, owned by the object), named in its `status.credential`, with
// the controller's endpoint in `status.endpoint`.

import "./quiet_deprecations.ts";
import { Buffer } from "node:buffer";
import * as k8s from "@kubernetes/client-node";
import type { TokenIssuer } from "./tokens.ts";

const GROUP = "jumpstarter.dev";
const VERSION = "v1alpha1";

/** What issuing needs. */
export interface CredentialOptions {
  config: k8s.KubeConfig;
  namespace: string;
  issuer: TokenIssuer;
  /** The controller endpoint written into `status.endpoint`, when known. */
  endpoint?: string;
}

/** Issues a token Secret for every Client and Exporter without one; returns how many. */
export async function issueMissingCredentials(options: CredentialOptions): Promise<number> {
  const objects = options.config.makeApiClient(k8s.CustomObjectsApi);
  const core = options.config.makeApiClient(k8s.CoreV1Api);
  let issued = 0;
  for (const [plural, kind] of [["clients", "client"], ["exporters", "exporter"]] as const) {
    const list = await objects.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: options.namespace,
      plural,
    });
    for (const item of (list.items ?? []) as k8s.KubernetesObject[]) {
      const status = (item as { status?: { credential?: { name?: string } } }).status;
      if (status?.credential?.name) continue;
      await issueOne(objects, core, options, plural, kind, item);
      issued++;
    }
  }
  return issued;
}

async function issueOne(
  objects: k8s.CustomObjectsApi,
  core: k8s.CoreV1Api,
  options: CredentialOptions,
  plural: "clients" | "exporters",
  kind: "client" | "exporter",
  item: k8s.KubernetesObject,
): Promise<void> {
  const { name, uid, namespace } = item.metadata as Required<k8s.V1ObjectMeta>;
  const token = await options.issuer.issueIdentityToken({ kind, namespace, name, uid });
  const secretName = `${name}-${kind}`;
  const secret: k8s.V1Secret = {
    metadata: {
      name: secretName,
      namespace,
      ownerReferences: [{
        apiVersion: `${GROUP}/${VERSION}`,
        kind: item.kind ?? (kind === "client" ? "Client" : "Exporter"),
        name,
        uid,
        controller: true,
      }],
    },
    type: "Opaque",
    data: { token: Buffer.from(token).toString("base64") },
  };
  try {
    await core.createNamespacedSecret({ namespace, body: secret });
  } catch (err) {
    if ((err as { code?: number }).code !== 409) throw err;
    // Left from an earlier object of that name: its token is stale, replace it.
    const current = await core.readNamespacedSecret({ name: secretName, namespace });
    secret.metadata!.resourceVersion = current.metadata?.resourceVersion;
    await core.replaceNamespacedSecret({ name: secretName, namespace, body: secret });
  }
  const body = {
    ...item,
    status: {
      ...(item as { status?: object }).status,
      credential: { name: secretName },
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    },
  };
  await objects.replaceNamespacedCustomObjectStatus({
    group: GROUP,
    version: VERSION,
    namespace,
    plural,
    name,
    body,
  }).catch((err) => {
    // Changed meanwhile: the next round sees it again and issues anew.
    if ((err as { code?: number }).code !== 409) throw err;
  });
}
