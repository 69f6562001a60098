package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/policy"
	"github.com/gridprobe/gridprobe/internal/round"
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
	sites, err := round.Catalogue(cfg)
	if err != nil {
		fmt.Fprintf(stdout, "error: %v\n", err)
	}
	for i, site := range sites {
		cs := &cfg.Sites[i]
		fmt.Fprintf(stdout, "%s (vo %s, budget %s%s)\n", cs.Name, cs.VO, cs.Budget, groupsText(cs.Groups))
		for j := range cs.Services {
			sv := &cs.Services[j]
			svc := serviceNamed(site, sv.Name)
			if svc == nil {
				continue // could not be built: the error above says why
			}
			fmt.Fprintf(stdout, "  %-12s %s  %s (timeout %s)\n", svc.Protocol, svc.URL, svc.Name, svc.Timeout)
			writeEffective(stdout, sv, "      = ")
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

// serviceNamed is the site's service of that name (nil: none).
func serviceNamed(site *engine.Site, name string) *engine.Service {
	for _, svc := range site.Services {
		if svc.Name == name {
			return svc
		}
	}
	return nil
}
