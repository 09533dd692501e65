package modelfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func validManifest() *Manifest {
	return &Manifest{
		Format: CurrentFormat, ID: "t", Architecture: Architecture{Dim: 8},
		Image: ImageSpec{Size: 16}, Text: TextSpec{MaxTokens: 64},
		VisionModel: "vision.onnx", TextModel: "text.onnx",
	}
}

func TestWriteLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := validManifest()
	if err := os.WriteFile(filepath.Join(dir, "vision.onnx"), []byte("v"), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := FileSHA256(filepath.Join(dir, "vision.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	m.Files = map[string]string{"vision.onnx": sum}
	if err := Write(dir, m); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "t" || got.Image.Size != 16 || got.Files["vision.onnx"] != sum {
		t.Fatalf("round trip changed the manifest: %+v", got)
	}
	if err := got.Verify(dir); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vision.onnx"), []byte("tampered"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := got.Verify(dir); !errors.Is(err, ErrChecksum) {
		t.Fatalf("verify after tamper: got %v, want ErrChecksum", err)
	}
}

func TestLoadErrors(t *testing.T) {
	newer := validManifest()
	newer.Format = CurrentFormat + 1
	noFiles := validManifest()
	noFiles.VisionModel = ""
	tests := []struct {
		name  string
		write func(dir string) error
		want  error
	}{
		{"missing", func(string) error { return nil }, ErrNoManifest},
		{"garbage", func(d string) error { return os.WriteFile(filepath.Join(d, Name), []byte("{"), 0o644) }, ErrInvalid},
		{"newer format", func(d string) error { return Write(d, newer) }, ErrInvalid},
		{"no model files", func(d string) error { return Write(d, noFiles) }, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := tc.write(dir); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(dir); !errors.Is(err, tc.want) {
				t.Fatalf("Load: got %v, want %v", err, tc.want)
			}
		})
	}
}
