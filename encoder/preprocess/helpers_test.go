package preprocess

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"imglish/internal/testenv"
)

func repoRoot(t testing.TB) string { return testenv.RepoRoot(t) }

func fixture(t testing.TB, name string) string {
	return filepath.Join(repoRoot(t), "testdata", "preprocess", name)
}

func sharedData(t testing.TB) string { return testenv.SharedData(t) }

type goldenManifest struct {
	Resize []struct {
		Fixture, What, Golden string
		Width, Height         int
	}
	Orient []struct {
		File, Golden string
		Orientation  int
	}
	Cases []struct{ File, Want string }
	JPEG  []struct{ File, Golden string }
}

func loadManifest(t testing.TB) goldenManifest {
	t.Helper()
	b, err := os.ReadFile(fixture(t, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m goldenManifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// readPNGRGB loads a golden PNG (RGB, 8-bit) as our RGB type.
func readPNGRGB(t testing.TB, path string) *RGB {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	rgb, err := toRGB(img, convertOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return rgb
}

// decodeFile runs Decode on a file.
func decodeFile(t testing.TB, path string, opts Options) (*RGB, Info, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Decode(f, opts)
}

// diffStats returns the largest and mean absolute byte difference.
func diffStats(a, b *RGB) (maxd int, mean float64) {
	sum := 0
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		if d < 0 {
			d = -d
		}
		sum += d
		maxd = max(maxd, d)
	}
	return maxd, float64(sum) / float64(max(len(a.Pix), 1))
}

// firstDiff locates the first differing pixel, for failure messages.
func firstDiff(a, b *RGB) (image.Point, [3]uint8, [3]uint8) {
	for i := 0; i+2 < len(a.Pix); i += 3 {
		if a.Pix[i] != b.Pix[i] || a.Pix[i+1] != b.Pix[i+1] || a.Pix[i+2] != b.Pix[i+2] {
			p := i / 3
			return image.Pt(p%a.Width, p/a.Width), [3]uint8(a.Pix[i : i+3]), [3]uint8(b.Pix[i : i+3])
		}
	}
	return image.Pt(-1, -1), [3]uint8{}, [3]uint8{}
}
