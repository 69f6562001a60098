package faults

import "regexp"

// runIDRE is the shape engine.NewRunID produces.
var runIDRE = regexp.MustCompile(`^gp-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}$`)
