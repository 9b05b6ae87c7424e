// The controller's TLS material, checked with tools that share no code with the generator:
// node:crypto's X509Certificate, the openssl CLI and a real TLS handshake over node:tls.

import { strict as assert } from "node:assert";
import { spawnSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type ConnectionOptions, createServer, type Server } from "node:tls";
import { ignoreUnlessInstalled, toolMissing } from "../tests/fixtures/optional_tools.ts";
import { withTempDir } from "../tests/fixtures/temp_dir.ts";
import { caFingerprint, ensureTlsMaterial } from "./tls_bootstrap.ts";

const HOSTS = ["lab.example.com", "10.1.2.3"];
const DAY_MS = 24 * 60 * 60 * 1000;

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

Deno.test(
  "ensureTlsMaterial creates the CA and server files with private modes, then loads them",
  withTempDir(async (tmp) => {
    const dir = join(tmp, "tls");
    const first = await ensureTlsMaterial(dir, { hosts: HOSTS });
    assert.equal(first.created, true);
    assert.equal(mode(dir), 0o700);
    assert.equal(mode(join(dir, "ca.key")), 0o600);
    assert.equal(mode(join(dir, "server.key")), 0o600);
    assert.equal(mode(first.caPath), 0o644);
    assert.equal(mode(first.certPath), 0o644);
    assert.equal(first.keyPath, join(dir, "server.key"));
    assert.deepEqual(readdirSync(dir).sort(), ["ca.crt", "ca.key", "server.crt", "server.key"]);
    assert.match(first.keyPem, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(readFileSync(join(dir, "ca.key"), "utf8"), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(first.caPem, /^-----BEGIN CERTIFICATE-----\n/);
    assert.equal(readFileSync(first.certPath, "utf8"), first.certPem);

    const second = await ensureTlsMaterial(dir, { hosts: HOSTS });
    assert.equal(second.created, false);
    assert.equal(second.caPem, first.caPem);
    assert.equal(second.certPem, first.certPem);
    assert.equal(second.keyPem, first.keyPem);
  }),
);

Deno.test(
  "node:crypto: the server certificate verifies against the CA and covers every host",
  withTempDir(async (dir) => {
    const tls = await ensureTlsMaterial(dir, { hosts: HOSTS });
    const ca = new X509Certificate(tls.caPem);
    const server = new X509Certificate(tls.certPem);
    assert.equal(ca.ca, true);
    assert.equal(server.ca, false);
    assert.equal(ca.subject, "CN=Jumpstarter controller CA");
    assert.equal(server.verify(ca.publicKey), true);
    assert.equal(server.checkIssued(ca), true);
    assert.equal(server.checkHost("localhost"), "localhost");
    assert.equal(server.checkHost("lab.example.com"), "lab.example.com");
    assert.equal(server.checkHost("other.example.com"), undefined);
    assert.equal(server.checkIP("127.0.0.1"), "127.0.0.1");
    assert.equal(server.checkIP("::1"), "::1");
    assert.equal(server.checkIP("10.1.2.3"), "10.1.2.3");
    assert.equal(server.checkIP("10.1.2.4"), undefined);
    const years = (d: string) => (Date.parse(d) - Date.now()) / (365 * DAY_MS);
    assert.ok(Math.abs(years(ca.validTo) - 10) < 0.1, ca.validTo);
    assert.ok(Math.abs(years(server.validTo) - 2) < 0.1, server.validTo);
    assert.equal(caFingerprint(tls.caPem), ca.fingerprint256);
  }),
);

const opensslMissing = toolMissing("openssl");

function openssl(...args: string[]): string {
  const run = spawnSync("openssl", args, { encoding: "utf8" });
  assert.equal(run.status, 0, `openssl ${args.join(" ")}: ${run.stderr}`);
  return run.stdout;
}

Deno.test({
  name: `openssl verifies the server certificate against ca.crt${
    opensslMissing ? ` (ignored: ${opensslMissing})` : ""
  }`,
  ignore: ignoreUnlessInstalled(opensslMissing),
  fn: withTempDir(async (dir) => {
    const tls = await ensureTlsMaterial(dir, { hosts: HOSTS });
    const verified = openssl(
      "verify",
      "-CAfile",
      tls.caPath,
      "-purpose",
      "sslserver",
      tls.certPath,
    );
    assert.match(verified, /: OK$/m);
    assert.match(
      openssl("x509", "-in", tls.certPath, "-noout", "-checkhost", "lab.example.com"),
      /does match/,
    );
    assert.match(
      openssl("x509", "-in", tls.certPath, "-noout", "-checkip", "10.1.2.3"),
      /does match/,
    );
    const caText = openssl("x509", "-in", tls.caPath, "-noout", "-text");
    assert.match(caText, /Basic Constraints: critical\s+CA:TRUE/);
    assert.match(caText, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(caText, /NIST CURVE: P-256/);
    const serverText = openssl("x509", "-in", tls.certPath, "-noout", "-text");
    assert.match(serverText, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(serverText, /Extended Key Usage: \s*TLS Web Server Authentication/);
    assert.match(serverText, /IP Address:0:0:0:0:0:0:0:1/);
    // Both keys are PKCS#8 that openssl reads as P-256 keys.
    for (const key of [join(dir, "ca.key"), tls.keyPath]) {
      assert.match(openssl("pkey", "-in", key, "-noout", "-text"), /NIST CURVE: P-256/);
    }
    const fingerprint = openssl("x509", "-in", tls.caPath, "-noout", "-fingerprint", "-sha256");
    assert.equal(fingerprint.trim(), `sha256 Fingerprint=${caFingerprint(tls.caPem)}`);
  }),
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      assert.ok(address !== null && typeof address === "object");
      resolve(address.port);
    });
  });
}

/** Connects, and reports what the client made of the server's certificate. */
function handshake(
  options: ConnectionOptions,
): Promise<{ authorized: boolean; authorizationError?: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", ...options }, () => {
      const result = {
        authorized: socket.authorized,
        authorizationError: socket.authorizationError?.toString(),
      };
      socket.end();
      socket.once("close", () => resolve(result));
    });
    socket.once("error", reject);
  });
}

Deno.test(
  "a TLS client trusting only ca.crt accepts the server; the default trust store does not",
  withTempDir(async (dir) => {
    const tls = await ensureTlsMaterial(dir, { hosts: HOSTS });
    const server = createServer({ cert: tls.certPem, key: tls.keyPem }, (socket) => socket.end());
    const port = await listen(server);
    try {
      // rejectUnauthorized stays on: the callback only runs once chain and host both check out.
      const byName = await handshake({ port, ca: tls.caPem, servername: "localhost" });
      assert.equal(byName.authorized, true);
      const byIp = await handshake({ port, ca: tls.caPem });
      assert.equal(byIp.authorized, true);
      await assert.rejects(
        handshake({ port, ca: tls.caPem, servername: "other.example.com" }),
        /other\.example\.com/,
      );
      const untrusted = await handshake({
        port,
        servername: "localhost",
        rejectUnauthorized: false,
      });
      assert.equal(untrusted.authorized, false);
      assert.ok(untrusted.authorizationError, "the default trust store names a reason");
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  }),
);

Deno.test(
  "asking for a new host re-issues the server certificate only, from the same CA",
  withTempDir(async (dir) => {
    const first = await ensureTlsMaterial(dir, { hosts: HOSTS });
    const caKey = readFileSync(join(dir, "ca.key"), "utf8");
    const second = await ensureTlsMaterial(dir, { hosts: [...HOSTS, "new.example.com"] });
    assert.equal(second.created, true);
    assert.equal(second.caPem, first.caPem);
    assert.equal(readFileSync(join(dir, "ca.key"), "utf8"), caKey);
    assert.notEqual(second.certPem, first.certPem);
    assert.notEqual(second.keyPem, first.keyPem);
    const server = new X509Certificate(second.certPem);
    assert.equal(server.verify(new X509Certificate(first.caPem).publicKey), true);
    assert.equal(server.checkHost("new.example.com"), "new.example.com");
    assert.equal(server.checkHost("lab.example.com"), "lab.example.com");
    // Hosts already covered, or spelled differently, change nothing.
    for (const hosts of [["LAB.example.com."], ["[0:0::1]", "new.example.com", "10.1.2.3"]]) {
      const again = await ensureTlsMaterial(dir, { hosts });
      assert.equal(again.created, false, hosts.join(" "));
    }
  }),
);

Deno.test(
  "a server certificate within 30 days of expiry is re-issued from the same CA",
  withTempDir(async (dir) => {
    const issued = new Date(Date.now() - 710 * DAY_MS);
    const old = await ensureTlsMaterial(dir, { hosts: HOSTS, now: issued });
    const kept = await ensureTlsMaterial(dir, {
      hosts: HOSTS,
      now: new Date(Date.now() - DAY_MS * 690),
    });
    assert.equal(kept.created, false);
    const renewed = await ensureTlsMaterial(dir, { hosts: HOSTS });
    assert.equal(renewed.created, true);
    assert.equal(renewed.caPem, old.caPem);
    const validTo = Date.parse(new X509Certificate(renewed.certPem).validTo);
    assert.ok(validTo > Date.now() + 700 * DAY_MS, new Date(validTo).toISOString());
  }),
);

Deno.test(
  "a server key that is not the certificate's own (a stop mid-write) gets a new pair",
  withTempDir(async (dir) => {
    const first = await ensureTlsMaterial(dir, { hosts: HOSTS });
    writeFileSync(first.keyPath, readFileSync(join(dir, "ca.key")));
    const second = await ensureTlsMaterial(dir, { hosts: HOSTS });
    assert.equal(second.created, true);
    assert.equal(second.caPem, first.caPem);
    assert.notEqual(second.keyPem, readFileSync(join(dir, "ca.key"), "utf8"));
  }),
);

Deno.test(
  "a damaged key file gives a one-line error naming the file",
  withTempDir(async (dir) => {
    const tls = await ensureTlsMaterial(dir, { hosts: HOSTS });
    const caKey = join(dir, "ca.key");
    writeFileSync(caKey, "garbage\n");
    await assert.rejects(ensureTlsMaterial(dir, { hosts: HOSTS }), {
      message: `controller TLS: ${caKey}: not a PEM private key`,
    });
    writeFileSync(caKey, tls.keyPem); // a key, but not the CA's
    await assert.rejects(ensureTlsMaterial(dir, { hosts: HOSTS }), {
      message: `controller TLS: ${caKey}: does not belong to ca.crt`,
    });
    writeFileSync(caKey, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
    await assert.rejects(ensureTlsMaterial(dir, { hosts: HOSTS }), (err: Error) => {
      assert.ok(
        err.message.startsWith(`controller TLS: ${caKey}: not an ECDSA P-256`),
        err.message,
      );
      assert.ok(!err.message.includes("\n"), err.message);
      return true;
    });
  }),
);

Deno.test(
  "a damaged certificate or a CA certificate without its key is an error, not a new CA",
  withTempDir(async (dir) => {
    const tls = await ensureTlsMaterial(dir, { hosts: HOSTS });
    const caPem = tls.caPem;
    writeFileSync(tls.caPath, caPem.replace(/^(-----BEGIN CERTIFICATE-----\n.{20})/, "$1AAAA"));
    await assert.rejects(ensureTlsMaterial(dir, { hosts: HOSTS }), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(`^controller TLS: ${tls.caPath}: damaged certificate: `),
      );
      assert.ok(!err.message.includes("\n"), err.message);
      return true;
    });
    writeFileSync(tls.caPath, caPem);
    rmSync(join(dir, "ca.key"));
    await assert.rejects(ensureTlsMaterial(dir, { hosts: HOSTS }), {
      message: `controller TLS: ${join(dir, "ca.key")}: missing, but ca.crt exists ` +
        "(certificates cannot be issued)",
    });
    assert.equal(readFileSync(tls.caPath, "utf8"), caPem);
  }),
);

Deno.test("a host that is neither an address nor a name is refused", async () => {
  await assert.rejects(ensureTlsMaterial("/nonexistent", { hosts: ["bad host"] }), {
    message: 'controller TLS: host "bad host" is neither an IP address nor a name',
  });
});

Deno.test(
  "a CA key without ca.crt (a first start cut short) gives a new CA and a server cert from it",
  withTempDir(async (dir) => {
    const first = await ensureTlsMaterial(dir, { hosts: HOSTS });
    rmSync(first.caPath);
    const second = await ensureTlsMaterial(dir, { hosts: HOSTS });
    assert.equal(second.created, true);
    assert.notEqual(second.caPem, first.caPem);
    const server = new X509Certificate(second.certPem);
    assert.equal(server.verify(new X509Certificate(second.caPem).publicKey), true);
  }),
);
