package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/policy"
	"github.com/gridprobe/gridprobe/probes/probe"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", stderr)
	cfgPath := fs.String("c", defaultConfig, "sites.yaml to check")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	n := 0
	for _, s := range cfg.Sites {
		n += len(s.Services)
	}
	fmt.Fprintf(stdout, "%s: OK (%d sites, %d services)\n", *cfgPath, len(cfg.Sites), n)
	return 0
}

func cmdList(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("list", stderr)
	cfgPath := fs.String("c", defaultConfig, "sites.yaml to read")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "probe list: %v\n", err)
		return 3
	}
	creds := probe.NewCredentials(cfg.Credentials, nil)
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		fmt.Fprintf(stdout, "%s (vo %s, budget %s)\n", cs.Name, cs.VO, cs.Budget)
		for j := range cs.Services {
			sv := &cs.Services[j]
			svc, err := plan.BuildService(cfg, cs, sv, plan.Options{RunID: engine.NewRunID(), Creds: creds})
			if err != nil {
				fmt.Fprintf(stdout, "  %-12s %s  error: %v\n", sv.Type, sv.RawURL, err)
				continue
			}
			fmt.Fprintf(stdout, "  %-12s %s  %s (timeout %s)\n", sv.Type, sv.RawURL, svc.Name, sv.Timeout)
			pol := policy.Resolve(cfg.Summary(sv), svc.Checks)
			for _, c := range svc.Checks {
				req := ""
				if len(c.Requires) > 0 {
					req = "  needs " + strings.Join(c.Requires, ", ")
				}
				fmt.Fprintf(stdout, "      %-16s %-6s%s%s\n", c.ID, c.Credential, req, roleNote(pol, c.ID))
			}
			fmt.Fprintf(stdout, "      %-16s %-6s  %s\n", engine.SummaryID, engine.CredNone, summaryNote(cfg.Summary(sv), pol))
		}
	}
	return 0
}
