// Command faults runs gridprobe's reliability and security proof against
// the local testbed (fault injection, the token-leak proof, the delete
// guard, optionally fuzzing) and prints its figures. It exits 1 when any
// figure is wrong, 2 when the suite could not run, and 0 (saying so) when
// GRIDPROBE_NO_TESTBED=1 and the testbed is down.
//
//	go run ./cmd/faults [-sites 100] [-fuzztime 20s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"github.com/gridprobe/gridprobe/internal/faults"
	"github.com/gridprobe/gridprobe/internal/leftovers"
	"github.com/gridprobe/gridprobe/probes/webdav"
)

func main() {
	sites := flag.Int("sites", 100, "sites in the mixed round")
	fuzz := flag.Duration("fuzztime", 0, "also run every fuzz target of the module this long (e.g. 20s)")
	verbose := flag.Bool("v", false, "print every problem, not only the first 20")
	part := flag.String("part", "all", "which parts to run, comma-separated: "+strings.Join(append(slices.Clone(faults.SuiteParts), "issuer"), ", ")+", or all (make faults runs each part on its own: scripts/faults.sh)")
	tidy := flag.Duration("clean-leftovers", 0, "instead of the suite: remove run directories older than this from the suite's testbed write dirs (leftovers of crashed or interrupted runs), e.g. 10m")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()

	root, err := faults.FindRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	tb, err := faults.LoadTestbed(root)
	if err != nil {
		if errors.Is(err, faults.ErrNoTestbed) && os.Getenv("GRIDPROBE_NO_TESTBED") == "1" {
			fmt.Printf("faults: SKIPPED (GRIDPROBE_NO_TESTBED=1): %v\n", err)
			return
		}
		fmt.Fprintf(os.Stderr, "faults: %v (start it with testbed/up.sh, or set GRIDPROBE_NO_TESTBED=1 to skip)\n", err)
		os.Exit(2)
	}
	if *tidy > 0 {
		if err := cleanLeftovers(ctx, tb, *tidy); err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			os.Exit(2)
		}
		return
	}
	suiteParts, issuer, err := parts(*part)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(2)
	}
	start := time.Now()
	f, isf := &faults.Figures{}, &faults.IssuerFigures{}
	if len(suiteParts) > 0 {
		f, err = faults.RunSuite(ctx, tb, faults.SuiteOptions{Sites: *sites, FuzzTime: *fuzz, Log: os.Stderr, Parts: suiteParts})
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults:", err)
			os.Exit(2)
		}
	}
	if issuer {
		isf, err = faults.RunIssuerSuite(ctx, tb, faults.IssuerOptions{Sites: 20, Log: os.Stderr})
		if err != nil {
			fmt.Fprintln(os.Stderr, "faults: issuer:", err)
			os.Exit(2)
		}
	}
	fmt.Println()
	if len(suiteParts) > 0 {
		f.Table(os.Stdout)
	}
	if issuer {
		isf.Table(os.Stdout)
	}
	fmt.Printf("suite took %s\n", time.Since(start).Round(time.Second))
	fails := f.Failures()
	if issuer {
		f.Problems = append(f.Problems, isf.Problems...)
		fails = append(fails, isf.Failures()...)
	}
	if len(fails) == 0 {
		fmt.Println("PASS: every figure is right")
		return
	}
	fmt.Println()
	for i, p := range f.Problems {
		if i == 20 && !*verbose {
			fmt.Printf("... %d more problems (-v shows all)\n", len(f.Problems)-20)
			break
		}
		fmt.Println("problem:", p)
	}
	for _, x := range fails {
		fmt.Println("FAIL:", x)
	}
	os.Exit(1)
}

// cleanLeftovers walks the suite's write dirs on the testbed WebDAV
// endpoint and removes run directories older than age with the
// leftovers package (the same code `probe cleanup` can call).
func cleanLeftovers(ctx context.Context, tb *faults.Testbed, age time.Duration) error {
	st, closeFn, err := tb.OpenStore(ctx, webdav.Type)
	if err != nil {
		return err
	}
	defer closeFn()
	dirs, err := st.List(ctx, faults.FaultsWriteRoot)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if !d.IsDir {
			continue
		}
		wd := faults.FaultsWriteRoot + "/" + d.Name
		found, err := leftovers.Clean(ctx, st, wd, age, "", time.Now())
		if err != nil {
			return err
		}
		for _, l := range found {
			state := "kept (younger than " + age.String() + ")"
			switch {
			case l.Err != nil:
				state = "NOT removed: " + l.Err.Error()
			case l.Removed:
				state = fmt.Sprintf("removed (%d objects)", l.Objects)
			}
			fmt.Printf("%s  age %s  %s\n", l.Dir, l.Age.Round(time.Second), state)
		}
	}
	return nil
}

// parts reads -part: the suite's parts to run, and whether the issuer suite
// runs.
func parts(arg string) (suite []string, issuer bool, err error) {
	if arg == "all" {
		return faults.SuiteParts, true, nil
	}
	for _, p := range strings.Split(arg, ",") {
		switch {
		case p == "issuer":
			issuer = true
		case slices.Contains(faults.SuiteParts, p):
			suite = append(suite, p)
		default:
			return nil, false, fmt.Errorf("-part %q: no part %q (parts: %s, issuer, all)", arg, p, strings.Join(faults.SuiteParts, ", "))
		}
	}
	return suite, issuer, nil
}
