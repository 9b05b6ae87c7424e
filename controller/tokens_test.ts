import { strict as assert } from "node:assert";
import { Buffer } from "node:buffer";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt, decodeProtectedHeader, importJWK, SignJWT } from "jose";
import {
  DEFAULT_ISSUER,
  OidcVerifier,
  TokenError,
  type TokenErrorReason,
  TokenIssuer,
} from "./tokens.ts";
import { serveOidc } from "../tests/fixtures/oidc_issuer.ts";

const UID = "4f9c5d6e-0d7a-4b1e-9a53-1c2d3e4f5a6b";
const CLIENT = { kind: "client", namespace: "lab", name: "alice", uid: UID } as const;
const EXPORTER = { kind: "exporter", namespace: "lab", name: "rpi4-1", uid: UID } as const;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The TokenError `promise` rejects with, checking its reason and that it hides the token. */
async function refusal(
  promise: Promise<unknown>,
  reason: TokenErrorReason,
  token?: string,
): Promise<string> {
  const err = await promise.then(() => undefined, (e) => e);
  assert.ok(err instanceof TokenError, `expected a TokenError, got ${err}`);
  assert.equal(err.reason, reason, err.message);
  assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
  if (token) {
    for (const part of token.split(".").filter((part) => part.length >= 8)) {
      assert.ok(!err.message.includes(part), err.message);
    }
  }
  return err.message;
}

/** `token` with one character of its signature changed. */
function tampered(token: string): string {
  const dot = token.lastIndexOf(".");
  const at = dot + 6; // inside the signature, away from the final partial character
  const replacement = token[at] === "A" ? "B" : "A";
  return token.slice(0, at) + replacement + token.slice(at + 1);
}

Deno.test("an identity token round-trips for clients and exporters", async () => {
  const issuer = TokenIssuer.generate();
  for (const subject of [CLIENT, EXPORTER]) {
    const now = Date.now();
    const token = await issuer.issueIdentityToken(subject);
    const claims = await issuer.verifyIdentityToken(token, subject.kind);
    const { kind, namespace, name, uid } = claims;
    assert.deepEqual({ kind, namespace, name, uid }, subject);
    const expected = now + 365 * DAY_MS;
    assert.ok(Math.abs(claims.expiresAt - expected) < 2000, `${claims.expiresAt} vs ${expected}`);
    assert.deepEqual(await issuer.verifyIdentityToken(token), claims);
  }
});

Deno.test("identity token claims are upstream's exactly", async () => {
  const issuer = TokenIssuer.generate();
  const token = await issuer.issueIdentityToken({ ...CLIENT, lifetimeSeconds: 3600 });
  const payload = decodeJwt(token);
  assert.deepEqual(Object.keys(payload).sort(), ["aud", "exp", "iat", "iss", "sub"]);
  assert.equal(payload.iss, "https://localhost:8085");
  assert.equal(payload.iss, DEFAULT_ISSUER);
  assert.deepEqual(payload.aud, ["jumpstarter"]);
  assert.equal(payload.sub, `client:lab:alice:${UID}`);
  assert.equal(payload.exp! - payload.iat!, 3600);
  assert.deepEqual(decodeProtectedHeader(token), { alg: "ES256", typ: "JWT", kid: "default" });

  const exporterToken = await issuer.issueIdentityToken(EXPORTER);
  assert.equal(decodeJwt(exporterToken).sub, `exporter:lab:rpi4-1:${UID}`);

  const custom = TokenIssuer.generate({ issuer: "https://jumpstarter.example.com:8085" });
  const customToken = await custom.issueIdentityToken(CLIENT);
  assert.equal(decodeJwt(customToken).iss, "https://jumpstarter.example.com:8085");
});

Deno.test("a tampered identity token is refused as bad-signature", async () => {
  const issuer = TokenIssuer.generate();
  const token = await issuer.issueIdentityToken(CLIENT);
  const bad = tampered(token);
  assert.notEqual(bad, token);
  assert.equal(
    await refusal(issuer.verifyIdentityToken(bad), "bad-signature", bad),
    "token signature does not verify (wrong key, or altered)",
  );
});

Deno.test("an identity token of another issuer's key is refused as bad-signature", async () => {
  const token = await TokenIssuer.generate().issueIdentityToken(CLIENT);
  await refusal(TokenIssuer.generate().verifyIdentityToken(token), "bad-signature", token);
});

Deno.test("an expired identity token is refused with its expiry time", async () => {
  const issuer = TokenIssuer.generate();
  const now = Date.parse("2026-11-25T09:00:00Z");
  const token = await issuer.issueIdentityToken({ ...CLIENT, lifetimeSeconds: 3600, now });
  assert.equal(
    await refusal(issuer.verifyIdentityToken(token, "client", { now: now + 7200_000 }), "expired"),
    "token expired at 2026-11-25T10:00:00Z",
  );
  // Within the 30 s clock tolerance it still passes.
  await issuer.verifyIdentityToken(token, "client", { now: now + 3600_000 + 29_000 });
  await refusal(
    issuer.verifyIdentityToken(token, "client", { now: now + 3600_000 + 31_000 }),
    "expired",
  );

  const stale = await issuer.issueIdentityToken({ ...CLIENT, lifetimeSeconds: -60 });
  await refusal(issuer.verifyIdentityToken(stale), "expired", stale);
});

Deno.test("an identity token of the other kind is refused as wrong-kind", async () => {
  const issuer = TokenIssuer.generate();
  const exporterToken = await issuer.issueIdentityToken(EXPORTER);
  assert.equal(
    await refusal(issuer.verifyIdentityToken(exporterToken, "client"), "wrong-kind"),
    "token is for an exporter, not a client",
  );
  const clientToken = await issuer.issueIdentityToken(CLIENT);
  assert.equal(
    await refusal(issuer.verifyIdentityToken(clientToken, "exporter"), "wrong-kind"),
    "token is for a client, not an exporter",
  );
});

Deno.test("an identity token of another issuer URL is refused as wrong-issuer", async () => {
  const keys = TokenIssuer.generate().toJSON();
  const a = TokenIssuer.fromJSON(keys, { issuer: "https://a.example.com" });
  const b = TokenIssuer.fromJSON(keys, { issuer: "https://b.example.com" });
  const token = await a.issueIdentityToken(CLIENT);
  assert.equal(
    await refusal(b.verifyIdentityToken(token), "wrong-issuer", token),
    'token was issued by "https://a.example.com", not "https://b.example.com"',
  );
});

Deno.test("a token for another audience is refused as wrong-audience", async () => {
  const issuer = TokenIssuer.generate();
  const key = await importJWK(issuer.toJSON().controllerKey, "ES256");
  const token = await new SignJWT({ sub: `client:lab:alice:${UID}`, aud: "kubernetes" })
    .setProtectedHeader({ alg: "ES256" })
    .setIssuer(DEFAULT_ISSUER)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key);
  assert.equal(
    await refusal(issuer.verifyIdentityToken(token), "wrong-audience", token),
    'token is for audience "kubernetes", not "jumpstarter"',
  );
});

Deno.test("identity tokens with a bad subject or no expiry are malformed", async () => {
  const issuer = TokenIssuer.generate();
  const key = await importJWK(issuer.toJSON().controllerKey, "ES256");
  const sign = (claims: Record<string, unknown>) =>
    new SignJWT({ iss: DEFAULT_ISSUER, aud: ["jumpstarter"], ...claims })
      .setProtectedHeader({ alg: "ES256" })
      .sign(key);
  const exp = Math.floor(Date.now() / 1000) + 3600;
  assert.equal(
    await refusal(issuer.verifyIdentityToken(await sign({ sub: "alice", exp })), "malformed"),
    'token subject is not "<kind>:<namespace>:<name>:<uid>"',
  );
  assert.equal(
    await refusal(
      issuer.verifyIdentityToken(await sign({ sub: `robot:lab:r:${UID}`, exp })),
      "malformed",
    ),
    'token subject is not "<kind>:<namespace>:<name>:<uid>"',
  );
  assert.equal(
    await refusal(
      issuer.verifyIdentityToken(await sign({ sub: `client:lab:a:${UID}` })),
      "malformed",
    ),
    'token has no "exp" claim',
  );
});

Deno.test("text that is not a JWT is malformed", async () => {
  const issuer = TokenIssuer.generate();
  for (const junk of ["", "abc", "a.b.c", "not.a.jwt.at.all", "e30.e30"]) {
    assert.equal(
      await refusal(issuer.verifyIdentityToken(junk), "malformed"),
      "token is not a well-formed JWT",
      junk,
    );
    await refusal(issuer.verifyRouterToken(junk), "malformed");
  }
});

Deno.test("an unsigned token (alg none) is refused", async () => {
  const issuer = TokenIssuer.generate();
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const claims = { iss: DEFAULT_ISSUER, aud: ["jumpstarter"], sub: `client:lab:a:${UID}`, exp };
  const token = `${b64({ alg: "none" })}.${b64(claims)}.`;
  assert.equal(
    await refusal(issuer.verifyIdentityToken(token), "malformed", token),
    "token is not signed with ES256",
  );
  await refusal(issuer.verifyRouterToken(token), "wrong-kind", token);
});

Deno.test("a router token round-trips with its stream and lease", async () => {
  const issuer = TokenIssuer.generate();
  const now = Date.now();
  const issued = await issuer.issueRouterToken({ namespace: "lab", lease: "lease-1" });
  assert.match(issued.streamId, /^[0-9a-f-]{36}$/);
  assert.ok(Math.abs(issued.expiresAt - (now + 30 * 60_000)) < 2000);
  const claims = await issuer.verifyRouterToken(issued.token);
  assert.deepEqual(claims, {
    streamId: issued.streamId,
    namespace: "lab",
    lease: "lease-1",
    expiresAt: issued.expiresAt,
  });

  const chosen = await issuer.issueRouterToken({ namespace: "lab", lease: "l", streamId: "s-1" });
  assert.equal(chosen.streamId, "s-1");
  assert.equal((await issuer.verifyRouterToken(chosen.token)).streamId, "s-1");
});

Deno.test("router token claims are upstream's, plus the lease", async () => {
  const issuer = TokenIssuer.generate();
  const { token, streamId } = await issuer.issueRouterToken({
    namespace: "lab",
    lease: "lease-1",
    lifetimeSeconds: 600,
  });
  const payload = decodeJwt(token);
  assert.deepEqual(
    Object.keys(payload).sort(),
    ["aud", "exp", "iat", "iss", "jti", "lease", "nbf", "ns", "sub"],
  );
  assert.equal(payload.iss, "https://jumpstarter.dev/stream");
  assert.deepEqual(payload.aud, ["https://jumpstarter.dev/router"]);
  assert.equal(payload.sub, streamId);
  assert.equal(payload.exp! - payload.iat!, 600);
  assert.equal(payload.nbf, payload.iat);
  assert.equal(payload.lease, "lease-1");
  assert.equal(payload.ns, "lab");
  assert.deepEqual(decodeProtectedHeader(token), { alg: "HS256", typ: "JWT" });
  const other = await issuer.issueRouterToken({ namespace: "lab", lease: "lease-1" });
  assert.notEqual(decodeJwt(other.token).jti, payload.jti);
  assert.notEqual(other.streamId, streamId);
});

Deno.test("a router token of an upstream controller (no lease) is accepted", async () => {
  // What upstream's controller signs with the raw bytes of ROUTER_KEY.
  const issuer = TokenIssuer.fromSecrets({ controllerKey: "c", routerKey: "shared-router-key" });
  const now = Math.floor(Date.now() / 1000);
  const token = await new SignJWT({
    iss: "https://jumpstarter.dev/stream",
    sub: "7d0b3e0a-1111-4222-8333-944455556666",
    aud: ["https://jumpstarter.dev/router"],
    exp: now + 1800,
    nbf: now,
    iat: now,
    jti: "a3c1b1d0-1111-4222-8333-944455556666",
  })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode("shared-router-key"));
  assert.deepEqual(await issuer.verifyRouterToken(token), {
    streamId: "7d0b3e0a-1111-4222-8333-944455556666",
    namespace: undefined,
    lease: undefined,
    expiresAt: (now + 1800) * 1000,
  });
});

Deno.test("a router token under another router key is refused as bad-signature", async () => {
  const { token } = await TokenIssuer.generate().issueRouterToken({ namespace: "n", lease: "l" });
  await refusal(TokenIssuer.generate().verifyRouterToken(token), "bad-signature", token);
  const issuer = TokenIssuer.generate();
  const mine = await issuer.issueRouterToken({ namespace: "n", lease: "l" });
  await refusal(issuer.verifyRouterToken(tampered(mine.token)), "bad-signature", mine.token);
});

Deno.test("an expired or not yet valid router token is refused", async () => {
  const issuer = TokenIssuer.generate();
  const stale = await issuer.issueRouterToken({ namespace: "n", lease: "l", lifetimeSeconds: -60 });
  await refusal(issuer.verifyRouterToken(stale.token), "expired", stale.token);

  const now = Date.parse("2026-11-25T09:30:00Z");
  const { token } = await issuer.issueRouterToken({ namespace: "n", lease: "l", now });
  assert.equal(
    await refusal(issuer.verifyRouterToken(token, { now: now + 3600_000 }), "expired"),
    "token expired at 2026-11-25T10:00:00Z",
  );
  assert.equal(
    await refusal(issuer.verifyRouterToken(token, { now: now - 60_000 }), "not-yet-valid"),
    "token is not valid before 2026-11-25T09:30:00Z",
  );
  await issuer.verifyRouterToken(token, { now: now - 20_000 });
});

Deno.test("identity and router tokens are not accepted for each other", async () => {
  const issuer = TokenIssuer.generate();
  const identity = await issuer.issueIdentityToken(CLIENT);
  assert.equal(
    await refusal(issuer.verifyRouterToken(identity), "wrong-kind", identity),
    "token is a client token, not a router token",
  );
  const exporter = await issuer.issueIdentityToken(EXPORTER);
  assert.equal(
    await refusal(issuer.verifyRouterToken(exporter), "wrong-kind", exporter),
    "token is an exporter token, not a router token",
  );
  const { token: router } = await issuer.issueRouterToken({ namespace: "lab", lease: "l" });
  assert.equal(
    await refusal(issuer.verifyIdentityToken(router, "client"), "wrong-kind", router),
    "token is a router token, not a client token",
  );
  assert.equal(
    await refusal(issuer.verifyIdentityToken(router), "wrong-kind", router),
    "token is a router token, not a client or exporter token",
  );
});

Deno.test("fromSecrets derives the same keys from the same secrets", async () => {
  const a = TokenIssuer.fromSecrets({ controllerKey: "secret-1", routerKey: "router-1" });
  const b = TokenIssuer.fromSecrets({ controllerKey: "secret-1", routerKey: "router-1" });
  const c = TokenIssuer.fromSecrets({ controllerKey: "secret-2", routerKey: "router-1" });
  assert.deepEqual(a.jwks(), b.jwks());
  assert.notDeepEqual(a.jwks().keys[0].x, c.jwks().keys[0].x);
  assert.deepEqual(a.toJSON(), b.toJSON());
  // The router key is the secret's bytes, as upstream's router takes ROUTER_KEY.
  assert.equal(a.toJSON().routerKey, Buffer.from("router-1").toString("base64url"));

  const token = await a.issueIdentityToken(CLIENT);
  assert.equal((await b.verifyIdentityToken(token)).name, "alice");
  await refusal(c.verifyIdentityToken(token), "bad-signature");
  const routed = await a.issueRouterToken({ namespace: "n", lease: "l" });
  assert.equal((await c.verifyRouterToken(routed.token)).lease, "l");
  assert.throws(() => TokenIssuer.fromSecrets({ controllerKey: "", routerKey: "r" }), /empty/);
  assert.throws(() => TokenIssuer.fromSecrets({ controllerKey: "c", routerKey: "" }), /empty/);
});

Deno.test("keys survive toJSON/fromJSON through JSON text", async () => {
  const original = TokenIssuer.generate();
  const restored = TokenIssuer.fromJSON(JSON.parse(JSON.stringify(original)));
  assert.deepEqual(restored.toJSON(), original.toJSON());
  assert.deepEqual(restored.jwks(), original.jwks());
  const identity = await original.issueIdentityToken(EXPORTER);
  assert.equal((await restored.verifyIdentityToken(identity, "exporter")).name, "rpi4-1");
  const router = await restored.issueRouterToken({ namespace: "n", lease: "l" });
  assert.equal((await original.verifyRouterToken(router.token)).streamId, router.streamId);
});

Deno.test("fromJSON refuses unusable keys", () => {
  const keys = TokenIssuer.generate().toJSON();
  const other = TokenIssuer.generate().toJSON();
  assert.throws(() => TokenIssuer.fromJSON(undefined), /private P-256 JWK/);
  assert.throws(() => TokenIssuer.fromJSON({ ...keys, routerKey: "" }), /routerKey/);
  assert.throws(
    () => TokenIssuer.fromJSON({ ...keys, controllerKey: { ...keys.controllerKey, crv: "P-384" } }),
    /private P-256 JWK/,
  );
  assert.throws(
    () =>
      TokenIssuer.fromJSON({
        ...keys,
        controllerKey: { ...keys.controllerKey, x: other.controllerKey.x },
      }),
    /does not match/,
  );
});

Deno.test("loadOrCreate writes the keys mode 0600 once and reads them back", async () => {
  const dir = await mkdtemp(join(tmpdir(), "tokens-test-"));
  try {
    const file = join(dir, "data", "keys.json");
    const created = await TokenIssuer.loadOrCreate(file);
    if (Deno.build.os !== "windows") assert.equal((await stat(file)).mode & 0o777, 0o600);
    const loaded = await TokenIssuer.loadOrCreate(file, { issuer: "https://x.example.com" });
    assert.deepEqual(loaded.toJSON(), created.toJSON());
    assert.equal(loaded.issuer, "https://x.example.com");
    await writeFile(file, "{not json");
    await assert.rejects(TokenIssuer.loadOrCreate(file), /not valid JSON/);
  } finally {
    await rm(dir, { recursive: true });
  }
});

Deno.test("jwks publishes the public key only, as kid default", () => {
  const issuer = TokenIssuer.generate();
  const { keys } = issuer.jwks();
  assert.equal(keys.length, 1);
  const { x, y } = issuer.toJSON().controllerKey;
  assert.deepEqual(keys[0], {
    kty: "EC",
    crv: "P-256",
    x,
    y,
    kid: "default",
    alg: "ES256",
    use: "sig",
  });
  assert.equal("d" in keys[0], false);
  assert.deepEqual(issuer.discovery(), {
    issuer: DEFAULT_ISSUER,
    jwks_uri: "https://localhost:8085/jwks",
  });
});

Deno.test("issuing refuses subjects that could not be parsed back", async () => {
  const issuer = TokenIssuer.generate();
  await assert.rejects(issuer.issueIdentityToken({ ...CLIENT, name: "a:b" }), /name "a:b"/);
  await assert.rejects(issuer.issueIdentityToken({ ...CLIENT, namespace: "" }), /namespace ""/);
  await assert.rejects(
    // @ts-expect-error: a kind the type does not allow
    issuer.issueIdentityToken({ ...CLIENT, kind: "robot" }),
    /kind "robot"/,
  );
});

/** Serves `issuer`'s discovery document and JWKS over HTTP, at the issuer URL it returns. */
Deno.test("OidcVerifier maps a token of an external issuer to a prefixed user name", async () => {
  const oidc = await serveOidc((url) => TokenIssuer.generate({ issuer: url }));
  try {
    const verifier = new OidcVerifier({
      issuer: oidc.url,
      audience: "jumpstarter",
      usernamePrefix: "dex:",
    });
    const token = await oidc.issuer.issueIdentityToken(CLIENT);
    assert.equal(await verifier.verify(token), `dex:client:lab:alice:${UID}`);

    const stranger = await TokenIssuer.generate({ issuer: oidc.url }).issueIdentityToken(CLIENT);
    await refusal(verifier.verify(stranger), "bad-signature", stranger);

    const picky = new OidcVerifier({ issuer: oidc.url, audience: "other" });
    await refusal(picky.verify(token), "wrong-audience", token);

    const byEmail = new OidcVerifier({
      issuer: oidc.url,
      audience: "jumpstarter",
      usernameClaim: "email",
    });
    assert.equal(
      await refusal(byEmail.verify(token), "malformed", token),
      'token has no "email" claim for the user name',
    );

    const stale = await oidc.issuer.issueIdentityToken({ ...CLIENT, lifetimeSeconds: -60 });
    await refusal(verifier.verify(stale), "expired", stale);
  } finally {
    await oidc.close();
  }
});

Deno.test("OidcVerifier reports an unreachable issuer as a plain error", async () => {
  const oidc = await serveOidc((url) => TokenIssuer.generate({ issuer: url }));
  const token = await oidc.issuer.issueIdentityToken(CLIENT);
  const verifier = new OidcVerifier({ issuer: `${oidc.url}/nowhere`, audience: "jumpstarter" });
  try {
    const err = await verifier.verify(token).then(() => undefined, (e) => e);
    assert.ok(err instanceof Error && !(err instanceof TokenError), `${err}`);
    assert.match(err.message, /OIDC discovery at .* failed: HTTP 404/);
  } finally {
    await oidc.close();
  }
});
