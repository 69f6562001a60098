package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/leftovers"
	"github.com/gridprobe/gridprobe/probes/probe"
	"github.com/gridprobe/gridprobe/probes/registry"
)

// cmdCleanup lists the scratch directories that crashed or killed runs
// left below each storage service's write_dir and, with --older-than,
// removes those provably the probe's own (run-id name) and older than that.
func cmdCleanup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("cleanup", stderr)
	cfgPath := fs.String("c", defaultConfig, "sites.yaml to read")
	var sites listFlag
	fs.Var(&sites, "site", "only this site (repeatable, comma-separated)")
	olderThan := fs.Duration("older-than", 0, "remove leftovers older than this (e.g. 24h); 0 only lists them")
	timeout := fs.Duration("timeout", 2*time.Minute, "per service")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "probe cleanup: %v\n", err)
		return 3
	}
	creds := probe.NewCredentials(cfg.Credentials, nil)
	code := 0
	seen := map[string]bool{} // partner write_dirs visited once, whichever service names them
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		if len(sites) > 0 && !contains(sites, cs.Name) {
			continue
		}
		for _, sv := range withPartners(cs, seen) {
			if !sv.IsStorage() || sv.WriteDir == "" {
				continue
			}
			sctx, cancel := context.WithTimeout(ctx, *timeout)
			found, err := cleanService(sctx, cfg, cs, sv, creds, *olderThan)
			cancel()
			if err != nil {
				fmt.Fprintf(stderr, "%s %s: %s\n", cs.Name, sv.Name, cred.Redact(err.Error()))
				code = 3
				continue
			}
			for _, l := range found {
				state := "left over"
				switch {
				case l.Err != nil:
					state, code = "NOT removed: "+l.Err.Error(), 2
				case l.Removed:
					state = fmt.Sprintf("removed (%d objects)", l.Objects)
				case *olderThan > 0:
					state = "kept (younger than " + olderThan.String() + ")"
				}
				fmt.Fprintf(stdout, "%s %s %s  age %s  %s\n", cs.Name, sv.Name, l.Dir, l.Age.Round(time.Second), cred.Redact(state))
			}
		}
	}
	return code
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// cleanService opens the service's storage with the probe's proxy,
// through the transport its protocol registered, and finds (and with
// olderThan > 0 removes) its leftovers.
func cleanService(ctx context.Context, cfg *config.Config, cs *config.Site, sv *config.Service, creds *probe.Credentials, olderThan time.Duration) ([]leftovers.Leftover, error) {
	st, closeFn, err := registry.OpenStore(ctx, probe.Target{Config: cfg, Site: cs, Service: sv, Creds: creds})
	if err != nil {
		return nil, err
	}
	defer closeFn()
	if olderThan <= 0 {
		return leftovers.Find(ctx, st, sv.WriteDir, time.Now())
	}
	return leftovers.Clean(ctx, st, sv.WriteDir, olderThan, "", time.Now())
}
