package authz

// FeatureMap says which Kubernetes resources each feature of the permission
// matrix governs. Placeholder: the tenancy work defines it fully.
type FeatureMap struct{}
