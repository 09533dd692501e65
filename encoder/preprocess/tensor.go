package preprocess

// Tensor resizes img to size×size (squashed, Pillow BICUBIC) and writes it
// as a CHW float32 tensor normalised per channel like torchvision's
// ToTensor + Normalize: v = (p/255 − mean)/std, in float32 arithmetic.
// Zero mean and std mean 0.5 (BEiT-3). dst is reused when it has room for
// 3·size·size values. It is safe for concurrent use.
func Tensor(img *RGB, size int, mean, std [3]float32, dst []float32) []float32 {
	r := img
	if img.Width != size || img.Height != size {
		r = Resize(img, size, size)
	}
	return Normalize(r, mean, std, dst)
}

// Normalize writes img (any size) as CHW float32, see Tensor.
func Normalize(img *RGB, mean, std [3]float32, dst []float32) []float32 {
	n := img.Width * img.Height
	if cap(dst) < 3*n {
		dst = make([]float32, 3*n)
	}
	dst = dst[:3*n]
	mean, std = normParams(mean, std)
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		lut[c] = normLUT(mean[c], std[c])
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:]
	p := img.Pix[:3*n]
	for i := 0; i < n; i++ {
		r[i] = lut[0][p[3*i]]
		g[i] = lut[1][p[3*i+1]]
		b[i] = lut[2][p[3*i+2]]
	}
	return dst
}

// normParams applies the zero-value defaults: an all-zero mean and an
// all-zero std are BEiT-3's 0.5; a zero std in one channel is 0.5 too, since
// dividing by zero is never meant.
func normParams(mean, std [3]float32) ([3]float32, [3]float32) {
	if std == ([3]float32{}) {
		std = [3]float32{0.5, 0.5, 0.5}
		if mean == ([3]float32{}) {
			mean = [3]float32{0.5, 0.5, 0.5}
		}
	}
	for c := range std {
		if std[c] == 0 {
			std[c] = 0.5
		}
	}
	return mean, std
}

// normLUT tabulates (p/255 − mean)/std for every byte, each step rounded to
// float32 as torch does (ToTensor divides a float32 tensor by 255, Normalize
// subtracts then divides).
func normLUT(mean, std float32) [256]float32 {
	var t [256]float32
	for p := range t {
		v := float32(p) / 255
		v -= mean
		t[p] = v / std
	}
	return t
}
