// cuda_shim.h: the plugin execution-provider calls onnxruntime_go v1.27.0 does
// not wrap (GetEpDevices, SessionOptionsAppendExecutionProvider_V2), made on
// the ONNX Runtime library onnxruntime_go has already loaded. See cuda.go.
#ifndef IMGLISH_CUDA_SHIM_H
#define IMGLISH_CUDA_SHIM_H

#include <stddef.h>

// imglish_dl_probe dlopens name (then closes it): 0 when it loads, else -1
// with dlerror() copied into err.
int imglish_dl_probe(const char *name, char *err, size_t errlen);

// imglish_ep_devices lists the execution-provider devices the environment
// knows ("EpName vendor type; ..." into list) and returns how many are GPU
// devices of the provider ep_name, or -1 with a message in err.
int imglish_ep_devices(const char *ort_lib, const char *ep_name, char *list, size_t listlen, char *err,
                       size_t errlen);

// imglish_append_ep appends provider ep_name on its first GPU device to the
// session options so (an OrtSessionOptions*), with n key/value options.
// 0 on success, else -1 with a message in err.
int imglish_append_ep(const char *ort_lib, void *so, const char *ep_name, const char **keys, const char **vals,
                      size_t n, char *err, size_t errlen);

// imglish_config_entry sets a session config entry through the same API
// pointer (tests use it to check that so really is the OrtSessionOptions*).
int imglish_config_entry(const char *ort_lib, void *so, const char *key, const char *val, char *err,
                         size_t errlen);

#endif
