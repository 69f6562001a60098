package ce

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAREX answers like A-REX 6.17 does in the cases the client must get
// right: bulk POSTs are always 201 with the real result per item, errors
// carry their message in the reason phrase, an empty list is an empty body.
type fakeAREX struct {
	mu      sync.Mutex
	jobs    map[string]bool
	submit  string // body of the answer to action=new
	calls   []string
	cleanOK bool
}

func (f *fakeAREX) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	f.calls = append(f.calls, r.Method+" "+r.URL.RequestURI())
	switch {
	case r.URL.Path == "/arex/rest/1.0/jobs" && r.Method == http.MethodGet:
		var ids []string
		for id := range f.jobs {
			ids = append(ids, `{"id":"`+id+`"}`)
		}
		switch len(ids) {
		case 0: // empty body
		case 1:
			io.WriteString(w, `{"job":`+ids[0]+`}`)
		default:
			io.WriteString(w, `{"job":[`+strings.Join(ids, ",")+`]}`)
		}
	case r.URL.Path == "/arex/rest/1.0/jobs" && r.URL.Query().Get("action") == "new":
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, f.submit)
	case r.URL.Path == "/arex/rest/1.0/jobs":
		id := between(string(body), `"id":"`, `"`)
		w.WriteHeader(http.StatusCreated)
		switch act := r.URL.Query().Get("action"); {
		case !f.jobs[id]:
			io.WriteString(w, `{"job":{"status-code":"404","reason":"Job not found","id":"`+id+`"}}`)
		case act == "clean" && f.cleanOK:
			delete(f.jobs, id)
			io.WriteString(w, `{"job":{"status-code":"202","reason":"Queued for cleaning","id":"`+id+`"}}`)
		case act == "clean":
			io.WriteString(w, `{"job":{"status-code":"500","reason":"Failed to clean job","id":"`+id+`"}}`)
		default:
			io.WriteString(w, `{"job":{"status-code":"202","reason":"Queued","id":"`+id+`"}}`)
		}
	case strings.HasSuffix(r.URL.Path, "/diagnose/status"):
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "INLRMS\n")
	default:
		// A-REX's errors: the message is the reason phrase, no body.
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusForbidden)
	}
}

func between(s, a, b string) string {
	_, rest, ok := strings.Cut(s, a)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, b)
	return v
}

func newFake(t *testing.T, f *fakeAREX) *arcClient {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := newARCClient(srv.URL+"/arex", nil, nil)
	t.Cleanup(c.close)
	return c
}

func TestARCClientSubmitItemStatus(t *testing.T) {
	ctx := context.Background()
	f := &fakeAREX{jobs: map[string]bool{}, submit: `{"job":{"status-code":"500","reason":"Requested queue nosuch does not exist","id":""}}`}
	c := newFake(t, f)
	if _, err := c.submit(ctx, []byte("<x/>")); err == nil || !strings.Contains(err.Error(), "500 Requested queue nosuch does not exist") {
		t.Errorf("refused item: err = %v", err)
	}
	f.submit = `{"job":{"status-code":"201","reason":"Created","id":"j1","state":"ACCEPTING"}}`
	it, err := c.submit(ctx, []byte("<x/>"))
	if err != nil || it.ID != "j1" || it.State != "ACCEPTING" {
		t.Errorf("created: %+v %v", it, err)
	}
	f.submit = ``
	if _, err := c.submit(ctx, []byte("<x/>")); err == nil {
		t.Error("empty answer accepted")
	}
}

func TestARCClientReasonPhrase(t *testing.T) {
	c := newFake(t, &fakeAREX{jobs: map[string]bool{}})
	_, err := c.info(context.Background())
	if !isDenied(err) {
		t.Fatalf("err = %v, want a denial", err)
	}
	// net/http/httptest writes the standard phrase; the real A-REX puts its message there.
	if !strings.Contains(err.Error(), "GET /info: 403 Forbidden") {
		t.Errorf("err = %v", err)
	}
}

func TestARCClientRemove(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f := &fakeAREX{jobs: map[string]bool{"a": true, "b": true}, cleanOK: true}
	c := newFake(t, f)
	ids, err := c.list(ctx)
	if err != nil || len(ids) != 2 {
		t.Fatalf("list: %v %v", ids, err)
	}
	if err := c.remove(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Still running: killed, then cleaned, then gone from the list (one child: an object).
	want := []string{"GET /arex/rest/1.0/jobs/a/diagnose/status", "POST /arex/rest/1.0/jobs?action=kill", "POST /arex/rest/1.0/jobs?action=clean", "GET /arex/rest/1.0/jobs"}
	if got := strings.Join(f.calls[1:], "|"); got != strings.Join(want, "|") {
		t.Errorf("calls = %s", got)
	}
	if err := c.remove(ctx, "nosuch"); err != nil {
		t.Errorf("removing a job that is gone: %v", err)
	}
	if err := c.remove(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ids, err := c.list(ctx); err != nil || len(ids) != 0 {
		t.Errorf("empty list (empty body): %v %v", ids, err)
	}
	f.jobs["c"], f.cleanOK = true, false
	if err := c.remove(ctx, "c"); err == nil || !strings.Contains(err.Error(), "500 Failed to clean job") {
		t.Errorf("refused clean: %v", err)
	}
}
