package storage

import (
	"context"
	"slices"
	"strconv"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// Check ids of the rulebook (ETF numbering; the id is the service-name
// suffix).
const (
	IDCrtRead      = "4crt-read"
	IDCrtContain   = "5crt-contain"
	IDCrtAccess    = "6crt-access"
	IDCrtWrite     = "7crt-write"
	IDCrtDirectory = "8crt-directory"
	IDTknRead      = "14tkn-read"
	IDTknContain   = "15tkn-contain"
	IDTknAccess    = "16tkn-access"
	IDTknWrite     = "17tkn-write"
	IDTknDirectory = "18tkn-directory"
)

// rule is one storage check of the rulebook: what it runs and the shell
// lines that reproduce it.
type rule struct {
	id    string
	cred  string
	run   func(b *Book, ctx context.Context, env *engine.Env) engine.Outcome
	repro func(b *Book) []string
}

// rules is the rulebook's catalogue, in ETF order.
var rules = []rule{
	{IDCrtRead, engine.CredX509, (*Book).crtRead, (*Book).reproCrtRead},
	{IDCrtContain, engine.CredX509, (*Book).crtContain, (*Book).reproCrtContain},
	{IDCrtAccess, engine.CredX509, (*Book).crtAccess, (*Book).reproCrtAccess},
	{IDCrtWrite, engine.CredX509, (*Book).crtWrite, (*Book).reproCrtWrite},
	{IDCrtDirectory, engine.CredX509, (*Book).crtDirectory, (*Book).reproCrtDirectory},
	{IDTknRead, engine.CredToken, (*Book).tknRead, (*Book).reproTknRead},
	{IDTknContain, engine.CredToken, (*Book).tknContain, (*Book).reproTknContain},
	{IDTknAccess, engine.CredToken, (*Book).tknAccess, (*Book).reproTknAccess},
	{IDTknWrite, engine.CredToken, (*Book).tknWrite, (*Book).reproTknWrite},
	{IDTknDirectory, engine.CredToken, (*Book).tknDirectory, (*Book).reproTknDirectory},
}

// IDs lists the rulebook's check ids in catalogue order.
func IDs() []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.id
	}
	return out
}

// Checks returns the rulebook's checks for one service: every rule but the
// ids in without, each requiring gate (the protocol's check that the
// endpoint speaks the protocol: 2ssl, 3version).
func (b *Book) Checks(gate string, without ...string) []engine.Check {
	var out []engine.Check
	for _, r := range rules {
		if slices.Contains(without, r.id) {
			continue
		}
		out = append(out, engine.Check{
			ID: r.id, Credential: r.cred, Requires: []string{gate},
			Run: func(ctx context.Context, env *engine.Env) engine.Outcome {
				o := r.run(b, ctx, env)
				// A diagnosis's decisive pair follows the check's own lines.
				return withRepro(o, append(r.repro(b), o.Reproduce...))
			},
			Reproduce: func() []string { return r.repro(b) },
		})
	}
	out = append(out, b.tpcChecks(gate, without)...) // third-party copy, once per partner (tpc_rules.go)
	return out
}

// Catalogue merges check lists (a protocol's own checks and the
// rulebook's) into ETF order: by the number an id starts with, stable.
func Catalogue(lists ...[]engine.Check) []engine.Check {
	var all []engine.Check
	for _, l := range lists {
		all = append(all, l...)
	}
	slices.SortStableFunc(all, func(a, b engine.Check) int { return etfNumber(a.ID) - etfNumber(b.ID) })
	return all
}

// etfNumber is the number an ETF check id starts with (99 for none).
func etfNumber(id string) int {
	i := 0
	for i < len(id) && id[i] >= '0' && id[i] <= '9' {
		i++
	}
	n, err := strconv.Atoi(id[:i])
	if err != nil {
		return 99
	}
	return n
}
