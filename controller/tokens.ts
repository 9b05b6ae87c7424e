// The controller's tokens, wire-compatible with upstream Jumpstarter:
//
// - Identity tokens for clients and exporters: ES256 JWTs, `iss` the controller's issuer URL,
//   `aud` ["jumpstarter"], `sub` "client:<namespace>:<name>:<uid>" (or "exporter:..."), `iat`,
//   `exp`. Upstream's controller checks them as an OIDC issuer of its own, so the public key
//   is also served as a JWKS (kid "default").
// - Router tokens: HS256 JWTs under a key shared with the router, `iss`
//   "https://jumpstarter.dev/stream", `aud` ["https://jumpstarter.dev/router"], `sub` the
//   stream id both sides of a connection present (the router pairs them by it), `exp`, `nbf`,
//   `iat`, `jti`. Ours also carry the lease (`lease`, `ns`) so a router can tie a stream to
//   the lease it serves; tokens from upstream's controller lack them.
//
// Verification tolerates 30 s of clock skew. Failures are TokenErrors whose messages never
// contain the token itself (tokens end up in logs otherwise).

import { Buffer } from "node:buffer";
import { createECDH, hkdfSync, randomBytes, randomUUID } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  type JWK,
  type JWTPayload,
  jwtVerify,
  type ProtectedHeaderParameters,
  SignJWT,
} from "jose";

/** Upstream's default issuer URL for identity tokens. */
export const DEFAULT_ISSUER = "https://localhost:8085";
/** The audience of identity tokens. */
export const IDENTITY_AUDIENCE = "jumpstarter";
/** The issuer of router tokens (fixed upstream, whatever the controller's URL). */
export const ROUTER_ISSUER = "https://jumpstarter.dev/stream";
/** The audience of router tokens. */
export const ROUTER_AUDIENCE = "https://jumpstarter.dev/router";
/** The key id of the identity signing key in the JWKS. */
export const KEY_ID = "default";

const DEFAULT_IDENTITY_LIFETIME_S = 365 * 24 * 60 * 60;
const DEFAULT_ROUTER_LIFETIME_S = 30 * 60;
const CLOCK_TOLERANCE_S = 30;
// Upstream's router accepts any HMAC-SHA2 size; we sign with HS256 like its controller.
const ROUTER_ALGORITHMS = ["HS256", "HS384", "HS512"];
const OIDC_ALGORITHMS = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
  "EdDSA",
  "Ed25519",
];

/** Whom an identity token identifies. */
export type IdentityKind = "client" | "exporter";

/** Why a token was refused. */
export type TokenErrorReason =
  | "malformed"
  | "bad-signature"
  | "expired"
  | "not-yet-valid"
  | "wrong-issuer"
  | "wrong-audience"
  | "wrong-kind";

/** A refused token; `reason` says why, the message says it in one line. */
export class TokenError extends Error {
  /** Creates the error. */
  constructor(readonly reason: TokenErrorReason, message: string) {
    super(message);
    this.name = "TokenError";
  }
}

/** What a verified identity token says. */
export interface IdentityClaims {
  kind: IdentityKind;
  namespace: string;
  name: string;
  uid: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** What a verified router token says. */
export interface RouterClaims {
  /** The `sub`: both sides of a connection present the same one. */
  streamId: string;
  /** The lease the stream serves; absent in tokens from upstream's controller. */
  namespace?: string;
  lease?: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
}

/** Options of a TokenIssuer. */
export interface TokenIssuerOptions {
  /** The `iss` of identity tokens (the controller's public URL); upstream's default if unset. */
  issuer?: string;
  /** Default lifetime of identity tokens; 365 days if unset. */
  identityLifetimeSeconds?: number;
  /** Default lifetime of router tokens; 30 minutes if unset. */
  routerLifetimeSeconds?: number;
}

/** The secret key material of a TokenIssuer, as stored on disk (keep it mode 0600). */
export interface TokenKeys {
  /** The P-256 signing key of identity tokens, as a private JWK. */
  controllerKey: JWK;
  /** The HMAC key of router tokens, base64url. */
  routerKey: string;
}

/** `now` overrides the clock (milliseconds since the epoch), mostly for tests. */
export interface ClockOptions {
  now?: number;
}

/** Issues and verifies identity and router tokens. */
export class TokenIssuer {
  readonly issuer: string;
  readonly identityLifetimeSeconds: number;
  readonly routerLifetimeSeconds: number;
  readonly #privateJwk: JWK;
  readonly #routerKey: Uint8Array;
  #signingKey?: Promise<CryptoKey>;
  #verifyingKey?: Promise<CryptoKey>;

  private constructor(privateJwk: JWK, routerKey: Uint8Array, options: TokenIssuerOptions) {
    this.#privateJwk = privateJwk;
    this.#routerKey = routerKey;
    this.issuer = options.issuer ?? DEFAULT_ISSUER;
    this.identityLifetimeSeconds = options.identityLifetimeSeconds ?? DEFAULT_IDENTITY_LIFETIME_S;
    this.routerLifetimeSeconds = options.routerLifetimeSeconds ?? DEFAULT_ROUTER_LIFETIME_S;
  }

  /** A fresh random P-256 key and a random 32-byte router key. */
  static generate(options: TokenIssuerOptions = {}): TokenIssuer {
    let scalar = randomBytes(32);
    while (!isValidScalar(scalar)) scalar = randomBytes(32);
    return new TokenIssuer(jwkFromScalar(scalar), new Uint8Array(randomBytes(32)), options);
  }

  /**
   * Keys derived from secret strings, for deployments that pass CONTROLLER_KEY and ROUTER_KEY
   * like upstream's. The router key is the secret's bytes as is, as upstream's router uses
   * it, so our router and upstream's accept each other's router tokens under the same
   * ROUTER_KEY. The signing key is derived with HKDF-SHA256; upstream derives its own with
   * Go's math/rand, so the two controllers' identity tokens are not interchangeable.
   */
  static fromSecrets(
    secrets: { controllerKey: string; routerKey: string },
    options: TokenIssuerOptions = {},
  ): TokenIssuer {
    if (secrets.controllerKey === "") throw new Error("the controller key secret is empty");
    if (secrets.routerKey === "") throw new Error("the router key secret is empty");
    const scalar = deriveScalar(new TextEncoder().encode(secrets.controllerKey));
    const routerKey = new TextEncoder().encode(secrets.routerKey);
    return new TokenIssuer(jwkFromScalar(scalar), routerKey, options);
  }

  /** The issuer of keys saved with toJSON(); throws when they are not usable keys. */
  static fromJSON(keys: unknown, options: TokenIssuerOptions = {}): TokenIssuer {
    const { controllerKey, routerKey } = (keys ?? {}) as Partial<TokenKeys>;
    const jwk = checkedPrivateJwk(controllerKey);
    if (typeof routerKey !== "string" || !/^[A-Za-z0-9_-]+$/.test(routerKey)) {
      throw new Error("token keys: routerKey must be a non-empty base64url string");
    }
    return new TokenIssuer(jwk, new Uint8Array(Buffer.from(routerKey, "base64url")), options);
  }

  /**
   * The issuer whose keys are in `file`, creating the file (mode 0600, written atomically)
   * with fresh keys when it does not exist yet.
   */
  static async loadOrCreate(file: string, options: TokenIssuerOptions = {}): Promise<TokenIssuer> {
    let text: string | undefined;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") throw err;
    }
    if (text !== undefined) {
      let keys: unknown;
      try {
        keys = JSON.parse(text);
      } catch {
        throw new Error(`token keys in ${file} are not valid JSON`);
      }
      return TokenIssuer.fromJSON(keys, options);
    }
    const issuer = TokenIssuer.generate(options);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    const temporary = `${file}.${randomUUID()}.tmp`;
    await writeFile(temporary, JSON.stringify(issuer.toJSON(), null, 2) + "\n", {
      mode: 0o600,
      flag: "wx",
    });
    await rename(temporary, file);
    return issuer;
  }

  /** The secret key material, for fromJSON(). Contains private keys: store it mode 0600. */
  toJSON(): TokenKeys {
    return {
      controllerKey: { ...this.#privateJwk },
      routerKey: Buffer.from(this.#routerKey).toString("base64url"),
    };
  }

  /** The public key set of identity tokens, as served at the issuer's JWKS URL. */
  jwks(): { keys: JWK[] } {
    return { keys: [this.#publicJwk()] };
  }

  /** The OpenID discovery document, with the JWKS at `<issuer>/jwks` like upstream. */
  discovery(): { issuer: string; jwks_uri: string } {
    return { issuer: this.issuer, jwks_uri: `${this.issuer.replace(/\/+$/, "")}/jwks` };
  }

  /** A signed identity token for a client or an exporter. */
  async issueIdentityToken(
    subject: {
      kind: IdentityKind;
      namespace: string;
      name: string;
      uid: string;
      lifetimeSeconds?: number;
    } & ClockOptions,
  ): Promise<string> {
    const { kind, namespace, name, uid } = subject;
    if (kind !== "client" && kind !== "exporter") {
      throw new Error(`cannot issue an identity token of kind ${quote(kind)}`);
    }
    checkSubjectPart(kind, "namespace", namespace);
    checkSubjectPart(kind, "name", name);
    checkSubjectPart(kind, "uid", uid);
    const now = seconds(subject.now ?? Date.now());
    const lifetime = checkedLifetime(subject.lifetimeSeconds ?? this.identityLifetimeSeconds);
    return await new SignJWT({
      iss: this.issuer,
      sub: `${kind}:${namespace}:${name}:${uid}`,
      aud: [IDENTITY_AUDIENCE],
      iat: now,
      exp: now + lifetime,
    })
      .setProtectedHeader({ alg: "ES256", typ: "JWT", kid: KEY_ID })
      .sign(await this.#signing());
  }

  /** The subject of a valid identity token; TokenError otherwise (also for the wrong kind). */
  async verifyIdentityToken(
    token: string,
    expectedKind?: IdentityKind,
    options: ClockOptions = {},
  ): Promise<IdentityClaims> {
    const { payload: unverified } = peek(token);
    if (unverified.iss === ROUTER_ISSUER) {
      throw new TokenError(
        "wrong-kind",
        `token is a router token, not ${identityNoun(expectedKind)}`,
      );
    }
    const key = await this.#verifying();
    const payload = await verified(
      () =>
        jwtVerify(token, key, {
          algorithms: ["ES256"],
          issuer: this.issuer,
          audience: IDENTITY_AUDIENCE,
          requiredClaims: ["sub", "exp"],
          clockTolerance: CLOCK_TOLERANCE_S,
          currentDate: options.now === undefined ? undefined : new Date(options.now),
        }),
      { issuer: this.issuer, audience: IDENTITY_AUDIENCE, algorithm: "ES256" },
    );
    const subject = parseSubject(String(payload.sub));
    if (subject === undefined) {
      throw new TokenError("malformed", 'token subject is not "<kind>:<namespace>:<name>:<uid>"');
    }
    if (expectedKind !== undefined && subject.kind !== expectedKind) {
      throw new TokenError(
        "wrong-kind",
        `token is for ${article(subject.kind)}, not ${article(expectedKind)}`,
      );
    }
    return { ...subject, expiresAt: Number(payload.exp) * 1000 };
  }

  /** A router token for one stream of `lease`; a fresh stream id unless given. */
  async issueRouterToken(
    stream:
      & { namespace: string; lease: string; streamId?: string; lifetimeSeconds?: number }
      & ClockOptions,
  ): Promise<{ token: string; streamId: string; expiresAt: number }> {
    const streamId = stream.streamId ?? randomUUID();
    if (streamId === "") throw new Error("cannot issue a router token for an empty stream id");
    const now = seconds(stream.now ?? Date.now());
    const exp = now + checkedLifetime(stream.lifetimeSeconds ?? this.routerLifetimeSeconds);
    const token = await new SignJWT({
      iss: ROUTER_ISSUER,
      sub: streamId,
      aud: [ROUTER_AUDIENCE],
      exp,
      nbf: now,
      iat: now,
      jti: randomUUID(),
      lease: stream.lease,
      ns: stream.namespace,
    })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .sign(this.#routerKey);
    return { token, streamId, expiresAt: exp * 1000 };
  }

  /** The stream (and lease) of a valid router token; TokenError otherwise. */
  async verifyRouterToken(token: string, options: ClockOptions = {}): Promise<RouterClaims> {
    const { header, payload: unverified } = peek(token);
    const identity = typeof unverified.sub === "string" ? parseSubject(unverified.sub) : undefined;
    if (unverified.iss !== ROUTER_ISSUER && (identity || header.alg === "ES256")) {
      const what = identity ? article(identity.kind) : "an identity";
      throw new TokenError("wrong-kind", `token is ${what} token, not a router token`);
    }
    const payload = await verified(
      () =>
        jwtVerify(token, this.#routerKey, {
          algorithms: ROUTER_ALGORITHMS,
          issuer: ROUTER_ISSUER,
          audience: ROUTER_AUDIENCE,
          requiredClaims: ["sub", "exp"],
          clockTolerance: CLOCK_TOLERANCE_S,
          currentDate: options.now === undefined ? undefined : new Date(options.now),
        }),
      { issuer: ROUTER_ISSUER, audience: ROUTER_AUDIENCE, algorithm: "HS256" },
    );
    if (typeof payload.sub !== "string" || payload.sub === "") {
      throw new TokenError("malformed", "router token has an empty stream id");
    }
    return {
      streamId: payload.sub,
      namespace: typeof payload.ns === "string" ? payload.ns : undefined,
      lease: typeof payload.lease === "string" ? payload.lease : undefined,
      expiresAt: Number(payload.exp) * 1000,
    };
  }

  #publicJwk(): JWK {
    const { kty, crv, x, y } = this.#privateJwk;
    return { kty, crv, x, y, kid: KEY_ID, alg: "ES256", use: "sig" };
  }

  #signing(): Promise<CryptoKey> {
    this.#signingKey ??= importJWK(this.#privateJwk, "ES256") as Promise<CryptoKey>;
    return this.#signingKey;
  }

  #verifying(): Promise<CryptoKey> {
    this.#verifyingKey ??= importJWK(this.#publicJwk(), "ES256") as Promise<CryptoKey>;
    return this.#verifyingKey;
  }
}

// ---------------------------------------------------------------------------------------
// External OIDC issuers

/** Options of an OidcVerifier, after Kubernetes' JWT authenticator configuration. */
export interface OidcVerifierOptions {
  /** The issuer URL; tokens must carry it as `iss`. */
  issuer: string;
  /** Tokens must name one of these in `aud`. */
  audience: string | string[];
  /** The claim that holds the user name; "sub" if unset. */
  usernameClaim?: string;
  /** Put before the claim's value, e.g. "dex:"; nothing if unset. */
  usernamePrefix?: string;
  /** The JWKS URL; found through the issuer's discovery document if unset. */
  jwksUri?: string;
}

/**
 * Verifies tokens of an external OIDC provider against its published keys and maps them to
 * user names. Bad tokens are TokenErrors; an unreachable or misconfigured provider is a
 * plain Error, so that callers can tell "refused" from "could not check".
 */
export class OidcVerifier {
  readonly #options: OidcVerifierOptions;
  #keys?: Promise<ReturnType<typeof createRemoteJWKSet>>;

  /** Creates the verifier; nothing is fetched until the first token. */
  constructor(options: OidcVerifierOptions) {
    this.#options = options;
  }

  /** The issuer URL it trusts. */
  get issuer(): string {
    return this.#options.issuer;
  }

  /** The (prefixed) user name of a valid token; TokenError when the token is refused. */
  async verify(token: string, options: ClockOptions = {}): Promise<string> {
    const { issuer, audience, usernameClaim = "sub", usernamePrefix = "" } = this.#options;
    peek(token);
    const keys = await this.#keySet();
    const payload = await verified(
      () =>
        jwtVerify(token, keys, {
          algorithms: OIDC_ALGORITHMS,
          issuer,
          audience,
          requiredClaims: ["exp"],
          clockTolerance: CLOCK_TOLERANCE_S,
          currentDate: options.now === undefined ? undefined : new Date(options.now),
        }),
      { issuer, audience: [audience].flat().join(", "), algorithm: "an asymmetric algorithm" },
    );
    const value = payload[usernameClaim];
    if (typeof value !== "string" || value === "") {
      throw new TokenError("malformed", `token has no "${usernameClaim}" claim for the user name`);
    }
    // Kubernetes refuses an e-mail user name the provider says it has not verified.
    if (usernameClaim === "email" && payload.email_verified === false) {
      throw new TokenError("malformed", 'token\'s "email" claim is not verified');
    }
    return usernamePrefix + value;
  }

  #keySet(): Promise<ReturnType<typeof createRemoteJWKSet>> {
    if (this.#keys === undefined) {
      const keys = this.#jwksUrl().then((url) => createRemoteJWKSet(url));
      // A failed discovery is retried on the next token rather than remembered forever.
      keys.catch(() => {
        if (this.#keys === keys) this.#keys = undefined;
      });
      this.#keys = keys;
    }
    return this.#keys;
  }

  async #jwksUrl(): Promise<URL> {
    const { issuer, jwksUri } = this.#options;
    if (jwksUri) return new URL(jwksUri);
    const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
    let document: { issuer?: unknown; jwks_uri?: unknown };
    try {
      const response = await fetch(url);
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`HTTP ${response.status}`);
      }
      document = await response.json();
    } catch (err) {
      throw new Error(`OIDC discovery at ${url} failed: ${(err as Error).message}`);
    }
    if (document.issuer !== issuer) {
      throw new Error(
        `OIDC discovery at ${url} names issuer ${quote(document.issuer)}, not "${issuer}"`,
      );
    }
    if (typeof document.jwks_uri !== "string") {
      throw new Error(`OIDC discovery at ${url} has no jwks_uri`);
    }
    return new URL(document.jwks_uri);
  }
}

// ---------------------------------------------------------------------------------------
// Verification helpers

// JWS compact serialization: three base64url parts without padding, whitespace or anything else
// (RFC 7515). jose's decoder skips whitespace and padding, which would let one token be written
// many ways.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** The unverified header and claims, only to explain refusals better; malformed otherwise. */
function peek(token: string): { header: ProtectedHeaderParameters; payload: JWTPayload } {
  if (typeof token !== "string" || !COMPACT_JWS.test(token)) {
    throw new TokenError("malformed", "token is not a well-formed JWT");
  }
  try {
    return { header: decodeProtectedHeader(token), payload: decodeJwt(token) };
  } catch {
    throw new TokenError("malformed", "token is not a well-formed JWT");
  }
}

/** Runs jose's verification, turning its errors into TokenErrors. */
async function verified(
  verify: () => Promise<{ payload: JWTPayload }>,
  expected: { issuer: string; audience: string; algorithm: string },
): Promise<JWTPayload> {
  try {
    return (await verify()).payload;
  } catch (err) {
    throw explain(err, expected);
  }
}

interface JoseFailure {
  code?: string;
  claim?: string;
  reason?: string;
  payload?: JWTPayload;
}

function explain(
  err: unknown,
  expected: { issuer: string; audience: string; algorithm: string },
): Error {
  if (err instanceof TokenError) return err;
  const { code, claim, reason, payload = {} } = (err ?? {}) as JoseFailure;
  switch (code) {
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return new TokenError(
        "bad-signature",
        "token signature does not verify (wrong key, or altered)",
      );
    case "ERR_JWKS_NO_MATCHING_KEY":
      return new TokenError("bad-signature", "no key of the issuer matches the token");
    case "ERR_JWT_EXPIRED":
      return new TokenError("expired", `token expired at ${isoTime(payload.exp)}`);
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return new TokenError("malformed", `token is not signed with ${expected.algorithm}`);
    case "ERR_JWT_CLAIM_VALIDATION_FAILED":
      return explainClaim(claim, reason, payload, expected);
    case "ERR_JWKS_TIMEOUT":
    case "ERR_JWKS_INVALID":
      return new Error(`the issuer's key set could not be fetched: ${(err as Error).message}`);
  }
  if (err instanceof TypeError) {
    // fetch() failures while getting a remote key set: not the token's fault.
    return new Error(`the issuer's key set could not be fetched: ${err.message}`);
  }
  return new TokenError("malformed", "token is not a well-formed JWT");
}

function explainClaim(
  claim: string | undefined,
  reason: string | undefined,
  payload: JWTPayload,
  expected: { issuer: string; audience: string },
): TokenError {
  if (claim === "iss") {
    return new TokenError(
      "wrong-issuer",
      reason === "missing"
        ? `token has no issuer (expected "${expected.issuer}")`
        : `token was issued by ${quote(payload.iss)}, not "${expected.issuer}"`,
    );
  }
  if (claim === "aud") {
    return new TokenError(
      "wrong-audience",
      reason === "missing"
        ? `token has no audience (expected "${expected.audience}")`
        : `token is for audience ${quote(payload.aud)}, not "${expected.audience}"`,
    );
  }
  if (claim === "nbf" && reason === "check_failed") {
    return new TokenError("not-yet-valid", `token is not valid before ${isoTime(payload.nbf)}`);
  }
  const what = reason === "missing" ? "no" : "an invalid";
  return new TokenError("malformed", `token has ${what} "${claim}" claim`);
}

/** Splits "client:<namespace>:<name>:<uid>"; undefined when it is not one. */
function parseSubject(sub: string): Omit<IdentityClaims, "expiresAt"> | undefined {
  const parts = sub.split(":");
  if (parts.length !== 4 || parts.some((part) => part === "")) return undefined;
  const [kind, namespace, name, uid] = parts;
  if (kind !== "client" && kind !== "exporter") return undefined;
  return { kind, namespace, name, uid };
}

function checkSubjectPart(kind: IdentityKind, field: string, value: string): void {
  // ":" separates the parts of the subject; it could not be split back otherwise.
  if (typeof value !== "string" || value === "" || value.includes(":")) {
    throw new Error(`cannot issue a ${kind} token: ${field} ${quote(value)} is empty or has ":"`);
  }
}

function checkedLifetime(lifetime: number): number {
  // Negative lifetimes are allowed: they make already-expired tokens, which tests need.
  if (!Number.isFinite(lifetime)) throw new Error(`token lifetime ${lifetime} is not a number`);
  return Math.trunc(lifetime);
}

const seconds = (ms: number) => Math.floor(ms / 1000);

function isoTime(epochSeconds: unknown): string {
  // A signed claim may still be out of Date's range (-1e300, or 1e400 read as Infinity).
  const date = new Date(typeof epochSeconds === "number" ? epochSeconds * 1000 : NaN);
  if (Number.isNaN(date.getTime())) return "an unknown time";
  return date.toISOString().replace(/\.000Z$/, "Z");
}

/** A claim value for a message: one line, bounded length (it comes from an untrusted token). */
function quote(value: unknown): string {
  // JSON escapes line breaks but U+2028 and U+2029.
  const text = (JSON.stringify(value) ?? String(value)).replace(
    /[\u2028\u2029]/g,
    (c) => c === "\u2028" ? "\\u2028" : "\\u2029",
  );
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

const article = (kind: IdentityKind) => (kind === "client" ? "a client" : "an exporter");
const identityNoun = (kind?: IdentityKind) =>
  kind ? `${article(kind)} token` : "a client or exporter token";

// ---------------------------------------------------------------------------------------
// P-256 keys from scalars

// The order of the P-256 group: private scalars must lie in [1, N).
const P256_ORDER = BigInt("0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");

function isValidScalar(bytes: Uint8Array): boolean {
  const value = BigInt(`0x${Buffer.from(bytes).toString("hex")}`);
  return value > 0n && value < P256_ORDER;
}

/**
 * A P-256 scalar derived from a secret: HKDF-SHA256 output, redone with the next counter in
 * `info` in the (about 2^-32) case it falls outside [1, N), so a secret always gives the
 * same key.
 */
function deriveScalar(secret: Uint8Array): Uint8Array {
  for (let counter = 0;; counter++) {
    const info = `jumpstarter controller P-256 signing key ${counter}`;
    const scalar = new Uint8Array(hkdfSync("sha256", secret, "jumpstarter", info, 32));
    if (isValidScalar(scalar)) return scalar;
  }
}

function jwkFromScalar(scalar: Uint8Array): JWK {
  const ecdh = createECDH("prime256v1");
  ecdh.setPrivateKey(scalar);
  const point = ecdh.getPublicKey(); // 0x04 || x || y
  const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
  return {
    kty: "EC",
    crv: "P-256",
    x: b64(point.subarray(1, 33)),
    y: b64(point.subarray(33, 65)),
    d: b64(scalar),
  };
}

/** The stored private JWK, checked to be a P-256 key whose public part matches `d`. */
function checkedPrivateJwk(value: unknown): JWK {
  const jwk = (value ?? {}) as JWK;
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string") {
    throw new Error("token keys: controllerKey must be a private P-256 JWK");
  }
  const scalar = new Uint8Array(Buffer.from(jwk.d, "base64url"));
  if (scalar.length !== 32 || !isValidScalar(scalar)) {
    throw new Error("token keys: controllerKey has an invalid private scalar");
  }
  const derived = jwkFromScalar(scalar);
  if (jwk.x !== undefined && (jwk.x !== derived.x || jwk.y !== derived.y)) {
    throw new Error("token keys: controllerKey's public point does not match its private scalar");
  }
  return derived;
}
