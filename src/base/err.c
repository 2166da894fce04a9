#include "sfu/err.h"

const char *sfu_strerror(int err) {
  switch (err) {
  case 0: return "success";
#define SFU_ERR_STR_(name, msg) case SFU_##name: return msg;
    SFU_ERRNO_MAP(SFU_ERR_STR_)
#undef SFU_ERR_STR_
  default: return "unknown error";
  }
}

const char *sfu_err_name(int err) {
  switch (err) {
  case 0: return "OK";
#define SFU_ERR_NAME_(name, msg) case SFU_##name: return #name;
    SFU_ERRNO_MAP(SFU_ERR_NAME_)
#undef SFU_ERR_NAME_
  default: return "EUNKNOWN";
  }
}
