package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/probes/probe"
)

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", stderr)
	cfgPath := fs.String("c", defaultConfig, "sites.yaml to check")
	effective := fs.Bool("effective", false, "print every service's effective values and where each comes from")
	if stop, code := parseFlags(fs, args); stop {
		return code
	}
	cfg, err := loadConfig(context.Background(), *cfgPath, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	n := 0
	for _, s := range cfg.Sites {
		n += len(s.Services)
		for i := range s.Services {
			if *effective {
				fmt.Fprintf(stdout, "%s %s %s\n", s.Name, s.Services[i].Type, s.Services[i].Name)
				writeEffective(stdout, &s.Services[i], "    ")
			}
		}
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
	cfg, err := loadConfig(context.Background(), *cfgPath, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "probe list: %v\n", err)
		return 3
	}
	creds := probe.NewCredentials(cfg.Credentials, nil)
	for i := range cfg.Sites {
		cs := &cfg.Sites[i]
		fmt.Fprintf(stdout, "%s (vo %s, budget %s%s)\n", cs.Name, cs.VO, cs.Budget, groupsText(cs.Groups))
		for j := range cs.Services {
			sv := &cs.Services[j]
			svc, err := plan.BuildService(cfg, cs, sv, plan.Options{RunID: engine.NewRunID(), Creds: creds})
			if err != nil {
				fmt.Fprintf(stdout, "  %-12s %s  error: %v\n", sv.Type, sv.RawURL, err)
				continue
			}
			fmt.Fprintf(stdout, "  %-12s %s  %s (timeout %s)\n", sv.Type, sv.RawURL, svc.Name, sv.Timeout)
			writeEffective(stdout, sv, "      = ")
			for _, c := range svc.Checks {
				req := ""
				if len(c.Requires) > 0 {
					req = "  needs " + strings.Join(c.Requires, ", ")
				}
				fmt.Fprintf(stdout, "      %-16s %-6s%s\n", c.ID, c.Credential, req)
			}
			fmt.Fprintf(stdout, "      %-16s %-6s  worst of the above\n", engine.SummaryID, engine.CredNone)
		}
	}
	return 0
}
