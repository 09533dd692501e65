package indexer

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zeebo/xxh3"
)

// TestKillResumeChild is the child process of TestKillResume; it runs only
// when the parent sets childEnv.
func TestKillResumeChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("child process of TestKillResume")
	}
	storeDir, root, logPath, model := os.Getenv("STORE"), os.Getenv("ROOT"), os.Getenv("EMBEDLOG"), os.Getenv("MODEL")
	modelDir = model
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	enc := openEncoder(t)
	// Log every embedded image before the pipeline can commit it, so that the
	// parent knows what a killed child embedded.
	enc.onEmbed = func(tensor []float32) { fmt.Fprintln(log, tensorKey(tensor)) }
	e := &env{t: t, dir: storeDir, enc: enc, model: enc.Manifest().ID}
	e.open(Options{Workers: 2, BatchSize: 2, MaxWait: 5 * time.Millisecond})
	ix := e.ix
	fmt.Println("READY")
	if _, err := ix.Run(context.Background(), root); err != nil {
		t.Fatal(err)
	}
	fmt.Println("DONE")
}

// TestKillResume SIGKILLs a child indexer at random moments over several
// trials, changing the collection between trials (new files, renames,
// copies). After each kill it checks that no content the store had
// acknowledged before the trial was embedded again; at the end, after a run
// to completion, every file is indexed exactly once.
func TestKillResume(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	trials := 8
	if s := os.Getenv("IMGLISH_RESUME_TRIALS"); s != "" {
		fmt.Sscan(s, &trials)
	}
	storeDir, root, logDir := t.TempDir(), t.TempDir(), t.TempDir()
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	enc := openEncoder(t)
	size, model := enc.ImageSize(), enc.Manifest().ID
	keyHash := map[string]Hash{} // tensorKey → content hash, for every content ever written
	note := func(paths ...string) {
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			keyHash[fileTensorKey(t, p, size)] = Hash(xxh3.Hash128(b).Bytes())
		}
	}
	note(collection(t, root, 12, 100)...)

	var kills, completed, embeds int
	for trial := range trials {
		// Committed content before this trial.
		pe := &env{t: t, dir: storeDir, enc: enc, model: model}
		pe.open(Options{})
		before, err := pe.items()
		if err != nil {
			t.Fatal(err)
		}
		if err := pe.db.Check(t.Context()); err != nil {
			t.Fatalf("store check before trial %d: %v", trial, err)
		}
		pe.db.Close()
		logPath := filepath.Join(logDir, fmt.Sprintf("trial%d.log", trial))
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillResumeChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), childEnv+"=1", "STORE="+storeDir, "ROOT="+root,
			"EMBEDLOG="+logPath, "MODEL="+modelDir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if sc.Text() == "READY" {
				break
			}
		}
		delay := time.Duration(rng.Int64N(int64(700 * time.Millisecond)))
		timer := time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		timer.Stop()
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			kills++
		} else if err != nil {
			t.Fatalf("trial %d: child failed: %v\n%s", trial, err, strings.Join(lines, "\n"))
		} else {
			completed++
		}
		// Nothing acknowledged before the trial was embedded again.
		logged, _ := os.ReadFile(logPath)
		for _, k := range strings.Fields(string(logged)) {
			embeds++
			h, ok := keyHash[k]
			if !ok {
				t.Errorf("trial %d embedded an unknown image %s", trial, k)
				continue
			}
			if _, was := before[h]; was {
				t.Errorf("trial %d (killed after %v) re-embedded committed content %s", trial, delay, h)
			}
		}
		// Change the collection for the next trial.
		fresh := collection(t, filepath.Join(root, fmt.Sprintf("t%d", trial)), 5, uint64(200+trial))
		note(fresh...)
		if err := os.Rename(fresh[0], fresh[0]+".moved.png"); err != nil {
			t.Fatal(err)
		}
		copyFile(t, fresh[1], filepath.Join(root, fmt.Sprintf("copy%d.png", trial)))
	}

	// Finish in this process and check the end state.
	e := &env{t: t, dir: storeDir, enc: enc, model: model}
	e.open(Options{})
	e.run(root)
	e.checkConsistent(root, nil)
	items, err := e.items()
	if err != nil {
		t.Fatal(err)
	}
	unique := map[Hash]bool{}
	for _, h := range keyHash {
		unique[h] = true
	}
	if len(items) != len(unique) {
		t.Errorf("store holds %d items, the collection %d distinct images", len(items), len(unique))
	}
	t.Logf("%d trials: %d killed, %d completed; %d images embedded by children + %d by the final run for %d distinct",
		trials, kills, completed, embeds, enc.images.Load(), len(unique))
}
