// The other Node versions' unit tier (test/node-versions.sh sets BZMAN_NODE_MATRIX=1): tests of
// shell scripts whose paths do not touch Node at all run on the main Node only, so the matrix
// spends its time on what a Node version can change. Each such test says so when it skips.

/**
 * A `skip` reason under the Node matrix, else false. `why` replaces the default reason (that
 * `what` does not depend on the Node version) where a part of it does and the matrix proves that
 * part itself.
 */
export function mainNodeOnly(what: string, why = "does not depend on the Node version"): string | false {
  return process.env.BZMAN_NODE_MATRIX === "1" ? `${what} ${why}; the main tier runs it` : false;
}
