package convert

import (
	"archive/zip"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"imglish/encoder/modelfile"
	"imglish/internal/testenv"
)

// fixtures mirrors the parts of testdata/reference/goldens.json these tests use
// (format: tools/reference/README.md).
type fixtures struct {
	Checkpoints map[string]fixture `json:"checkpoints"`
	Errors      map[string]struct {
		File      string                      `json:"file"`
		Missing   []string                    `json:"missing"`
		Misshaped map[string]map[string][]int `json:"misshaped"`
	} `json:"error_checkpoints"`
}

type fixture struct {
	File   string `json:"file"`
	Dtype  string `json:"dtype"`
	SHA256 string `json:"sha256"`
	Config struct {
		Dim, Layers, Heads, FFNDim, ImgSize, PatchSize, VocabSize, TextPositions int
	} `json:"config"`
}

func (f *fixture) UnmarshalJSON(b []byte) error {
	type plain fixture
	var raw struct {
		plain
		Config map[string]float64 `json:"config"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*f = fixture(raw.plain)
	c := raw.Config
	f.Config.Dim, f.Config.Layers, f.Config.Heads = int(c["dim"]), int(c["layers"]), int(c["heads"])
	f.Config.FFNDim, f.Config.ImgSize, f.Config.PatchSize = int(c["ffn_dim"]), int(c["img_size"]), int(c["patch_size"])
	f.Config.VocabSize, f.Config.TextPositions = int(c["vocab_size"]), int(c["text_positions"])
	return nil
}

func refDir(t testing.TB) string { return testenv.Path(t, "testdata", "reference") }

func loadFixtures(t testing.TB) *fixtures {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(refDir(t), "goldens.json"))
	if err != nil {
		t.Fatalf("read goldens (regenerate with tools/reference/make_fixtures.py): %v", err)
	}
	var f fixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func TestInferConfig(t *testing.T) {
	fx := loadFixtures(t)
	names := []string{"tiny", "tiny_module_fp16", "tiny_bare_bf16", "tiny_junk", "tiny224", "base_shaped"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			f, ok := fx.Checkpoints[name]
			if !ok {
				t.Fatalf("%s not in goldens.json", name)
			}
			ck, err := OpenCheckpoint(filepath.Join(refDir(t), f.File))
			if err != nil {
				t.Fatal(err)
			}
			defer ck.Close()
			cfg, err := InferConfig(ck, f.Config.Heads)
			if err != nil {
				t.Fatal(err)
			}
			want := Config{Dim: f.Config.Dim, Layers: f.Config.Layers, Heads: f.Config.Heads, FFNDim: f.Config.FFNDim,
				Patch: f.Config.PatchSize, InChans: 3, Grid: f.Config.ImgSize / f.Config.PatchSize,
				VocabRows: f.Config.VocabSize, TextPos: f.Config.TextPositions}
			if cfg != want {
				t.Fatalf("config %+v, want %+v", cfg, want)
			}
			// Heads default to width/64 (official base and large).
			def, err := InferConfig(ck, 0)
			if err != nil || def.Heads != f.Config.Dim/64 {
				t.Fatalf("default heads %d (%v), want %d", def.Heads, err, f.Config.Dim/64)
			}
		})
	}
}

func TestExpectedShapesMatchOfficialCount(t *testing.T) {
	// Spec §3.2: base has 494 state_dict entries, large 974; the dual encoder
	// reads all but logit_scale and mask_token.
	for _, tc := range []struct {
		cfg  Config
		want int
	}{
		{Config{Dim: 768, Layers: 12, FFNDim: 3072, Patch: 16, InChans: 3, Grid: 24, VocabRows: 64010, TextPos: 1024}, 494 - 2},
		{Config{Dim: 1024, Layers: 24, FFNDim: 4096, Patch: 16, InChans: 3, Grid: 24, VocabRows: 64010, TextPos: 1024}, 974 - 2},
	} {
		if got := len(tc.cfg.ExpectedShapes()); got != tc.want {
			t.Errorf("dim %d: %d keys, want %d", tc.cfg.Dim, got, tc.want)
		}
	}
}

func TestCheckpointErrors(t *testing.T) {
	fx := loadFixtures(t)
	dir := t.TempDir()
	notZip := filepath.Join(dir, "legacy.pth")
	if err := os.WriteFile(notZip, []byte("\x80\x02not a zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	var misshaped []string
	for k := range fx.Errors["tiny_misshaped"].Misshaped {
		misshaped = append(misshaped, k)
	}
	tests := []struct {
		name       string
		path       string
		missing    []string
		mismatched []string
		cause      error
	}{
		{"missing keys", filepath.Join(refDir(t), fx.Errors["tiny_missing"].File), fx.Errors["tiny_missing"].Missing, nil, nil},
		{"mis-shaped key", filepath.Join(refDir(t), fx.Errors["tiny_misshaped"].File), nil, misshaped, nil},
		{"not a zip", notZip, nil, nil, zip.ErrFormat},
		{"no such file", filepath.Join(dir, "absent.pth"), nil, nil, fs.ErrNotExist},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Convert(t.Context(), Options{Checkpoint: tc.path, OutDir: t.TempDir(), Heads: 4})
			if !errors.Is(err, ErrCheckpoint) {
				t.Fatalf("got %v, want ErrCheckpoint", err)
			}
			var ce *CheckpointError
			if !errors.As(err, &ce) {
				t.Fatalf("got %T, want *CheckpointError", err)
			}
			if tc.cause != nil && !errors.Is(err, tc.cause) {
				t.Fatalf("got %v, want cause %v", err, tc.cause)
			}
			sort.Strings(tc.missing)
			sort.Strings(ce.Missing)
			if !slices.Equal(ce.Missing, tc.missing) {
				t.Errorf("missing %v, want %v", ce.Missing, tc.missing)
			}
			var keys []string
			for _, m := range ce.Mismatched {
				keys = append(keys, m.Key)
			}
			sort.Strings(tc.mismatched)
			if !slices.Equal(keys, tc.mismatched) {
				t.Errorf("mis-shaped %v, want %v", keys, tc.mismatched)
			}
		})
	}
}

// TestDTypes reads the same weights stored as fp32, fp16 and bf16: the 16-bit
// copies are the fp32 values rounded to nearest (11 and 8 significant bits).
func TestDTypes(t *testing.T) {
	fx := loadFixtures(t)
	read := func(name string) []float32 {
		ck, err := OpenCheckpoint(filepath.Join(refDir(t), fx.Checkpoints[name].File))
		if err != nil {
			t.Fatal(err)
		}
		defer ck.Close()
		v, err := ck.Float32("beit3.encoder.layers.1.ffn.B.fc2.weight")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ref := read("tiny")
	for _, tc := range []struct {
		name string
		rel  float64
	}{{"tiny_module_fp16", 1.0 / (1 << 11)}, {"tiny_bare_bf16", 1.0 / (1 << 8)}, {"tiny_junk", 0}} {
		got := read(tc.name)
		if len(got) != len(ref) {
			t.Fatalf("%s: %d values, want %d", tc.name, len(got), len(ref))
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - ref[i])); d > tc.rel*math.Abs(float64(ref[i]))+1e-7 {
				t.Fatalf("%s[%d] = %v, fp32 %v", tc.name, i, got[i], ref[i])
			}
		}
	}
}

// TestStridedView reads non-contiguous views and offsets out of a storage.
func TestStridedView(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.zip")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "s/data/0", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, 4*8)
	for i := 0; i < 8; i++ {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(i)))
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fr, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fr.Close()
	st, _ := fr.Stat()
	zr, err := zip.NewReader(fr, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	ck := &Checkpoint{path: path, f: fr, zr: zr, files: map[string]*zip.File{"data/0": zr.File[0]}, tensors: map[string]*tensorRef{}}
	storage := &storageRef{key: "0", dt: dtFloat32, numel: 8}
	tests := []struct {
		name   string
		offset int64
		shape  []int
		stride []int64
		want   []float32
	}{
		{"contiguous with offset", 2, []int{2, 2}, []int64{2, 1}, []float32{2, 3, 4, 5}},
		{"transposed", 0, []int{3, 2}, []int64{1, 3}, []float32{0, 3, 1, 4, 2, 5}},
		{"every other", 1, []int{3}, []int64{2}, []float32{1, 3, 5}},
		{"broadcast row", 4, []int{2, 3}, []int64{0, 1}, []float32{4, 5, 6, 4, 5, 6}},
	}
	for _, tc := range tests {
		ck.tensors[tc.name] = &tensorRef{st: storage, offset: tc.offset, shape: tc.shape, stride: tc.stride}
		got, err := ck.Float32(tc.name)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
	ck.tensors["out of range"] = &tensorRef{st: storage, offset: 6, shape: []int{3}, stride: []int64{1}}
	if _, err := ck.Float32("out of range"); !errors.Is(err, ErrCheckpoint) {
		t.Fatalf("out of range view: got %v, want ErrCheckpoint", err)
	}
}

func TestHalfRoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := halfToFloat(uint16(h))
		if f != f { // NaN stays NaN
			if g := halfToFloat(floatToHalf(f)); g == g {
				t.Fatalf("NaN %#04x round-tripped to %v", h, g)
			}
			continue
		}
		if back := floatToHalf(f); back != uint16(h) {
			t.Fatalf("%#04x → %v → %#04x", h, f, back)
		}
	}
	tests := []struct {
		in   float32
		want uint16
	}{
		{1 + 1.0/2048, 0x3c00},    // tie, rounds to even (1.0)
		{1 + 3.0/2048, 0x3c02},    // tie, rounds to even (1 + 2/1024)
		{65520, 0x7c00},           // rounds up past the largest finite half: +inf
		{1e-8, 0x0000},            // below half the smallest subnormal
		{5.960464477539063e-8, 1}, // smallest subnormal
		{-2, 0xc000},
	}
	for _, tc := range tests {
		if got := floatToHalf(tc.in); got != tc.want {
			t.Errorf("floatToHalf(%v) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}

func TestResizePositions(t *testing.T) {
	const d = 2
	// A constant table stays constant (the weights sum to one) and the 3
	// leading rows are copied; orig == next is the identity.
	table := make([]float32, (3+14*14)*d)
	for i := range table {
		table[i] = 0.25
	}
	table[0], table[5] = 7, -3
	out := resizePositions(table, d, 14, 24)
	if len(out) != (3+24*24)*d {
		t.Fatalf("%d values", len(out))
	}
	if out[0] != 7 || out[5] != -3 {
		t.Fatalf("leading rows changed: %v", out[:6])
	}
	for i := 3 * d; i < len(out); i++ {
		if math.Abs(float64(out[i])-0.25) > 1e-7 {
			t.Fatalf("out[%d] = %v, want 0.25", i, out[i])
		}
	}
	if same := resizePositions(table, d, 14, 14); &same[0] != &table[0] {
		t.Fatal("orig == next copied the table")
	}
}

func TestConvertManifestAndFiles(t *testing.T) {
	fx := loadFixtures(t)
	f := fx.Checkpoints["tiny"]
	ckpt := filepath.Join(refDir(t), f.File)
	tok := filepath.Join(t.TempDir(), "beit3.spm")
	if err := os.WriteFile(tok, []byte("sentencepiece model bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// A stale temp from a crashed run is cleaned up.
	if err := os.WriteFile(filepath.Join(dir, ".vision.onnx.tmp-123"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := Convert(t.Context(), Options{Checkpoint: ckpt, OutDir: dir, Tokenizer: tok, Heads: 4})
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := modelfile.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Verify(dir); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"beit3.spm", modelfile.Name, TextFile, VisionFile}; !slices.Equal(names, want) {
		t.Fatalf("folder holds %v, want %v", names, want)
	}
	if len(loaded.Files) != 3 || loaded.Text.Tokenizer != "beit3.spm" || loaded.Text.TokenizerSHA256 != loaded.Files["beit3.spm"] {
		t.Fatalf("files %v, tokenizer %q %q", loaded.Files, loaded.Text.Tokenizer, loaded.Text.TokenizerSHA256)
	}
	if loaded.Source.CheckpointSHA256 != f.SHA256 {
		t.Errorf("checkpoint sha %s, goldens.json says %s", loaded.Source.CheckpointSHA256, f.SHA256)
	}
	if math.Abs(loaded.LogitScale-math.Log(1/0.07)) > 1e-6 {
		t.Errorf("logit scale %v, want the checkpoint's ln(1/0.07)", loaded.LogitScale)
	}
	if loaded.Image.Size != 32 || loaded.Image.Resize != "squash-bicubic-pil" || loaded.Image.Mean != [3]float32{0.5, 0.5, 0.5} ||
		loaded.Text.MaxTokens != 64 || loaded.Architecture.Heads != 4 || loaded.Precision != PrecisionFP32 {
		t.Errorf("manifest %+v", loaded)
	}
	// The ID names the vector space: stable for the same inputs, different for
	// another precision or image size.
	again, err := Convert(t.Context(), Options{Checkpoint: ckpt, OutDir: t.TempDir(), Heads: 4})
	if err != nil {
		t.Fatal(err)
	}
	fp16, err := Convert(t.Context(), Options{Checkpoint: ckpt, OutDir: t.TempDir(), Heads: 4, Precision: PrecisionFP16})
	if err != nil {
		t.Fatal(err)
	}
	bigger, err := Convert(t.Context(), Options{Checkpoint: ckpt, OutDir: t.TempDir(), Heads: 4, ImageSize: 48})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != m.ID || fp16.ID == m.ID || bigger.ID == m.ID || fp16.ID == bigger.ID {
		t.Errorf("ids: %s, again %s, fp16 %s, 48px %s", m.ID, again.ID, fp16.ID, bigger.ID)
	}
	if again.Files[VisionFile] != m.Files[VisionFile] {
		t.Error("conversion is not deterministic")
	}
}

func TestConvertOptionErrors(t *testing.T) {
	ckpt := filepath.Join(refDir(t), loadFixtures(t).Checkpoints["tiny"].File)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		opts Options
		want error
	}{
		{"unknown precision", t.Context(), Options{Checkpoint: ckpt, Precision: "int4"}, ErrOptions},
		{"image size off the patch grid", t.Context(), Options{Checkpoint: ckpt, ImageSize: 40}, ErrOptions},
		{"heads do not divide width", t.Context(), Options{Checkpoint: ckpt, Heads: 5}, ErrOptions},
		{"no checkpoint", t.Context(), Options{}, ErrOptions},
		{"cancelled", cancelled, Options{Checkpoint: ckpt, Heads: 4}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.opts.OutDir = dir
			if _, err := Convert(tc.ctx, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if _, err := modelfile.Load(dir); !errors.Is(err, modelfile.ErrNoManifest) {
				t.Fatalf("a failed conversion left a manifest: %v", err)
			}
		})
	}
}
