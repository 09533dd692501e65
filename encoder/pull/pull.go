package pull

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"imglish/encoder/convert"
	"imglish/encoder/modelfile"
)

// Mirrors of the official files.
const (
	// OfficialBaseURL is the blob store named in the BEiT-3 README (sub-folder layout).
	OfficialBaseURL = "https://conversationhub.blob.core.windows.net/beit-share-public/beit3/"
	// GitHubMirrorURL is the widely used GitHub release mirror (flat layout).
	GitHubMirrorURL = "https://github.com/addf400/files/releases/download/beit3/"
)

// Layout says where a mirror keeps each file.
type Layout int

// Layouts. LayoutAuto (the zero value) picks LayoutFlat for github.com URLs
// and LayoutFolders otherwise.
const (
	LayoutAuto    Layout = iota
	LayoutFolders        // <base>/<folder>/<file>, as the official blob store
	LayoutFlat           // <base>/<file>, as the GitHub release mirror
)

// ParseLayout reads "auto", "folders" or "flat".
func ParseLayout(s string) (Layout, error) {
	switch s {
	case "", "auto":
		return LayoutAuto, nil
	case "folders":
		return LayoutFolders, nil
	case "flat":
		return LayoutFlat, nil
	default:
		return 0, fmt.Errorf("%w: layout %q (want auto, folders or flat)", ErrOptions, s)
	}
}

// Options configure a Puller. The zero value downloads from the official blob
// store with http.DefaultClient, three resumes, no progress bar, and converts
// to fp32.
type Options struct {
	// BaseURL is the mirror; "" means OfficialBaseURL.
	BaseURL string
	Layout  Layout
	// Catalogue replaces Known() (tests, private mirrors); nil means Known().
	Catalogue []Model
	// TokenizerSHA256 is checked when set.
	TokenizerSHA256 string
	Client          *http.Client
	// Retries is how many times an interrupted download resumes; 0 means 3, <0 none.
	Retries int
	// Backoff is the first pause before a resume (doubling each time); 0 means 1 s.
	Backoff time.Duration
	// Progress receives a progress bar (usually os.Stderr); nil draws none.
	Progress io.Writer
	Logger   *slog.Logger
	// Precision of the converted graphs: "" (fp32) or "fp16".
	Precision string
	// NoConvert leaves the downloaded files unconverted.
	NoConvert bool
	// Now is the clock of the progress bar; nil means time.Now.
	Now func() time.Time
}

// Puller downloads and converts catalogue models. It is safe for concurrent
// use on different names (see the package doc).
type Puller struct {
	base      *url.URL
	flat      bool
	catalogue []Model
	tokSHA    string
	client    *http.Client
	retries   int
	backoff   time.Duration
	progress  io.Writer
	log       *slog.Logger
	precision string
	noConvert bool
	now       func() time.Time
}

// New validates opts and returns a Puller.
func New(opts Options) (*Puller, error) {
	raw := opts.BaseURL
	if raw == "" {
		raw = OfficialBaseURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: base URL %q", ErrOptions, raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	p := &Puller{
		base: u, catalogue: slices.Clone(opts.Catalogue), tokSHA: opts.TokenizerSHA256, client: opts.Client,
		retries: opts.Retries, backoff: opts.Backoff, progress: opts.Progress, log: opts.Logger,
		precision: opts.Precision, noConvert: opts.NoConvert, now: opts.Now,
	}
	switch opts.Layout {
	case LayoutAuto:
		p.flat = strings.EqualFold(u.Hostname(), "github.com")
	case LayoutFolders:
	case LayoutFlat:
		p.flat = true
	default:
		return nil, fmt.Errorf("%w: layout %d", ErrOptions, int(opts.Layout))
	}
	if p.catalogue == nil {
		p.catalogue = Known()
	}
	if p.client == nil {
		p.client = http.DefaultClient
	}
	switch {
	case p.retries == 0:
		p.retries = 3
	case p.retries < 0:
		p.retries = 0
	}
	if p.backoff <= 0 {
		p.backoff = time.Second
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	switch p.precision {
	case "", convert.PrecisionFP32, convert.PrecisionFP16:
	default:
		return nil, fmt.Errorf("%w: precision %q", ErrOptions, p.precision)
	}
	return p, nil
}

// Catalogue returns a copy of the models this Puller knows.
func (p *Puller) Catalogue() []Model { return slices.Clone(p.catalogue) }

// URL is where the mirror keeps m's file.
func (p *Puller) URL(m Model) string {
	rel := m.File
	if !p.flat && m.Folder != "" {
		rel = m.Folder + "/" + m.File
	}
	return p.base.ResolveReference(&url.URL{Path: rel}).String()
}

// Result is what Pull did.
type Result struct {
	Dir        string
	Checkpoint Download
	Tokenizer  Download
	// Manifest is the converted folder's model.json; nil with NoConvert.
	Manifest *modelfile.Manifest
	// Converted is false when the folder already held a verified conversion
	// of the same checkpoint at the same precision, which was kept.
	Converted bool
}

// Pull downloads model name (checkpoint and beit3.spm) into
// <dataDir>/models/<name>/, then converts it there, recording the download's
// sha256 and URL in model.json. Files already complete are verified, not
// refetched; a download interrupted earlier resumes.
func (p *Puller) Pull(ctx context.Context, dataDir, name string) (Result, error) {
	m, err := lookup(p.catalogue, name)
	if err != nil {
		return Result{}, err
	}
	if dataDir == "" {
		return Result{}, fmt.Errorf("%w: empty data folder", ErrOptions)
	}
	dir := filepath.Join(dataDir, "models", m.Name)
	res := Result{Dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return res, fmt.Errorf("create %s: %w", dir, err)
	}
	res.Checkpoint, err = p.fetch(ctx, p.URL(m), filepath.Join(dir, m.File), want{bytes: m.Bytes, sha256: m.SHA256})
	if err != nil {
		return res, err
	}
	res.Tokenizer, err = p.fetch(ctx, p.URL(tokenizerFile), filepath.Join(dir, tokenizerFile.File), want{sha256: p.tokSHA})
	if err != nil {
		return res, err
	}
	if p.noConvert {
		return res, nil
	}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("pull %s: %w", m.Name, err)
	}
	prec := p.precision
	if prec == "" {
		prec = convert.PrecisionFP32
	}
	if old, err := modelfile.Load(dir); err == nil && old.Source.CheckpointSHA256 == res.Checkpoint.SHA256 &&
		old.Precision == prec && old.Text.TokenizerSHA256 == res.Tokenizer.SHA256 && old.Verify(dir) == nil {
		res.Manifest = old
		return res, nil
	}
	man, err := convert.Convert(ctx, convert.Options{
		Checkpoint: res.Checkpoint.Path, OutDir: dir, Tokenizer: res.Tokenizer.Path,
		Precision: p.precision, Logger: p.log,
	})
	if err != nil {
		return res, fmt.Errorf("convert %s: %w", m.Name, err)
	}
	if man.Source.CheckpointSHA256 != res.Checkpoint.SHA256 {
		// The converter hashed the file again; a difference means it changed under us.
		return res, fmt.Errorf("convert %s: checkpoint sha256 %s, downloaded %s: %w", m.Name, man.Source.CheckpointSHA256, res.Checkpoint.SHA256, ErrChecksum)
	}
	man.Source.URL = res.Checkpoint.URL
	if err := modelfile.Write(dir, man); err != nil {
		return res, err
	}
	res.Manifest, res.Converted = man, true
	return res, nil
}

// Installed is one model folder under <data>/models.
type Installed struct {
	Name  string
	Dir   string
	Bytes int64 // every file in the folder, checkpoint included
	// Manifest is nil when the folder has no usable model.json (a pull that
	// did not finish, or ran with NoConvert); Err says why.
	Manifest *modelfile.Manifest
	Err      error
	// Partial is true while a .partial download is in the folder.
	Partial bool
}

// List reports the folders under <dataDir>/models, sorted by name. A missing
// models folder is an empty list.
func List(dataDir string) ([]Installed, error) {
	root := filepath.Join(dataDir, "models")
	entries, err := os.ReadDir(root)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	var out []Installed
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		in := Installed{Name: e.Name(), Dir: filepath.Join(root, e.Name())}
		files, err := os.ReadDir(in.Dir)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", in.Dir, err)
		}
		for _, f := range files {
			if fi, err := f.Info(); err == nil && fi.Mode().IsRegular() {
				in.Bytes += fi.Size()
				in.Partial = in.Partial || strings.HasSuffix(f.Name(), partialSuffix)
			}
		}
		in.Manifest, in.Err = modelfile.Load(in.Dir)
		out = append(out, in)
	}
	return out, nil
}

// HumanBytes formats a size with binary units ("1.3 GiB").
func HumanBytes(n int64) string { return humanBytes(n) }
