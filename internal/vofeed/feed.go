package vofeed

import (
	"fmt"
	"time"
)

// Feed is a parsed site list: the VO feed's atp_site elements, or the sites
// built from a CRIC service query, in document order.
type Feed struct {
	Source     string    // file name or URL, for messages
	VO         string    // <vo>; empty when the feed has none
	LastUpdate time.Time // <last_update>; zero when absent or unreadable
	Sites      []Site
}

// Site is one atp_site (a grid site) or one CRIC site.
type Site struct {
	Name string // atp_site name: the grid site (e.g. CERN-PROD)
	// ExpName is the experiment's site name when the source says it
	// directly (CRIC usage); for the feed it is the <VO>_Site group.
	ExpName  string
	Where    Pos
	Groups   []Group
	Services []Service
	// Tier, Country and Federation are set when the source says them
	// directly (CRIC); the feed's groups and the site name fill the rest.
	Tier, Country, Federation string
}

// Group is an atp_site's <group name type>.
type Group struct{ Name, Type string }

// Service is one <service> (or one CRIC service).
type Service struct {
	Host       string // hostname
	Flavour    string // as written (WEBDAV, XROOTD, ARC-CE, HTCONDOR-CE, SRM, …)
	Endpoint   string // "host:port", a URL, or empty
	Production bool   // production_status is not "false"
	Paths      []SEPath
	Queues     []CEQueue
	Where      Pos
}

// SEPath is an <se_resource id path>.
type SEPath struct{ ID, Path string }

// CEQueue is a <ce_resource queue batch_system>.
type CEQueue struct{ Queue, BatchSystem string }

// Pos is where something is in a source: its element path (XML) or JSON
// path, and its line and column (1-based; 0 when unknown).
type Pos struct {
	Source    string
	Path      string
	Line, Col int
}

func (p Pos) String() string {
	s := p.Source
	if p.Line > 0 {
		s += fmt.Sprintf(":%d", p.Line)
		if p.Col > 0 {
			s += fmt.Sprintf(":%d", p.Col)
		}
	}
	if p.Path != "" {
		s += ": " + p.Path
	}
	return s
}

// Problem is an entry that was left out (or taken with a caveat), and why.
type Problem struct {
	Pos
	Msg string
}

func (p Problem) String() string { return p.Pos.String() + ": " + p.Msg }

// Error is a source that cannot be used at all (malformed, truncated, not a
// feed), naming the place where reading stopped.
type Error struct {
	Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }
