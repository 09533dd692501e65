package vstoretest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"imglish/vstore"
)

// The crash subtest: a writer in another process (CrashWrites, in a child
// the harness starts) inserts and deletes items in batches, reporting each
// batch on a pipe before Apply ("try") and after Apply returned ("ack");
// the suite SIGKILLs it at a random moment, opens the store again in this
// process and checks that every acknowledged write is there, every
// acknowledged delete stays done, and the batch in flight is all or
// nothing. An implementation opts in with Harness.Crash when it promises
// that Apply's nil is durable and atomic across a kill of its process.

// CrashTarget is one store the crash subtest kills writers of.
type CrashTarget struct {
	// Start starts a process that opens the store and runs CrashWrites on
	// it with acks as its acks writer (pass acks as an extra file, e.g.
	// exec.Cmd.ExtraFiles, and open it there with os.NewFile). The suite
	// waits for it and kills it; a *bytes.Buffer as the command's Stderr
	// shows in failure messages. The same store is written by every trial.
	Start func(acks *os.File) (*exec.Cmd, error)
	// Open opens the store in this process after a kill; the suite closes
	// it before the next trial.
	Open func() (vstore.Store, error)
}

const (
	crashSpace = "images:crash"
	crashDim   = 16
)

// CrashWrites is the writer of the crash subtest, run in the process the
// suite kills: it creates the crash space when missing, then applies
// batches of 1–12 operations (new items with vectors, now and then a delete
// of a stored item) until ctx ends or a write fails, writing "try <ops>"
// before each Apply and "ack" after it returned nil to acks.
func CrashWrites(ctx context.Context, s vstore.Store, acks io.Writer) error {
	if err := s.CreateSpace(ctx, vstore.Space{Name: crashSpace, Kind: vstore.KindImages, Model: model, Dim: crashDim}); err != nil {
		return fmt.Errorf("crash space: %w", err)
	}
	seed := uint64(time.Now().UnixNano())
	r := rand.New(rand.NewPCG(seed, 1))
	for round := 0; ; round++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		var b vstore.Batch
		var line strings.Builder
		line.WriteString("try")
		for j, n := 0, 1+r.IntN(12); j < n; j++ {
			if r.IntN(8) == 0 && s.ItemCount() > 0 {
				var victim string
				if err := s.Items(ctx, nil, func(it vstore.Item) bool { victim = it.ID; return r.IntN(4) != 0 }); err != nil {
					return err
				}
				if !strings.Contains(line.String(), " -"+victim) {
					b.DeleteItem(victim)
					fmt.Fprintf(&line, " -%s", victim)
				}
				continue
			}
			id := fmt.Sprintf("c%d-%d-%d", seed%100000, round, j)
			b.PutItem(vstore.Item{ID: id, Hash: id, Files: []vstore.File{{Path: "/crash/" + id}}})
			b.PutVector(crashSpace, id, randVec(r, crashDim))
			fmt.Fprintf(&line, " +%s", id)
		}
		fmt.Fprintln(acks, line.String())
		if err := s.Apply(ctx, &b); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
		fmt.Fprintln(acks, "ack")
	}
}

// RunCrash runs trials kill-and-reopen rounds against one store of target;
// Run calls it (3 trials) as the Crash subtest, soak benchmarks with more.
func RunCrash(t testing.TB, target CrashTarget, trials int) {
	t.Helper()
	present := map[string]bool{}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	for trial := range trials {
		pending := crashOnce(t, target, r.IntN(40)+1, time.Duration(r.IntN(15))*time.Millisecond, present)
		s, err := target.Open()
		if err != nil {
			t.Fatalf("trial %d: reopen after the kill: %v", trial, err)
		}
		checkCrash(t, trial, s, pending, present)
		if err := s.Close(); err != nil {
			t.Fatalf("trial %d: close: %v", trial, err)
		}
	}
}

func checkCrash(t testing.TB, trial int, s vstore.Store, pending []string, present map[string]bool) {
	t.Helper()
	if c, ok := s.(interface{ Check(context.Context) error }); ok {
		if err := c.Check(context.Background()); err != nil {
			t.Fatalf("trial %d: consistency check after the kill: %v", trial, err)
		}
	}
	// The batch in flight is all or nothing: its victims were stored items
	// and its new ids are new, so it was applied exactly when every one of
	// its operations shows.
	if len(pending) > 0 {
		applied := 0
		for _, op := range pending {
			_, err := s.Item(op[1:])
			if (op[0] == '+') == (err == nil) {
				applied++
			}
		}
		if applied != 0 && applied != len(pending) {
			t.Fatalf("trial %d: the batch in flight is half applied (%d of %d operations): %v", trial, applied, len(pending), pending)
		}
		for _, op := range pending {
			_, err := s.Item(op[1:])
			present[op[1:]] = err == nil
		}
	}
	for id, want := range present {
		_, err := s.Item(id)
		if want && err != nil {
			t.Fatalf("trial %d: acknowledged item %s lost: %v", trial, id, err)
		}
		if !want && err == nil {
			t.Fatalf("trial %d: acknowledged delete of %s undone", trial, id)
		}
		if !want {
			continue
		}
		v, err := s.Vector(crashSpace, id)
		if err != nil {
			t.Fatalf("trial %d: vector of acknowledged item %s lost: %v", trial, id, err)
		}
		hits, err := s.Search(context.Background(), crashSpace, v, 1, vstore.SearchOptions{Exact: true})
		if err != nil || len(hits) == 0 || hits[0].Score < 0.999 {
			t.Fatalf("trial %d: exact search for %s = %v, %v", trial, id, hits, err)
		}
	}
	if n, want := s.ItemCount(), countTrue(present); n != want {
		t.Fatalf("trial %d: %d items after the kill, want the %d acknowledged", trial, n, want)
	}
}

func countTrue(m map[string]bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// crashOnce starts a writer, lets it acknowledge acks batches, waits
// delay, SIGKILLs it, records the acknowledged operations in present and
// returns those of the batch in flight (tried, not acknowledged).
func crashOnce(t testing.TB, target CrashTarget, acks int, delay time.Duration, present map[string]bool) []string {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	cmd, err := target.Start(pw)
	pw.Close()
	if err != nil {
		t.Fatalf("start the writer: %v", err)
	}
	lines := make(chan string, 1024)
	go readLines(pr, lines)
	var pending []string
	got := 0
	deadline := time.After(2 * time.Minute)
	for got < acks {
		select {
		case l, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("the writer exited before %d acknowledgements (%d): %v %s", acks, got, cmd.ProcessState, stderrOf(cmd))
			}
			pending = applyLine(l, pending, present, &got)
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the writer acknowledged %d batches in 2 min, want %d: %s", got, acks, stderrOf(cmd))
		}
	}
	time.Sleep(delay)
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for l := range lines {
		pending = applyLine(l, pending, present, &got)
	}
	return pending
}

// stderrOf is what the writer wrote to its stderr, when Start captured it
// in a buffer (a *bytes.Buffer or anything with String).
func stderrOf(cmd *exec.Cmd) string {
	if b, ok := cmd.Stderr.(interface{ String() string }); ok {
		return b.String()
	}
	return ""
}

func applyLine(l string, pending []string, present map[string]bool, acks *int) []string {
	if l == "ack" {
		for _, op := range pending {
			present[op[1:]] = op[0] == '+'
		}
		*acks++
		return nil
	}
	if rest, ok := strings.CutPrefix(l, "try"); ok {
		return strings.Fields(rest)
	}
	return pending
}

func readLines(r io.Reader, out chan<- string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		out <- sc.Text()
	}
	close(out)
}
