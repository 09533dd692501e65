// Package jpegscale is a JPEG decoder that can scale in the DCT domain:
// it decodes at 1/1, 1/2, 1/4 or 1/8 of the stored size with libjpeg's
// reduced inverse DCTs (jpeg_idct_4x4, 2x2, 1x1), which is what Pillow's
// Image.draft and libjpeg's scale_num/scale_denom do. A 12-megapixel photo
// bound for a 384×384 tensor is decoded at 1/4 size, so the IDCT, the
// colour conversion and the resize touch a sixteenth of the samples.
//
// # Origin and changes
//
// This is a fork of Go's image/jpeg (Go 1.26, BSD licence, see LICENSE in
// this folder): marker parsing, the SOF/DHT/DQT/DRI/SOS checks, the
// progressive and refinement decoding are the standard library's. Changed:
//
//   - input is a []byte held in memory, not an io.Reader;
//   - the bit reader keeps a 64-bit accumulator refilled 8 bytes at a time,
//     Huffman tables look 9 bits ahead, and AC tables decode a whole
//     run/size/extra-bits symbol in one lookup (as libjpeg-turbo and
//     stb_image do); at a marker or the end of the data it pads with zero
//     bits but still fails a block that needs them, as image/jpeg does;
//   - the IDCTs are libjpeg's (islow 8×8 and the reduced ones), not Go's,
//     and each component gets libjpeg's IDCT size (chroma is scaled up in
//     the DCT where the sampling allows, as jdmaster.c does);
//   - progressive coefficients are kept as int16, like libjpeg's JCOEF;
//   - restart intervals in non-interleaved scans count single blocks
//     (A.2.2), not the interleaved MCU;
//   - the output is planes plus their subsampling and whether libjpeg would
//     use fancy upsampling, not an image.Image with Go's colour handling;
//   - CMYK, YCCK, RGB-coded and unusually sampled images are not decoded:
//     Decode returns ErrFallback and the caller uses image/jpeg.
//
// # Security
//
// Decode allocates the planes for the frame size in the header (and, for
// progressive images, 128 bytes per block of coefficients) before reading
// the data, so the caller must check Config's size against its limits
// first. Every index is bounded by the frame; Decode also recovers from a
// panic as a last line of defence. FuzzDecode covers it.
//
// # Concurrency
//
// Decode and Config are safe for concurrent use; nothing is shared.
package jpegscale
