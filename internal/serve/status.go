package serve

import (
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/config"
	"github.com/gridprobe/gridprobe/internal/cred"
	"github.com/gridprobe/gridprobe/internal/engine"
	"github.com/gridprobe/gridprobe/internal/metrics"
)

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"redact": cred.Redact,
}).Parse(statusHTML))

type statusPage struct {
	Now, Loaded                        string
	ConfigFile, Shard                  string
	VO, Protocol, Credential           string // filters in effect
	VOs, Protocols, Credentials        []string
	Groups                             []groupFilter // tier, country, federation (status_groups.go)
	Feed                               string        // sites_from: where the sites come from; "" without
	FeedStale                          bool
	Tables                             []statusTable
	Counts                             [4]int
	Services, Scheduled, ShownServices int
}

type statusTable struct {
	Protocol string
	// Title heads the table: the protocol, or for a CE's worker-node
	// checks (WN-*, from its test job) "<protocol> · worker nodes".
	Title   string
	WN      bool
	Columns []statusColumn
	Rows    []statusRow
	entries [][]metrics.Entry // per row, for filling the cells
}

type statusColumn struct{ Check, Credential string }

type statusRow struct {
	Site, Service, URL, VO string
	Next, LastRun          string
	Running                bool
	Cells                  []statusCell
}

type statusCell struct {
	Present              bool
	Check, Credential    string
	State, Short, Class  string
	Detail, Age, Checked string
	CheckedAgo           string
	Took, RunID, Title   string
	Role                 string // the check's part in 99summary under a summary policy (engine.Role*)
	Reproduce            []string
}

var shortState = map[engine.State]string{engine.OK: "OK", engine.Warning: "WARN", engine.Critical: "CRIT", engine.Unknown: "UNKN"}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	page := s.statusPage(q.Get("vo"), q.Get("protocol"), q.Get("credential"), groupQuery(q))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTmpl.Execute(w, page); err != nil {
		s.log.Warn("status page", "err", err.Error())
	}
}

func (s *Server) statusPage(vo, protocol, credential string, groups config.Groups) statusPage {
	s.mu.RLock()
	order, cfg, loaded := s.order, s.cfg, s.loaded
	s.mu.RUnlock()
	now := s.opts.Now()
	p := statusPage{
		Now: now.UTC().Format("2006-01-02 15:04:05Z"), Loaded: loaded.UTC().Format("2006-01-02 15:04:05Z"),
		ConfigFile: cfg.File, Shard: s.opts.Shard.String(), VO: vo, Protocol: protocol, Credential: credential,
		Services: len(order),
	}
	s.feedBanner(&p, now)
	p.Groups = addGroups(nil, config.Groups{}, groups)
	tables := map[string]*statusTable{}
	var protoOrder []string
	for _, j := range order {
		if !j.scheduled {
			continue
		}
		p.Scheduled++
		entries := j.latest()
		j.mu.Lock()
		sv, next, lastRun, running := j.sv, j.next, j.lastRun, j.inflight != nil
		j.mu.Unlock()
		addUnique(&p.VOs, sv.VO)
		addUnique(&p.Protocols, sv.Type)
		for _, e := range entries {
			addUnique(&p.Credentials, e.Credential)
		}
		siteGroups := j.groups()
		p.Groups = addGroups(p.Groups, siteGroups, groups)
		if (vo != "" && sv.VO != vo) || (protocol != "" && sv.Type != protocol) || !groupsMatch(siteGroups, groups) {
			continue
		}
		row := statusRow{Site: j.key.site, Service: sv.Name, URL: sv.RawURL, VO: sv.VO, Running: running}
		if !next.IsZero() {
			row.Next = next.UTC().Format("15:04:05Z")
		}
		if !lastRun.IsZero() {
			row.LastRun = age(now.Sub(lastRun))
		}
		// A CE's worker-node checks get a table of their own.
		own, wn := splitWN(entries)
		for _, part := range []struct {
			key, title string
			entries    []metrics.Entry
		}{{sv.Type, sv.Type, own}, {sv.Type + " wn", sv.Type + " · worker nodes (WN checks of the CE's test job)", wn}} {
			if len(part.entries) == 0 && part.key != sv.Type {
				continue
			}
			t := tables[part.key]
			if t == nil {
				t = &statusTable{Protocol: sv.Type, Title: part.title, WN: part.key != sv.Type}
				tables[part.key] = t
				protoOrder = append(protoOrder, part.key)
			}
			t.addRow(row, part.entries, credential, &p.Counts)
		}
		p.ShownServices++
	}
	for _, proto := range protoOrder {
		t := tables[proto]
		for ri := range t.Rows {
			entries := t.entries[ri]
			cells := make([]statusCell, len(t.Columns))
			for ci, c := range t.Columns {
				cells[ci] = statusCell{Check: c.Check, Credential: c.Credential}
				k := slices.IndexFunc(entries, func(e metrics.Entry) bool { return e.Check == c.Check })
				if k >= 0 && (credential == "" || entries[k].Credential == credential) {
					cells[ci] = cell(entries[k], now)
				}
			}
			t.Rows[ri].Cells = cells
		}
		p.Tables = append(p.Tables, *t)
	}
	return p
}

// splitWN separates a service's worker-node checks (WN-*) from its own.
func splitWN(entries []metrics.Entry) (own, wn []metrics.Entry) {
	for _, e := range entries {
		if strings.HasPrefix(e.Check, "WN-") {
			wn = append(wn, e)
		} else {
			own = append(own, e)
		}
	}
	return own, wn
}

// addRow adds a service's row, inserting the columns of checks the table
// has not seen yet after the row's previous check; cells are filled once
// every column of the table is known.
func (t *statusTable) addRow(row statusRow, entries []metrics.Entry, credential string, counts *[4]int) {
	prev := -1
	for _, e := range entries {
		if credential != "" && e.Credential != credential {
			continue
		}
		i := slices.IndexFunc(t.Columns, func(c statusColumn) bool { return c.Check == e.Check })
		if i < 0 {
			i = prev + 1
			t.Columns = slices.Insert(t.Columns, i, statusColumn{e.Check, e.Credential})
		}
		prev = i
		counts[e.State]++
	}
	t.Rows = append(t.Rows, row)
	t.entries = append(t.entries, entries)
}

// cell is one check's cell: Age is the time in state (as in ETF and the
// table of `probe run`), Checked when it last ran.
func cell(e metrics.Entry, now time.Time) statusCell {
	end := e.Start.Add(e.Duration)
	c := statusCell{
		Present: true, Check: e.Check, Credential: e.Credential,
		State: e.State.String(), Short: shortState[e.State], Class: "s-" + strings.ToLower(e.State.String()),
		Detail: cred.Redact(e.State.String() + " - " + e.Detail), Age: "unknown",
		Checked: end.UTC().Format("2006-01-02 15:04:05Z"), CheckedAgo: age(now.Sub(end)),
		Took: e.Duration.Round(time.Millisecond).String(), RunID: e.RunID, Role: e.Role,
	}
	if !e.LastChange.IsZero() {
		c.Age = age(now.Sub(e.LastChange))
	}
	for _, l := range e.Reproduce {
		c.Reproduce = append(c.Reproduce, cred.Redact(l))
	}
	c.Title = fmt.Sprintf("%s %s (%s): %s\nin this state for %s; checked %s (%s ago), took %s", e.Service, e.Check,
		e.Credential, c.Detail, c.Age, c.Checked, c.CheckedAgo, c.Took)
	c.Title += roleNote(e)
	return c
}

// roleNote explains, in a cell's title, what the summary policy makes of
// the check (or, on 99summary, what it left out).
func roleNote(e metrics.Entry) string {
	switch {
	case e.Role == engine.RoleCommissioning:
		return "\nin commissioning: reports its own state; the summary policy caps its effect on 99summary"
	case e.Role == engine.RoleNotCounted:
		return "\nnot counted for 99summary (summary policy)"
	case e.Check == engine.SummaryID && e.RawState != nil && *e.RawState != e.State:
		return "\nthe worst state of all checks is " + e.RawState.String() + "; the summary policy leaves out or caps the rest"
	}
	return ""
}

func addUnique(list *[]string, v string) {
	if v != "" && !slices.Contains(*list, v) {
		*list = append(*list, v)
		slices.Sort(*list)
	}
}

// age is a short duration: 42s, 5m, 3h12m, 2d4h.
func age(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}
