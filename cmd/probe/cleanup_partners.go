package main

import "github.com/gridprobe/gridprobe/internal/config"

// withPartners are a site's services and, after them, the TPC partners
// they name, each as a storage service of the same type at the partner's
// URL with the partner's write_dir (the TPC checks keep a scratch area of
// their own there). A partner's write_dir is visited once per run of
// probe cleanup (seen), however many services name it.
func withPartners(cs *config.Site, seen map[string]bool) []*config.Service {
	var out []*config.Service
	for j := range cs.Services {
		out = append(out, &cs.Services[j])
	}
	for j := range cs.Services {
		sv := &cs.Services[j]
		for _, p := range sv.TPCPartners {
			key := sv.Type + " " + p.URL.String() + " " + p.WriteDir
			if p.WriteDir == "" || seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, &config.Service{Type: sv.Type, URL: p.URL, RawURL: p.RawURL, Name: "TPC partner " + p.Name,
				VO: sv.VO, ScopeBase: p.ScopeBase, WriteDir: p.WriteDir, Audience: p.Audience, Timeout: sv.Timeout})
		}
	}
	return out
}
