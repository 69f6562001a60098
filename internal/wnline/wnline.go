// Package wnline is the output format of `probe wn`, the worker-node
// payload a CE test job runs: JSON lines, one per worker-node check, ending
// with a WN-99summary line. The payload writes it (internal/wn); the CE
// checks read it back from the job's output (probes/ce). It is its own small
// package so that the CE probe does not depend on the payload's code.
//
// Every line carries "wn_version" (Version). A reader accepts only its own
// version: a CE probe and the payload it ships are the same binary, so a
// different version means an old or foreign binary, and its lines are not
// trusted. No line ever holds a token or a secret: details are written by
// the payload through cred.Redact, and a reader redacts again.
package wnline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
)

// Version is the format version this build writes and reads.
const Version = 1

// Worker-node check ids, ETF style: <number><name>, prefixed "WN-" so they
// read as ETF's WN-* metrics on the CE service
// (<prefix>.CE-ARC-WN-20tkn-read).
const (
	Basic         = "WN-01basic"          // OS, CPUs, free scratch, /cvmfs, CA directory
	Network       = "WN-02network"        // outbound TCP reach to the site's storage endpoints
	Credentials   = "WN-10credentials"    // what credentials the job has, found where
	TokenLifetime = "WN-11token-lifetime" // token lifetime at job start and end
	TknRead       = "WN-20tkn-read"       // read the reference file with the job's token
	TknWrite      = "WN-21tkn-write"      // write, read back, delete in the scratch area with the token
	CrtRead       = "WN-22crt-read"       // the same read with the job's proxy
	CrtWrite      = "WN-23crt-write"      // the same write with the job's proxy
	Summary       = "WN-99summary"        // worst of the above; the last line
)

// Check is one entry of the worker-node catalogue.
type Check struct {
	ID, Credential string
	// Storage is the SE check (internal/plan id) this WN check runs on
	// every storage service of the site; empty for the node's own checks.
	Storage string
}

// Catalogue lists the worker-node checks in order (WN-99summary last).
var Catalogue = []Check{
	{ID: Basic, Credential: engine.CredNone},
	{ID: Network, Credential: engine.CredNone},
	{ID: Credentials, Credential: engine.CredToken},
	{ID: TokenLifetime, Credential: engine.CredToken},
	{ID: TknRead, Credential: engine.CredToken, Storage: "14tkn-read"},
	{ID: TknWrite, Credential: engine.CredToken, Storage: "17tkn-write"},
	{ID: CrtRead, Credential: engine.CredX509, Storage: "4crt-read"},
	{ID: CrtWrite, Credential: engine.CredX509, Storage: "7crt-write"},
	{ID: Summary, Credential: engine.CredNone},
}

// Line is one worker-node result.
type Line struct {
	Version    int          `json:"wn_version"`
	Check      string       `json:"check"`
	Credential string       `json:"credential"`
	State      engine.State `json:"state"`
	// Party is whose fault a non-OK result is (site, central, probe);
	// empty: the engine's default for the state.
	Party      engine.Party  `json:"party,omitempty"`
	Detail     string        `json:"detail"`
	Reproduce  []string      `json:"reproduce,omitempty"`
	Perf       []engine.Perf `json:"perf,omitempty"`
	Start      time.Time     `json:"start"`
	DurationMS int64         `json:"duration_ms"`
	// Summary line only: the node's host name, the run id the payload
	// used for its scratch areas, and how many check lines came before.
	Host   string `json:"host,omitempty"`
	RunID  string `json:"run_id,omitempty"`
	Checks int    `json:"checks,omitempty"`
}

// Marshal encodes l as one line (with the trailing newline), its detail
// folded to one line of at most engine.MaxDetail characters and every
// text field redacted.
func Marshal(l Line) ([]byte, error) {
	l.Version = Version
	l.Detail = engine.OneLine(cred.Redact(l.Detail))
	rep := make([]string, len(l.Reproduce))
	for i, r := range l.Reproduce {
		rep[i] = cred.Redact(r)
	}
	l.Reproduce = rep
	b, err := json.Marshal(l)
	if err != nil {
		return nil, fmt.Errorf("wnline: encode %s: %w", l.Check, err)
	}
	return append(b, '\n'), nil
}

// Limits of what a reader accepts.
const (
	MaxOutput = 1 << 20 // bytes of payload output
	maxLines  = 64
	maxLine   = 64 << 10
)

var idRE = regexp.MustCompile(`^WN-[0-9]{2}[a-z][a-z0-9_]*(-[a-z0-9_]+)*$`)

// Report is a parsed payload output.
type Report struct {
	Lines   []Line // check lines in output order, without the summary
	Summary Line
}

// Get returns the line of a check, if the payload reported it.
func (r *Report) Get(id string) (Line, bool) {
	for _, l := range r.Lines {
		if l.Check == id {
			return l, true
		}
	}
	return Line{}, false
}

// Errors of Parse, for errors.Is.
var (
	ErrEmpty     = errors.New("no output")
	ErrNotJSON   = errors.New("not JSON lines")
	ErrVersion   = errors.New("another probe wn version")
	ErrTruncated = errors.New("truncated")
)

// Parse reads a payload's output. It never panics; a bad output is an
// error that says what is wrong and quotes the first bytes (Head).
func Parse(out []byte) (*Report, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, ErrEmpty
	}
	if len(out) > MaxOutput {
		return nil, fmt.Errorf("%w: %d bytes, more than %d (starts %s)", ErrNotJSON, len(out), MaxOutput, Head(out, 80))
	}
	rep := &Report{}
	seen := map[string]bool{}
	n := 0
	for i, raw := range bytes.Split(out, []byte("\n")) {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		if rep.Summary.Check != "" {
			return nil, fmt.Errorf("%w: line %d after %s: %s", ErrNotJSON, i+1, Summary, Head(raw, 80))
		}
		if n++; n > maxLines {
			return nil, fmt.Errorf("%w: more than %d lines", ErrNotJSON, maxLines)
		}
		l, err := parseLine(raw, i+1)
		if err != nil {
			return nil, err
		}
		if seen[l.Check] {
			return nil, fmt.Errorf("%w: line %d repeats %s", ErrNotJSON, i+1, l.Check)
		}
		seen[l.Check] = true
		if l.Check == Summary {
			rep.Summary = l
			continue
		}
		rep.Lines = append(rep.Lines, l)
	}
	if rep.Summary.Check == "" {
		return rep, fmt.Errorf("%w: no %s line after %d check lines (the payload stopped early; output ends %s)",
			ErrTruncated, Summary, len(rep.Lines), Tail(out, 60))
	}
	if rep.Summary.Checks != len(rep.Lines) {
		return rep, fmt.Errorf("%w: %s counts %d check lines, %d arrived", ErrTruncated, Summary, rep.Summary.Checks, len(rep.Lines))
	}
	return rep, nil
}

func parseLine(raw []byte, no int) (Line, error) {
	if len(raw) > maxLine || raw[0] != '{' || !json.Valid(raw) {
		return Line{}, fmt.Errorf("%w: line %d: %s", ErrNotJSON, no, Head(raw, 80))
	}
	var probe struct {
		Version *int `json:"wn_version"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil || probe.Version == nil {
		return Line{}, fmt.Errorf("%w: line %d has no wn_version: %s", ErrNotJSON, no, Head(raw, 80))
	}
	if *probe.Version != Version {
		age := "an older"
		if *probe.Version > Version {
			age = "a newer"
		}
		return Line{}, fmt.Errorf("%w: line %d is from %s probe wn (wn_version %d, this probe reads %d): %s",
			ErrVersion, no, age, *probe.Version, Version, Head(raw, 80))
	}
	var l Line
	if err := json.Unmarshal(raw, &l); err != nil {
		return Line{}, fmt.Errorf("%w: line %d: %v: %s", ErrNotJSON, no, err, Head(raw, 80))
	}
	if !idRE.MatchString(l.Check) {
		return Line{}, fmt.Errorf("%w: line %d: check %s is not a WN check id", ErrNotJSON, no, quote(l.Check, 40))
	}
	if l.State < engine.OK || l.State > engine.Unknown {
		return Line{}, fmt.Errorf("%w: line %d: bad state", ErrNotJSON, no)
	}
	switch l.Party {
	case "", engine.PartySite, engine.PartyCentral, engine.PartyProbe:
	default:
		return Line{}, fmt.Errorf("%w: line %d: party %s is none of site, central, probe", ErrNotJSON, no, quote(string(l.Party), 20))
	}
	l.Detail = engine.OneLine(cred.Redact(l.Detail))
	if len(l.Reproduce) > 32 {
		l.Reproduce = l.Reproduce[:32]
	}
	for i, r := range l.Reproduce {
		l.Reproduce[i] = cred.Redact(truncate(r, 2000))
	}
	if len(l.Perf) > 16 {
		l.Perf = l.Perf[:16]
	}
	return l, nil
}

// Head quotes the first n bytes of b for a detail: redacted, control
// characters escaped, marked when cut.
func Head(b []byte, n int) string {
	s := string(b)
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	s = strings.ToValidUTF8(s, "?")
	q := quote(cred.Redact(s), n+40)
	if cut {
		q += "..."
	}
	return q
}

// Tail quotes the last n bytes of b, like Head.
func Tail(b []byte, n int) string {
	b = bytes.TrimRight(b, "\n")
	if len(b) <= n {
		return Head(b, n)
	}
	s := b[len(b)-n:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return "..." + Head(s, n)
}

func quote(s string, n int) string {
	q := fmt.Sprintf("%q", s)
	if len(q) > n {
		q = q[:n] + "..."
	}
	return q
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
