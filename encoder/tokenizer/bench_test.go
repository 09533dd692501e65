package tokenizer

import (
	"testing"
)

// BenchmarkEncode encodes every corpus line per iteration and reports
// throughput in pieces ("tokens") per second, per model.
func BenchmarkEncode(b *testing.B) {
	lines := readLines(b, "corpus.txt")
	texts := make([]string, len(lines))
	for i, l := range lines {
		texts[i] = string(l)
	}
	for _, name := range exactModels {
		b.Run(name, func(b *testing.B) {
			tk := loadModel(b, name)
			b.ReportAllocs()
			b.ResetTimer()
			tokens := 0
			for b.Loop() {
				for _, s := range texts {
					tokens += len(tk.Encode(s))
				}
			}
			b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkLoad measures building a Tokenizer from model bytes.
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"uni_nmt_nfkc", "bpe_identity"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				loadModel(b, name)
			}
		})
	}
}
