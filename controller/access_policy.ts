// Access policies as upstream writes them: ExporterAccessPolicy manifests (jumpstarter.dev/
// v1alpha1), so that the same YAML serves the embedded controller and Kubernetes. Read here into
// store records, with every mistake named by file and field.

import { LineCounter, parseAllDocuments } from "yaml";
import { collectionKeyProblem, ConfigError } from "../config/mod.ts";
import { matchesSelector, normalizeSelector, SelectorError } from "./selector.ts";
import type { AccessPolicyRecord, LabelSelector } from "./store/mod.ts";

const GO_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds of a Go duration string (`2h`, `1h30m`, `90s`), as CRDs spell durations. */
export function parseGoDuration(text: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    ms += Number(amount) * GO_UNITS[unit];
  }
  return ms;
}

/** Throws the ConfigError of `path`: `cause`. */
type Fail = (path: string, cause: string) => never;

function objectAt(value: unknown, path: string, fail: Fail): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    fail(path, "must be a mapping");
  }
  return value as Record<string, unknown>;
}

function selectorAt(value: unknown, path: string, fail: Fail): LabelSelector {
  try {
    return normalizeSelector(value ?? {});
  } catch (err) {
    if (err instanceof SelectorError) fail(path, err.message);
    throw err;
  }
}

/**
 * The ExporterAccessPolicy documents of `text` (one or several, `---` separated). Documents of
 * other kinds are refused. `defaultNamespace` applies where metadata has none.
 */
export function parseAccessPolicies(
  text: string,
  file: string,
  defaultNamespace = "default",
): AccessPolicyRecord[] {
  const records: AccessPolicyRecord[] = [];
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  if (!Array.isArray(docs)) throw new ConfigError(file, "", "not YAML documents");
  docs.forEach((doc, index) => {
    const where = docs.length > 1 ? `document ${index + 1}` : "";
    const fail: Fail = (path, cause) => {
      throw new ConfigError(file, [where, path].filter(Boolean).join(": "), cause);
    };
    if (doc.errors.length) fail("", doc.errors[0].message.split("\n")[0]);
    const keyProblem = collectionKeyProblem(doc, lines);
    if (keyProblem) fail("", keyProblem);
    let data: unknown;
    try {
      data = doc.toJS();
    } catch (err) {
      // yaml refuses an alias bomb (and overdeep data) with a ReferenceError or RangeError.
      fail("", err instanceof Error ? err.message.split("\n")[0] : String(err));
    }
    if (data === null || data === undefined) return;
    const top = objectAt(data, "", fail);
    if (top.kind !== "ExporterAccessPolicy") {
      fail("kind", `"${top.kind}" is not ExporterAccessPolicy (the only kind applied here)`);
    }
    const metadata = objectAt(top.metadata ?? {}, "metadata", fail);
    const name = metadata.name;
    if (typeof name !== "string" || name === "") fail("metadata.name", "is required");
    const spec = objectAt(top.spec ?? {}, "spec", fail);
    const rules = spec.policies ?? [];
    if (!Array.isArray(rules)) fail("spec.policies", "must be a list");
    records.push({
      namespace: typeof metadata.namespace === "string" ? metadata.namespace : defaultNamespace,
      name: name as string,
      exporterSelector: selectorAt(spec.exporterSelector, "spec.exporterSelector", fail),
      policies: (rules as unknown[]).map((raw, i) => policyRule(raw, `spec.policies[${i}]`, fail)),
    });
  });
  return records;
}

function policyRule(
  raw: unknown,
  path: string,
  fail: Fail,
): AccessPolicyRecord["policies"][number] {
  const rule = objectAt(raw, path, fail);
  const priority = rule.priority ?? 0;
  if (!Number.isInteger(priority)) fail(`${path}.priority`, "must be a whole number");
  let maximumDurationMs: number | undefined;
  if (rule.maximumDuration !== undefined) {
    maximumDurationMs = parseGoDuration(String(rule.maximumDuration));
    if (maximumDurationMs === undefined || maximumDurationMs <= 0) {
      fail(`${path}.maximumDuration`, `"${rule.maximumDuration}" is not a duration like 2h or 90m`);
    }
  }
  const from = rule.from ?? [];
  if (!Array.isArray(from)) fail(`${path}.from`, "must be a list");
  return {
    description: typeof rule.description === "string" ? rule.description : undefined,
    priority: priority as number,
    from: (from as unknown[]).map((f, i) => ({
      clientSelector: selectorAt(
        objectAt(f, `${path}.from[${i}]`, fail).clientSelector,
        `${path}.from[${i}].clientSelector`,
        fail,
      ),
    })),
    maximumDurationMs,
    spotAccess: rule.spotAccess === true,
  };
}

/**
 * The longest lease the policies allow a client with `clientLabels` on an exporter with
 * `exporterLabels`: Infinity without policies or without a limit in the best rule, 0 when no
 * rule admits the client at all.
 */
export function longestAllowedMs(
  policies: AccessPolicyRecord[],
  exporterLabels: Record<string, string>,
  clientLabels: Record<string, string>,
): number {
  if (policies.length === 0) return Infinity;
  let longest = 0;
  for (const policy of policies) {
    if (!matchesSelector(policy.exporterSelector, exporterLabels)) continue;
    for (const rule of policy.policies) {
      if (!rule.from.some((f) => matchesSelector(f.clientSelector, clientLabels))) continue;
      longest = Math.max(longest, rule.maximumDurationMs ?? Infinity);
    }
  }
  return longest;
}
