#include "cuda_shim.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "ortapi/onnxruntime_c_api.h"

static void set_err(char *err, size_t errlen, const char *msg) {
  if (errlen == 0) return;
  snprintf(err, errlen, "%s", msg ? msg : "unknown error");
}

int imglish_dl_probe(const char *name, char *err, size_t errlen) {
  void *h = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
  if (!h) {
    set_err(err, errlen, dlerror());
    return -1;
  }
  dlclose(h);
  return 0;
}

// api returns the OrtApi of the already-loaded library ort_lib (RTLD_NOLOAD:
// never a second copy), or NULL with err set.
static const OrtApi *api(const char *ort_lib, char *err, size_t errlen) {
  void *h = dlopen(ort_lib, RTLD_LAZY | RTLD_NOLOAD);
  if (!h) {
    set_err(err, errlen, "ONNX Runtime library is not loaded");
    return NULL;
  }
  typedef const OrtApiBase *(*get_base_fn)(void);
  get_base_fn get_base = (get_base_fn)dlsym(h, "OrtGetApiBase");
  dlclose(h);  // onnxruntime_go holds its own reference
  if (!get_base) {
    set_err(err, errlen, "OrtGetApiBase not found");
    return NULL;
  }
  const OrtApi *a = get_base()->GetApi(ORT_API_VERSION);
  if (!a) set_err(err, errlen, "ONNX Runtime does not offer C API version 24");
  return a;
}

// status_err copies a status's message into err and releases it; 0 for OK.
static int status_err(const OrtApi *a, OrtStatus *st, const char *what, char *err, size_t errlen) {
  if (!st) return 0;
  if (errlen > 0) snprintf(err, errlen, "%s: %s", what, a->GetErrorMessage(st));
  a->ReleaseStatus(st);
  return -1;
}

// env returns the process's OrtEnv: ORT keeps one per process and CreateEnv
// hands out that instance with a reference (released with ReleaseEnv).
static OrtEnv *env(const OrtApi *a, char *err, size_t errlen) {
  OrtEnv *e = NULL;
  if (status_err(a, a->CreateEnv(ORT_LOGGING_LEVEL_ERROR, "imglish", &e), "get environment", err, errlen)) return NULL;
  return e;
}

static const char *type_name(OrtHardwareDeviceType t) {
  switch (t) {
    case OrtHardwareDeviceType_CPU: return "CPU";
    case OrtHardwareDeviceType_GPU: return "GPU";
    case OrtHardwareDeviceType_NPU: return "NPU";
  }
  return "?";
}

// find_devices fills *devs/*n; returns the index of the first GPU device of
// ep_name, -2 when none, -1 on error.
static int find_device(const OrtApi *a, OrtEnv *e, const char *ep_name, const OrtEpDevice *const **devs, size_t *n,
                       char *list, size_t listlen, char *err, size_t errlen, int *count) {
  if (status_err(a, a->GetEpDevices(e, devs, n), "list execution-provider devices", err, errlen)) return -1;
  int first = -2;
  size_t used = 0;
  if (listlen > 0) list[0] = 0;
  *count = 0;
  for (size_t i = 0; i < *n; i++) {
    const OrtEpDevice *d = (*devs)[i];
    const OrtHardwareDevice *hw = a->EpDevice_Device(d);
    OrtHardwareDeviceType t = a->HardwareDevice_Type(hw);
    const char *name = a->EpDevice_EpName(d);
    if (list && used < listlen) {
      int w = snprintf(list + used, listlen - used, "%s%s %s %s", used ? "; " : "", name,
                       a->HardwareDevice_Vendor(hw), type_name(t));
      if (w > 0) used += (size_t)w;
    }
    if (t == OrtHardwareDeviceType_GPU && strcmp(name, ep_name) == 0) {
      (*count)++;
      if (first < 0) first = (int)i;
    }
  }
  return first;
}

int imglish_ep_devices(const char *ort_lib, const char *ep_name, char *list, size_t listlen, char *err,
                       size_t errlen) {
  const OrtApi *a = api(ort_lib, err, errlen);
  if (!a) return -1;
  OrtEnv *e = env(a, err, errlen);
  if (!e) return -1;
  const OrtEpDevice *const *devs = NULL;
  size_t n = 0;
  int count = 0;
  int r = find_device(a, e, ep_name, &devs, &n, list, listlen, err, errlen, &count);
  a->ReleaseEnv(e);
  return r == -1 ? -1 : count;
}

int imglish_append_ep(const char *ort_lib, void *so, const char *ep_name, const char **keys, const char **vals,
                      size_t n, char *err, size_t errlen) {
  const OrtApi *a = api(ort_lib, err, errlen);
  if (!a) return -1;
  OrtEnv *e = env(a, err, errlen);
  if (!e) return -1;
  const OrtEpDevice *const *devs = NULL;
  size_t nd = 0;
  int count = 0;
  char list[512];
  int i = find_device(a, e, ep_name, &devs, &nd, list, sizeof list, err, errlen, &count);
  int rc = -1;
  if (i == -2) {
    if (errlen > 0) snprintf(err, errlen, "no %s GPU device (devices: %s)", ep_name, nd ? list : "none");
  } else if (i >= 0) {
    const OrtEpDevice *dev = devs[i];
    rc = status_err(a, a->SessionOptionsAppendExecutionProvider_V2((OrtSessionOptions *)so, e, &dev, 1, keys, vals, n),
                    "append execution provider", err, errlen);
  }
  a->ReleaseEnv(e);
  return rc;
}

int imglish_config_entry(const char *ort_lib, void *so, const char *key, const char *val, char *err,
                         size_t errlen) {
  const OrtApi *a = api(ort_lib, err, errlen);
  if (!a) return -1;
  return status_err(a, a->AddSessionConfigEntry((OrtSessionOptions *)so, key, val), "add config entry", err, errlen);
}
