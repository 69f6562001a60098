package faults

import (
	"context"
	"fmt"

	"github.com/gridprobe/gridprobe/probes/probe"
)

// GuardRunID is the run whose scratch area the adversarial deletes target.
const GuardRunID = "gp-20261124T001500Z-1f2e3d4c5b6a"

// GuardCase is one adversarial delete: a write_dir (a config mistake or a
// sane one) and a path the guard must refuse.
type GuardCase struct {
	Why, WriteDir, RunID, Path string
}

// GuardCases are deletes probe.Scratch must refuse: config mistakes, "..",
// symlink-like and URL-encoded names, trailing dots, another run's
// scratch, and the write_dir or VO area itself.
func GuardCases() []GuardCase {
	wd := "/testvo/gridprobe"
	dir := wd + "/" + GuardRunID
	c := func(why, p string) GuardCase { return GuardCase{why, wd, GuardRunID, p} }
	bad := func(why, writeDir, p string) GuardCase { return GuardCase{why, writeDir, GuardRunID, p} }
	return []GuardCase{
		// Config mistakes: write_dir that is the root, the VO area written
		// oddly, relative, or not clean.
		bad("write_dir is /", "/", "/"+GuardRunID+"/f"),
		bad("write_dir empty", "", "/"+GuardRunID+"/f"),
		bad("write_dir relative", "testvo/gridprobe", "testvo/gridprobe/"+GuardRunID+"/f"),
		bad("write_dir with ..", "/testvo/gridprobe/..", "/testvo/"+GuardRunID+"/f"),
		bad("write_dir with .", "/testvo/./gridprobe", "/testvo/./gridprobe/"+GuardRunID+"/f"),
		bad("write_dir doubled slash", "/testvo//gridprobe", "/testvo//gridprobe/"+GuardRunID+"/f"),
		bad("write_dir //", "//", "//"+GuardRunID),
		{"run id not a run id", wd, "..", wd + "/../reference.dat"},
		{"run id with slash", wd, GuardRunID + "/..", wd + "/reference.dat"},
		{"run id empty", wd, "", wd + "/f"},
		// Escapes from a sane scratch area.
		c("the VO area", "/testvo"),
		c("the reference file", "/testvo/reference.dat"),
		c("write_dir itself", wd),
		c("write_dir with trailing slash", wd+"/"),
		c("parent via ..", dir+"/.."),
		c("sibling via ..", dir+"/../gp-20261124T001500Z-000000000000"),
		c("deep escape", dir+"/a/../../../reference.dat"),
		c("dot element", dir+"/./f"),
		c("trailing slash on scratch", dir+"/"),
		c("doubled slash", dir+"//f"),
		c("another run's scratch", wd+"/gp-20261124T001500Z-000000000000"),
		c("another run's file", wd+"/gp-20261124T001500Z-000000000000/7crt-write.dat"),
		c("run id prefix", wd+"/gp-20261124T001500Z-1f2e3d4c5b6"),
		c("run id extended", dir+"x"),
		c("run id extended, file", dir+"x/f"),
		c("run id with suffix", dir+"-old/f"),
		c("URL-encoded ..", dir+"/%2e%2e/%2e%2e/reference.dat"),
		c("URL-encoded slash", dir+"%2f..%2f..%2freference.dat"),
		c("URL-encoded scratch name", wd+"/gp-20261124T001500Z-1f2e3d4c5b6a%2f..%2f..%2freference.dat"),
		c("trailing dot", dir+"/."),
		c("trailing dots on run id", dir+"..."),
		c("symlink-like name", dir+"/../../../etc/passwd"),
		c("backslash traversal", dir+`\..\..\reference.dat`),
		c("NUL byte", dir+"/f\x00/../../reference.dat"),
		c("relative", "testvo/gridprobe/"+GuardRunID+"/f"),
		c("empty", ""),
		c("root", "/"),
		c("another VO", "/othervo/gridprobe/"+GuardRunID+"/f"),
		c("case-folded run id", wd+"/GP-20261124T001500Z-1F2E3D4C5B6A/f"),
		c("unicode dot lookalike", dir+"/\u2024\u2024/reference.dat"),
		c("query string", dir+"?/../../reference.dat"),
		c("fragment", dir+"#/../../reference.dat"),
	}
}

// GuardResult counts adversarial deletes and refusals.
type GuardResult struct {
	Attempts, Refused int
	Escaped           []string // "why: path" of deletes that reached the delete function
}

// RunGuard tries every GuardCase through probe.NewScratch and
// Scratch.Delete with a delete function that records what reaches it.
// Paths that stay inside the scratch area once decoded by a server (e.g.
// "a%2e%2eb") are not in the list: every listed path must be refused.
func RunGuard(ctx context.Context) GuardResult {
	var r GuardResult
	for _, gc := range GuardCases() {
		r.Attempts++
		s, err := probe.NewScratch(gc.WriteDir, gc.RunID)
		if err != nil {
			r.Refused++ // a config mistake refused before any delete
			continue
		}
		reached := false
		err = s.Delete(ctx, gc.Path, func(context.Context, string) error { reached = true; return nil })
		if err != nil && !reached {
			r.Refused++
			continue
		}
		r.Escaped = append(r.Escaped, fmt.Sprintf("%s: %q", gc.Why, gc.Path))
	}
	return r
}
