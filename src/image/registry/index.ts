export { type Challenge, parseChallenges } from "./challenge.ts";
export {
  createRegistryClient,
  type FetchedManifest,
  RegistryClient,
  type RegistryClientOptions,
} from "./client.ts";
export {
  defaultAuthFile,
  type FoundCredentials,
  findCredentials,
  type RegistryCredentials,
  registryKey,
} from "./credentials.ts";
export { type LoginOptions, type LoginResult, type LogoutResult, login, logout } from "./login.ts";
export { isProxyBypassed, proxyFor } from "./proxy.ts";
export { type ResolveRegistryOptions, resolveRegistryImage } from "./resolve.ts";
