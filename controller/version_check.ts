// Version skew between the controller and its clients and exporters: each side sends its
// version in `x-jumpstarter-version`; an incompatible peer is told both versions and what does
// not match, instead of failing in some later, vaguer way (or showing up as merely "offline").

/** The metadata key that carries a component's version. */
export const VERSION_HEADER = "x-jumpstarter-version";

function parse(version: string): [number, number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

/**
 * Why a peer of version `peer` cannot work with this controller of version `own`, or
 * undefined when it can. Peers that send no version (upstream's) are accepted. Versions are
 * compatible when their major versions agree (for 0.x, their minor versions too: before 1.0
 * a minor release may change the protocol).
 */
export function versionProblem(
  kind: "client" | "exporter",
  peer: string | null | undefined,
  own: string,
): string | undefined {
  if (!peer) return undefined;
  const theirs = parse(peer);
  const ours = parse(own);
  if (!theirs || !ours) return undefined;
  const sameSeries = theirs[0] === ours[0] && (ours[0] > 0 || theirs[1] === ours[1]);
  if (sameSeries) return undefined;
  const series = ours[0] > 0 ? `${ours[0]}.x` : `${ours[0]}.${ours[1]}.x`;
  const newer = theirs[0] > ours[0] || (theirs[0] === ours[0] && theirs[1] > ours[1]);
  return `${kind} version ${peer} does not work with controller version ${own} ` +
    `(this controller speaks to ${series}): ` +
    (newer ? "upgrade the controller" : `upgrade the ${kind}`);
}
