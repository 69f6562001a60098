package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultWNMinTokenLifetime is the least token lifetime a CE test job
// should have left when it starts on the worker node: enough to read its
// input and write its output. WLCG profile v1.1 tokens live 15 min–6 h
// (default 1 h).
const DefaultWNMinTokenLifetime = 10 * time.Minute

// wnDefaults decodes the worker-node keys of defaults
// (wn_min_token_lifetime). The mapping's shape and unknown keys are
// reported by the main pass (defaults); this one only reads its own key.
func (d *decoder) wnDefaults(root *yaml.Node, def *Defaults) {
	def.WNMinLifetime = DefaultWNMinTokenLifetime
	quiet := &decoder{file: d.file, lookup: d.lookup, seen: map[string]bool{}}
	top := quiet.mapping(root, "config", configKeys)
	if top == nil {
		return
	}
	e, ok := top.m["defaults"]
	if !ok {
		return
	}
	f := quiet.mapping(e.val, "defaults", defaultsKeys)
	if f == nil {
		return
	}
	d.duration(f, "wn_min_token_lifetime", &def.WNMinLifetime, true)
}
