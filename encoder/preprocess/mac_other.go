//go:build !amd64

package preprocess

// haveMAC is false: macRows runs in Go only.
const haveMAC = false

// macRows16 is never called where haveMAC is false; it leaves dst as is.
func macRows16(dst *uint8, n int, src *uint8, stride int, k *int32, taps int) {}
