package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/engine"
)

// JSONOptions controls JSON output.
type JSONOptions struct {
	// Array writes one JSON array instead of JSON Lines.
	Array bool
}

// jsonResult is a result as scripts see it: engine.Result's fields under
// their JSON tags (state by name) plus derived fields, so nobody has to
// recompute them.
type jsonResult struct {
	engine.Result
	StateCode       int       `json:"state_code"`
	Metric          string    `json:"metric"`
	End             time.Time `json:"end"`
	DurationSeconds float64   `json:"duration_seconds"`
}

// JSON writes one JSON object per result, one per line (JSON Lines), or
// with opts.Array a single array. Field names are engine.Result's JSON tags
// plus "state_code" (the Nagios exit code), "metric" (the ETF name), "end"
// and "duration_seconds"; times are UTC. A 99summary has "raw_state" (the
// worst state of its service's checks whatever the summary policy), a check
// under a policy its "summary_role", and "since" is when the check entered
// its state, when known. A check that tests several rules lists each
// ("rules": id, version, verdict, detail), with the profile version the
// service satisfies ("profile"), and a refused token check the "diagnosis"
// that found why. The detail is one line, as in every format, and every
// string is redacted.
func JSON(w io.Writer, results []engine.Result, opts JSONOptions) error {
	out := make([]jsonResult, len(results))
	for i, r := range results {
		out[i] = jsonResult{
			Result:          redactResult(r),
			StateCode:       int(r.State),
			Metric:          redact(r.Metric()),
			End:             end(r).UTC(),
			DurationSeconds: r.Duration.Seconds(),
		}
		out[i].Start = r.Start.UTC()
		if !r.Since.IsZero() {
			out[i].Since = r.Since.UTC()
		}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if opts.Array {
		if len(out) == 0 {
			b.WriteString("[]\n")
		} else if err := enc.Encode(out); err != nil {
			return fmt.Errorf("json report: %w", err)
		}
	} else {
		for _, r := range out {
			if err := enc.Encode(r); err != nil {
				return fmt.Errorf("json report: %w", err)
			}
		}
	}
	return writeRedacted(w, b.String())
}

// redactResult returns a copy of r with every string redacted and the
// detail folded to one line.
func redactResult(r engine.Result) engine.Result {
	r.Site = redact(r.Site)
	r.Service = redact(r.Service)
	r.Protocol = redact(r.Protocol)
	r.VO = redact(r.VO)
	r.URL = redact(r.URL)
	r.Check = redact(r.Check)
	r.Credential = redact(r.Credential)
	r.Detail = detail(r)
	r.RunID = redact(r.RunID)
	if r.Reproduce != nil {
		lines := make([]string, len(r.Reproduce))
		for i, l := range r.Reproduce {
			lines[i] = redact(l)
		}
		r.Reproduce = lines
	}
	if r.Perf != nil {
		ps := make([]engine.Perf, 0, len(r.Perf))
		for _, p := range r.Perf {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) {
				continue // JSON has no NaN; a missing value says the same
			}
			p.Label = redact(p.Label)
			ps = append(ps, p)
		}
		r.Perf = ps
	}
	redactFindings(&r)
	return r
}

// redactFindings redacts the rule verdicts, conformance and diagnosis of r
// (copies: the caller's result is not changed).
func redactFindings(r *engine.Result) {
	if r.Rules != nil {
		rules := make([]engine.RuleResult, len(r.Rules))
		for i, x := range r.Rules {
			x.ID, x.Version, x.Verdict, x.Detail = redact(x.ID), redact(x.Version), redact(x.Verdict), redact(x.Detail)
			rules[i] = x
		}
		r.Rules = rules
	}
	if r.Profile != nil {
		p := *r.Profile
		p.Profile, p.Expected, p.Satisfied = redact(p.Profile), redact(p.Expected), redact(p.Satisfied)
		p.Untested = redactAll(p.Untested)
		r.Profile = &p
	}
	if r.Diagnosis != nil {
		d := *r.Diagnosis
		d.Cause, d.Party = redact(d.Cause), redact(d.Party)
		steps := make([]engine.DiagnosisStep, len(d.Steps))
		for i, s := range d.Steps {
			s.Vary, s.Token, s.Request, s.Answer = redact(s.Vary), redact(s.Token), redact(s.Request), redact(s.Answer)
			steps[i] = s
		}
		d.Steps = steps
		r.Diagnosis = &d
	}
}

func redactAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = redact(s)
	}
	return out
}
