export {
  type AdvertiseSpec,
  findAddressTowardClair,
  type ListenSpec,
  parseAdvertise,
  parseListen,
} from "./address.ts";
export { explainFetchFailure } from "./diagnose.ts";
export {
  type BlobFile,
  type LayerRequestRecord,
  type LayerServer,
  type LayerServerEvent,
  type LayerServerOptions,
  type LayerStats,
  type PendingBlob,
  type RequestProblem,
  startLayerServer,
} from "./layer-server.ts";
export { type ByteRange, parseRange, type RangeDecision } from "./range.ts";
