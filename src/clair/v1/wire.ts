/** Wire shapes of the v1 API (Clair 1.x/2.x `api/v1/models.go`); PascalCase keys, every field omitempty. */

export interface NamespaceWire {
  Name: string;
  VersionFormat?: string;
}

/** `GET /v1/namespaces`. */
export interface NamespacesEnvelope {
  Namespaces?: NamespaceWire[] | null;
  Error?: { Message?: string };
}
