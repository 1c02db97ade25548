package verifier

// RouteMap maps gateway routes to the feature and access level a key needs.
// Placeholder: the API-key work defines it fully.
type RouteMap struct{}
