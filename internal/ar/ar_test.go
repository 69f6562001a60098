package ar

import (
	"bytes"
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

func TestCSVAndCells(t *testing.T) {
	rows := []Row{
		{Site: "T2_A", Service: "org.testvo.SE-WebDAV", Protocol: "webdav", VO: "testvo", Availability: 0.75, Reliability: 450.0 / 510, Known: 10 * time.Hour, KnownRel: 510 * time.Minute},
		{Site: "T2_B", VO: "testvo", Availability: math.NaN(), Reliability: 1},
	}
	var b bytes.Buffer
	if err := WriteCSV(&b, rows, Query{ByService: true}); err != nil {
		t.Fatal(err)
	}
	want := "site,service,protocol,vo,availability %,reliability %,known h,known h (excl. downtime)\n" +
		"T2_A,org.testvo.SE-WebDAV,webdav,testvo,75.00,88.24,10.0,8.5\n" +
		"T2_B,,,testvo,-,100.00,0.0,0.0\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	if err := WriteTable(&b, nil, Query{From: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "sites, 2026-12-01 00:00 to 2027-01-01 00:00") || !strings.Contains(b.String(), "no A/R data in this window") {
		t.Errorf("empty table:\n%s", b.String())
	}
}

func TestFetchRefusesAnEmptyWindow(t *testing.T) {
	at := time.Now()
	if _, err := Fetch(context.Background(), nil, Query{From: at, To: at}); err == nil || !strings.Contains(err.Error(), "is not after") {
		t.Errorf("err = %v", err)
	}
}
