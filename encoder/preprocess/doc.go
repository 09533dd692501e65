// Package preprocess turns image files into the BEiT-3 vision input exactly
// as the official pipeline would (../shared/spec/beit3.md §4): decode,
// Pillow's convert('RGB'), Pillow's BICUBIC resize squashed to a square,
// then torchvision's ToTensor and Normalize, as CHW float32.
//
// # Decoding
//
// Formats are recognised by their leading bytes, never by file name: JPEG
// (baseline, progressive, grayscale, CMYK/YCCK), PNG (all bit depths,
// palette, alpha, interlaced), GIF (first frame), WebP (lossy, lossless,
// alpha; not animated), BMP and TIFF, through the standard library and
// golang.org/x/image. HEIC, AVIF, JPEG 2000, BigTIFF, animated WebP and
// everything else give ErrUnsupported. The HEIC/AVIF decoders of
// github.com/gen2brain (libheif/dav1d compiled to WASM, run by wazero, or a
// system library through purego when one is installed) are not wired in
// yet: tried on ../shared/data's samples they decoded all three and refused
// a truncated AVIF cleanly, but a program using them weighed 9.5 MB and
// paid 0.9–1.4 s of WASM compilation on its first decode, and their output
// has no Pillow 9.4 reference to be checked against.
//
// JPEG colour follows libjpeg-turbo (what Pillow uses): fancy chroma
// upsampling and its fixed-point YCbCr tables, so only IDCT rounding
// differs; over ../shared/data/photos the mean difference from Pillow at
// 384×384 is 0.04 levels, at most 4. Non-JPEG inputs decode identically to
// Pillow, and from there the resize and tensor are bit-exact (golden tests
// made by tools/preprocess/make_goldens.py).
//
// EXIF orientation (JPEG APP1, PNG eXIf, WebP EXIF, TIFF IFD0) is applied
// unless Options.IgnoreOrientation; BEiT-3's own loader ignores it, but
// phone photos are mostly stored sideways. Values outside 1..8 mean 1. The
// same EXIF block gives Metadata (capture time, camera, lens, GPS) through a
// small bounded parser of our own.
//
// # Security
//
// Inputs are hostile. Before any pixel is decoded, the header's size is
// checked against Options.MaxPixels (100 MP by default) and against a
// decoded-memory budget derived from it, so dimension bombs and
// decompression bombs (a 389 KB PNG that inflates to 400 MB) are refused
// with ErrTooLarge having allocated nothing large; without this check Go's
// decoders die with an unrecoverable out-of-memory error on such files.
// Inputs are read whole, up to Options.MaxBytes. Truncated or malformed data
// gives ErrCorrupt; decoders also run under recover as a last line of
// defence. The EXIF parser bounds every offset and count. Fuzz tests cover
// the whole decode path and the EXIF parser.
//
// # Concurrency
//
// Every function is safe for concurrent use; nothing is shared between
// calls. An *RGB is plain memory owned by the caller.
//
// # Cost
//
// Go's image/jpeg decode dominates (it has no DCT-domain downscaling, which
// would also break parity with Pillow): in BenchmarkJPEGTensor/12MP it is
// about 60% of the time. File and Reader convert JPEG rows as the resize
// reads them (unless the orientation transposes), so a 12 MP 4:2:0 JPEG
// allocates about 24 MB per tensor (the YCbCr planes, the horizontal pass)
// besides the file's bytes; Decode's full RGB image adds 3 bytes a pixel.
package preprocess
