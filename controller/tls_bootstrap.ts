// The controller's TLS material, made on its first start so that a fresh controller serves TLS
// without anyone running openssl: a private CA (ca.crt, ca.key) and a server certificate it signs
// (server.crt, server.key), all in one directory.
//
// The CA is made once and then kept: clients are told to trust ca.crt, so replacing it would cut
// them all off. The server certificate is derived material, re-issued from the CA whenever it no
// longer fits: a host it lacks, expiry within 30 days, a key that is not its own (a stop between
// writing server.key and server.crt), or an issuer other than the CA (an operator put their own
// CA in place).
//
// Only web crypto and pure-JS code: the controller ships as one binary in a distroless image,
// where there is no openssl to call.

// Must come before @peculiar/x509: the tsyringe registry inside it needs Reflect.getMetadata.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { isIP } from "node:net";
import { basename, dirname, join, resolve } from "node:path";

/** The PEMs and file paths of the controller's CA and server certificate. */
export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  /** True when anything was written: a new CA, or a new or re-issued server certificate. */
  created: boolean;
}

export interface TlsOptions {
  /** Names and IP addresses the server certificate must cover, besides the local ones. */
  hosts: string[];
  /** The time certificates are issued and checked against (tests move it). */
  now?: Date;
}

const CA_SUBJECT = "CN=Jumpstarter controller CA";
const SERVER_SUBJECT = "CN=Jumpstarter controller";
const DAY_MS = 24 * 60 * 60 * 1000;
const CA_LIFETIME_MS = 3650 * DAY_MS;
const SERVER_LIFETIME_MS = 730 * DAY_MS;
const RENEW_BEFORE_MS = 30 * DAY_MS;
// Certificates start an hour early so that clients whose clocks lag a little accept them.
const BACKDATE_MS = 60 * 60 * 1000;
// Local clients (the CLI on the controller's host, health checks) connect by these.
const LOCAL_HOSTS = ["localhost", "127.0.0.1", "::1"];
const EC_KEY = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING = { name: "ECDSA", hash: "SHA-256" };
const DNS_NAME = /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

interface Paths {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

/** A certificate with its private key, parsed, and the PEM texts they came from. */
interface KeyedCert {
  cert: x509.X509Certificate;
  key: CryptoKey;
  certPem: string;
  keyPem: string;
}

interface SanName {
  type: "dns" | "ip";
  value: string;
}

/**
 * Loads the controller's CA and server certificate from `dir`, making whatever is missing and
 * re-issuing the server certificate from the existing CA when it does not fit `hosts` or is
 * about to expire.
 *
 * @example
 * ```ts
 * const tls = await ensureTlsMaterial("/data/tls", { hosts: ["controller.lab.example"] });
 * if (tls.created) console.log(`CA fingerprint ${caFingerprint(tls.caPem)}`);
 * ```
 */
export async function ensureTlsMaterial(dir: string, options: TlsOptions): Promise<TlsMaterial> {
  const now = options.now ?? new Date();
  const names = sanNames(options.hosts);
  const paths = tlsPaths(resolve(dir));
  await ensureDir(dirname(paths.caCert));
  let created = false;
  let ca = await loadCa(paths);
  if (ca === undefined) {
    ca = await createCa(now);
    await writePair(paths.caCert, paths.caKey, ca);
    created = true;
  }
  let server = await loadServer(paths);
  if (server === undefined || await needsReissue(server, ca, names, now)) {
    server = await issueServer(ca, names, now);
    await writePair(paths.serverCert, paths.serverKey, server);
    created = true;
  }
  return {
    caPem: ca.certPem,
    certPem: server.certPem,
    keyPem: server.keyPem,
    caPath: paths.caCert,
    certPath: paths.serverCert,
    keyPath: paths.serverKey,
    created,
  };
}

/** The SHA-256 fingerprint of a PEM certificate, as openssl shows it ("AB:CD:..."). */
export function caFingerprint(caPem: string): string {
  const der = pemBody(caPem, "CERTIFICATE");
  if (der === undefined) throw new Error("controller TLS: CA fingerprint: not a PEM certificate");
  const hex = createHash("sha256").update(der).digest("hex").toUpperCase();
  return hex.match(/../g)!.join(":");
}

function tlsPaths(dir: string): Paths {
  return {
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    serverCert: join(dir, "server.crt"),
    serverKey: join(dir, "server.key"),
  };
}

/** The SAN entries for `hosts` plus the local ones, normalized and without duplicates. */
function sanNames(hosts: string[]): SanName[] {
  const names = new Map<string, SanName>();
  for (const host of [...LOCAL_HOSTS, ...hosts]) {
    const name = sanName(host);
    names.set(`${name.type}:${name.value}`, name);
  }
  return [...names.values()];
}

function sanName(host: string): SanName {
  const bare = host.trim().replace(/^\[(.*)\]$/, "$1");
  if (isIP(bare) !== 0) return { type: "ip", value: normalizeIp(bare) };
  const name = bare.toLowerCase().replace(/\.$/, "");
  if (DNS_NAME.test(name)) return { type: "dns", value: name };
  throw new Error(
    `controller TLS: host ${JSON.stringify(host)} is neither an IP address nor a name`,
  );
}

// One spelling per address, so that "::1" asked for matches "0:0:0:0:0:0:0:1" read back from a
// certificate; the URL parser's IPv6 form also has no dotted tail, which @peculiar/x509 rejects.
function normalizeIp(ip: string): string {
  return isIP(ip) === 6 ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}

async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw tlsError(dir, `cannot create the directory: ${message(err)}`);
  }
}

/** The CA, or undefined when there is none yet. */
async function loadCa(paths: Paths): Promise<KeyedCert | undefined> {
  const certPem = await readOptional(paths.caCert);
  // Without ca.crt no client can trust this CA yet (a first start stopped after writing ca.key),
  // so a new one may replace it.
  if (certPem === undefined) return undefined;
  const keyPem = await readOptional(paths.caKey);
  if (keyPem === undefined) {
    throw tlsError(paths.caKey, "missing, but ca.crt exists (certificates cannot be issued)");
  }
  const ca = await parsePair(paths.caCert, certPem, paths.caKey, keyPem);
  if (!await keyMatches(ca.key, ca.cert)) throw tlsError(paths.caKey, "does not belong to ca.crt");
  return ca;
}

/** The server certificate and key, or undefined when either is missing. */
async function loadServer(paths: Paths): Promise<KeyedCert | undefined> {
  const certPem = await readOptional(paths.serverCert);
  const keyPem = await readOptional(paths.serverKey);
  if (certPem === undefined || keyPem === undefined) return undefined;
  return await parsePair(paths.serverCert, certPem, paths.serverKey, keyPem);
}

async function parsePair(
  certPath: string,
  certPem: string,
  keyPath: string,
  keyPem: string,
): Promise<KeyedCert> {
  return {
    cert: parseCert(certPath, certPem),
    key: await parseKey(keyPath, keyPem),
    certPem,
    keyPem,
  };
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if ((err as { code?: string }).code === "ENOENT") return undefined;
    throw tlsError(path, `cannot read: ${message(err)}`);
  }
}

function parseCert(path: string, pem: string): x509.X509Certificate {
  const der = pemBody(pem, "CERTIFICATE");
  if (der === undefined) throw tlsError(path, "not a PEM certificate");
  try {
    return new x509.X509Certificate(der);
  } catch (err) {
    throw tlsError(path, `damaged certificate: ${message(err)}`);
  }
}

async function parseKey(path: string, pem: string): Promise<CryptoKey> {
  const der = pemBody(pem, "PRIVATE KEY");
  if (der === undefined) throw tlsError(path, "not a PEM private key");
  try {
    // Extractable only so that keyMatches can compare it with a certificate's public key.
    return await crypto.subtle.importKey("pkcs8", der, EC_KEY, true, ["sign"]);
  } catch (err) {
    throw tlsError(path, `not an ECDSA P-256 PKCS#8 key: ${message(err)}`);
  }
}

/** The DER inside the first `label` block of `pem`, or undefined when there is none. */
function pemBody(pem: string, label: string): Uint8Array<ArrayBuffer> | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`)
    .exec(pem);
  if (match === null) return undefined;
  const der = Buffer.from(match[1].replace(/\s+/g, ""), "base64");
  return der.length > 0 ? new Uint8Array(der) : undefined;
}

async function keyMatches(key: CryptoKey, cert: x509.X509Certificate): Promise<boolean> {
  try {
    const publicKey = await cert.publicKey.export();
    const [mine, theirs] = await Promise.all([
      crypto.subtle.exportKey("jwk", key),
      crypto.subtle.exportKey("jwk", publicKey),
    ]);
    return mine.x !== undefined && mine.x === theirs.x && mine.y === theirs.y;
  } catch {
    return false; // not even the same kind of key
  }
}

async function needsReissue(
  server: KeyedCert,
  ca: KeyedCert,
  names: SanName[],
  now: Date,
): Promise<boolean> {
  const { cert } = server;
  if (cert.notAfter.getTime() - now.getTime() < RENEW_BEFORE_MS) return true;
  if (cert.notBefore.getTime() > now.getTime()) return true;
  if (!covers(cert, names)) return true;
  if (!await issuedBy(cert, ca.cert)) return true;
  return !await keyMatches(server.key, cert);
}

function covers(cert: x509.X509Certificate, names: SanName[]): boolean {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  const present = new Set<string>();
  for (const { type, value } of san?.names.items ?? []) {
    if (type === "dns") present.add(`dns:${value.toLowerCase()}`);
    if (type === "ip") present.add(`ip:${normalizeIp(value)}`);
  }
  return names.every((name) => present.has(`${name.type}:${name.value}`));
}

async function issuedBy(cert: x509.X509Certificate, ca: x509.X509Certificate): Promise<boolean> {
  try {
    return await cert.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}

async function createCa(now: Date): Promise<KeyedCert> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: CA_SUBJECT,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + CA_LIFETIME_MS),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      // Path length 0: this CA signs server certificates only, never another CA.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return await keyedCert(cert, keys.privateKey);
}

async function issueServer(ca: KeyedCert, names: SanName[], now: Date): Promise<KeyedCert> {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: SERVER_SUBJECT,
    issuer: ca.cert.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter: new Date(now.getTime() + SERVER_LIFETIME_MS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...authorityKeyId(ca.cert),
    ],
  });
  return await keyedCert(cert, keys.privateKey);
}

// Taken from the CA's own extension rather than recomputed: a CA made elsewhere may derive its
// key identifier differently, and a mismatch would stop verifiers from finding the issuer.
function authorityKeyId(ca: x509.X509Certificate): x509.Extension[] {
  const keyId = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  return keyId === undefined ? [] : [new x509.AuthorityKeyIdentifierExtension(keyId)];
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"]) as CryptoKeyPair;
}

async function keyedCert(cert: x509.X509Certificate, key: CryptoKey): Promise<KeyedCert> {
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", key);
  return {
    cert,
    key,
    certPem: `${cert.toString("pem")}\n`,
    keyPem: `${x509.PemConverter.encode(pkcs8, "PRIVATE KEY")}\n`,
  };
}

// 16 random bytes with the top bit clear and the next one set: a positive DER integer without
// padding, of the same length every time (RFC 5280 wants positive and at most 20 octets).
function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] & 0x7f) | 0x40;
  return Buffer.from(bytes).toString("hex");
}

// The key first, so that a stop between the two writes leaves something the next start repairs:
// a key without a certificate, or a new key beside the old certificate. The other order could
// leave a ca.crt that clients already trust without the key that signs with it.
async function writePair(certPath: string, keyPath: string, pair: KeyedCert): Promise<void> {
  await writeAtomically(keyPath, pair.keyPem, 0o600);
  await writeAtomically(certPath, pair.certPem, 0o644);
}

/** Writes `text` to `path` through a temporary file in the same directory and a rename. */
async function writeAtomically(path: string, text: string, mode: number): Promise<void> {
  const suffix = Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("hex");
  const temp = join(dirname(path), `.${basename(path)}.${suffix}.tmp`);
  try {
    // Created with its final mode so that a key is never readable by others, even briefly.
    const file = await open(temp, "wx", mode);
    try {
      await file.writeFile(text);
      await file.sync();
    } finally {
      await file.close();
    }
    await chmod(temp, mode); // the umask may have taken bits away
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw tlsError(path, `cannot write: ${message(err)}`);
  }
}

function tlsError(path: string, cause: string): Error {
  return new Error(`controller TLS: ${path}: ${cause.replace(/\s+/g, " ").trim()}`);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
