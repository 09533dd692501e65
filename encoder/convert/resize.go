package convert

import "math"

// resizePositions resizes a vision position table [3+orig², d] to [3+next², d]
// exactly as load_model_and_may_interpolate does (spec §3.3): the first 3 rows
// are copied, rows 3.. form a row-major [orig, orig] grid resized per channel
// with PyTorch bicubic (A = −0.75, align_corners=False, borders replicated),
// first along grid rows, then along columns. Computed in float64.
func resizePositions(table []float32, d, orig, next int) []float32 {
	if orig == next {
		return table
	}
	out := make([]float32, (3+next*next)*d)
	copy(out, table[:3*d])
	idx, w := bicubicTaps(orig, next)
	// Pass 1: along grid rows (H): [orig, orig] → [next, orig].
	tmp := make([]float64, next*orig*d)
	for i := 0; i < next; i++ {
		for c := 0; c < orig; c++ {
			dst := tmp[(i*orig+c)*d : (i*orig+c+1)*d]
			for k := 0; k < 4; k++ {
				src := table[(3+idx[i][k]*orig+c)*d:]
				for ch := range dst {
					dst[ch] += w[i][k] * float64(src[ch])
				}
			}
		}
	}
	// Pass 2: along columns (W): [next, orig] → [next, next].
	acc := make([]float64, d)
	for i := 0; i < next; i++ {
		for j := 0; j < next; j++ {
			clear(acc)
			for k := 0; k < 4; k++ {
				src := tmp[(i*orig+idx[j][k])*d:]
				for ch := range acc {
					acc[ch] += w[j][k] * src[ch]
				}
			}
			dst := out[(3+i*next+j)*d : (3+i*next+j+1)*d]
			for ch := range dst {
				dst[ch] = float32(acc[ch])
			}
		}
	}
	return out
}

// bicubicTaps returns, for each output index, the 4 clamped source indices and
// Keys weights (A = −0.75) of PyTorch's bicubic with align_corners=False.
func bicubicTaps(in, out int) ([][4]int, [][4]float64) {
	const a = -0.75
	cubic1 := func(x float64) float64 { return ((a+2)*x-(a+3))*x*x + 1 }   // |x| ≤ 1
	cubic2 := func(x float64) float64 { return ((a*x-5*a)*x+8*a)*x - 4*a } // 1 < |x| < 2
	scale := float64(in) / float64(out)
	idx := make([][4]int, out)
	w := make([][4]float64, out)
	for i := 0; i < out; i++ {
		src := (float64(i)+0.5)*scale - 0.5
		i0 := math.Floor(src)
		t := src - i0
		w[i] = [4]float64{cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)}
		for k := 0; k < 4; k++ {
			idx[i][k] = min(max(int(i0)+k-1, 0), in-1)
		}
	}
	return idx, w
}
