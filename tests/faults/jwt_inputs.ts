// Malformed JWTs for the fuzz tests: random strings, valid tokens with a character or a part
// changed, foreign keys, wrong `alg` headers (`none`, algorithm confusion), and tokens signed
// with the real keys but carrying claims that must be refused.

import { Buffer } from "node:buffer";
import { createHmac } from "node:crypto";
import type { JWK } from "jose";
import { TokenIssuer } from "../../controller/mod.ts";
import type { Rng } from "./prng.ts";

/** What kind of token a case targets. */
export type TokenKind = "identity" | "router";

/**
 * One malformed token. `verdict` says what acceptance would mean: `never` (always a bug),
 * `same-as` (fine only when it decodes to the valid token it came from), `maybe` (validly
 * signed with odd but not forbidden claims: either answer is right, but only as a TokenError).
 */
export interface TokenCase {
  token: string;
  how: string;
  verdict: "never" | "same-as" | "maybe";
  /** The valid token a `same-as` case was derived from. */
  original?: string;
  /** For identity tokens: the kind the verifier is asked to insist on. */
  expectedKind?: "client" | "exporter";
}

/** The verifier, its valid tokens, and signers holding its real keys. */
export interface TokenKit {
  issuer: TokenIssuer;
  identity: { client: string; exporter: string };
  router: string;
  foreign: { identity: string; router: string };
  /** Signs `header` and the raw payload text with the real router (HMAC) key. */
  signRouter(header: Record<string, unknown>, payload: string): string;
  /** Signs with the real identity (ES256) key. */
  signIdentity(header: Record<string, unknown>, payload: string): Promise<string>;
  /** The issuer's public key, for algorithm-confusion tokens. */
  publicJwk: JWK;
}

const ROUTER_ISSUER = "https://jumpstarter.dev/stream";
const ROUTER_AUDIENCE = "https://jumpstarter.dev/router";
const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

function b64(data: string | Uint8Array): string {
  return Buffer.from(data).toString("base64url");
}

function unsigned(header: unknown, payload: string, signature = ""): string {
  return `${b64(JSON.stringify(header))}.${b64(payload)}.${signature}`;
}

/**
 * A fresh issuer with one valid token of each kind, and one from another issuer.
 *
 * @example
 * ```ts
 * const kit = await tokenKit();
 * await kit.issuer.verifyRouterToken(kit.router); // accepted
 * ```
 */
export async function tokenKit(): Promise<TokenKit> {
  const issuer = TokenIssuer.generate();
  const other = TokenIssuer.generate();
  const subject = { namespace: "lab", name: "ada", uid: "4f9c5d6e-0d7a-4b1e-9a53-1c2d3e4f5a6b" };
  const { controllerKey, routerKey } = issuer.toJSON();
  const hmacKey = Buffer.from(routerKey, "base64url");
  const ecKey = await crypto.subtle.importKey(
    "jwk",
    { ...controllerKey, key_ops: ["sign"] } as JsonWebKey,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  return {
    issuer,
    identity: {
      client: await issuer.issueIdentityToken({ kind: "client", ...subject }),
      exporter: await issuer.issueIdentityToken({ kind: "exporter", ...subject }),
    },
    router: (await issuer.issueRouterToken({ namespace: "lab", lease: "l1" })).token,
    foreign: {
      // Another subject: the same one, issued in the same second, would be the same payload.
      identity: await other.issueIdentityToken({ kind: "client", ...subject, name: "eve" }),
      router: (await other.issueRouterToken({ namespace: "lab", lease: "l1" })).token,
    },
    signRouter(header, payload) {
      const input = `${b64(JSON.stringify(header))}.${b64(payload)}`;
      return `${input}.${b64(createHmac("sha256", hmacKey).update(input).digest())}`;
    },
    async signIdentity(header, payload) {
      const input = `${b64(JSON.stringify(header))}.${b64(payload)}`;
      const signature = await crypto.subtle.sign(
        { name: "ECDSA", hash: "SHA-256" },
        ecKey,
        new TextEncoder().encode(input),
      );
      return `${input}.${b64(new Uint8Array(signature))}`;
    },
    publicJwk: issuer.jwks().keys[0],
  };
}

function validClaims(kit: TokenKit, kind: TokenKind): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  if (kind === "router") {
    return {
      iss: ROUTER_ISSUER,
      aud: [ROUTER_AUDIENCE],
      sub: "stream-1",
      exp: now + 600,
      nbf: now,
      iat: now,
      jti: "j1",
      lease: "l1",
      ns: "lab",
    };
  }
  return {
    iss: kit.issuer.issuer,
    aud: ["jumpstarter"],
    sub: "client:lab:ada:u1",
    iat: now,
    exp: now + 600,
  };
}

// Claim changes every verifier must refuse, as [description, change]; a change returns the
// payload text (so it can hold what JSON.stringify cannot, like 1e400).
type ClaimChange = (claims: Record<string, unknown>, rng: Rng) => string;

const COMMON_REFUSED: [string, ClaimChange][] = [
  ["no iss", (c) => json(without(c, "iss"))],
  ["wrong iss", (c, rng) => json({ ...c, iss: rng.text(30) + "/x" })],
  ["iss not a string", (c, rng) => json({ ...c, iss: rng.json(2) ?? 5 })],
  ["no aud", (c) => json(without(c, "aud"))],
  ["wrong aud", (c, rng) => json({ ...c, aud: [rng.text(20) + "/y"] })],
  ["empty aud", (c) => json({ ...c, aud: [] })],
  ["no exp", (c) => json(without(c, "exp"))],
  ["expired", (c) => json({ ...c, exp: Math.floor(Date.now() / 1000) - 3600 })],
  ["exp a string", (c) => json({ ...c, exp: String(c.exp) })],
  ["exp null", (c) => json({ ...c, exp: null })],
  ["exp -1e300", (c) => json({ ...c, exp: -1e300 })],
  ["exp -1e400", (c) => json({ ...c, exp: 0 }).replace('"exp":0', '"exp":-1e400')],
  ["exp NaN-ish", (c) => json({ ...c, exp: 0 }).replace('"exp":0', '"exp":NaN')],
  ["nbf in an hour", (c) => json({ ...c, nbf: Math.floor(Date.now() / 1000) + 3600 })],
  ["nbf 1e300", (c) => json({ ...c, nbf: 1e300 })],
  ["nbf 1e400", (c) => json({ ...c, nbf: 0 }).replace('"nbf":0', '"nbf":1e400')],
  ["nbf a string", (c) => json({ ...c, nbf: "soon" })],
  ["iat a string", (c) => json({ ...c, iat: "now" })],
  ["payload a list", () => "[1,2,3]"],
  ["payload null", () => "null"],
  ["payload a number", () => "42"],
  ["payload a string", () => '"claims"'],
  ["payload not JSON", (_c, rng) => rng.text(50)],
  ["payload huge and expired", (c) => json({ ...c, exp: 1, pad: "x".repeat(1_000_000) })],
];

const REFUSED_CLAIMS: Record<TokenKind, [string, ClaimChange][]> = {
  router: [
    ...COMMON_REFUSED,
    ["no sub", (c) => json(without(c, "sub"))],
    ["empty sub", (c) => json({ ...c, sub: "" })],
    ["sub a number", (c) => json({ ...c, sub: 7 })],
    ["identity issuer", (c) => json({ ...c, iss: "https://localhost:8085", sub: "client:a:b:c" })],
  ],
  identity: [
    ...COMMON_REFUSED,
    ["no sub", (c) => json(without(c, "sub"))],
    ["router issuer", (c) => json({ ...c, iss: ROUTER_ISSUER })],
    ...["client:a:b", "client:a:b:c:d", "admin:a:b:c", "client::b:c", ":::", "", "x"].map((
      sub,
    ): [string, ClaimChange] => [`sub ${JSON.stringify(sub)}`, (c) => json({ ...c, sub })]),
    ["sub a number", (c) => json({ ...c, sub: 7 })],
  ],
};

// Odd claims that a verifier may accept or refuse.
const ODD_CLAIMS: [string, ClaimChange][] = [
  ["exp 1e400", (c) => json({ ...c, exp: 0 }).replace('"exp":0', '"exp":1e400')],
  ["duplicate exp", (c) => json(c).replace("{", '{"exp":1,')],
  ["__proto__ claim", (c) => json(c).replace("{", '{"__proto__":{"sub":"x"},')],
  ["extra claims", (c, rng) => json({ ...c, [rng.text(8)]: rng.json(3) })],
  ["aud a string", (c) => json({ ...c, aud: (c.aud as string[])[0] })],
];

function json(value: unknown): string {
  return JSON.stringify(value);
}

function without(claims: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...claims };
  delete copy[key];
  return copy;
}

// A structural change of a valid token's text.
function mutateText(token: string, rng: Rng): [string, string] {
  const parts = token.split(".");
  const swap = (i: number, j: number) => {
    const copy = [...parts];
    [copy[i], copy[j]] = [copy[j], copy[i]];
    return copy.join(".");
  };
  const at = rng.int(token.length);
  return rng.pick<() => [string, string]>([
    () => ["change a character", token.slice(0, at) + rng.pick([...B64URL]) + token.slice(at + 1)],
    () => ["change to any byte", token.slice(0, at) + rng.text(1) + token.slice(at + 1)],
    () => ["delete a character", token.slice(0, at) + token.slice(at + 1)],
    () => ["insert a character", token.slice(0, at) + rng.pick([...B64URL]) + token.slice(at)],
    () => ["truncate", token.slice(0, at)],
    () => ["append", token + rng.text(20, B64URL + ".")],
    () => ["swap header and payload", swap(0, 1)],
    () => ["swap payload and signature", swap(1, 2)],
    () => ["swap header and signature", swap(0, 2)],
    () => ["drop the signature", parts.slice(0, 2).join(".") + "."],
    () => ["two parts", parts.slice(0, 2).join(".")],
    () => ["four parts", `${token}.${parts[2]}`],
    () => ["five parts (JWE shape)", `${token}.${parts[1]}.${parts[2]}`],
    () => [
      "whitespace",
      token.slice(0, at) + rng.pick([" ", "\t", "\n", "\r\n"]) + token.slice(at),
    ],
    () => ["padding", `${token}==`],
    () => ["standard base64", token.replaceAll("-", "+").replaceAll("_", "/")],
    () => ["upper case", token.toUpperCase()],
    () => ["duplicated", token + token],
    () => ["bearer prefix", `Bearer ${token}`],
  ])();
}

function randomToken(rng: Rng): [string, string] {
  const segment = () => rng.text(rng.between(0, 200), B64URL, 0);
  return rng.pick<() => [string, string]>([
    () => ["random text", rng.text(300)],
    () => ["random segments", Array.from({ length: rng.between(1, 6) }, segment).join(".")],
    () => ["empty", ""],
    () => ["dots", ".".repeat(rng.between(1, 6))],
    () => ["random bytes", new TextDecoder("latin1").decode(rng.bytes(rng.length(500)))],
    () => ["huge", "a".repeat(rng.between(100_000, 2_000_000)) + ".b.c"],
    () => [
      "random JSON parts",
      `${b64(JSON.stringify(rng.json(2)))}.${b64(JSON.stringify(rng.json(3)))}.${segment()}`,
    ],
  ])();
}

/**
 * A malformed token for the `kind` verifier.
 *
 * @example
 * ```ts
 * const { token, verdict } = await malformedToken(kit, rng, "router");
 * ```
 */
export async function malformedToken(
  kit: TokenKit,
  rng: Rng,
  kind: TokenKind,
): Promise<TokenCase> {
  const valid = kind === "router" ? kit.router : kit.identity.client;
  const claims = validClaims(kit, kind);
  const sign = (header: Record<string, unknown>, payload: string) =>
    kind === "router"
      ? Promise.resolve(kit.signRouter(header, payload))
      : kit.signIdentity(header, payload);
  const alg = kind === "router" ? "HS256" : "ES256";
  const roll = rng.int(100);

  if (roll < 15) {
    const [how, token] = randomToken(rng);
    return { token, how, verdict: "never" };
  }
  if (roll < 40) {
    const [how, token] = mutateText(valid, rng);
    return { token, how, verdict: "same-as", original: valid };
  }
  if (roll < 50) {
    const headers: [string, unknown][] = [
      ["alg none", { alg: "none", typ: "JWT" }],
      ["alg NONE", { alg: "NONE" }],
      ["alg empty", { alg: "" }],
      ["alg null", { alg: null }],
      ["alg a number", { alg: 256 }],
      ["alg lower case", { alg: alg.toLowerCase() }],
      ["alg RS256", { alg: "RS256" }],
      ["no alg", { typ: "JWT" }],
      ["header a list", ["ES256"]],
      ["crit extension", { alg, crit: ["x-fuzz"], "x-fuzz": 1 }],
      ["unencoded payload", { alg, b64: false, crit: ["b64"] }],
      ["embedded jwk", { alg: "ES256", jwk: kit.publicJwk }],
    ];
    const [how, header] = rng.pick(headers);
    const signature = rng.pick(["", valid.split(".")[2], b64(rng.bytes(64))]);
    return { token: unsigned(header, json(claims), signature), how, verdict: "never" };
  }
  if (roll < 58) {
    // Algorithm confusion: the public key (or its parts) as an HMAC secret.
    const secret = rng.pick([
      JSON.stringify(kit.publicJwk),
      kit.publicJwk.x ?? "",
      "",
      "secret",
    ]);
    const input = `${b64(json({ alg: "HS256", typ: "JWT" }))}.${b64(json(claims))}`;
    const mac = b64(createHmac("sha256", secret).update(input).digest());
    return { token: `${input}.${mac}`, how: "HS256 with a public value as key", verdict: "never" };
  }
  if (roll < 66) {
    const foreign = kind === "router" ? kit.foreign.router : kit.foreign.identity;
    const mixes: [string, string][] = [
      ["another issuer's token", foreign],
      ["other kind of token", kind === "router" ? kit.identity.client : kit.router],
      ["exporter token, client expected", kit.identity.exporter],
      [
        "header of one token, payload of another",
        [valid.split(".")[0], foreign.split(".")[1], valid.split(".")[2]].join("."),
      ],
      [
        "payload of the other kind",
        [
          valid.split(".")[0],
          (kind === "router" ? kit.identity.client : kit.router).split(".")[1],
          valid.split(".")[2],
        ].join("."),
      ],
    ];
    const [how, token] = rng.pick(mixes);
    const expectedKind = how.startsWith("exporter") && kind === "identity" ? "client" : undefined;
    return { token, how, verdict: "never", expectedKind };
  }
  if (roll < 92) {
    const [how, change] = rng.pick(REFUSED_CLAIMS[kind]);
    const token = await sign({ alg, typ: "JWT" }, change(claims, rng));
    return { token, how: `signed, ${how}`, verdict: "never" };
  }
  if (roll < 96 && kind === "router") {
    // The wrong algorithm with the right key.
    const token = await kit.signIdentity({ alg: "ES256" }, json(claims));
    return { token, how: "router claims signed ES256", verdict: "never" };
  }
  const [how, change] = rng.pick(ODD_CLAIMS);
  const token = await sign({ alg, typ: "JWT" }, change(claims, rng));
  return { token, how: `signed, ${how}`, verdict: "maybe" };
}

/**
 * True when `token` is the token `original` written differently: in compact form, with the same
 * header and payload text and a signature part that decodes to the same bytes (base64url leaves
 * slack in the unused bits of its last character).
 */
export function sameToken(token: string, original: string): boolean {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) return false;
  const a = token.split(".");
  const b = original.split(".");
  if (a.length !== 3 || a[0] !== b[0] || a[1] !== b[1]) return false;
  return Buffer.from(a[2], "base64url").equals(Buffer.from(b[2], "base64url"));
}
