package engines_test

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/clusterf/clusterf/atrest"
	"github.com/clusterf/clusterf/chunk"
	"github.com/clusterf/clusterf/chunk/chunktest"
	"github.com/clusterf/clusterf/chunk/engines"
	"github.com/clusterf/clusterf/chunk/extent"
	"github.com/clusterf/clusterf/chunk/sealed"
)

var crashRounds = flag.Int("crash.rounds", 8, "kill -9 rounds per engine and encryption setting in TestCrash")

// The child side of TestCrash runs in a re-executed test binary.
const (
	envChild  = "CLUSTERF_CRASH_CHILD"
	envEngine = "CLUSTERF_CRASH_ENGINE"
	envSealed = "CLUSTERF_CRASH_SEALED"
	envSeed   = "CLUSTERF_CRASH_SEED"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChild); dir != "" {
		seed, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
		crashChild(dir, os.Getenv(envEngine), os.Getenv(envSealed) != "", seed)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var crashKeys = atrest.KeysFromMaster([32]byte{0xc7})

// openCrashStore opens engine in dir the way the crash test uses it:
// extent with small segments, so rolls, hints and compaction all happen.
func openCrashStore(dir, engine string, seal bool) (chunk.Store, error) {
	var s chunk.Store
	var err error
	if engine == "extent" {
		s, err = extent.OpenOptions(dir, extent.Options{SegmentSize: 256 << 10, GarbageRatio: 0.3})
	} else {
		s, err = engines.Open(engine, dir)
	}
	if err != nil || !seal {
		return s, err
	}
	return sealed.New(s, crashKeys), nil
}

// crashChild puts and deletes chunks from three goroutines until it is
// killed. It prints "P id" after a Put returned nil and "X id" before it
// starts a Delete, each line in one write.
func crashChild(dir, engine string, seal bool, seed uint64) {
	s, err := openCrashStore(dir, engine, seal)
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			var mine []chunk.ID
			for i := uint64(0); ; i++ {
				if len(mine) > 0 && r.IntN(4) == 0 {
					j := r.IntN(len(mine))
					id := mine[j]
					mine = append(mine[:j], mine[j+1:]...)
					os.Stdout.WriteString("X " + id.String() + "\n")
					if err := s.Delete(ctx, id); err != nil {
						fmt.Fprintln(os.Stderr, "delete:", err)
						os.Exit(3)
					}
					continue
				}
				n := 1 + r.IntN(8<<10)
				if r.IntN(5) == 0 {
					n = 64<<10 + r.IntN(256<<10)
				}
				cseed := seed<<32 | uint64(w)<<28 | i
				c := chunktest.RandomChunk(cseed, n)
				if r.IntN(2) == 0 {
					c = chunktest.TextChunk(cseed, n)
				}
				if err := s.Put(ctx, c.ID, c.Blob); err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(3)
				}
				os.Stdout.WriteString("P " + c.ID.String() + "\n")
				mine = append(mine, c.ID)
			}
		})
	}
	wg.Wait()
}

// TestCrash (every engine, encryption off and on): a child process puts
// and deletes chunks and reports each acknowledged put; it is killed with
// SIGKILL at a random moment (sometimes while it is still opening, i.e.
// recovering); then every acknowledged chunk must read back verified,
// every stored chunk must decode (nothing else corrupt), and Usage must
// equal what List finds. Rounds accumulate in one dir. -crash.rounds=N
// runs more.
func TestCrash(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range engines.Names() {
		for _, seal := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/sealed=%v", engine, seal), func(t *testing.T) {
				crashRoundsOf(t, exe, engine, seal)
			})
		}
	}
}

func crashRoundsOf(t *testing.T, exe, engine string, seal bool) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	must := map[chunk.ID]bool{} // acknowledged puts with no delete started
	var total int
	for round := range *crashRounds {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"="+dir, envEngine+"="+engine,
			envSeed+"="+strconv.Itoa(round+1), envSealed+"="+map[bool]string{true: "1"}[seal])
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		early := r.IntN(5) == 0 // kill during open (recovery) or the first puts
		var first string
		if !early {
			select {
			case first = <-lines:
			case <-time.After(30 * time.Second):
				t.Fatalf("round %d: child acknowledged nothing in 30 s: %s", round, stderr.String())
			}
		}
		time.Sleep(time.Duration(r.IntN(200)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		var got []string
		if first != "" {
			got = append(got, first)
		}
		for l := range lines {
			got = append(got, l)
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself (%v): %s", round, err, stderr.String())
		}
		for _, l := range got {
			id, perr := chunk.ParseID(l[2:])
			if perr != nil {
				t.Fatalf("round %d: child said %q", round, l)
			}
			switch l[0] {
			case 'P':
				must[id] = true
				total++
			case 'X':
				delete(must, id)
			}
		}
		checkAfterCrash(t, dir, engine, seal, must, round)
	}
	t.Logf("%d rounds, %d acknowledged puts, %d chunks that must be present at the end", *crashRounds, total, len(must))
}

func checkAfterCrash(t *testing.T, dir, engine string, seal bool, must map[chunk.ID]bool, round int) {
	t.Helper()
	s, err := openCrashStore(dir, engine, seal)
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer s.Close()
	ctx := context.Background()
	for id := range must {
		blob, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("round %d: acknowledged chunk %s: %v", round, id, err)
		}
		if _, err := chunk.Decode(id, blob); err != nil {
			t.Fatalf("round %d: acknowledged chunk: %v", round, err)
		}
	}
	var u chunk.Usage
	err = s.List(ctx, func(id chunk.ID) error {
		blob, err := s.Get(ctx, id)
		if err != nil {
			return fmt.Errorf("listed chunk %s: %w", id, err)
		}
		if _, err := chunk.Decode(id, blob); err != nil {
			return err
		}
		u.Chunks++
		u.Bytes += int64(len(blob))
		return nil
	})
	if err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	if got, _ := s.Usage(ctx); got != u {
		t.Fatalf("round %d: Usage = %+v, List finds %+v", round, got, u)
	}
}
