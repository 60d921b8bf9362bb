import type { LayerRequestRecord, LayerServer } from "./layer-server.ts";

/**
 * What the layer server saw, turned into the sentence a user needs when Clair says it could not fetch a
 * layer (DESIGN.md "Getting layers to Clair"). The server's own log tells the cases apart: no request at
 * all (Clair cannot reach the advertised address), requests it refused (a wrong path: a proxy or a stale
 * URL), a download cut short, or a download that completed (the problem is on Clair's side).
 */

function shortDigest(digest: string): string {
  const [algorithm, hex = ""] = digest.split(":");
  return `${algorithm}:${hex.slice(0, 12)}`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

function remotes(records: readonly LayerRequestRecord[]): string {
  const unique = [...new Set(records.map((r) => r.remote).filter((r) => r !== ""))];
  if (unique.length === 0) return "";
  return ` from ${unique.slice(0, 3).join(", ")}${unique.length > 3 ? ", …" : ""}`;
}

function describeCut(record: LayerRequestRecord): string {
  const of = record.total === undefined ? "" : ` of ${record.total}`;
  return `${record.bytes}${of} bytes`;
}

export function explainFetchFailure(server: LayerServer, digest: string, clairUrl: string): string {
  const { advertised, listen } = server.address;
  const short = shortDigest(digest);
  const log = server.requests();
  if (!server.sawAnyRequest()) {
    return (
      `Clair at ${clairUrl} could not reach ${advertised}; set serve.advertise to an address Clair can reach ` +
      `(the layer server listening on ${listen} saw no request at all)`
    );
  }
  const forDigest = log.filter((r) => r.digest === digest);
  const completed = forDigest.filter((r) => r.method === "GET" && r.complete && r.status < 300);
  if (completed.length > 0) {
    const bytes = completed[completed.length - 1]!.bytes;
    return (
      `the layer server sent ${short} in full (${bytes} bytes) ${plural(completed.length, "time")}` +
      `${remotes(completed)}, so the download itself worked: see Clair at ${clairUrl} (its log) for why it failed; ` +
      "a digest mismatch means the cached blob is not the one the image declares"
    );
  }
  const cut = forDigest.filter((r) => r.method === "GET" && !r.complete);
  const closed = cut.find((r) => r.problem === "closed");
  if (closed) {
    return `the layer server was closed while Clair was downloading ${short} (after ${describeCut(closed)})`;
  }
  const failed = cut.find(
    (r) => r.problem === "read-error" || r.problem === "size-mismatch" || r.problem === "blob-failed",
  );
  if (failed) {
    const why =
      failed.problem === "size-mismatch"
        ? "the cached file does not have the blob's size"
        : failed.problem === "blob-failed"
          ? "writing it into the cache failed"
          : "it could not be read from the cache";
    return `the layer server could not serve ${short} to Clair: ${why}; remove the image from the cache and push again`;
  }
  const disconnected = cut.find((r) => r.problem === "disconnected");
  if (disconnected) {
    return (
      `Clair at ${clairUrl} started downloading ${short} from ${advertised}${remotes([disconnected])} but the ` +
      `connection closed after ${describeCut(disconnected)}; check Clair's log and any proxy or timeout between them`
    );
  }
  const refusedHere = forDigest.filter((r) => r.status === 404 || r.status === 405 || r.status === 416);
  if (refusedHere.length > 0) {
    const statuses = [...new Set(refusedHere.map((r) => r.status))].join("/");
    return (
      `Clair asked the layer server for ${short}${remotes(refusedHere)} and got ${statuses}: ` +
      (refusedHere.some((r) => r.problem === "unknown-digest")
        ? "that layer is not part of this push"
        : "it must send a plain GET for the whole blob")
    );
  }
  const headOnly = forDigest.filter((r) => r.method === "HEAD");
  if (headOnly.length > 0) {
    return `Clair checked ${short} on the layer server${remotes(headOnly)} (HEAD) but never downloaded it; see Clair's log`;
  }
  const wrongPath = log.filter((r) => r.problem === "wrong-path");
  if (wrongPath.length > 0) {
    return (
      `the layer server at ${advertised} answered 404 to ${plural(wrongPath.length, "request")}` +
      `${remotes(wrongPath)} for paths outside this push (a proxy rewriting paths, or a URL from an earlier push); ` +
      "Clair must fetch the URL exactly as given: if a proxy adds a path prefix, put it in serve.advertise"
    );
  }
  const others = log.filter((r) => r.digest !== undefined && r.digest !== digest);
  return (
    `Clair at ${clairUrl} reached the layer server (${plural(others.length || log.length, "request")}` +
    `${remotes(others.length > 0 ? others : log)}) but never asked for ${short}; it may have stopped after another layer failed`
  );
}
