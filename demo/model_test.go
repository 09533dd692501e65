package demo

import (
	"path/filepath"
	"testing"

	"imglish/encoder/modelfile"
	"imglish/internal/testenv"
)

// TestCheckpointSHA256 holds CheckpointSHA256 to the committed checkpoint, so
// the server keeps recognising the demo model after it is retrained.
func TestCheckpointSHA256(t *testing.T) {
	sum, err := modelfile.FileSHA256(filepath.Join(testenv.RepoRoot(t), "testdata", "models", "demo", "demo.pth"))
	if err != nil {
		t.Fatal(err)
	}
	if sum != CheckpointSHA256 {
		t.Errorf("testdata/models/demo/demo.pth has sha256 %s; CheckpointSHA256 says %s", sum, CheckpointSHA256)
	}
	for _, tc := range []struct {
		name string
		m    *modelfile.Manifest
		want bool
	}{
		{"demo checkpoint", &modelfile.Manifest{Source: modelfile.Source{CheckpointSHA256: sum}}, true},
		{"another checkpoint", &modelfile.Manifest{Source: modelfile.Source{CheckpointSHA256: "00" + sum[2:]}}, false},
		{"no checksum", &modelfile.Manifest{}, false},
		{"no manifest", nil, false},
	} {
		if got := IsModel(tc.m); got != tc.want {
			t.Errorf("%s: IsModel %v, want %v", tc.name, got, tc.want)
		}
	}
}
