package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/plan"
	"github.com/gridprobe/gridprobe/internal/vofeed"
	"github.com/gridprobe/gridprobe/probes/probe"
)

// FeedBase is the base sites.yaml of P5: what a VO writes once, its
// templates giving every imported service its paths.
const FeedBase = `vo: cms
defaults:
  templates:
    webdav:
      scope_base: /
      read_file: {path: "$(path)/test/gridprobe/reference.dat", adler32: 0badcafe, size: 1048576}
      write_dir: $(path)/temp/gridprobe
      foreign_file: /othervo/reference.dat
    xrootd:
      scope_base: /
      read_file: {path: "$(path)/test/gridprobe/reference.dat", adler32: 0badcafe, size: 1048576}
      write_dir: $(path)/temp/gridprobe
      foreign_file: /othervo/reference.dat
      federation: root://xrootd-redirector.example.org:1094
    arc-ce:
      queue: cms
`

// FeedResult is one P5 run: what probe import, probe validate and the
// round's plan take for one feed, one after another in one process.
type FeedResult struct {
	ImportNS, ValidateNS, PlanNS, WallNS int64
	Sites, Services, Checks              int
	VmHWMkB                              int64  `json:"vmhwm_kb"`
	Error                                string `json:"error,omitempty"`
}

// ImportValidatePlan imports the feed at path with FeedBase (read, parse,
// select, validate every site, write the sites.yaml text), validates the
// text as probe validate does, and builds the round's plan as probe run
// does (every service's checks, credentials configured but not loaded).
func ImportValidatePlan(ctx context.Context, path string) (FeedResult, error) {
	var r FeedResult
	start := time.Now()
	text, err := importFeed(ctx, path)
	if err != nil {
		return r, err
	}
	r.ImportNS = int64(time.Since(start))
	t := time.Now()
	cfg, err := config.Parse("imported.yaml", text)
	if err != nil {
		return r, fmt.Errorf("validate: %w", err)
	}
	r.ValidateNS = int64(time.Since(t))
	t = time.Now()
	sites, err := plan.Build(cfg, plan.Options{RunID: engine.NewRunID(), Creds: probe.NewCredentials(cfg.Credentials, nil)})
	if err != nil {
		return r, fmt.Errorf("plan: %w", err)
	}
	r.PlanNS = int64(time.Since(t))
	r.WallNS = int64(time.Since(start))
	r.Sites = len(sites)
	for _, s := range sites {
		r.Services += len(s.Services)
		for _, sv := range s.Services {
			r.Checks += len(sv.Checks)
		}
	}
	return r, nil
}

func importFeed(ctx context.Context, path string) ([]byte, error) {
	data, err := vofeed.Fetch(ctx, path, "", "")
	if err != nil {
		return nil, err
	}
	feed, _, err := vofeed.ParseXML(path, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	base, err := config.ParseBase("base.yaml", []byte(FeedBase), func(string) (string, bool) { return "", false })
	if err != nil {
		return nil, err
	}
	sel, _ := vofeed.Select(feed, nil, vofeed.Filter{}, base)
	if _, probs := vofeed.Merge(base, sel); len(probs) > 0 {
		return nil, fmt.Errorf("import: %d sites do not validate, first: %s", len(probs), probs[0])
	}
	var b bytes.Buffer
	b.WriteString(FeedBase + "\n")
	if err := vofeed.WriteSites(&b, sel); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
