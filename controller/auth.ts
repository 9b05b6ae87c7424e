// Who is calling the controller: the bearer token must be one this controller issued, for the
// kind, namespace and name the call's metadata claims, and for the identity as it exists now (a
// deleted and re-created client gets a new uid, so its old tokens stop working).

import { Code, ConnectError } from "@connectrpc/connect";
import type { ClientRecord, ExporterRecord, Store } from "./store/mod.ts";
import { decodeJwt } from "jose";
import { type IdentityKind, type OidcVerifier, TokenError, type TokenIssuer } from "./tokens.ts";

/** Metadata keys of controller calls, as upstream sends them. */
export const KIND_HEADER = "jumpstarter-kind";
export const NAMESPACE_HEADER = "jumpstarter-namespace";
export const NAME_HEADER = "jumpstarter-name";

/** An authenticated caller. */
export type Caller =
  | { kind: "client"; namespace: string; name: string; record: ClientRecord }
  | { kind: "exporter"; namespace: string; name: string; record: ExporterRecord };

/**
 * Checks a call's credentials; throws ConnectError UNAUTHENTICATED (no or bad token),
 * INVALID_ARGUMENT (metadata that contradicts the token) or PERMISSION_DENIED (wrong kind, an
 * identity that no longer exists).
 */
export async function authenticate(
  headers: Headers,
  issuer: TokenIssuer,
  store: Store,
  expected?: IdentityKind,
  oidc: readonly OidcVerifier[] = [],
): Promise<Caller> {
  const authorization = headers.get("authorization") ?? "";
  const token = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
  if (!token) {
    throw new ConnectError("missing token (authorization: Bearer ...)", Code.Unauthenticated);
  }
  const external = oidc.find((v) => v.issuer === issuerOf(token));
  if (external) return await oidcCaller(token, external, headers, store, expected);
  let claims;
  try {
    claims = await issuer.verifyIdentityToken(token);
  } catch (err) {
    const message = err instanceof TokenError ? err.message : "token could not be verified";
    throw new ConnectError(`token refused: ${message}`, Code.Unauthenticated);
  }
  const kindHeader = headers.get(KIND_HEADER)?.toLowerCase();
  if (kindHeader && kindHeader !== claims.kind) {
    throw new ConnectError(
      `object kind mismatch: the token is for ${article(claims.kind)}, the call says ${kindHeader}`,
      Code.InvalidArgument,
    );
  }
  for (
    const [header, value] of [[NAMESPACE_HEADER, claims.namespace], [NAME_HEADER, claims.name]]
  ) {
    const claimed = headers.get(header);
    if (claimed && claimed !== value) {
      throw new ConnectError(
        `${header} "${claimed}" does not match the token's "${value}"`,
        Code.InvalidArgument,
      );
    }
  }
  if (expected && claims.kind !== expected) {
    throw new ConnectError(
      `permission denied: this call is for ${expected}s, the token is for ${article(claims.kind)}`,
      Code.PermissionDenied,
    );
  }
  const record = claims.kind === "client"
    ? await store.getClient(claims.namespace, claims.name)
    : await store.getExporter(claims.namespace, claims.name);
  if (!record || record.uid !== claims.uid) {
    throw new ConnectError(
      `permission denied: ${claims.kind} ${claims.namespace}/${claims.name} ` +
        (record ? "was re-created; ask for a new token" : "does not exist (any more)"),
      Code.PermissionDenied,
    );
  }
  return { kind: claims.kind, namespace: claims.namespace, name: claims.name, record } as Caller;
}

// The `iss` of a token, unverified: only to pick the verifier that then checks everything.
function issuerOf(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

// A client known by the user name an external OIDC issuer vouches for: the client of that
// namespace whose `username` it is (named in the metadata, or found by the user name).
async function oidcCaller(
  token: string,
  verifier: OidcVerifier,
  headers: Headers,
  store: Store,
  expected?: IdentityKind,
): Promise<Caller> {
  let username: string;
  try {
    username = await verifier.verify(token);
  } catch (err) {
    const message = err instanceof TokenError ? err.message : "token could not be verified";
    throw new ConnectError(`token refused: ${message}`, Code.Unauthenticated);
  }
  if (expected === "exporter" || headers.get(KIND_HEADER)?.toLowerCase() === "exporter") {
    throw new ConnectError(
      "permission denied: tokens of an external issuer are for clients only",
      Code.PermissionDenied,
    );
  }
  const namespace = headers.get(NAMESPACE_HEADER) ?? "default";
  const name = headers.get(NAME_HEADER);
  const record = name
    ? await store.getClient(namespace, name)
    : (await store.listClients(namespace)).find((c) => c.username === username);
  if (!record || record.username !== username) {
    throw new ConnectError(
      `permission denied: no client in namespace ${namespace} is mapped to user ${username} ` +
        "(jmp admin create client NAME --oidc-username USER)",
      Code.PermissionDenied,
    );
  }
  return { kind: "client", namespace, name: record.name, record };
}

function article(kind: string): string {
  return kind === "exporter" ? "an exporter" : "a client";
}
