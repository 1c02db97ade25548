package verifier

// ListOnly makes a verifier load its APIKeys with a paged list, the fallback
// of the watch-list, so that tests cover both ways of starting.
func ListOnly(o *Options) { o.listOnly = true }
