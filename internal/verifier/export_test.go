package verifier

// WatchList makes a verifier's first load of its APIKeys a watch-list, the
// way it loads after a list fails, so that tests cover both ways of starting.
func WatchList(o *Options) { o.watchList = true }
