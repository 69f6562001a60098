package config

// Internals the external tests (package config_test, which links the real
// protocol registry through probes/all) use.
var (
	ParseWith     = parse
	ParseDuration = parseDuration
	ExpandEnv     = expandEnv
	ParseSize     = parseSize
)

// CurrentCatalogue is the catalogue hook Parse uses now.
func CurrentCatalogue() Catalogue { return catalogue }
