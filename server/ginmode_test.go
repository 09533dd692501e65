package server

import (
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestMain runs the tests in gin's test mode: gin's mode is process state
// that New leaves alone (TestNewLeavesGinMode), and its debug mode would
// print every route of every test server. It stops the Weaviate node that
// IMGLISH_TEST_BACKEND=weaviate shares between envs.
func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	code := m.Run()
	if err := stopSharedCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the shared weaviate node:", err)
		code = max(code, 1)
	}
	os.Exit(code)
}

// TestNewLeavesGinMode: New builds its engines without gin.SetMode, which is
// global (another gin engine in the process, or the embedding program, owns it).
func TestNewLeavesGinMode(t *testing.T) {
	t.Cleanup(func() { gin.SetMode(gin.TestMode) })
	for _, mode := range []string{gin.DebugMode, gin.TestMode, gin.ReleaseMode} {
		gin.SetMode(mode)
		srv, err := New(Deps{DataDir: t.TempDir()}, Options{
			Keys:   []APIKey{{Name: "w", Key: writeKey, Scope: ScopeWrite}},
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if got := gin.Mode(); got != mode {
			t.Errorf("gin mode %q before New, %q after", mode, got)
		}
	}
}
