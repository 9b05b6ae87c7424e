// Reads certificates and keys given the ways configs give them: a PEM text, a base64-encoded
// PEM (what upstream's `tls.ca` holds), or a path to a PEM file.

import { Buffer } from "node:buffer";
import { readFileSync } from "node:fs";
import { CertificateError } from "./errors.ts";

const PEM_BEGIN = "-----BEGIN ";

/**
 * Returns PEM text from inline PEM, base64 of PEM, or a file path.
 *
 * @example
 * ```ts
 * const ca = readPem(config.tls.ca, "CA certificate");
 * ```
 */
export function readPem(value: string, what: string): string {
  const text = value.trim();
  if (text === "") throw new CertificateError(what, "empty value");
  if (text.includes(PEM_BEGIN)) return text;
  if (/^[A-Za-z0-9+/=\s]+$/.test(text) && text.length >= 64) {
    const decoded = Buffer.from(text, "base64").toString("utf8");
    if (decoded.includes(PEM_BEGIN)) return decoded;
  }
  let content: string;
  try {
    content = readFileSync(text, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    const reason = code === "ENOENT"
      ? `no such file ${text} (expected a PEM file path, PEM text or base64-encoded PEM)`
      : `cannot read ${text}: ${(err as Error).message}`;
    throw new CertificateError(what, reason, { cause: err });
  }
  if (!content.includes(PEM_BEGIN)) {
    throw new CertificateError(what, `${text} holds no PEM block ("${PEM_BEGIN}...")`);
  }
  return content;
}
